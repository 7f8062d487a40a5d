import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestRejectedError, prepareBundle } from '../../cli/bundle';
import { FIXTURE_DIR } from './manifest-fixtures';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('modelops push: manifest encoding', () => {
  it('refuses a manifest with invalid UTF-8 before anything is uploaded, naming the byte offset', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'modelops-bundle-'));
    await copyFile(path.join(FIXTURE_DIR, 'model.onnx'), path.join(dir, 'model.onnx'));
    const text = await readFile(path.join(FIXTURE_DIR, 'manifest.json'));
    const offset = text.indexOf('ml-platform');
    text[offset] = 0xc0;
    await writeFile(path.join(dir, 'manifest.json'), text);

    const attempt = prepareBundle(dir);
    await expect(attempt).rejects.toBeInstanceOf(ManifestRejectedError);
    await expect(attempt).rejects.toThrow(
      `  - (manifest): manifest.json is not valid UTF-8 at byte offset ${offset}; save it as UTF-8`,
    );
  });
});
