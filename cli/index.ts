/**
 * The `modelops` command line. `runCli(argv, io)` runs in-process (tests call it directly); `cli/bin.cjs` and
 * `npm run cli` run it as a program and exit with its code: 0 success, 1 rejected/failed, 2 bad usage.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, consoleIo, type CliIo } from './errors';
import { push } from './push';
import { status } from './status';
import { resolveTarget, type TargetOptions } from './target';

function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${flag} must be a positive number, got "${value}".`);
    return n;
  };
}

function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${flag} must be a whole number >= 1, got "${value}".`);
    return n;
  };
}

/** Every command takes the same target flags. Without any, the local emulators of `npm start` are the target. */
function addTargetOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--local',
        'target the local emulators of `npm start` (the default when no target flag is given)',
      ),
    )
    .addOption(
      new Option(
        '--stack <name>',
        'target a deployed stack: bucket and tables come from its CloudFormation outputs',
      ).env('MODELOPS_STACK'),
    )
    .addOption(
      new Option(
        '--endpoint-url <url>',
        'one endpoint for both S3 and DynamoDB (e.g. an emulator serving both)',
      ).env('MODELOPS_ENDPOINT'),
    )
    .addOption(
      new Option('--s3-endpoint <url>', 'S3 endpoint (local default http://127.0.0.1:4568)').env(
        'MODELOPS_S3_ENDPOINT',
      ),
    )
    .addOption(
      new Option('--dynamodb-endpoint <url>', 'DynamoDB endpoint (local default http://127.0.0.1:4567)').env(
        'MODELOPS_DYNAMODB_ENDPOINT',
      ),
    )
    .addOption(new Option('--region <region>', 'AWS region (default: AWS_REGION, or us-east-1 locally)'))
    .addOption(
      new Option('--bucket <name>', 'registry bucket (local default modelops-local-registry)').env(
        'MODELOPS_BUCKET',
      ),
    )
    .addOption(
      new Option('--model-versions-table <name>', 'ModelVersions table name (local default ModelVersions)'),
    )
    .addOption(new Option('--deployments-table <name>', 'Deployments table name (local default Deployments)'))
    .addOption(new Option('--audit-log-table <name>', 'AuditLog table name (local default AuditLog)'));
}

interface PushFlags extends TargetOptions {
  readonly reference?: string;
  readonly follow: boolean;
  readonly timeout: number;
}

interface StatusFlags extends TargetOptions {
  readonly limit: number;
}

export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('modelops')
    .description('ModelOps control plane CLI: push model bundles to the registry and inspect the ledger.')
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  addTargetOptions(
    program
      .command('push')
      .description(
        'Validate a bundle locally, upload its model file, then its manifest.json (which starts the release), and ' +
          'follow the release until the version is REGISTERED or rejected. Exit code 0 registered, 1 rejected / ' +
          'conflict / failed / timed out, 2 bad usage.',
      )
      .argument('<bundle-dir>', 'directory holding manifest.json and the model file it names (artifact.file)')
      .addOption(
        new Option(
          '--reference <csv>',
          'reference data (header = feature names) to compute the manifest baseline from',
        ),
      )
      .addOption(new Option('--no-follow', 'return once uploaded, without waiting for the release'))
      .addOption(
        new Option('--timeout <seconds>', 'how long to follow the release')
          .argParser(positiveNumber('--timeout'))
          .default(300),
      ),
  ).action(async (bundleDir: string, flags: PushFlags) => {
    const target = await resolveTarget(flags);
    const result = await push(
      bundleDir,
      target,
      {
        ...(flags.reference !== undefined ? { reference: flags.reference } : {}),
        follow: flags.follow,
        timeoutSeconds: flags.timeout,
      },
      io,
    );
    setExitCode(result.exitCode);
  });

  addTargetOptions(
    program
      .command('status')
      .description(
        'List model versions with status, sha256 and creation time; with a model, also its recent audit events.',
      )
      .argument('[model]', 'model name; omit to list every model')
      .addOption(
        new Option('--limit <n>', 'audit events to show').argParser(positiveInteger('--limit')).default(20),
      ),
  ).action(async (model: string | undefined, flags: StatusFlags) => {
    const target = await resolveTarget(flags);
    await status(model, target, { limit: flags.limit }, io);
    setExitCode(0);
  });

  program.addHelpText(
    'after',
    [
      '',
      'Targets: no flag or --local = the emulators of `npm start`; --stack <name> = a deployed stack (AWS credentials',
      'from the usual chain); --s3-endpoint/--dynamodb-endpoint/--endpoint-url = explicit endpoints.',
      'Environment: MODELOPS_STACK, MODELOPS_ENDPOINT, MODELOPS_S3_ENDPOINT, MODELOPS_DYNAMODB_ENDPOINT, MODELOPS_BUCKET,',
      'AWS_REGION and the AWS SDK credential variables.',
      '',
      'Examples:',
      '  modelops push examples/breast-cancer',
      '  modelops push ./my-model --reference ./my-model/reference.csv --stack modelops-dev',
      '  modelops status breast-cancer',
    ].join('\n'),
  );
  return program;
}

/** Runs one command line (without the `node script` prefix) and returns the exit code. Never calls process.exit. */
export async function runCli(args: readonly string[], io: CliIo = consoleIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync(args as string[], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; every other parse failure is bad usage (commander already printed it).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
        ? 0
        : 2;
    }
    if (err instanceof CliError) {
      io.err(`error: ${err.message}`);
      return err.exitCode;
    }
    io.err(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
