/**
 * Concurrent `modelops push`es of one version, through the CLI's push function, the upload watcher, the real ASL
 * and handlers on the emulators. Every push must report its own outcome, exactly one push per version registers,
 * and the registered version's stored objects are the ones its record names (same sha256s). Also: orphans of a
 * RegisterVersion that crashed are reused by the next release, and a record whose REGISTERED event was lost to a
 * crash gets it back.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushResult, push as pushFunction } from '../../cli/push';
import type { CliIo } from '../../cli/errors';
import { EXAMPLES_DIR, loadExample, startHarness, types, type Harness } from './harness';

const PAIRS = 20;
/** Pairs in flight at once (both pushes of a pair always race each other). */
const PAIRS_IN_FLIGHT = 5;
const MODEL = 'credit-risk';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let h: Harness;
let work: string;
let push: typeof pushFunction;

beforeAll(async () => {
  h = await startHarness({ watch: true });
  ({ push } = await import('../../cli/push'));
  work = await mkdtemp(path.join(tmpdir(), 'modelops-race-'));
});
afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const quietIo: CliIo = { out: () => undefined, err: () => undefined };

/** A bundle directory for `credit-risk` `version` from an example's model, manifest edited by `edit`. */
async function bundleDir(
  label: string,
  example: 'credit-risk' | 'breast-cancer',
  version: string,
  edit: (m: Record<string, unknown>) => void = () => undefined,
): Promise<string> {
  const dir = path.join(work, `${version}-${label}`);
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(EXAMPLES_DIR, example, 'model.onnx'), path.join(dir, 'model.onnx'));
  const manifest = JSON.parse(
    await readFile(path.join(EXAMPLES_DIR, example, 'manifest.json'), 'utf8'),
  ) as Record<string, unknown>;
  manifest.name = MODEL;
  manifest.version = version;
  edit(manifest);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

/** The registered version's objects are the ones its record names, with the recorded hashes. */
async function expectServable(version: string): Promise<void> {
  const record = await h.version(MODEL, version);
  expect(record?.status, version).toBe('REGISTERED');
  const artifact = await h.object(record!.artifactKey!);
  const manifest = await h.object(record!.manifestKey!);
  const fixed = await h.object(`models/${MODEL}/${version}/manifest.json`);
  expect(sha256(artifact), version).toBe(record!.sha256);
  expect(sha256(manifest), version).toBe(record!.manifestSha256);
  // What serving reads today: the fixed key, the same bytes.
  expect(sha256(fixed), version).toBe(record!.manifestSha256);
  const parsed = JSON.parse(fixed.toString('utf8')) as { artifact: { sha256: string } };
  expect(parsed.artifact.sha256, version).toBe(record!.sha256);
  const events = await h.audit(MODEL, version);
  expect(
    events.filter((e) => e.type === 'REGISTERED'),
    version,
  ).toHaveLength(1);
}

/** Each push saw only its own release's events and ended as its own release did. */
function expectOwnOutcome(r: PushResult): void {
  expect(r.events.length, r.manifestKey).toBeGreaterThan(0);
  for (const e of r.events) expect(e.details.key, r.manifestKey).toBe(r.manifestKey);
  expect(r.events.at(-1)!.type, r.manifestKey).toBe(r.outcome);
}

async function racePairs(
  prefix: string,
  variants: readonly [(version: string) => Promise<string>, (version: string) => Promise<string>],
): Promise<void> {
  const versions = Array.from({ length: PAIRS }, (_, i) => `${prefix}-${i}`);
  const dirs = new Map<string, [string, string]>();
  for (const v of versions) dirs.set(v, [await variants[0](v), await variants[1](v)]);
  await inBatches(versions, PAIRS_IN_FLIGHT, async (version) => {
    const results = await Promise.all(
      dirs.get(version)!.map((dir) => push(dir, h.target, { timeoutSeconds: 240, pollMs: 100 }, quietIo)),
    );
    for (const r of results) expectOwnOutcome(r);
    expect(new Set(results.map((r) => r.uploadId)).size).toBe(2);
    const outcomes = results.map((r) => r.outcome).sort();
    expect(outcomes, `${version}: ${JSON.stringify(results.map((r) => r.events.at(-1)?.details))}`).toEqual([
      'REGISTERED',
      'VERSION_CONFLICT',
    ]);
    const winner = results.find((r) => r.outcome === 'REGISTERED')!;
    const record = await h.version(MODEL, version);
    expect(record?.sourceKey, version).toBe(winner.manifestKey);
    expect(record?.uploadId, version).toBe(winner.uploadId);
    expect(record?.sha256, version).toBe(winner.sha256);
    await expectServable(version);
  });
}

