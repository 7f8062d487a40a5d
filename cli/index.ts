/**
 * The `modelops` command line. `runCli(argv, io)` runs in-process (tests call it directly); `cli/bin.cjs` and
 * `npm run cli` run it as a program and exit with its code: 0 success, 1 rejected/failed, 2 bad usage.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { S3RegistryStore } from '../lambdas/adapters/s3-registry-store';
import { CliError, consoleIo, type CliIo } from './errors';
import { feedback } from './feedback';
import { DEFAULT_INFERENCE_URL, invoke } from './invoke';
import { decide } from './approve';
import { promote, route } from './promote';
import { push } from './push';
import { rollback } from './rollback';
import { retrain } from './retrain';
import { status, statusOfVersion } from './status';
import { completionScript, COMPLETION_SHELLS, type CompletionShell } from './completion';
import { diffVersions, printDiff } from './diff';
import { history, printHistory } from './history';
import { MAX_OLDER_THAN_DAYS, prune } from './prune';
import { unlock } from './unlock';
import { printValidation, validateBundle, validationDocument } from './validate';
import { loadProjectConfig, loadSource } from './bundle';
import type { init as initCommand } from './init';
import { createLedgerStores } from './metadata';
import { metricsReaderFor } from './metrics-reader';
import { alarmRulesInputOf, type ModelOpsConfig } from '../lib/config';

/** The project's modelops.config.ts when the CLI runs from a checkout that has one (SLOs of `status`). */
async function projectConfigIfAny(): Promise<ModelOpsConfig | undefined> {
  try {
    return await loadProjectConfig();
  } catch {
    return undefined;
  }
}
import { resolveTarget, s3Client, type TargetOptions } from './target';

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

function weight(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError(
      `--weight must be a number from 0 to 1 (share of traffic for the candidate), got "${value}".`,
    );
  }
  return n;
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
    .addOption(new Option('--audit-log-table <name>', 'AuditLog table name (local default AuditLog)'))
    .addOption(
      new Option(
        '--monitor-state-table <name>',
        'MonitorState table name, read by `status` for drift (local default MonitorState)',
      ),
    );
}

interface PushFlags extends TargetOptions {
  readonly reference?: string;
  readonly follow: boolean;
  readonly timeout: number;
}

interface ValidateFlags extends TargetOptions {
  readonly reference?: string;
  /** `--no-ledger`: false. */
  readonly ledger: boolean;
  readonly json?: boolean;
}

interface StatusFlags extends TargetOptions {
  readonly limit: number;
  readonly json?: boolean;
}

/** `--json` of the read commands: one JSON document on stdout, everything for people on stderr. */
const jsonOption = (): Option =>
  new Option(
    '--json',
    'print one JSON document on stdout (fields: docs/cli.md#json-output); nothing else there',
  );

/** Under --json, lines meant for people go to stderr so stdout stays one parseable document. */
const humanIo = (io: CliIo, json: boolean | undefined): CliIo =>
  json === true ? { out: (l) => io.err(l), err: (l) => io.err(l) } : io;

interface PruneFlags extends TargetOptions {
  readonly rejected?: boolean;
  readonly olderThan?: number;
  readonly dryRun?: boolean;
}

interface RouteFlags extends TargetOptions {
  readonly candidate?: string;
  readonly clear?: boolean;
  readonly weight?: number;
  readonly mode?: 'canary' | 'shadow';
}

interface RollbackFlags extends TargetOptions {
  readonly to?: string;
  readonly reason: string;
}

interface UnlockFlags extends TargetOptions {
  readonly reason: string;
}

interface InvokeFlags {
  readonly file: string;
  readonly routingKey?: string;
  readonly url?: string;
  readonly timeout: number;
}

interface FeedbackFlags {
  readonly requestId?: string;
  readonly label?: string;
  readonly csv?: string;
  readonly url?: string;
  readonly timeout: number;
}

