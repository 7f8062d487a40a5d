/**
 * The local console in a real browser: Debian's Chromium, headless, driven by playwright-core, against local mode
 * started by the integration harness (real release ASL, real handlers, emulators, inference server, console). Each
 * assertion polls the page (no fixed sleeps); screenshots go to test-artifacts/ (gitignored). Without
 * /usr/bin/chromium the suite is skipped, saying so (CI installs it: .ci/run).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import type { Output } from '../../lambdas/core/manifest';
import { computePredictionBaseline } from '../../lambdas/core/prediction-baseline';
import { CONSOLE_SERVICE_NAME, consoleService, type RunningConsoleService } from '../../local/console/server';
import { inferenceService } from '../../local/inference-server';
import {
  firstSmokeInputs,
  invokeModel,
  loadExample,
  SMALL_SAMPLE_JUDGE,
  startHarness,
  type Harness,
} from '../integration/harness';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(
    `console.browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`,
  );
}
const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts');
const PLAIN = 'breast-cancer';
// credit-risk's manifest sets approval.required.
const GATED = 'credit-risk';

let h: Harness;
let metricStore: TimeSeriesMetricsStore;
let ui: RunningConsoleService;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;
const problems: string[] = [];
const measured: Record<string, number> = {};
const suiteStart = Date.now();
const quiet: CliIo = { out: () => undefined, err: () => undefined };

const model = (name: string) => page.locator(`[data-testid=model][data-model="${name}"]`);

describe.skipIf(!HAVE_CHROMIUM)('local console in Chromium', () => {
  beforeAll(async () => {
    metricStore = new TimeSeriesMetricsStore();
    h = await startHarness({
      config: {
        models: [
          {
            name: PLAIN,
            owner: 'ml-platform',
            canary: { enabled: true, steps: [0.25, 0.5], bakeSeconds: 3, judge: SMALL_SAMPLE_JUDGE },
            // Reference data that was never uploaded: a retrain fails at PrepareTrainingData, before any training.
            retrain: {
              enabled: true,
              referenceData: 'reference/missing.csv',
              trainer: { command: ['node', 'test/fixtures/retrain/failing-trainer.mjs'] },
              championGate: { metric: 'auc' },
            },
          },
          { name: GATED, owner: 'ml-platform', riskTier: 'high', canary: { enabled: true, bakeSeconds: 0 } },
        ],
      },
      services: [
        inferenceService({ port: 0, metricStore, environment: { ROUTING_CACHE_TTL_MS: '200' } }),
        // The default poll interval, as `npm start` runs it: the update latency measured is the real one.
        consoleService({ port: 0, metrics: metricStore }),
      ],
    });
    ui = h.mode.services.find((s) => s.name === CONSOLE_SERVICE_NAME)!.running as RunningConsoleService;
    ({ runCli } = await import('../../cli/index'));
    await mkdir(ARTIFACTS, { recursive: true });
    userDataDir = await mkdtemp(path.join(tmpdir(), 'modelops-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await h?.stop();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    measured.suiteMs = Date.now() - suiteStart;
    console.log(`console browser measurements: ${JSON.stringify(measured)}`);
  });

  it('loads from the banner URL with no console errors and draws its charts', async () => {
    const started = Date.now();
    await page.goto(ui.url, { waitUntil: 'load' });
    // The token was traded for the cookie and is gone from the address bar.
    expect(page.url()).toBe(`${ui.baseUrl}/`);
    await page.locator('#conn[data-state=live]').waitFor();
    await model(PLAIN).waitFor();
    await page.locator('body[data-first-chart=drawn]').waitFor();
    measured.firstChartWallMs = Date.now() - started;
    // In the page: the load event, the first state (server-sent event) and the first chart, ms after navigation.
    const timing = (await page.evaluate(`(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const marks = window.__console;
      return { loadEventMs: nav.loadEventEnd, firstStateMs: marks.firstStateMs, firstChartMs: marks.firstChartMs };
    })()`)) as Record<string, number>;
    Object.assign(measured, timing);
    expect(await page.locator('[data-testid=chart]').count()).toBeGreaterThanOrEqual(4);
    // Alarms are grouped per model, collapsed while none is in ALARM; opening a group shows its runbook links.
    const alarms = page.locator(`[data-testid=alarm-group][data-model="${PLAIN}"]`);
    expect(await page.getByTestId('alarm-group').count()).toBe(2);
    await expect.poll(() => alarms.locator('tr.group').textContent()).toMatch(/0 in ALARM · \d+ alarms/);
    expect(await alarms.locator('tr[data-alarm]').first().isVisible()).toBe(false);
    await alarms.locator('button.group-toggle').click();
    await alarms.locator('tr[data-alarm] a[href^="/runbooks/"]').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-loaded.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('shows a pushed model, and its release drawn as the ASL state graph with each state on click', async () => {
    await h.pushExample(PLAIN, '1.0.0');
    await model(PLAIN).locator('tr[data-version="1.0.0"]').waitFor();
    await expect.poll(() => model(PLAIN).getByTestId('stable').textContent()).toBe('1.0.0');
    await model(PLAIN).locator('[data-testid=timeline] li[data-type=PROMOTED]').waitFor();

    await page
      .locator('#execution-list tbody tr[data-machine=release][data-status=SUCCEEDED]')
      .first()
      .click();
    const graph = page.getByTestId('state-graph');
    await graph.locator('g[data-state=ValidateArtifact][data-status=succeeded]').waitFor();
    expect(await graph.locator('g.node').count()).toBeGreaterThan(40);
    expect(await graph.locator('g[data-state=Rollback][data-status=idle]').count()).toBe(1);
    await graph.locator('g[data-state=ValidateArtifact]').click();
    await expect
      .poll(() => page.getByTestId('state-detail').textContent())
      .toMatch(/ValidateArtifact.*input.*output/s);
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-execution.png'), fullPage: true });
    await page.locator('#execution-detail').screenshot({ path: path.join(ARTIFACTS, 'console-graph.png') });
    expect(problems).toEqual([]);
  });

  it("moves a rollout's weights on the page, then shows its rollback within a few seconds", async () => {
    const { manifest, artifact } = await loadExample(PLAIN);
    const instance = firstSmokeInputs(manifest);
    const running = h.release(await h.stage(PLAIN, '1.1.0', { ...manifest, version: '1.1.0' }, artifact));
    let done = false;
    void running.finally(() => (done = true));
    const traffic = (async () => {
      while (!done) await invokeModel(h.inference()!.baseUrl, PLAIN, { instances: [instance] });
    })();
    const routing = model(PLAIN).getByTestId('routing');
    await expect.poll(() => routing.getAttribute('data-weight'), { timeout: 30_000 }).toBe('0.25');
    await expect.poll(() => routing.getAttribute('data-candidate')).toBe('1.1.0');
    await expect.poll(() => routing.getAttribute('data-weight'), { timeout: 30_000 }).toBe('0.5');
    await model(PLAIN).locator('[data-testid=timeline] li[data-type=TRAFFIC_SHIFTED]').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-canary.png'), fullPage: true });
    await page.locator('#charts').screenshot({ path: path.join(ARTIFACTS, 'console-charts.png') });

    // The update latency: from the routing write (the rollback's) to the page showing it.
    const before = Date.now();
    expect(
      await runCli(
        [
          'rollback',
          PLAIN,
          '--reason',
          'console browser test',
          '--s3-endpoint',
          h.target.s3Endpoint!,
          '--dynamodb-endpoint',
          h.target.dynamodbEndpoint!,
        ],
        quiet,
      ),
    ).toBe(0);
    const written = Date.now();
    await expect
      .poll(() => routing.getAttribute('data-candidate'), { timeout: 5_000, interval: 20 })
      .toBe('');
    measured.rollbackUpdateMs = Date.now() - written;
    measured.rollbackCommandMs = written - before;
    await model(PLAIN)
      .locator('[data-testid=timeline] li[data-type=ROLLED_BACK]')
      .first()
      .waitFor({ timeout: 5_000 });
    expect(await model(PLAIN).getByTestId('stable').textContent()).toBe('1.0.0');
    const result = await running;
    await traffic;
    expect(result.status).toBe('FAILED');
    await page.locator(`#execution-list tbody tr[data-name="${result.name}"][data-status=FAILED]`).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-rolled-back.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('grants a pending approval from the page; the waiting release goes on', async () => {
    const { manifest, artifact } = await loadExample(GATED);
    const running = h.release(await h.stage(GATED, 'c1', { ...manifest, version: 'c1' }, artifact));
    const form = model(GATED).locator('[data-testid=approval][data-version=c1]');
    await form.waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-approval.png'), fullPage: true });
    await form.getByLabel('reason').fill('reviewed in the browser test');
    await form.locator('button[data-action=approve]').click();
    const result = await running;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    await expect
      .poll(() => model(GATED).locator('tr[data-version=c1] td').last().textContent())
      .toBe(ui.api.actor);
    await expect.poll(() => model(GATED).getByTestId('stable').textContent()).toBe('c1');
    expect(await model(GATED).locator('[data-testid=approval]').count()).toBe(0);
    const granted = (await h.audit(GATED, 'c1')).find((e) => e.type === 'APPROVAL_GRANTED');
    expect(granted).toMatchObject({
      actor: ui.api.actor,
      details: { reason: 'reviewed in the browser test' },
    });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-approved.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('draws the error budget, prediction drift and labels charts once their data exists', async () => {
    const chart = (title: RegExp) => page.locator('[data-testid=chart]').filter({ hasText: title });
    // The budget is the rollout gate's reading: the traffic of the earlier tests is in it.
    await chart(/^Error budget remaining \(SLO period 30 days/).waitFor();
    await expect
      .poll(() => page.getByTestId('budget-now').textContent(), { timeout: 10_000 })
      .toMatch(/availability: .* left/);
    expect(await chart(/^Prediction drift/).count()).toBe(0);
    expect(await chart(/^Labels/).count()).toBe(0);
    // GIVEN what the drift monitor and the feedback route emit, in the store the console reads
    metricStore.emit(
      [{ Model: PLAIN, Output: 'label' }],
      [{ name: 'PredictionDriftJsDistance', unit: 'Count', value: 0.2 }],
    );
    metricStore.emit(
      [{ Model: PLAIN }],
      [
        { name: 'LabelsReceived', unit: 'Count', value: 1 },
        { name: 'LabelLagSeconds', unit: 'Count', value: 42 },
      ],
    );
    // THEN the charts appear with their series
    await chart(/^Prediction drift/)
      .getByText('label')
      .first()
      .waitFor();
    await chart(/^Labels/)
      .getByText('lag p99')
      .waitFor();
    await page.locator('#charts').screenshot({ path: path.join(ARTIFACTS, 'console-charts-slo.png') });
    expect(problems).toEqual([]);
  });

  it("draws the stable version's prediction bins beside its baseline once it serves", async () => {
    const { manifest, artifact } = await loadExample(PLAIN);
    const instance = firstSmokeInputs(manifest);
    // GIVEN a version whose manifest has a prediction baseline: three reference rows in four benign
    const benign = { label: 'benign', probabilities: { malignant: 0.1, benign: 0.9 } };
    const malignant = { label: 'malignant', probabilities: { malignant: 0.8, benign: 0.2 } };
    const { predictions } = computePredictionBaseline(manifest.outputs as Output[], [
      benign,
      benign,
      benign,
      malignant,
    ]);
    const staged = await h.stage(
      PLAIN,
      '1.2.0',
      { ...manifest, version: '1.2.0', baseline: { ...(manifest.baseline as object), predictions } },
      artifact,
    );
    // WHEN it is released through its canary under traffic, and its drift counts are written
    const running = h.release(staged);
    let done = false;
    void running.finally(() => (done = true));
    while (!done) await invokeModel(h.inference()!.baseUrl, PLAIN, { instances: [instance] });
    expect((await running).status).toBe('SUCCEEDED');
    await h.inference()!.flushDrift!();
    // THEN the page shows each bin's baseline share beside the live share of the drift window
    const bins = page.locator('[data-testid=prediction-bins][data-output=label]');
    await expect.poll(() => bins.locator('h4').textContent(), { timeout: 10_000 }).toMatch(/1\.2\.0/);
    // The charts refresh every 2 s: the flushed counts show at the next refresh.
    await expect
      .poll(() => bins.locator('tr[data-bin=benign] td').last().textContent(), { timeout: 10_000 })
      .toMatch(/^75 % \/ \d+(\.\d)? %$/);
    expect(await bins.locator('tr[data-bin=__OTHER__]').count()).toBe(1);
    await expect
      .poll(() => bins.locator('p.hint').textContent())
      .toMatch(/^[1-9]\d* predictions in the drift window/);
    await page.locator('#charts').screenshot({ path: path.join(ARTIFACTS, 'console-prediction-bins.png') });
    expect(problems).toEqual([]);
  });

  it('draws a retrain execution as the retrain state graph', async () => {
    const result = await h.mode.runtime.startRetrain({
      model: PLAIN,
      trigger: 'manual',
      reason: 'console browser test',
      requestedBy: 'test',
    });
    expect(result.status, JSON.stringify(result.cause)).toBe('FAILED');
    const row = page.locator(
      `#execution-list tbody tr[data-machine=retrain][data-name="${result.name}"][data-status=FAILED]`,
    );
    await row.click();
    const graph = page.getByTestId('state-graph');
    await graph.locator('g[data-state=Guard][data-status=succeeded]').waitFor();
    expect(await graph.locator('g[data-state=PrepareTrainingData]').getAttribute('data-status')).toMatch(
      /^(failed|caught)$/,
    );
    expect(await graph.locator('g[data-state=Train]').getAttribute('data-status')).toBe('idle');
    expect(await graph.locator('g[data-state=RecordFailure]').getAttribute('data-status')).toBe('succeeded');
    expect(await graph.locator('g.node').count()).toBe(ui.api.graphs.retrain!.states.length);
    // The release state selected earlier is not carried over into the retrain graph.
    expect(await page.getByTestId('state-detail').textContent()).toMatch(/^Click a state/);
    await page
      .locator('#execution-detail')
      .screenshot({ path: path.join(ARTIFACTS, 'console-retrain-graph.png') });
    expect(problems).toEqual([]);
  });
});
