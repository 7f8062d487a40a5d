import { describe, expect, it } from 'vitest';
import {
  feedbackTarget,
  joinFeedback,
  lostLabelWrite,
  predictionLogItem,
  requestIdHash,
  sampledForFeedback,
  type LoggedPrediction,
} from '../../lambdas/core/feedback';
import { parseFeedbackBody } from '../../lambdas/core/feedback-body';

const T0 = Date.UTC(2026, 0, 31, 12, 0, 0);
const CLASSIFIER = [
  { name: 'label', kind: 'class' as const },
  { name: 'probabilities', kind: 'probability' as const },
];

function logged(over: Partial<LoggedPrediction> = {}): LoggedPrediction {
  const item = predictionLogItem({
    model: 'm',
    requestId: 'r-1',
    version: '1.0.0',
    predictions: [{ label: 'benign' }, { label: 'malignant' }],
    outputs: CLASSIFIER,
    nowMs: T0,
    ttlDays: 30,
  });
  if (item === undefined) throw new Error('fixture: no log item');
  return { ...item, ...over };
}

describe('prediction log item', () => {
  it('keeps the class label per instance and no feature values', () => {
    const item = predictionLogItem({
      model: 'm',
      requestId: 'r-1',
      version: '1.0.0',
      predictions: [{ label: 'benign', probabilities: { benign: 0.9, malignant: 0.1 } }],
      outputs: CLASSIFIER,
      nowMs: T0,
      ttlDays: 2,
    });
    expect(item).toEqual({
      model: 'm',
      requestId: 'r-1',
      version: '1.0.0',
      at: '2026-01-31T12:00:00.000Z',
      kind: 'classification',
      output: 'label',
      predictions: ['benign'],
      expiresAt: T0 / 1000 + 2 * 86_400,
    });
  });

  it('keeps the regression value, and the argmax of a probability-only model', () => {
    expect(
      predictionLogItem({
        model: 'm',
        requestId: 'r',
        version: '1',
        predictions: [{ y: 2.5 }, { y: -1 }],
        outputs: [{ name: 'y', kind: 'regression' }],
        nowMs: T0,
        ttlDays: 1,
      })?.predictions,
    ).toEqual([2.5, -1]);
    expect(feedbackTarget([{ name: 'p', kind: 'probability' }])).toEqual({
      kind: 'classification',
      output: 'p',
      fromProbabilities: true,
    });
    expect(
      predictionLogItem({
        model: 'm',
        requestId: 'r',
        version: '1',
        predictions: [{ p: { a: 0.2, b: 0.7, c: 0.1 } }],
        outputs: [{ name: 'p', kind: 'probability' }],
        nowMs: T0,
        ttlDays: 1,
      })?.predictions,
    ).toEqual(['b']);
  });

  it('logs nothing when a prediction lacks the target output', () => {
    expect(
      predictionLogItem({
        model: 'm',
        requestId: 'r',
        version: '1',
        predictions: [{ other: 'x' }],
        outputs: CLASSIFIER,
        nowMs: T0,
        ttlDays: 1,
      }),
    ).toBeUndefined();
  });
});

describe('sampling by request id', () => {
  it('is deterministic and close to the sample rate', () => {
    expect(requestIdHash('abc')).toBe(requestIdHash('abc'));
    expect(requestIdHash('')).toBe(0x811c9dc5);
    const ids = Array.from({ length: 10_000 }, (_, i) => `req-${i}`);
    const taken = ids.filter((id) => sampledForFeedback(id, 0.25)).length;
    expect(taken).toBeGreaterThan(2250);
    expect(taken).toBeLessThan(2750);
    expect(ids.filter((id) => sampledForFeedback(id, 0.25)).length).toBe(taken);
  });

  it('takes none at 0 and all at 1', () => {
    expect(sampledForFeedback('x', 0)).toBe(false);
    expect(sampledForFeedback('x', 1)).toBe(true);
  });
});

