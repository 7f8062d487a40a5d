/**
 * Names drawn from `Object.prototype` (constructor, toString, __proto__, …) used as feature, metric, output and label
 * names. Each must behave exactly like an ordinary name through parsing, gates, request validation, encoding,
 * prediction formatting and smoke checks — or, for `__proto__`, be refused by name. Every result is compared with
 * the same manifest's results with an ordinary name in that place.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { describe, expect, it } from 'vitest';
import { encodeInstances } from '../../lambdas/core/features';
import { evaluateGates } from '../../lambdas/core/gates';
import { compileInstanceValidator } from '../../lambdas/core/inference-request';
import { IDENTIFIER_PATTERN, parseManifest, type Manifest } from '../../lambdas/core/manifest';
import type { LoadedModel, OutputValue } from '../../lambdas/core/model-runtime';
import { createPredictionFormatter } from '../../lambdas/core/predictions';
import { smokeSampleIssues } from '../../lambdas/core/smoke';
import { tinyManifest } from './manifest-fixtures';

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).filter((n) =>
  IDENTIFIER_PATTERN.test(n),
);
/** An ordinary name that appears nowhere else in the fixture or in any message. */
const CONTROL = 'zzOrdinaryName';

type Role = 'feature' | 'metric' | 'output' | 'label';
const ROLES: readonly Role[] = ['feature', 'metric', 'output', 'label'];

/** The tiny fixture with the optional feature `x3`, the metric `auc`, the class output `label` or the label `malignant` renamed. */
function manifestWith(role: Role, name: string): Record<string, any> {
  const m = tinyManifest();
  const rename = (record: Record<string, any>, from: string) => {
    if (!Object.hasOwn(record, from)) return;
    // defineProperty: a plain assignment of "__proto__" would set the prototype instead of a key.
    Object.defineProperty(record, name, {
      value: record[from],
      enumerable: true,
      writable: true,
      configurable: true,
    });
    delete record[from];
  };
  if (role === 'feature') {
    m.inputs.features[2].name = name;
    m.inputs.tensors[0].features[2] = name;
    for (const s of m.smokeSamples) rename(s.inputs, 'x3');
  } else if (role === 'metric') {
    rename(m.metrics, 'auc');
    rename(m.gates.minimums, 'auc');
    rename(m.gates.maxRegression, 'auc');
  } else if (role === 'output') {
    m.outputs[1].name = name;
    for (const s of m.smokeSamples) rename(s.expected, 'label');
  } else {
    for (const o of m.outputs) o.labels = o.labels.map((l: string) => (l === 'malignant' ? name : l));
  }
  return m;
}

const tensor = (elementType: string, data: OutputValue['data'], dims: number[]): OutputValue => ({
  elementType,
  data,
  dims,
});

/** A model that answers every run with these outputs (a fresh object, keyed with defineProperty like JSON.parse does). */
function fixedModel(outputs: readonly [string, OutputValue][]): LoadedModel {
  return {
    inputs: [],
    outputs: [],
    run: () => Promise.resolve(Object.fromEntries(outputs)),
    release: () => Promise.resolve(),
  };
}

/** Everything the release and serving paths compute from one manifest, as JSON. */
async function outcomes(input: Record<string, any>, role: Role, name: string): Promise<unknown> {
  const parsed = parseManifest(input);
  if (!parsed.ok) return { issues: parsed.issues };
  const manifest: Manifest = parsed.manifest;
  const metricName = role === 'metric' ? name : 'auc';
  const outputName = role === 'output' ? name : 'label';
  const metricsWithout = Object.fromEntries(
    Object.entries(manifest.metrics).filter(([k]) => k !== metricName),
  );
  const champion = { version: '0.9.0', metrics: Object.fromEntries([[metricName, 0.99]]) };
  const attempt = (fn: () => unknown) => {
    try {
      return { value: fn() };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  const validate = compileInstanceValidator(manifest);
  const format = createPredictionFormatter(manifest.outputs);
  const outputs: [string, OutputValue][] = [
    ['probabilities', tensor('float32', new Float32Array([0.25, 0.75]), [1, 2])],
    [outputName, tensor('int64', new BigInt64Array([1n]), [1])],
  ];
  const feeds = (instances: Record<string, unknown>[]) =>
    attempt(() =>
      Object.entries(encodeInstances(manifest, instances as never)).map(([k, t]) => [
        k,
        Array.from(t.data as ArrayLike<unknown>),
      ]),
    );
  return {
    names: {
      features: manifest.inputs.features.map((f) => f.name),
      metrics: Object.keys(manifest.metrics),
      outputs: manifest.outputs.map((o) => o.name),
      labels: manifest.outputs.map((o) => o.labels),
    },
    gates: evaluateGates(manifest.metrics, manifest.gates, champion),
    gatesWithoutMetric: evaluateGates(metricsWithout, manifest.gates, undefined),
    validation: validate([{ x1: 1, x2: 2 }, { x1: 1 }, { x1: 1, x2: 2, unknown: 3 }]),
    encodedWithoutOptional: feeds([{ x1: 1, x2: 2 }]),
    formatted: attempt(() => format(Object.fromEntries(outputs), 1)),
    formattedMissingOutput: attempt(() => format(Object.fromEntries(outputs.slice(0, 1)), 1)),
    smoke: await smokeSampleIssues(manifest, fixedModel(outputs)),
    smokeNoOutputs: await smokeSampleIssues(manifest, fixedModel([])),
  };
}

describe('names drawn from Object.prototype', () => {
  it('the list under test holds the dangerous names', () => {
    expect(PROTOTYPE_NAMES).toEqual(
      expect.arrayContaining(['constructor', 'toString', '__proto__', 'valueOf']),
    );
  });

  // Exhaustive over every (role, name) pair: the space is small, so no sampling is needed.
  it.each(ROLES.flatMap((role) => PROTOTYPE_NAMES.map((name) => [role, name] as const)))(
    'a %s named %s behaves exactly as an ordinary name, or is refused by name if it is __proto__',
    async (role, name) => {
      const got = await outcomes(manifestWith(role, name), role, name);
      if (name === '__proto__') {
        const issues = (got as { issues?: { path: string; message: string }[] }).issues ?? [];
        expect(issues.map((i) => i.message)).toContain(
          '"__proto__" is reserved (JavaScript objects cannot hold it as data); choose another name',
        );
        return;
      }
      const control = await outcomes(manifestWith(role, CONTROL), role, CONTROL);
      expect(JSON.stringify(got)).toContain(name);
      expect(JSON.stringify(got).replaceAll(name, CONTROL)).toBe(JSON.stringify(control));
    },
  );

  it('rejects a gate on an inherited name the manifest never reported', () => {
    const m = tinyManifest();
    m.gates.minimums = { auc: 0.9, constructor: 0.1 };
    const parsed = parseManifest(m);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? [] : parsed.issues).toContainEqual({
      path: 'gates',
      message: 'gates metric "constructor" but metrics has no "constructor"; report it',
    });
    expect(
      evaluateGates({}, { minimums: { toString: 0.1 }, maximums: {}, maxRegression: {} }, undefined),
    ).toEqual({
      reasons: ['gates.minimums.toString: metrics has no "toString"; report it'],
      checks: [],
    });
  });
});
