/** Valid manifests to start tests from; each call returns a fresh deep copy to mutate. */
// Tests mutate these deeply nested fixtures freely; typing every path would only add casts.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures', 'tiny-classifier');

const tinyText = readFileSync(path.join(FIXTURE_DIR, 'manifest.json'), 'utf8');

/** The tiny-classifier bundle's manifest (three numeric features, probability + class outputs). */
export function tinyManifest(): Record<string, any> {
  return JSON.parse(tinyText) as Record<string, any>;
}

export const tinyManifestText = tinyText;

/** A manifest exercising every feature type and a tensor per feature kind. */
export function richManifest(): Record<string, any> {
  return {
    manifestVersion: 1,
    name: 'credit-risk',
    version: '2.1.0-rc.1',
    framework: 'onnx',
    owner: 'risk-team',
    artifact: { file: 'model.onnx', sha256: 'a'.repeat(64), sizeBytes: 1234 },
    inputs: {
      features: [
        { name: 'income', type: 'numeric', range: { min: 0 } },
        { name: 'age', type: 'numeric', required: false },
        { name: 'plan', type: 'categorical', categories: ['basic', 'pro', 'enterprise'] },
        { name: 'region', type: 'categorical', categories: ['eu', 'us'], required: false },
        { name: 'active', type: 'boolean', pii: false },
      ],
      tensors: [
        { name: 'numeric', elementType: 'float32', features: ['income', 'age', 'active'] },
        { name: 'plan_in', elementType: 'string', features: ['plan'] },
        { name: 'region_in', elementType: 'int64', features: ['region'] },
      ],
    },
    outputs: [
      { name: 'probabilities', kind: 'probability', elementType: 'float32', labels: ['good', 'bad'] },
      { name: 'label', kind: 'class', elementType: 'string', labels: ['good', 'bad'] },
    ],
    metrics: { auc: 0.81, brier: 0.12 },
    gates: { minimums: { auc: 0.75 }, maximums: { brier: 0.2 }, maxRegression: { auc: 0.01, brier: 0.02 } },
    baseline: {
      referenceCount: 1000,
      features: {
        income: { kind: 'numeric', edges: [0, 1000, 5000], counts: [0, 300, 600, 100], missing: 0 },
        plan: { kind: 'categorical', categories: ['basic', 'pro'], counts: [600, 300, 100], missing: 0 },
        active: { kind: 'categorical', categories: ['true', 'false'], counts: [700, 300, 0], missing: 0 },
      },
    },
    smokeSamples: [
      {
        inputs: { income: 3000, age: null, plan: 'pro', region: 'eu', active: true },
        expected: { probabilities: [0.7, 0.3], label: 'good' },
        tolerance: 0.01,
      },
    ],
    lineage: { trainingData: 's3://data/credit/2026-01', codeCommit: 'abc1234', trainer: 'sagemaker' },
    modelCard: {
      intendedUse: 'Pre-screening of credit applications.',
      limitations: 'Trained on EU data only.',
    },
    approval: { required: true, riskTier: 'high' },
  };
}
