/**
 * The console's executions survive a restart: local mode started twice on the same data dir, the second console
 * shows the first run's release with its state-by-state history (what its graph is drawn from).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import {
  CONSOLE_COOKIE,
  CONSOLE_SERVICE_NAME,
  consoleService,
  type RunningConsoleService,
} from '../../local/console/server';
import { memoryLogger } from '../../local/logger';
import { startLocalMode, type LocalMode } from '../../local/start';
import { TEST_CONFIG } from './harness';

let dataDir: string;
let first: LocalMode | undefined;
let second: LocalMode | undefined;
const log = memoryLogger();

async function start(ports?: { s3: number; dynamodb: number }): Promise<LocalMode> {
  const mode = await startLocalMode({
    logger: log,
    dataDir,
    fresh: false,
    dynamodbPort: ports?.dynamodb ?? 0,
    s3Port: ports?.s3 ?? 0,
    config: parseConfig(TEST_CONFIG),
    retryIntervalMs: 10,
    services: [consoleService({ port: 0 })],
  });
  await mode.watcher.stop();
  return mode;
}

const consoleOf = (mode: LocalMode) =>
  mode.services.find((s) => s.name === CONSOLE_SERVICE_NAME)!.running as RunningConsoleService;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-console-restart-'));
  first = await start();
});
afterAll(async () => {
  await first?.stop();
  await second?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

it('shows the executions of an earlier run after a restart, each with its history', async () => {
  // GIVEN a release that ends in the first run (its manifest was never uploaded: it fails validation)
  const { emulators, runtime } = first!;
  const result = await runtime.startRelease(
    { bucket: emulators.bucket, key: 'incoming/credit-risk/gone/manifest.json' },
    'credit-risk-gone',
  );
  expect(result.status).toBe('FAILED');
  const before = consoleOf(first!).api.execution('release', 'credit-risk-gone')!;
  expect(before.history.some((e) => e.type === 'StateEntered' && e.state === 'ValidateArtifact')).toBe(true);
  const ports = {
    s3: Number(new URL(emulators.s3Endpoint).port),
    dynamodb: Number(new URL(emulators.dynamodbEndpoint).port),
  };
  await first!.stop();
  first = undefined;

  // WHEN local mode starts again on the same data dir (same ports: the handler modules keep their SDK clients)
  second = await start(ports);

  // THEN the console lists it, and serves it with the same history
  const ui = consoleOf(second);
  expect((await ui.api.state()).executions.map((e) => e.name)).toContain('credit-risk-gone');
  expect(ui.api.execution('release', 'credit-risk-gone')).toEqual(before);
  const res = await fetch(`${ui.baseUrl}/api/executions/release/credit-risk-gone`, {
    headers: { cookie: `${CONSOLE_COOKIE}_${new URL(ui.baseUrl).port}=${ui.token}` },
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { history: unknown[] }).history).toEqual(before.history);
  expect(log.lines.filter((l) => l.startsWith('WARN console:'))).toEqual([]);
});
