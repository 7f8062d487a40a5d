/**
 * Local mode's stand-in for `arn:aws:states:::sagemaker:createTrainingJob.sync` (the retrain ASL's Train state): it
 * receives the same CreateTrainingJob parameters, downloads the `train` and `manifest` channels from the S3 emulator,
 * runs the model's `retrain.trainer.command` with `--data <csv> --manifest <manifest.json> --out <dir>`, uploads what
 * the trainer wrote (model.onnx, report.json) to `<S3OutputPath><TrainingJobName>/output/` — where SageMaker puts a
 * job's model.tar.gz — and answers like DescribeTrainingJob. A non-zero exit fails the Task as a failed job does
 * (`States.TaskFailed`, the cause naming the exit code and the stderr tail).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ModelOpsConfig } from '../lib/config';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LambdaHandler, type LocalFunction } from './asl-runner';
import type { LocalLogger } from './logger';

export const SAGEMAKER_TRAINING_SYNC = 'arn:aws:states:::sagemaker:createTrainingJob.sync';

/** The files a trainer must write to its out dir (the retrain contract). */
export const TRAINER_OUTPUTS = ['model.onnx', 'report.json'] as const;

/** The stderr characters a failure carries (a SageMaker FailureReason is at most 1024). */
const STDERR_TAIL = 1_024;

export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** A failed training job, as the .sync integration reports it. */
export class TrainingJobFailedError extends Error {
  override name = 'States.TaskFailed';
}

interface TrainingParameters {
  readonly TrainingJobName: string;
  readonly InputDataConfig: readonly {
    readonly ChannelName: string;
    readonly DataSource: { readonly S3DataSource: { readonly S3Uri: string } };
  }[];
  readonly OutputDataConfig: { readonly S3OutputPath: string };
  readonly StoppingCondition?: { readonly MaxRuntimeInSeconds?: number };
}

function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!m) throw new TrainingJobFailedError(`not an s3:// URI: ${uri}`);
  return { bucket: m[1]!, key: m[2]! };
}

/** `training/<model>/<runId>/output/`: the model is the segment after `training/`. */
function modelOfOutputKey(key: string): string {
  const m = /^training\/([^/]+)\//.exec(key);
  if (!m) throw new TrainingJobFailedError(`S3OutputPath ${key} is not under training/<model>/`);
  return m[1]!;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/**
 * Runs `command` with `args` appended, from the project root, keeping the tail of stderr; `node` as the program means
 * this Node.js (the one running local mode), so a trainer written in TypeScript runs with `node --import tsx`.
 */
export function runTrainer(
  command: readonly string[],
  args: readonly string[],
  timeoutMs: number,
): Promise<RunResult> {
  const [program, ...rest] = command;
  const bin = program === 'node' ? process.execPath : program!;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...rest, ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL * 4);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new TrainingJobFailedError(`could not run trainer ${bin}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, timedOut });
    });
  });
}

async function download(s3: S3Client, uri: string, file: string): Promise<void> {
  const { bucket, key } = parseS3Uri(uri);
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await writeFile(file, await r.Body!.transformToByteArray());
}

/** The handler of the local Train binding. */
export function localTrainer(options: {
  readonly config: ModelOpsConfig;
  readonly s3: S3Client;
  readonly logger: Pick<LocalLogger, 'info' | 'warn'>;
}): LambdaHandler {
  return async (event) => {
    const p = event as TrainingParameters;
    const job = p.TrainingJobName;
    const out = parseS3Uri(p.OutputDataConfig.S3OutputPath);
    const model = modelOfOutputKey(out.key);
    const command = options.config.models.find((m) => m.name === model)?.retrain.trainer?.command;
    if (command === undefined) {
      throw new TrainingJobFailedError(
        `${job}: model ${model} has no retrain.trainer.command in the config; local mode runs that command to train`,
      );
    }
    const channel = (name: string) => {
      const c = p.InputDataConfig.find((i) => i.ChannelName === name);
      if (!c) throw new TrainingJobFailedError(`${job}: no "${name}" input channel`);
      return c.DataSource.S3DataSource.S3Uri;
    };
    const dir = await mkdtemp(path.join(tmpdir(), `modelops-train-${model}-`));
    try {
      const data = path.join(dir, 'train.csv');
      const manifest = path.join(dir, 'manifest.json');
      const outDir = path.join(dir, 'out');
      await download(options.s3, channel('train'), data);
      await download(options.s3, channel('manifest'), manifest);
      const timeoutMs = (p.StoppingCondition?.MaxRuntimeInSeconds ?? 3_600) * 1000;
      const startedAt = Date.now();
      options.logger.info(`train: ${job}: ${command.join(' ')}`);
      const run = await runTrainer(
        command,
        ['--data', data, '--manifest', manifest, '--out', outDir],
        timeoutMs,
      );
      if (run.code !== 0) {
        const how = run.timedOut
          ? `was stopped after MaxRuntimeInSeconds ${timeoutMs / 1000}`
          : `exited with ${run.code !== null ? `code ${run.code}` : `signal ${run.signal}`}`;
        throw new TrainingJobFailedError(
          JSON.stringify({
            TrainingJobName: job,
            TrainingJobStatus: 'Failed',
            FailureReason: `trainer ${how}: ${run.stderr.trim().slice(-STDERR_TAIL)}`,
          }),
        );
      }
      const written = new Set(await readdir(outDir).catch(() => [] as string[]));
      const missing = TRAINER_OUTPUTS.filter((f) => !written.has(f));
      if (missing.length > 0) {
        throw new TrainingJobFailedError(
          JSON.stringify({
            TrainingJobName: job,
            TrainingJobStatus: 'Failed',
            FailureReason: `trainer exited 0 but wrote no ${missing.join(', ')} to --out; it must write ${TRAINER_OUTPUTS.join(' and ')}`,
          }),
        );
      }
      const prefix = `${out.key}${job}/output/`;
      for (const file of TRAINER_OUTPUTS) {
        await options.s3.send(
          new PutObjectCommand({
            Bucket: out.bucket,
            Key: `${prefix}${file}`,
            Body: await readFile(path.join(outDir, file)),
          }),
        );
      }
      const seconds = Math.round((Date.now() - startedAt) / 1000);
      options.logger.info(`train: ${job} completed in ${seconds} s -> s3://${out.bucket}/${prefix}`);
      return {
        TrainingJobName: job,
        TrainingJobArn: `arn:aws:sagemaker:${LOCAL_REGION}:${LOCAL_ACCOUNT}:training-job/${job.toLowerCase()}`,
        TrainingJobStatus: 'Completed',
        SecondaryStatus: 'Completed',
        ModelArtifacts: { S3ModelArtifacts: `s3://${out.bucket}/${prefix}model.onnx` },
        TrainingTimeInSeconds: seconds,
        BillableTimeInSeconds: 0,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

/** The Train binding as a local function of the ASL runner, by the integration's Resource. */
export function localTrainerFunction(options: Parameters<typeof localTrainer>[0]): LocalFunction {
  const handler = localTrainer(options);
  return {
    name: 'local-sagemaker-training',
    integration: 'service',
    timeoutSeconds: 22_000,
    load: async () => handler,
  };
}
