import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxRuntimeLayer, stageOnnxRuntime } from '../../lib/constructs/onnx-runtime-layer';
import { testStack } from './helpers';

const LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024;

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

let staged: string;
beforeAll(() => {
  staged = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-layer-'));
  stageOnnxRuntime(staged, 'x86_64');
});
afterAll(() => fs.rmSync(staged, { recursive: true, force: true }));

describe('stageOnnxRuntime', () => {
  it('carries the linux/x64 binaries and the JS of onnxruntime-node and onnxruntime-common', () => {
    const files = filesUnder(staged);
    const ort = 'nodejs/node_modules/onnxruntime-node';
    expect(files).toEqual(
      expect.arrayContaining([
        `${ort}/package.json`,
        `${ort}/dist/index.js`,
        `${ort}/bin/napi-v6/linux/x64/libonnxruntime.so.1`,
        `${ort}/bin/napi-v6/linux/x64/onnxruntime_binding.node`,
        'nodejs/node_modules/onnxruntime-common/package.json',
        'nodejs/node_modules/onnxruntime-common/dist/cjs/index.js',
      ]),
    );
  });

  it('drops other platforms, architectures, sources, maps and typings', () => {
    const unwanted = filesUnder(staged).filter((f) =>
      /darwin|win32|arm64|\.map$|\.ts$|\/lib\/|\/script\/|README/.test(f),
    );
    expect(unwanted).toEqual([]);
  });

  it('stays well under the 250 MB unzipped limit', () => {
    const bytes = filesUnder(staged).reduce((sum, f) => sum + fs.statSync(path.join(staged, f)).size, 0);
    expect(bytes).toBeGreaterThan(10 * 1024 * 1024); // the native library is really there
    expect(bytes).toBeLessThan(LAMBDA_UNZIPPED_LIMIT / 4);
  });

  it('loads as a module from the staged tree', () => {
    const required = createRequire(__filename)(path.join(staged, 'nodejs/node_modules/onnxruntime-node')) as {
      InferenceSession?: unknown;
    };
    expect(typeof required.InferenceSession).toBe('function');
  });
});

describe('OnnxRuntimeLayer', () => {
  it('is one Node 22 x86_64 layer per stack with a hash from the package version', () => {
    const stack = testStack('LayerTest');
    const a = OnnxRuntimeLayer.of(stack);
    const b = OnnxRuntimeLayer.of(stack, Architecture.X86_64);
    expect(a).toBe(b);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleRuntimes: ['nodejs22.x'],
      CompatibleArchitectures: ['x86_64'],
    });
    expect(a.onnxRuntimeVersion).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('produces the same asset hash in two separate apps', () => {
    const hashOf = () => {
      const stack = testStack('LayerHash');
      OnnxRuntimeLayer.of(stack);
      const layer = Object.values(
        Template.fromStack(stack).findResources('AWS::Lambda::LayerVersion'),
      )[0] as {
        Properties: { Content: { S3Key: unknown } };
      };
      return JSON.stringify(layer.Properties.Content.S3Key);
    };
    expect(hashOf()).toBe(hashOf());
  });
});
