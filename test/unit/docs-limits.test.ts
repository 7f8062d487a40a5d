/**
 * The limits documented in docs/manifest.md and docs/inference.md are the code's: every size limit of the manifest
 * schema is listed with the schema's own number (read from its JSON Schema, so a new field or a changed limit fails
 * here until the docs say so), and the request limits equal the defaults and bounds the config and the request parser
 * apply.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_ROUTING_KEY_LENGTH, DEFAULT_INFERENCE_LIMITS } from '../../lambdas/core/inference-request';
import { manifestSchema, MAX_MANIFEST_BYTES } from '../../lambdas/core/manifest';
import { MAX_TENSOR_ELEMENTS, MAX_TENSOR_RANK } from '../../lambdas/core/tensor-values';
import { DEFAULT_INFERENCE, parseConfig } from '../../lib/config';

const DOCS = path.join(__dirname, '..', '..', 'docs');

/** The rows of the markdown table under `## <heading>`, as cells. */
function tableRows(file: string, heading: string): string[][] {
  const text = readFileSync(path.join(DOCS, file), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  expect(start, `${file} has no "## ${heading}" section`).toBeGreaterThan(0);
  const end = text.indexOf('\n## ', start + 1);
  return text
    .slice(start, end < 0 ? undefined : end)
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
    .slice(1)
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

const num = (s: string): number => Number(s.replace(/,/g, ''));

type JsonSchema = Record<string, unknown>;

/** `path → "<n> characters|items"` for every maxLength/maxItems in a JSON Schema (union branches merged). */
function schemaMaxima(node: unknown, at: string, out: Map<string, Set<string>>): void {
  if (node === null || typeof node !== 'object') return;
  const n = node as JsonSchema;
  const add = (v: string) => out.set(at, (out.get(at) ?? new Set()).add(v));
  if (typeof n.maxLength === 'number') add(`${n.maxLength} characters`);
  // Integers without a bound carry Number.MAX_SAFE_INTEGER; that is no documented limit.
  if (typeof n.maxItems === 'number') add(`${n.maxItems} items`);
  for (const [k, v] of Object.entries((n.properties as JsonSchema | undefined) ?? {})) {
    schemaMaxima(v, at ? `${at}.${k}` : k, out);
  }
  if (n.items) schemaMaxima(n.items, `${at}[]`, out);
  if (n.additionalProperties && typeof n.additionalProperties === 'object') {
    schemaMaxima(n.additionalProperties, `${at}.<key>`, out);
  }
  for (const k of ['oneOf', 'anyOf', 'allOf'] as const) {
    for (const branch of (n[k] as unknown[] | undefined) ?? []) schemaMaxima(branch, at, out);
  }
}

describe('docs/manifest.md Limits', () => {
  const rows = tableRows('manifest.md', 'Limits');
  const documented = new Map<string, string>();
  for (const [field, limit] of rows) {
    const m = /^at most ([\d,]+) (characters|items)/.exec(limit ?? '');
    const key = /^`([^`]+)`/.exec(field ?? '')?.[1];
    if (m && key) documented.set(key, `${num(m[1]!)} ${m[2]}`);
  }

  it("lists every size limit of the schema with the schema's number", () => {
    const maxima = new Map<string, Set<string>>();
    schemaMaxima(z.toJSONSchema(manifestSchema, { unrepresentable: 'any', io: 'input' }), '', maxima);
    expect(maxima.size).toBeGreaterThan(20);
    for (const [field, limits] of maxima) {
      expect([...limits], `${field}: one limit across its union branches`).toHaveLength(1);
      expect(documented.get(field), `docs/manifest.md Limits: ${field}`).toBe([...limits][0]);
    }
    // And nothing documented that the schema does not have.
    for (const field of documented.keys())
      expect(maxima.has(field), `${field} is not in the schema`).toBe(true);
  });

  it('states the manifest size, the tensor shape and the artifact size the code enforces', () => {
    const cell = (field: string) => rows.find(([f]) => f === field)?.[1] ?? '';
    expect(cell('`(manifest file)`')).toContain(
      `at most ${MAX_MANIFEST_BYTES.toLocaleString('en-US')} bytes`,
    );
    const shape = cell('`inputs.features[].shape` (`tensor`)');
    expect(shape).toContain(`1 to ${MAX_TENSOR_RANK} dims`);
    expect(shape).toContain(`at most ${MAX_TENSOR_ELEMENTS.toLocaleString('en-US')} elements`);
    const artifact = cell('`artifact.sizeBytes`');
    const defaults = parseConfig({ models: [{ name: 'm', owner: 'o' }] });
    expect(artifact).toContain(`default ${defaults.registry.maxArtifactBytes.toLocaleString('en-US')} bytes`);
    const max = /up to ([\d,]+) bytes/.exec(artifact)?.[1];
    expect(() =>
      parseConfig({ registry: { maxArtifactBytes: num(max!) }, models: [{ name: 'm', owner: 'o' }] }),
    ).not.toThrow();
    expect(() =>
      parseConfig({ registry: { maxArtifactBytes: num(max!) + 1 }, models: [{ name: 'm', owner: 'o' }] }),
    ).toThrow(/registry\.maxArtifactBytes/);
  });
});

describe('docs/inference.md Limits', () => {
  const rows = tableRows('inference.md', 'Limits');
  const row = (name: string) => rows.find(([n]) => n === name) ?? [];

  it('documents the defaults and bounds the config and the request parser apply', () => {
    const model = (inference: object) => ({ models: [{ name: 'm', owner: 'o', inference }] });
    const [, batchDefault, batchRange] = row('instances per request');
    expect(num(batchDefault!)).toBe(DEFAULT_INFERENCE.maxBatch);
    expect(num(batchDefault!)).toBe(DEFAULT_INFERENCE_LIMITS.maxBatch);
    const batchMax = num(/1 to ([\d,]+)/.exec(batchRange!)![1]!);
    expect(() => parseConfig(model({ maxBatch: batchMax }))).not.toThrow();
    expect(() => parseConfig(model({ maxBatch: batchMax + 1 }))).toThrow(/inference\.maxBatch/);

    const [, bodyDefault, bodyRange] = row('request body');
    expect(num(/^([\d,]+) bytes/.exec(bodyDefault!)![1]!)).toBe(DEFAULT_INFERENCE.maxBodyBytes);
    expect(DEFAULT_INFERENCE_LIMITS.maxBodyBytes).toBe(DEFAULT_INFERENCE.maxBodyBytes);
    const bodyMax = num(/up to ([\d,]+) bytes/.exec(bodyRange!)![1]!);
    expect(() => parseConfig(model({ maxBodyBytes: bodyMax }))).not.toThrow();
    expect(() => parseConfig(model({ maxBodyBytes: bodyMax + 1 }))).toThrow(/inference\.maxBodyBytes/);

    expect(num(row('field errors in a 400')[1]!)).toBe(DEFAULT_INFERENCE_LIMITS.maxErrors);
    expect(num(/^[\d,]+/.exec(row('`routingKey`')[1]!)![0])).toBe(MAX_ROUTING_KEY_LENGTH);
  });
});
