/**
 * `npm start`: the whole release loop on a laptop, no AWS account. Starts DynamoDB and S3 emulators, binds the real
 * release state machine to the real handlers, and starts a release for every manifest uploaded to `incoming/`.
 */
import { TimeSeriesMetricsStore } from '../lambdas/adapters/local-metric-store';
import { alarmService, type AlarmRunner } from './alarm-runner';
import { driftService } from './drift-runner';
import { LocalEventBus } from './event-bus';
import { retrainTriggerService } from './retrain-scheduler';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_DYNAMODB_PORT,
  DEFAULT_S3_PORT,
  LOCAL_CREDENTIALS,
  legacyOpenSslAvailable,
} from './emulators';
import {
  DEFAULT_HTTP_PORT,
  HTTP_PORT_ENV,
  INFERENCE_SERVICE_NAME,
  inferenceService,
} from './inference-server';
import { consoleLogger } from './logger';
import { CONSOLE_PORT_ENV, DEFAULT_CONSOLE_PORT, consoleService } from './console/server';
import { startLocalMode, type LocalMode } from './start';
import { watchConfig } from './config-watcher';
import { loadProjectConfig } from './runtime';

const REEXEC_MARKER = 'MODELOPS_LEGACY_OPENSSL_REEXEC';

export function parsePort(flag: string): (value: string) => number {
  return (value) => {
    const port = Number(value);
    if (!/^\d+$/.test(value) || !Number.isInteger(port) || port > 65_535) {
      throw new InvalidArgumentError(
        `${flag} must be a port number 0-65535 (0 = any free port), got "${value}".`,
      );
    }
    return port;
  };
}

export interface MainOptions {
  readonly fresh: boolean;
  readonly dataDir: string;
  readonly dynamodbPort: number;
  readonly s3Port: number;
  readonly httpPort: number;
  readonly consolePort: number;
}

export function buildCommand(): Command {
  return new Command('modelops-local')
    .description(
      'Run serverless-modelops locally: DynamoDB (dynalite) and S3 (s3rver) emulators, the release state machine ' +
        '(stepfunctions/release.asl.json) with the real handlers, a watcher that starts a release for every ' +
        'incoming/<model>/<version>/manifest.json uploaded to the local bucket, and the inference endpoint ' +
        'POST http://127.0.0.1:<http-port>/models/{name}/invoke.',
    )
    .addOption(
      new Option('--fresh', 'delete all local data (registry objects, tables) before starting').default(
        false,
      ),
    )
    .addOption(
      new Option('--data-dir <dir>', 'where the emulators keep their data (gitignored)')
        .env('MODELOPS_DATA_DIR')
        .default(DEFAULT_DATA_DIR, '<project>/.modelops'),
    )
    .addOption(
      new Option('--dynamodb-port <port>', 'DynamoDB emulator port (0 = any free port)')
        .env('MODELOPS_DYNAMODB_PORT')
        .argParser(parsePort('--dynamodb-port'))
        .default(DEFAULT_DYNAMODB_PORT),
    )
    .addOption(
      new Option('--s3-port <port>', 'S3 emulator port (0 = any free port)')
        .env('MODELOPS_S3_PORT')
        .argParser(parsePort('--s3-port'))
        .default(DEFAULT_S3_PORT),
    )
    .addOption(
      new Option('--http-port <port>', 'inference HTTP server port (0 = any free port)')
        .env(HTTP_PORT_ENV)
        .argParser(parsePort('--http-port'))
        .default(DEFAULT_HTTP_PORT),
    )
    .addOption(
      new Option('--console-port <port>', 'local console port, http://127.0.0.1:<port>/ (0 = any free port)')
        .env(CONSOLE_PORT_ENV)
        .argParser(parsePort('--console-port'))
        .default(DEFAULT_CONSOLE_PORT),
    )
    .showHelpAfterError('(run npm start -- --help for all options)')
    .allowExcessArguments(false);
}

/**
 * s3rver needs OpenSSL's legacy provider for paged listings. When `npm start` was not given
 * `--openssl-legacy-provider`, run this same script again in a child that has it, so nobody has to remember.
 */
function reexecWithLegacyOpenSsl(): boolean {
  if (legacyOpenSslAvailable() || process.env[REEXEC_MARKER]) return false;
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [REEXEC_MARKER]: '1' } },
  );
  // Ctrl-C reaches both processes (same process group); only the child acts on it. SIGTERM is forwarded.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return true;
}

/** How to make a pushed model serve and call it, when the inference server runs. */
function inferenceLines(mode: LocalMode, target: string): string[] {
  const running = mode.services.find((s) => s.name === INFERENCE_SERVICE_NAME)?.running;
  if (!running?.url) return [];
  const base = running.url.replace(/\/models\/\{name\}\/invoke$/, '');
  const urlFlag = base === `http://127.0.0.1:${DEFAULT_HTTP_PORT}` ? '' : ` --url ${base}`;
  return [
    '',
    'Serve it and call it:',
    `  npx modelops promote breast-cancer 1.0.0 ${target}`,
    `  npx modelops invoke breast-cancer --file examples/breast-cancer/instances.json${urlFlag}`,
  ];
}