export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('modelops')
    .description(
      'ModelOps control plane CLI: push model bundles to the registry, inspect the ledger, promote and route ' +
        'versions, and call the inference endpoint.',
    )
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
        'Validate a bundle locally (the checks of `modelops validate`; nothing is uploaded when they fail), upload ' +
          'its model file, then its manifest.json (which starts the release), and follow the release until the ' +
          'version is REGISTERED or rejected. Exit code 0 registered, 1 rejected / ' +
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
      .command('validate')
      .description(
        "Run the release pipeline's full validation (schema, size, sha256, ONNX load, signature, smoke samples, " +
          'metric gates, champion comparison) on a bundle directory, uploading nothing and recording nothing. The ' +
          "champion's metrics are read from the target ledger when it answers; otherwise the comparison is skipped " +
          'and says so. Exit code 0 valid, 1 invalid (every reason printed), 2 bad usage.',
      )
      .argument('<bundle-dir>', 'directory holding manifest.json and the model file it names (artifact.file)')
      .addOption(
        new Option(
          '--reference <csv>',
          'reference data to compute the baseline from, as `push --reference` does, so the manifest validated is the one pushed',
        ),
      )
      .addOption(
        new Option(
          '--no-ledger',
          'do not read any ledger: the champion is not compared (e.g. in CI without AWS)',
        ),
      )
      .addOption(jsonOption()),
  ).action(async (bundleDir: string, flags: ValidateFlags) => {
    const target = flags.ledger ? await resolveTarget(flags) : undefined;
    const validation = await validateBundle(bundleDir, {
      ...(flags.reference !== undefined ? { reference: flags.reference } : {}),
      ...(target ? { ledger: createLedgerStores(target) } : {}),
    });
    const context = { bundleDir, ...(target ? { ledgerDescription: target.description } : {}) };
    // The human report still goes out, on stderr, so a CI log shows it next to the document.
    printValidation(validation, humanIo(io, flags.json), context);
    if (flags.json === true) io.out(JSON.stringify(validationDocument(validation, context), null, 2));
    setExitCode(validation.valid ? 0 : 1);
  });

  program
    .command('init')
    .description(
      'Write a bundle skeleton from an ONNX graph: manifest.json with the features, tensors, outputs and labels ' +
        'read from the graph, and with --reference smoke samples (reference rows run through the model) and the ' +
        'baseline; owner, metrics, lineage and model card are "TODO:" placeholders it lists. Writes nothing when an ' +
        'argument is wrong. Exit 0 written, 1 the model fails on the reference rows, 2 bad usage. ' +
        'Example: modelops init ./my-model/model.onnx --reference ./my-model/reference.csv --labels no,yes',
    )
    .argument('<model.onnx>', 'the model exported to ONNX')
    .addOption(
      new Option('--reference <csv>', 'reference data (header = column names), e.g. the training split'),
    )
    .addOption(new Option('--labels <a,b,…>', "class labels in the model's class order, comma-separated"))
    .addOption(new Option('--out <dir>', "bundle directory to write (default: the model file's directory)"))
    .addOption(new Option('--name <model>', "model name (default: the bundle directory's name)"))
    .addOption(new Option('--version <version>', 'model version').default('1.0.0'))
    .addOption(new Option('--force', 'overwrite an existing manifest.json (and reference.csv / model copy)'))
    .action(
      async (
        model: string,
        flags: {
          reference?: string;
          labels?: string;
          out?: string;
          name?: string;
          version: string;
          force?: boolean;
        },
      ) => {
        // Loaded on demand: init brings ONNX Runtime, which costs ~0.3 s to load for every other command.
        const { init } = await loadSource(
          () => import('./init'),
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bin.cjs fallback (loadSource)
          () => require('./init') as { init: typeof initCommand },
        );
        await init(model, { ...flags, force: flags.force === true }, io);
        setExitCode(0);
      },
    );

  addTargetOptions(
    program
      .command('status')
      .description(
        'List model versions with status, sha256 and creation time; with a model, also its recent audit events ' +
          'and, when modelops.config.ts configures it, its SLOs and its drift (state, latest window, per feature). ' +
          'With a model and a version: that version alone, with every rejection reason and validation check, its ' +
          'lineage, stage, approval (who, why) and all its audit events.',
      )
      .argument('[model]', 'model name; omit to list every model')
      .argument('[version]', 'a version of the model: show it alone, in full')
      .addOption(
        new Option('--limit <n>', 'audit events to show').argParser(positiveInteger('--limit')).default(20),
      )
      .addOption(jsonOption()),
  ).action(async (model: string | undefined, version: string | undefined, flags: StatusFlags) => {
    const target = await resolveTarget(flags);
    if (model !== undefined && version !== undefined) {
      await statusOfVersion(model, version, target, io, undefined, { json: flags.json === true });
      setExitCode(0);
      return;
    }
    const config = model === undefined ? undefined : await projectConfigIfAny();
    const modelConfig = config?.models.find((m) => m.name === model);
    const reader =
      config === undefined ? undefined : metricsReaderFor(target, { namespace: config.monitoring.namespace });
    const nowMs = Date.now();
    await status(
      model,
      target,
      {
        limit: flags.limit,
        json: flags.json === true,
        ...(config !== undefined && modelConfig !== undefined && reader !== undefined
          ? {
              slo: {
                model: alarmRulesInputOf(modelConfig, config),
                reader,
                nowMs,
              },
              drift: {
                config: {
                  enabled: modelConfig.drift.enabled,
                  windowMinutes: modelConfig.drift.windowMinutes,
                  scheduleMinutes: config.monitoring.driftScheduleMinutes,
                  thresholds: modelConfig.drift.thresholds,
                  persistence: modelConfig.drift.persistence,
                  minLiveCount: modelConfig.drift.minLiveCount,
                },
                reader,
                nowMs,
                registry: new S3RegistryStore(target.bucket, s3Client(target)),
              },
            }
          : {}),
      },
      io,
    );
    setExitCode(0);
  });

  addTargetOptions(
    program
      .command('history')
      .description(
        "A model's lifecycle from the audit log, oldest first, one line per event: pushes and validations, " +
          'registrations, approvals (who, why), rollout steps and canary verdicts with their numbers, promotions, ' +
          'rollbacks, retrains. Exit 0 shown (also when there is no event), 1 the ledger cannot be read, 2 bad usage.',
      )
      .argument('<model>', 'model name')
      .addOption(
        new Option('--limit <n>', 'show only the latest n events (still oldest first)').argParser(
          positiveInteger('--limit'),
        ),
      )
      .addOption(jsonOption()),
  ).action(async (model: string, flags: TargetOptions & { limit?: number; json?: boolean }) => {
    const target = await resolveTarget(flags);
    const result = await history(model, target, flags.limit !== undefined ? { limit: flags.limit } : {});
    printHistory(result, io, flags.json === true);
    setExitCode(0);
  });

  addTargetOptions(
    program
      .command('diff')
      .description(
        'Compare two registered versions of a model, from the manifests the registry keeps for them: changed ' +
          'fields, features, tensors, outputs and labels, gates, metrics side by side with deltas, lineage, and the ' +
          "baseline shift per feature (JS distance between the two baselines' bins, as the drift monitor computes " +
          'it). Exit 0 compared, 1 a version is not REGISTERED or cannot be read, 2 bad usage.',
      )
      .argument('<model>', 'model name')
      .argument('<v1>', 'a REGISTERED version: the "from" side')
      .argument('<v2>', 'another REGISTERED version: the "to" side')
      .addOption(jsonOption()),
  ).action(async (model: string, v1: string, v2: string, flags: TargetOptions & { json?: boolean }) => {
    const target = await resolveTarget(flags);
    printDiff(await diffVersions(model, v1, v2, target), io, flags.json === true);
    setExitCode(0);
  });

  program
    .command('completion')
    .description(
      'Print a shell completion script for modelops, generated from its commands and options. ' +
        'bash: source <(modelops completion bash); zsh: modelops completion zsh > "${fpath[1]}/_modelops". ' +
        'Exit 0 printed, 2 bad usage.',
    )
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices([...COMPLETION_SHELLS]))
    .action((shell: CompletionShell) => {
      io.out(completionScript(program, shell).replace(/\n$/, ''));
      setExitCode(0);
    });

  for (const decision of ['approve', 'reject'] as const) {
    addTargetOptions(
      program
        .command(decision)
        .description(
          decision === 'approve'
            ? 'Approve a release that waits for approval (the model has canary on and approval required): it goes ' +
                'on to the rollout lock and the canary. Audited as APPROVAL_GRANTED with who and why. Exit 0 ' +
                'approved, 1 failure, 2 bad usage or nothing to approve.'
            : 'Reject a release that waits for approval: it ends ApprovalRejected and no traffic reaches the ' +
                'version. Audited as APPROVAL_REJECTED with who and why. Exit 0 rejected, 1 failure, 2 bad usage.',
        )
        .argument('<model>', 'model name')
        .argument('<version>', 'the version whose release waits')
        .addOption(new Option('--reason <text>', 'why (required; recorded in the audit log)')),
    ).action(async (model: string, version: string, flags: TargetOptions & { reason?: string }) => {
      const target = await resolveTarget(flags);
      await decide(decision, model, version, flags.reason, target, io);
      setExitCode(0);
    });
  }

  addTargetOptions(
    program
      .command('promote')
      .description(
        'Make a REGISTERED version the stable (served) version of its model and clear any candidate: one ' +
          'conditional write of the routing record, audited as PROMOTED. Manual until the rollout issue automates ' +
          'it. Promoting the current stable version with no candidate changes nothing. Exit 0 promoted or ' +
          'unchanged, 1 conflict/failure, 2 bad usage or refused version.',
      )
      .argument('<model>', 'model name')
      .argument('<version>', 'a REGISTERED version of the model'),
  ).action(async (model: string, version: string, flags: TargetOptions) => {
    const target = await resolveTarget(flags);
    await promote(model, version, target, io);
    setExitCode(0);
  });

  addTargetOptions(
    program
      .command('route')
      .description(
        'Route by hand (releases run their canaries themselves; a release rolling the model out loses its lock ' +
          'and ends Superseded at its next step): set the candidate version, its traffic weight and ' +
          'the mode (canary: the candidate serves `weight` of requests; shadow: every request also runs the ' +
          'candidate, only stable answers), or --clear it. Audited as ROUTING_CHANGED. The model needs a stable ' +
          'version first (modelops promote).',
      )
      .argument('<model>', 'model name')
      .addOption(new Option('--candidate <version>', 'a REGISTERED version other than the stable one'))
      .addOption(
        new Option('--weight <0-1>', 'share of traffic for the candidate (canary mode)').argParser(weight),
      )
      .addOption(new Option('--mode <mode>', 'canary or shadow').choices(['canary', 'shadow']))
      .addOption(new Option('--clear', 'remove the candidate: all traffic to the stable version')),
  ).action(async (model: string, flags: RouteFlags) => {
    const target = await resolveTarget(flags);
    await route(
      model,
      {
        ...(flags.candidate !== undefined ? { candidate: flags.candidate } : {}),
        ...(flags.clear ? { clear: true } : {}),
        ...(flags.weight !== undefined ? { weight: flags.weight } : {}),
        ...(flags.mode !== undefined ? { mode: flags.mode } : {}),
      },
      target,
      io,
    );
    setExitCode(0);
  });

  addTargetOptions(
    program
      .command('rollback')
      .description(
        'Roll a model back by hand: clear its candidate (stable serves all traffic), or with --to make an older ' +
          'REGISTERED version stable. One conditional write of the routing record that also releases any rollout ' +
          'lock; the release execution that held it ends RolledBack at its next step. Audited as ROLLED_BACK ' +
          '(MANUAL_ROLLBACK). Exit 0 rolled back (or already, by the same command), 1 conflict/failure, 2 bad ' +
          'usage or refused.',
      )
      .argument('<model>', 'model name')
      .addOption(
        new Option('--to <version>', 'a REGISTERED version (not the current stable) to make stable instead'),
      )
      .requiredOption(
        '--reason <text>',
        'why (1-1000 characters): recorded in the audit log and the routing record',
      ),
  ).action(async (model: string, flags: RollbackFlags) => {
    const target = await resolveTarget(flags);
    await rollback(
      model,
      { ...(flags.to !== undefined ? { to: flags.to } : {}), reason: flags.reason },
      target,
      io,
    );
    setExitCode(0);
  });

  addTargetOptions(
    program
      .command('retrain')
      .description(
        'Start a retrain of a model by hand (docs/retrain.md): the retrain state machine with input ' +
          '{model, trigger: "manual", reason, requestedBy}. Checked first (model configured with retrain.enabled, ' +
          'reason given); nothing is written when a check fails. AWS (--stack): StartExecution, printing the ' +
          'execution ARN and console link. Local mode: a request object the running `npm start` picks up. Then waits ' +
          "for the Guard's decision (RETRAIN_STARTED, or RETRAIN_SKIPPED with why). Exit 0 started or skipped, 1 " +
          'failure or no decision in time, 2 bad usage.',
      )
      .argument('<model>', 'a model with retrain.enabled in modelops.config.ts')
      .addOption(
        new Option('--reason <text>', 'why (required, 1-500 characters; audited and kept in the lineage)'),
      )
      .addOption(
        new Option(
          '--state-machine-arn <arn>',
          'AWS: the retrain state machine to start (default: the stack output RetrainStateMachineArn)',
        ).env('MODELOPS_RETRAIN_STATE_MACHINE_ARN'),
      )
      .addOption(
        new Option('--name <execution-name>', 'execution name (default <model>-retrain-manual-<time>-<hex>)'),
      )
      .addOption(new Option('--no-follow', "return once started, without waiting for the Guard's decision"))
      .addOption(
        new Option(
          '--take-over <execution-id>',
          'take the slot of a retrain marked running whose execution is dead (stopped, or failed before recording ' +
            'its end), instead of waiting out the state machine timeout; audited on RETRAIN_STARTED',
        ),
      )
      .addOption(
        new Option('--timeout <seconds>', "how long to wait for the Guard's decision")
          .argParser(positiveNumber('--timeout'))
          .default(60),
      ),
  ).action(
    async (
      model: string,
      flags: TargetOptions & {
        reason?: string;
        stateMachineArn?: string;
        name?: string;
        follow: boolean;
        timeout: number;
        takeOver?: string;
      },
    ) => {
      await retrain(
        model,
        {
          reason: flags.reason,
          ...(flags.stack !== undefined ? { stack: flags.stack } : {}),
          ...(flags.stateMachineArn !== undefined ? { stateMachineArn: flags.stateMachineArn } : {}),
          ...(flags.name !== undefined ? { name: flags.name } : {}),
          follow: flags.follow,
          timeoutSeconds: flags.timeout,
          ...(flags.takeOver !== undefined ? { takeOver: flags.takeOver } : {}),
        },
        () => resolveTarget(flags),
        io,
      );
      setExitCode(0);
    },
  );

  addTargetOptions(
    program
      .command('prune')
      .description(
        'Delete REJECTED version records of a model (registered versions are never touched). Each delete is ' +
          'conditional on the record still being the REJECTED one read, so a concurrent re-push survives, and is ' +
          'audited as VERSION_PRUNED (appended before the delete). Exit 0 done, 1 failure, 2 bad usage.',
      )
      .argument('<model>', 'model name')
      .addOption(new Option('--rejected', 'required: prune REJECTED records (the only kind prune deletes)'))
      .addOption(
        new Option('--older-than <days>', 'only records rejected at least this many days ago').argParser(
          (value: string) => {
            const n = Number(value);
            if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > MAX_OLDER_THAN_DAYS) {
              throw new InvalidArgumentError(
                `--older-than must be a whole number of days from 0 to ${MAX_OLDER_THAN_DAYS}, got "${value}".`,
              );
            }
            return n;
          },
        ),
      )
      .addOption(new Option('--dry-run', 'list what would be pruned; change nothing')),
  ).action(async (model: string, flags: PruneFlags) => {
    const target = await resolveTarget(flags);
    await prune(
      model,
      {
        ...(flags.rejected !== undefined ? { rejected: flags.rejected } : {}),
        ...(flags.olderThan !== undefined ? { olderThanDays: flags.olderThan } : {}),
        ...(flags.dryRun !== undefined ? { dryRun: flags.dryRun } : {}),
      },
      target,
      io,
    );
    setExitCode(0);
  });

  addTargetOptions(
    program
      .command('unlock')
      .description(
        "Release a model's rollout lock by hand (e.g. one left by a dead release execution) and clear its " +
          'candidate in the same conditional write, so no half-finished canary keeps serving. The execution, if ' +
          'still running, ends Superseded at its next step. Audited as ROLLOUT_UNLOCKED. Exit 0 unlocked (or ' +
          'already, by the same command), 1 conflict/failure, 2 bad usage or no lock.',
      )
      .argument('<model>', 'model name')
      .requiredOption(
        '--reason <text>',
        'why (1-1000 characters): recorded in the audit log and the routing record',
      ),
  ).action(async (model: string, flags: UnlockFlags) => {
    const target = await resolveTarget(flags);
    await unlock(model, { reason: flags.reason }, target, io);
    setExitCode(0);
  });

  program
    .command('invoke')
    .description(
      "POST instances to a model's inference endpoint (default: the local server of `npm start`) and print the " +
        'JSON response. Exit 0 on a 2xx response, 1 otherwise. A deployed Function URL needs SigV4-signed ' +
        'requests: use awscurl (docs/inference.md).',
    )
    .argument('<model>', 'model name')
    .requiredOption(
      '--file <instances.json>',
      'JSON file holding {"instances": [...]} (optionally "routingKey") or a bare array of instances',
    )
    .addOption(new Option('--routing-key <key>', "sticky routing key (overrides the file's routingKey)"))
    .addOption(
      new Option('--url <url>', `inference endpoint base URL (default ${DEFAULT_INFERENCE_URL})`).env(
        'MODELOPS_INFERENCE_URL',
      ),
    )
    .addOption(
      new Option('--timeout <seconds>', 'how long to wait for the response')
        .argParser(positiveNumber('--timeout'))
        .default(30),
    )
    .action(async (model: string, flags: InvokeFlags) => {
      const result = await invoke(
        model,
        {
          file: flags.file,
          ...(flags.routingKey !== undefined ? { routingKey: flags.routingKey } : {}),
          ...(flags.url !== undefined ? { url: flags.url } : {}),
          timeoutSeconds: flags.timeout,
        },
        io,
      );
      setExitCode(result.exitCode);
    });

  program
    .command('feedback')
    .description(
      "POST labels to a model's feedback endpoint (POST /models/{name}/feedback), joined with the logged " +
        'predictions into accuracy or MAE. One label (--request-id with --label) or a CSV (--csv, columns ' +
        'requestId,label); prints each outcome and a summary. Exit 0 when every label was recorded or a duplicate, ' +
        '1 otherwise.',
    )
    .argument('<model>', 'model name')
    .addOption(new Option('--request-id <id>', 'the requestId of the inference response being labelled'))
    .addOption(new Option('--label <label>', 'the true label (class label, or a number for regression)'))
    .addOption(new Option('--csv <file>', 'CSV with a header row and columns requestId,label'))
    .addOption(
      new Option('--url <url>', `inference endpoint base URL (default ${DEFAULT_INFERENCE_URL})`).env(
        'MODELOPS_INFERENCE_URL',
      ),
    )
    .addOption(
      new Option('--timeout <seconds>', 'how long to wait for each response')
        .argParser(positiveNumber('--timeout'))
        .default(30),
    )
    .action(async (model: string, flags: FeedbackFlags) => {
      const result = await feedback(
        model,
        {
          ...(flags.requestId !== undefined ? { requestId: flags.requestId } : {}),
          ...(flags.label !== undefined ? { label: flags.label } : {}),
          ...(flags.csv !== undefined ? { csv: flags.csv } : {}),
          ...(flags.url !== undefined ? { url: flags.url } : {}),
          timeoutSeconds: flags.timeout,
        },
        io,
      );
      setExitCode(result.exitCode);
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
      '  modelops validate examples/breast-cancer',
      '  modelops push examples/breast-cancer',
      '  modelops push ./my-model --reference ./my-model/reference.csv --stack modelops-dev',
      '  modelops status breast-cancer',
      '  modelops status breast-cancer 1.1.0',
      '  modelops status breast-cancer --json',
      '  modelops history breast-cancer --limit 30',
      '  modelops diff breast-cancer 1.0.0 1.1.0',
      '  source <(modelops completion bash)',
      '  modelops prune breast-cancer --rejected --older-than 30 --dry-run',
      '  modelops promote breast-cancer 1.0.0',
      '  modelops route breast-cancer --candidate 1.1.0 --weight 0.1',
      "  modelops rollback breast-cancer --reason 'p99 doubled on the candidate'",
      "  modelops rollback breast-cancer --to 1.0.0 --reason '1.1.0 mislabels benign cases'",
      "  modelops unlock breast-cancer --reason 'release execution died'",
      "  modelops retrain breast-cancer --reason 'labels of November arrived'",
      '  modelops invoke breast-cancer --file instances.json',
      '  modelops feedback breast-cancer --request-id 3f2a… --label benign',
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
