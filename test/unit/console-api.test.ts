import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../local/asl-runner';
import { ExecutionRing, stateGraph } from '../../local/console/api';

const result = (name: string, status: ExecutionResult['status'] = 'SUCCEEDED'): ExecutionResult => ({
  executionArn: `arn:aws:states:us-east-1:000000000000:execution:release:${name}`,
  name,
  input: {},
  status,
  startDate: '2026-01-01T00:00:00.000Z',
  stopDate: '2026-01-01T00:00:01.000Z',
  durationMs: 1000,
  history: [{ type: 'ExecutionStarted', timestamp: '2026-01-01T00:00:00.000Z' }],
});

describe('ExecutionRing', () => {
  it('follows an execution from its start through its events to its end', () => {
    const ring = new ExecutionRing();
    let changes = 0;
    ring.onChange(() => changes++);
    ring.observe({
      kind: 'started',
      stateMachine: 'release',
      name: 'a',
      executionArn: 'arn',
      input: { k: 1 },
      startDate: 'T0',
    });
    expect(ring.get('release', 'a')).toMatchObject({ status: 'RUNNING', history: [] });
    ring.observe({
      kind: 'event',
      stateMachine: 'release',
      name: 'a',
      event: { type: 'StateEntered', timestamp: 'T1', state: 'ValidateArtifact', input: { k: 1 } },
    });
    ring.observe({ kind: 'finished', stateMachine: 'release', result: result('a', 'FAILED') });
    const a = ring.get('release', 'a')!;
    expect(a).toMatchObject({ status: 'FAILED', durationMs: 1000, revision: 2 });
    // The live history (with each state's input) is kept, not replaced by the result's shorter one.
    expect(a.history).toEqual([
      { type: 'StateEntered', timestamp: 'T1', state: 'ValidateArtifact', input: { k: 1 } },
    ]);
    expect(changes).toBe(3);
  });

  it('keeps an execution it did not see start, and forgets the oldest beyond its capacity', () => {
    const ring = new ExecutionRing(2);
    for (const name of ['a', 'b', 'c'])
      ring.observe({ kind: 'finished', stateMachine: 'release', result: result(name) });
    expect(ring.list().map((e) => e.name)).toEqual(['b', 'c']);
    expect(ring.get('release', 'c')?.history).toHaveLength(1);
  });
});

describe('stateGraph', () => {
  it.each(['release', 'retrain'])(
    'draws every state of %s.asl.json with transitions to its own states only',
    (machine) => {
      const graph = stateGraph(machine, `${machine}.asl.json`);
      const names = new Set(graph.states.map((s) => s.name));
      expect(names.has(graph.startAt)).toBe(true);
      for (const s of graph.states)
        for (const n of s.next) expect(names.has(n.to), `${s.name} -> ${n.to}`).toBe(true);
      // Succeed and Fail states end the graph.
      for (const s of graph.states.filter((st) => st.type === 'Succeed' || st.type === 'Fail')) {
        expect(s.next).toEqual([]);
      }
      expect(graph.states.filter((s) => s.next.length > 0).length).toBeGreaterThan(graph.states.length / 2);
    },
  );

  it('names the Catch edges of the release graph', () => {
    const graph = stateGraph('release', 'release.asl.json');
    const validate = graph.states.find((s) => s.name === 'ValidateArtifact')!;
    expect(validate.next.some((n) => n.kind === 'catch')).toBe(true);
  });
});