/** How to start a retrain by hand, when some model has retrain enabled (docs/retrain.md#manual-start). */
function retrainLines(mode: LocalMode, target: string): string[] {
  const model = mode.runtime.config.models.find((m) => m.retrain.enabled);
  if (model === undefined) return [];
  return [
    '',
    'Retrain it (drift, schedule and accuracy alarms also start retrains):',
    `  npx modelops retrain ${model.name} --reason 'new labels' ${target}`,
  ];
}

function banner(mode: LocalMode): string {
  const { emulators } = mode;
  const relative = path.relative(process.cwd(), emulators.dataDir) || '.';
  const dataDir = relative.startsWith('..') ? emulators.dataDir : relative;
  const defaultPorts =
    emulators.s3Endpoint.endsWith(`:${DEFAULT_S3_PORT}`) &&
    emulators.dynamodbEndpoint.endsWith(`:${DEFAULT_DYNAMODB_PORT}`);
  const target = defaultPorts
    ? '--local'
    : `--s3-endpoint ${emulators.s3Endpoint} --dynamodb-endpoint ${emulators.dynamodbEndpoint}`;
  const lines = [
    '',
    'serverless-modelops local mode is running',
    `  S3 (s3rver)           ${emulators.s3Endpoint}   bucket ${emulators.bucket}`,
    `  DynamoDB (dynalite)   ${emulators.dynamodbEndpoint}   tables ${Object.values(emulators.tables).join(', ')}`,
    `  data                  ${dataDir}   (npm start -- --fresh wipes it)`,
    ...mode.services.map((s) => `  ${s.name.padEnd(22)}${s.running.url ?? s.running.summary ?? ''}`),
    '',
    'Push a model (in another terminal):',
    `  npx modelops push examples/breast-cancer ${target}`,
    `  npx modelops status ${target}`,
    '  your own model: npx modelops init <model.onnx> --reference <data.csv>, list it in modelops.config.ts, restart',
    ...inferenceLines(mode, target),
    ...retrainLines(mode, target),
    '',
    'Or with the AWS CLI (artifact first, the manifest starts the release):',
    `  export AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey} AWS_REGION=${emulators.region}`,
    `  aws s3 cp model.onnx    s3://${emulators.bucket}/incoming/<model>/<version>/model.onnx    --endpoint-url ${emulators.s3Endpoint}`,
    `  aws s3 cp manifest.json s3://${emulators.bucket}/incoming/<model>/<version>/manifest.json --endpoint-url ${emulators.s3Endpoint}`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  return lines.join('\n');
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const command = buildCommand();
  command.parse(argv as string[]);
  const opts = command.opts<MainOptions>();
  if (reexecWithLegacyOpenSsl()) return;

  const logger = consoleLogger();
  // A stray rejection in a handler or a library must be reported, never take the emulators down mid-push.
  process.on('unhandledRejection', (reason) => {
    logger.error(
      `unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
    );
  });

  // One metric store: the inference app and the drift monitor emit into it, the alarm runner reads it.
  const metricStore = new TimeSeriesMetricsStore();
  // One bus: the drift monitor publishes ModelDriftDetected on it, the retrain triggers subscribe.
  const bus = new LocalEventBus();
  let alarmRunner: AlarmRunner | undefined;
  let mode: LocalMode;
  try {
    mode = await startLocalMode({
      logger,
      dataDir: opts.dataDir,
      fresh: opts.fresh,
      dynamodbPort: opts.dynamodbPort,
      s3Port: opts.s3Port,
      services: [
        inferenceService({ port: opts.httpPort, metricStore }),
        alarmService({ reader: metricStore, onRunner: (runner) => (alarmRunner = runner) }),
        // Every monitoring.driftScheduleMinutes, as the deployed schedule; its metrics feed the drift alarm rule.
        driftService({ metrics: metricStore, bus }),
        // Persistent drift, accuracy alarms, rate(...) schedules and `modelops retrain` start retrains (docs/retrain.md).
        retrainTriggerService({ bus, alarms: () => alarmRunner, metrics: metricStore }),
        // The console reads the same stores, metric store and alarm runner; its banner URL carries this start's
        // token (docs/console.md).
        consoleService({ port: opts.consolePort, metrics: metricStore, alarms: () => alarmRunner }),
      ],
      onExecutionFinished: (e) => {
        const reason = e.result?.error ? ` (${e.result.error})` : '';
        logger.info(`release ${e.name} for ${e.key}: ${e.status}${reason}`);
      },
    });
  } catch (err) {
    logger.error((err as Error).message);
    process.exitCode = 1;
    return;
  }
  console.log(banner(mode));
  // Edits of modelops.config.ts are re-validated at once and reported; they apply at the next start (./config-watcher).
  const configWatcher = watchConfig({
    file: path.join(__dirname, '..', 'modelops.config.ts'),
    running: await loadProjectConfig(),
    logger,
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    configWatcher.stop();
    logger.info(`${signal}: waiting for running releases, then stopping the emulators`);
    mode.stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error(`shutdown: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