describe('concurrent pushes of one version', () => {
  it(`${PAIRS} pairs with different artifacts: one registers, the other reports its own conflict`, async () => {
    await racePairs('race-artifact', [
      (v) => bundleDir('a', 'credit-risk', v),
      (v) => bundleDir('b', 'breast-cancer', v),
    ]);
  }, 600_000);

  it(`${PAIRS} pairs with the same artifact and different manifests: one registers, the other conflicts`, async () => {
    await racePairs('race-manifest', [
      (v) => bundleDir('a', 'credit-risk', v),
      (v) =>
        bundleDir('b', 'credit-risk', v, (m) => {
          m.owner = 'another-team';
        }),
    ]);
  }, 600_000);
});

/** Waits until the version's audit trail has `count` events of `type` (the watcher runs the release). */
async function waitForEvents(version: string, type: string, count = 1): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await h.audit(MODEL, version)).filter((e) => e.type === type).length >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${type} for ${version}`);
}

async function putObject(key: string, body: Buffer | string): Promise<void> {
  await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: body }));
}

describe('recovery through the ASL (the watcher starts each release)', () => {
  it('reuses the orphans of a RegisterVersion that crashed before its record', async () => {
    const { manifest, artifact } = await loadExample(MODEL);
    const version = 'orphans-1';
    const text = JSON.stringify({ ...manifest, version });
    // What a crash just before the record write leaves: every object, no record, no REGISTERED event.
    const orphans = [
      `models/${MODEL}/${version}/${sha256(artifact)}.onnx`,
      `models/${MODEL}/${version}/manifest-${sha256(text)}.json`,
      `models/${MODEL}/${version}/manifest.json`,
    ];
    await putObject(orphans[0]!, artifact);
    await putObject(orphans[1]!, text);
    await putObject(orphans[2]!, text);
    await h.stage(MODEL, version, text, artifact);
    await waitForEvents(version, 'REGISTERED');
    expect(await h.keys(`models/${MODEL}/${version}/`)).toEqual([...orphans].sort());
    expect(types(await h.audit(MODEL, version))).toEqual(['VALIDATION_PASSED', 'REGISTERED']);
    await expectServable(version);
  });

  it('gives a record whose REGISTERED event was lost to a crash its event on the next push', async () => {
    const { manifest, artifact } = await loadExample(MODEL);
    const version = 'lost-event-1';
    const text = JSON.stringify({ ...manifest, version });
    const manifestSha256 = sha256(text);
    const artifactKey = `models/${MODEL}/${version}/${sha256(artifact)}.onnx`;
    const manifestKey = `models/${MODEL}/${version}/manifest-${manifestSha256}.json`;
    // What a crash between the record and its REGISTERED event leaves.
    await putObject(artifactKey, artifact);
    await putObject(manifestKey, text);
    await putObject(`models/${MODEL}/${version}/manifest.json`, text);
    const at = new Date().toISOString();
    await h.metadata.versions.putVersionUnlessRegistered({
      model: MODEL,
      version,
      status: 'REGISTERED',
      createdAt: at,
      updatedAt: at,
      artifactKey,
      manifestKey,
      manifestSha256,
      sha256: sha256(artifact),
      sizeBytes: artifact.length,
      framework: 'onnx',
      source: 'crashed-execution',
      sourceKey: `incoming/${MODEL}/${version}/manifest.json`,
    });
    expect(types(await h.audit(MODEL, version))).toEqual([]);

    await h.stage(MODEL, version, text, artifact);
    await waitForEvents(version, 'REGISTER_IDEMPOTENT');
    expect(types(await h.audit(MODEL, version)).sort()).toEqual([
      'REGISTERED',
      'REGISTER_IDEMPOTENT',
      'VALIDATION_PASSED',
    ]);
    const registered = (await h.audit(MODEL, version)).find((e) => e.type === 'REGISTERED')!;
    expect(registered.actor).toBe('crashed-execution');
    await expectServable(version);
  });
});
