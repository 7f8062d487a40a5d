/**
 * The layering of lambdas/ (DESIGN.md decision 4): handlers → core ← adapters. Core is pure logic and the ports:
 * it imports only core and SDK-free packages. Adapters implement the ports: they import core, other adapters and
 * lambdas/shared (the env helper), never the inference app or a handler.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const LAMBDAS = path.join(__dirname, '..', '..', 'lambdas');

/**
 * Packages core must not import. Core imports zod, csv-parse and node: built-ins today; what talks to AWS or loads
 * a model runtime sits behind a port instead (the AWS SDK, Powertools, Lambda event types, ONNX Runtime).
 */
const CORE_FORBIDDEN_PACKAGES = [/^@aws-sdk\//, /^@aws-lambda-powertools\//, /^aws-lambda$/, /^onnxruntime-/];

/** Folders of lambdas/ an adapter may import from; any other (inference, a handler's folder) is a layering error. */
const ADAPTER_ALLOWED_FOLDERS = new Set(['core', 'adapters', 'shared']);

/** Every module specifier of a source file: static, type-only, re-exports and dynamic `import()`. */
function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * Why `specifier`, imported by `file` (a path relative to lambdas/, e.g. `core/validation.ts`), breaks the layering;
 * undefined when it does not.
 */
function layeringViolation(file: string, specifier: string): string | undefined {
  const layer = file.split('/')[0];
  if (!specifier.startsWith('.')) {
    const banned = layer === 'core' && CORE_FORBIDDEN_PACKAGES.some((p) => p.test(specifier));
    return banned
      ? `${file} imports ${specifier}: core must stay free of AWS and runtime packages`
      : undefined;
  }
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
  if (target.startsWith('..')) return `${file} imports ${specifier}, outside lambdas/`;
  const folder = target.split('/')[0]!;
  if (layer === 'core' && folder !== 'core') {
    return `${file} imports ${specifier} (lambdas/${folder}/): core imports only core`;
  }
  if (layer === 'adapters' && !ADAPTER_ALLOWED_FOLDERS.has(folder)) {
    return `${file} imports ${specifier} (lambdas/${folder}/): adapters import only core, adapters and shared`;
  }
  return undefined;
}

function sourcesOf(folder: string): string[] {
  return readdirSync(path.join(LAMBDAS, folder))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${folder}/${f}`);
}

describe('import graph of lambdas/', () => {
  it.each(['core', 'adapters'])('keeps lambdas/%s within its layer', (folder) => {
    const files = sourcesOf(folder);
    expect(files.length).toBeGreaterThan(5);
    const violations = files.flatMap((file) =>
      importSpecifiers(readFileSync(path.join(LAMBDAS, file), 'utf8'))
        .map((specifier) => layeringViolation(file, specifier))
        .filter((v): v is string => v !== undefined),
    );
    expect(violations).toEqual([]);
  });

  it('sees every kind of import', () => {
    expect(
      importSpecifiers(
        [
          "import { a } from './a';",
          "import type { B } from '../adapters/b';",
          "export { c } from './c';",
          "const d = await import('../inference/d');",
        ].join('\n'),
      ),
    ).toEqual(['./a', '../adapters/b', './c', '../inference/d']);
  });

  it('flags what breaks the layering, naming the file, the import and the rule', () => {
    expect(layeringViolation('core/validation.ts', '../adapters/clients')).toBe(
      'core/validation.ts imports ../adapters/clients (lambdas/adapters/): core imports only core',
    );
    expect(layeringViolation('core/routing.ts', '@aws-sdk/lib-dynamodb')).toBe(
      'core/routing.ts imports @aws-sdk/lib-dynamodb: core must stay free of AWS and runtime packages',
    );
    expect(layeringViolation('core/x.ts', '../../lib/config')).toBe(
      'core/x.ts imports ../../lib/config, outside lambdas/',
    );
    expect(layeringViolation('adapters/onnx-backend.ts', '../inference/inference-app')).toBe(
      'adapters/onnx-backend.ts imports ../inference/inference-app (lambdas/inference/): adapters import only core, ' +
        'adapters and shared',
    );
    expect(layeringViolation('adapters/x.ts', '../register-version/handler')).toBe(
      'adapters/x.ts imports ../register-version/handler (lambdas/register-version/): adapters import only core, ' +
        'adapters and shared',
    );
  });

  it('allows what the layering permits', () => {
    expect(layeringViolation('core/validation.ts', './ports')).toBeUndefined();
    expect(layeringViolation('core/manifest.ts', 'zod')).toBeUndefined();
    expect(layeringViolation('adapters/dynamo-audit-log.ts', '../core/ports')).toBeUndefined();
    expect(layeringViolation('adapters/dynamo-audit-log.ts', '../shared/env')).toBeUndefined();
    expect(layeringViolation('adapters/clients.ts', '@aws-sdk/client-s3')).toBeUndefined();
  });
});
