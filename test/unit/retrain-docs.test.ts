/**
 * docs/config.md#modelsretrain and docs/retrain.md say what the code does: every retrain config field is listed with
 * the default the schema applies, and every Guard skip code, champion gate code, outcome and start input field is
 * documented.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SKIP_CODES } from '../../lambdas/core/retrain-guard';
import { RETRAIN_OUTCOMES, retrainStartSchema, TRIGGER_KINDS } from '../../lambdas/core/retrain-policy';
import { parseConfig } from '../../lib/config';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The table rows (as cells) of the section starting at `heading` (up to the next heading of any level). */
function tableRows(text: string, heading: string): string[][] {
  const start = text.indexOf(`\n${heading}\n`);
  expect(start, `no "${heading}" section`).toBeGreaterThan(0);
  const end = text.slice(start + 1).search(/\n#{2,3} /);
  return text
    .slice(start, end < 0 ? undefined : start + 1 + end)
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
    .slice(1)
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

const unquote = (s: string) => s.replace(/^`|`$/g, '').replace(/^"|"$/g, '');

describe('docs/config.md models[].retrain', () => {
  const rows = tableRows(read('docs/config.md'), '### `models[].retrain`');
  const byField = new Map(rows.map((r) => [unquote(r[0]!), r]));
  const parsed = parseConfig({
    models: [
      {
        name: 'm',
        owner: 'o',
        retrain: {
          enabled: true,
          trainer: {
            command: ['x'],
            sagemaker: { image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/t:1' },
          },
          championGate: { metric: 'auc' },
        },
      },
    ],
  }).models[0]!.retrain;

  const leaves: [string, unknown][] = [];
  const walk = (prefix: string, value: unknown) => {
    if (
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      !prefix.endsWith('hyperparameters')
    ) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else leaves.push([prefix, value]);
  };
  walk('', parsed);

  it('lists every field of the parsed retrain config', () => {
    expect(leaves.length).toBeGreaterThanOrEqual(14);
    for (const [field] of leaves) expect(byField.has(field), `docs/config.md lacks ${field}`).toBe(true);
    for (const field of ['schedule', 'driftPersistence', 'referenceData'])
      expect(byField.has(field)).toBe(true);
  });

  it('documents the defaults the schema applies', () => {
    const given = new Set(['enabled', 'trainer.command', 'trainer.sagemaker.image', 'championGate.metric']);
    for (const [field, value] of leaves) {
      if (given.has(field)) continue;
      const documented = unquote(byField.get(field)![2]!);
      const expected = typeof value === 'object' ? JSON.stringify(value) : String(value);
      expect(documented, field).toBe(expected);
    }
    expect(unquote(byField.get('enabled')![2]!)).toBe(
      String(parseConfig({ models: [{ name: 'm', owner: 'o' }] }).models[0]!.retrain.enabled),
    );
  });
});

describe('docs/retrain.md', () => {
  const text = read('docs/retrain.md');

  it('documents every Guard skip code, outcome and trigger kind', () => {
    const skipRows = tableRows(text, '## Guard').map((r) => unquote(r[0]!));
    expect(skipRows).toEqual([...SKIP_CODES]);
    for (const outcome of RETRAIN_OUTCOMES) expect(text).toContain(`\`${outcome}\``);
    for (const kind of TRIGGER_KINDS) expect(text).toContain(`\`${kind}\``);
  });

  it('documents every start input field', () => {
    const fields = tableRows(text, '### Start input schema').map((r) => unquote(r[0]!));
    expect(fields).toEqual(Object.keys(retrainStartSchema.shape));
  });
});