describe('feedback body', () => {
  it('accepts labels, and label as a single-instance shorthand', () => {
    expect(parseFeedbackBody('{"requestId":"r","labels":["a",2]}', 1000)).toEqual({
      ok: true,
      request: { requestId: 'r', labels: ['a', 2] },
    });
    expect(parseFeedbackBody('{"requestId":"r","label":"a"}', 1000)).toEqual({
      ok: true,
      request: { requestId: 'r', labels: ['a'] },
    });
  });

  it('rejects a body without requestId or labels, naming each field', () => {
    const r = parseFeedbackBody('{}', 1000);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.status).toBe(400);
    expect(r.errors.map((e) => e.path).sort()).toEqual(['labels', 'requestId']);
  });

  it('rejects label and labels together, unknown fields, bad labels, invalid JSON and oversize bodies', () => {
    const errors = (text: string) => {
      const r = parseFeedbackBody(text, 100);
      return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    };
    expect(errors('{"requestId":"r","label":"a","labels":["a"]}')).toEqual([
      'label: must not be sent together with "labels"; send one of them',
    ]);
    expect(errors('{"requestId":"r","label":"a","x":1}')).toEqual([
      'x: unknown field; send requestId and label or labels',
    ]);
    expect(errors('{"requestId":"r","labels":["a",null]}')[0]).toMatch(/^labels\[1\]: must be a string/);
    expect(errors('{"requestId":"r","labels":[]}')).toEqual(['labels: must hold at least one label']);
    expect(errors('nope')[0]).toMatch(/^\(body\): is not valid JSON/);
    expect(errors('[1]')[0]).toMatch(/^\(body\): must be a JSON object/);
    const big = parseFeedbackBody(JSON.stringify({ requestId: 'r', label: 'x'.repeat(200) }), 100);
    expect(big).toMatchObject({ ok: false, status: 413 });
  });
});

describe('joining labels with a logged prediction', () => {
  const item = logged();

  it('scores classification labels per instance, with the label lag', () => {
    const join = joinFeedback(item, { requestId: 'r-1', labels: ['benign', 'benign'] }, T0 + 90_000);
    expect(join).toEqual({
      kind: 'ok',
      evaluation: {
        kind: 'classification',
        correct: [1, 0],
        absoluteErrors: [],
        labelLagSeconds: 90,
        labels: ['benign', 'benign'],
      },
    });
  });

  it('scores regression labels by absolute error, accepting numeric strings', () => {
    const reg: LoggedPrediction = { ...item, kind: 'regression', output: 'y', predictions: [2, 5] };
    const join = joinFeedback(reg, { requestId: 'r-1', labels: ['2.5', 4] }, T0);
    expect(join).toMatchObject({ kind: 'ok', evaluation: { absoluteErrors: [0.5, 1], labels: [2.5, 4] } });
  });

  it('fails an unknown request id as not-found and an expired one as expired', () => {
    expect(joinFeedback(undefined, { requestId: 'x', labels: ['a'] }, T0).kind).toBe('not-found');
    expect(joinFeedback(item, { requestId: 'r-1', labels: ['a', 'b'] }, T0 + 30 * 86_400_000)).toEqual({
      kind: 'expired',
      expiresAt: item.expiresAt,
    });
  });

  it('rejects a label count that does not match the instances, and non-numbers for regression', () => {
    expect(joinFeedback(item, { requestId: 'r-1', labels: ['a'] }, T0)).toMatchObject({
      kind: 'invalid',
      errors: [{ path: 'labels', message: expect.stringMatching(/has 1 label\(s\) but request r-1 had 2/) }],
    });
    const reg: LoggedPrediction = { ...item, kind: 'regression', output: 'y', predictions: [2] };
    expect(joinFeedback(reg, { requestId: 'r-1', labels: ['high'] }, T0)).toMatchObject({
      kind: 'invalid',
      errors: [{ path: 'labels[0]', message: expect.stringMatching(/must be a number/) }],
    });
  });

  it('decides a lost label write: same labels duplicate, different labels conflict, gone not-found', () => {
    const labelled = { ...item, labels: ['benign', 'benign'] };
    expect(lostLabelWrite(labelled, ['benign', 'benign'])).toEqual({ kind: 'duplicate' });
    expect(lostLabelWrite(labelled, ['benign', 'malignant'])).toEqual({
      kind: 'conflict',
      existing: ['benign', 'benign'],
    });
    expect(lostLabelWrite(undefined, ['a'])).toEqual({ kind: 'not-found' });
  });
});
