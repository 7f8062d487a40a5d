/**
 * The local console over HTTP (local/console/server.ts): the real release ASL and handlers against the emulators,
 * the console reading the same stores, executions and metric store. Asserts on what its API answers after a push, on
 * its refusals (token, Host, Origin, OPTIONS, Content-Type) and that a refused request changes nothing stored, and
 * that an approval decided with POST is the stored, audited decision the waiting release goes on with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoApprovalStore } from '../../lambdas/adapters/dynamo-approval-store';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import type { ApprovalRequest } from '../../lambdas/core/ports';
import { MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import type { ConsoleState, ExecutionView, StateGraph } from '../../local/console/api';
import {
  CONSOLE_CROSS_ORIGIN_MESSAGE,
  CONSOLE_SERVICE_NAME,
  consoleService,
  type RunningConsoleService,
} from '../../local/console/server';
import { alarmService, type AlarmRunner } from '../../local/alarm-runner';
import { inferenceService } from '../../local/inference-server';
import {
  firstSmokeInputs,
  httpRequest,
  invokeModel,
  loadExample,
  startHarness,
  types,
  type Harness,
  type HttpResult,
} from './harness';

// credit-risk's manifest sets approval.required; breast-cancer's requires none.
const GATED = 'credit-risk';
const PLAIN = 'breast-cancer';
let h: Harness;
let ui: RunningConsoleService;
let cookie: string;
let approvals: DynamoApprovalStore;
const metricStore = new TimeSeriesMetricsStore();
let alarms: AlarmRunner | undefined;

beforeAll(async () => {
  h = await startHarness({
    config: {
      models: [
        { name: PLAIN, owner: 'ml-platform', canary: { enabled: true, bakeSeconds: 0 } },
        { name: GATED, owner: 'ml-platform', riskTier: 'high', canary: { enabled: true, bakeSeconds: 0 } },
      ],
    },
    services: [
      inferenceService({ port: 0, metricStore }),
      // Evaluated by hand below (tick), never on its own during the test.
      alarmService({ reader: metricStore, intervalMs: 3_600_000, onRunner: (r) => (alarms = r) }),
      consoleService({ port: 0, pollMs: 100, metrics: metricStore, alarms: () => alarms }),
    ],
  });
  ui = h.mode.services.find((s) => s.name === CONSOLE_SERVICE_NAME)!.running as RunningConsoleService;
  approvals = new DynamoApprovalStore(h.target.tables[MODEL_VERSIONS_TABLE.envVar]!);
  const login = await get(`/?token=${ui.token}`);
  cookie = String(login.headers['set-cookie']).split(';')[0]!;
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

function get(path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpRequest(ui.baseUrl, { method: 'GET', path, headers });
}

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpRequest(ui.baseUrl, { method: 'POST', path, body: JSON.stringify(body), headers });
}

const authed = (extra: Record<string, string> = {}) => ({ cookie, ...extra });
const origin = () => ui.baseUrl;

async function state(): Promise<ConsoleState> {
  const r = await get('/api/state', authed());
  expect(r.status, r.text).toBe(200);
  return r.json as ConsoleState;
}

async function pending(model: string, version: string): Promise<ApprovalRequest> {
  for (;;) {
    const request = await approvals.getApproval(model, version);
    if (request?.state === 'PENDING') return request;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expectNoCors(r: HttpResult): void {
  expect(Object.keys(r.headers).filter((k) => k.startsWith('access-control-'))).toEqual([]);
}

describe('local console: access', () => {
  it('trades the banner token for an HttpOnly SameSite=Strict cookie and strips it from the address', async () => {
    expect(ui.url).toBe(`${ui.baseUrl}/?token=${ui.token}`);
    expect(ui.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await get(`/?token=${ui.token}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
    expect(String(r.headers['set-cookie'])).toMatch(
      /^modelops_console_\d+=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/$/,
    );
    const page = await get('/', authed({ 'sec-fetch-site': 'none' }));
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<script src="\/console\.js"><\/script>/);
    expect(page.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    const uplot = await get('/vendor/uPlot.iife.min.js', authed());
    expect(uplot.status).toBe(200);
    expect(uplot.text).toMatch(/uPlot/);
  });

  it('refuses requests without the token, with a wrong one, for another Host, cross-origin, and OPTIONS', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/api/state')).status).toBe(401);
    expect((await get('/')).status).toBe(401);
    expect((await get('/api/state', { cookie: `${cookie.split('=')[0]}=${'0'.repeat(64)}` })).status).toBe(
      401,
    );
    expect((await get(`/?token=${'f'.repeat(64)}`)).status).toBe(403);
    const rebound = await get('/api/state', authed({ host: 'evil.example:4571' }));
    expect(rebound.status).toBe(403);
    expect((rebound.json as { error: { message: string } }).error.message).toMatch(
      /^Host "evil\.example:4571" is refused/,
    );
    const crossOrigin: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { origin: 'http://127.0.0.1:1' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of crossOrigin) {
      const r = await get('/api/state', authed(headers));
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect((r.json as { error: { message: string } }).error.message).toBe(CONSOLE_CROSS_ORIGIN_MESSAGE);
      expectNoCors(r);
    }
    const preflight = await httpRequest(ui.baseUrl, {
      method: 'OPTIONS',
      path: '/api/approvals/credit-risk/x/approve',
      headers: authed({ origin: 'http://evil.example', 'access-control-request-method': 'POST' }),
    });
    expect(preflight.status).toBe(403);
    expectNoCors(preflight);
    // Same origin is served.
    expect(
      (await get('/api/state', authed({ origin: origin(), 'sec-fetch-site': 'same-origin' }))).status,
    ).toBe(200);
  });
});

describe('local console: what it shows', () => {
  it('answers with the pushed version, its routing, its execution drawn from the ASL, and its metrics', async () => {
    const version = await h.pushExample(PLAIN, '1.0.0');
    const s = await state();
    const model = s.models.find((m) => m.name === PLAIN)!;
    expect(model.versions.map((v) => [v.version, v.status])).toEqual([[version, 'REGISTERED']]);
    expect(model.routing).toMatchObject({ stable: version, weight: 0, mode: 'canary' });
    expect(model.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['REGISTERED', 'PROMOTED']));
    const execution = s.executions.find((e) => e.stateMachine === 'release')!;
    expect(execution).toMatchObject({ status: 'SUCCEEDED' });
    expect(s.alarms.length).toBeGreaterThan(0);
    expect(s.alarms.every((a) => a.runbook.startsWith('docs/runbooks/'))).toBe(true);

    const graph = (await get('/api/graphs/release', authed())).json as StateGraph;
    const detail = (await get(`/api/executions/release/${execution.name}`, authed())).json as ExecutionView;
    const names = new Set(graph.states.map((st) => st.name));
    expect(graph.startAt).toBe('IsStartedByRetrain');
    // Every state the execution went through is a state of the ASL file, with its input and output recorded.
    const entered = detail.history.filter((e) => e.type === 'StateEntered');
    expect(entered.every((e) => names.has(e.state!))).toBe(true);
    const validate = detail.history.find((e) => e.type === 'StateExited' && e.state === 'ValidateArtifact');
    expect(validate?.durationMs).toBeGreaterThanOrEqual(0);
    expect(validate?.output).toBeDefined();
    expect(entered.find((e) => e.state === 'ValidateArtifact')?.input).toMatchObject({
      key: expect.any(String),
    });

    const runbook = await get('/runbooks/availability-burn.md', authed());
    expect(runbook.status).toBe(200);
    expect((await get('/runbooks/..%2f..%2fpackage.json', authed())).status).toBe(404);

    // Traffic shows in the model's and the version's series.
    const { manifest } = await loadExample(PLAIN);
    const r = await invokeModel(h.inference()!.baseUrl, PLAIN, { instances: [firstSmokeInputs(manifest)] });
    expect(r.status).toBe(200);
    const m = (await get(`/api/metrics/${PLAIN}?minutes=15`, authed())).json as {
      series: Record<string, (number | null)[]>;
      versions: string[];
    };
    expect(m.versions).toEqual([version]);
    const total = (xs: (number | null)[]) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
    expect(total(m.series.requests!)).toBe(1);
    expect(total(m.series[`requests@${version}`]!)).toBe(1);
    expect(m.series.p99!.some((x) => x !== null)).toBe(true);
  });

  it("shows the alarm runner's states and state changes, each alarm with its runbook", async () => {
    const before = await state();
    expect(before.alarms.every((a) => a.state === 'INSUFFICIENT_DATA')).toBe(true);
    const changed = await alarms!.tick(Date.now());
    expect(changed.length).toBeGreaterThan(0);
    const after = await state();
    const first = changed[0]!.detail;
    expect(after.alarms.find((a) => a.alarmName === first.alarmName)).toMatchObject({
      state: first.state.value,
      reason: first.state.reason,
      runbook: expect.stringMatching(/^docs\/runbooks\/[a-z-]+\.md$/),
    });
    expect(after.alarmHistory).toHaveLength(changed.length);
    expect(after.alarmHistory.at(-1)).toMatchObject({
      alarmName: first.alarmName,
      from: 'INSUFFICIENT_DATA',
    });
    for (const a of after.alarms) {
      const runbook = await get(`/runbooks/${a.runbook.split('/').pop()}`, authed());
      expect(runbook.status, a.runbook).toBe(200);
    }
  });

  it('streams the state as server-sent events', async () => {
    const controller = new AbortController();
    const res = await fetch(`${ui.baseUrl}/api/events`, { headers: { cookie }, signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!/event: state\ndata: .*\n\n/.test(text)) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    const data = JSON.parse(/event: state\ndata: (.*)\n\n/.exec(text)![1]!) as ConsoleState;
    expect(data.models.map((m) => m.name)).toEqual([PLAIN, GATED]);
  });
});

describe('local console: approvals', () => {
  it('refused POSTs change nothing; an approval POSTed from the page is stored, audited, and the release goes on', async () => {
    const { manifest, artifact } = await loadExample(GATED);
    const running = h.release(await h.stage(GATED, 'c1', { ...manifest, version: 'c1' }, artifact));
    const before = await pending(GATED, 'c1');
    const listed = (await state()).models.find((m) => m.name === GATED)!;
    expect(listed.pendingApprovals.map((p) => p.version)).toEqual(['c1']);

    const path = `/api/approvals/${GATED}/c1/approve`;
    const refused = [
      await post(path, { reason: 'x' }, { origin: origin() }), // no token
      await post(path, { reason: 'x' }, authed({ origin: 'http://evil.example' })),
      await post(path, { reason: 'x' }, authed({ 'sec-fetch-site': 'same-site' })),
      await post(path, { reason: 'x' }, authed({ origin: origin(), host: 'evil.example' })),
      await httpRequest(ui.baseUrl, {
        method: 'POST',
        path,
        body: JSON.stringify({ reason: 'x' }),
        headers: authed({ origin: origin(), 'content-type': 'text/plain' }),
      }),
      await post(path, {}, authed({ origin: origin() })), // no reason
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 403, 403, 403, 415, 400]);
    refused.forEach(expectNoCors);
    expect(await approvals.getApproval(GATED, 'c1')).toEqual(before);
    expect(types(await h.audit(GATED, 'c1'))).not.toContain('APPROVAL_GRANTED');

    const ok = await post(path, { reason: 'reviewed in the console' }, authed({ origin: origin() }));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json).toMatchObject({
      state: 'APPROVED',
      written: true,
      decidedBy: expect.stringMatching(/^console:|./),
    });
    const stored = await approvals.getApproval(GATED, 'c1');
    expect(stored).toMatchObject({
      state: 'APPROVED',
      decidedBy: ui.api.actor,
      decisionReason: 'reviewed in the console',
    });
    const result = await running;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    const granted = (await h.audit(GATED, 'c1')).find((e) => e.type === 'APPROVAL_GRANTED');
    expect(granted?.actor).toBe(ui.api.actor);

    const after = (await state()).models.find((m) => m.name === GATED)!;
    expect(after.pendingApprovals).toEqual([]);
    expect(after.versions.find((v) => v.version === 'c1')?.approvedBy).toBe(ui.api.actor);
    // Deciding the other way afterwards is refused, and says why.
    const late = await post(
      `/api/approvals/${GATED}/c1/reject`,
      { reason: 'no' },
      authed({ origin: origin() }),
    );
    expect(late.status).toBe(409);
  });
});
