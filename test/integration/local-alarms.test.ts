/**
 * Local alarms: the deployed rule definitions evaluated by local mode's runner over the local metric store. Time is
 * a fake clock driving both the store and the evaluations, so nothing depends on timing.
 */
import { describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import type { MetricDatum, MetricDimensions } from '../../lambdas/core/ports';
import { parseConfig } from '../../lib/config';
import { AlarmRunner, localAlarmName } from '../../local/alarm-runner';

const MINUTE = 60_000;
const config = parseConfig({
  project: 'modelops',
  stage: 'local',
  models: [{ name: 'bc', owner: 'ml', drift: { enabled: false } }],
});
const name = (id: string) => localAlarmName(config, 'bc', id);

function setup() {
  let now = Date.UTC(2026, 0, 1);
  const store = new TimeSeriesMetricsStore({ now: () => now });
  const dims: MetricDimensions = { Model: 'bc' };
  const logged: string[] = [];
  const runner = new AlarmRunner(config, store, {
    info: (m) => logged.push(m),
    warn: (m) => logged.push(m),
  });
  /** One minute of traffic: `requests` answered, `errors` of them 5xx. */
  const minute = (requests: number, errors: number) => {
    const data: MetricDatum[] = [
      { name: 'Requests', unit: 'Count', value: requests },
      { name: 'Errors', unit: 'Count', value: errors },
      { name: 'SlowRequests', unit: 'Count', value: 0 },
    ];
    store.emit([dims], data);
    now += MINUTE;
  };
  return { store, runner, minute, logged, now: () => now };
}

describe('local alarm evaluation', () => {
  it('an error burst trips the fast burn-rate pair; the 6 h page and the slow ticket tier stay OK', async () => {
    // GIVEN three clean days, then a 5-minute burst at 20 % errors: 1 h ratio 1.7 % > 14.4 × 0.1 % (5 min: 20 %);
    // 6 h ratio 0.28 % < 6 × 0.1 %; 3 d ratio 0.023 % < 1 × 0.1 %
    const { runner, minute, now, logged } = setup();
    for (let i = 0; i < 3 * 24 * 60; i++) minute(100, 0);
    const before = await runner.tick(now());
    for (let i = 0; i < 5; i++) minute(100, 20);
    // WHEN
    const events = await runner.tick(now());
    // THEN
    const states = runner.states();
    expect(states.get(name('availability-burn-page-1h'))?.value).toBe('ALARM');
    expect(states.get(name('availability-burn-page-6h'))?.value).toBe('OK');
    expect(states.get(name('availability-burn-ticket-3d'))?.value).toBe('OK');
    expect(before.some((e) => e.detail.state.value === 'ALARM')).toBe(false);
    // the event is the one CloudWatch sends on the default bus
    const fired = events.find((e) => e.detail.alarmName === name('availability-burn-page-1h'))!;
    expect(fired).toMatchObject({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { state: { value: 'ALARM' }, previousState: { value: 'OK' } },
    });
    expect(logged.some((l) => l.includes(`${name('availability-burn-page-1h')}: OK -> ALARM`))).toBe(true);
  });

  it('delivers each state change once to subscribers and nothing while the state holds', async () => {
    const { runner, minute, now } = setup();
    const seen: string[] = [];
    runner.subscribe((e) => seen.push(`${e.detail.alarmName}:${e.detail.state.value}`));
    for (let i = 0; i < 60; i++) minute(100, 0);
    await runner.tick(now());
    for (let i = 0; i < 5; i++) minute(100, 50);
    await runner.tick(now());
    await runner.tick(now());
    expect(seen.filter((s) => s === `${name('availability-burn-page-1h')}:ALARM`)).toHaveLength(1);
    // recovery: the short window clears first, which clears the composite
    for (let i = 0; i < 10; i++) minute(100, 0);
    await runner.tick(now());
    expect(runner.states().get(name('availability-burn-page-1h'))?.value).toBe('OK');
    expect(seen).toContain(`${name('availability-burn-page-1h')}:OK`);
  });

  it('no traffic is not reported as a burning budget', async () => {
    const { runner, now } = setup();
    await runner.tick(now());
    expect(runner.states().get(name('availability-burn-page-1h'))?.value).not.toBe('ALARM');
  });
});
