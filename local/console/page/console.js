/* The local console page (docs/console.md): vanilla JS, no build step. State arrives by server-sent events
 * (/api/events); charts poll /api/metrics every 2 s. Every value from the server is written with textContent, never
 * parsed as HTML. */
/* global document, window, EventSource, fetch, performance, uPlot, setInterval, console */
'use strict';

const marks = (window.__console = { firstStateMs: undefined, firstChartMs: undefined, renders: 0 });

/** Creates an element: h('td', { class: 'x', dataset: { a: 'b' } }, 'text', child). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const { Node } = window;
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
const pct = (w) => `${Math.round((w || 0) * 1000) / 10} %`;
const ms = (d) => (d === undefined ? '' : d < 1000 ? `${d} ms` : `${(d / 1000).toFixed(1)} s`);

let state;
const selected = { execution: undefined, state: undefined };

// ---- models ----------------------------------------------------------------------------------------------------

/** The numbers of a timeline event worth a glance: weights, verdicts and their counts, reasons. */
function eventSummary(e) {
  const d = e.details || {};
  const parts = [];
  if (e.version) parts.push(e.version);
  if (d.weight !== undefined) parts.push(`weight ${pct(d.weight)}`);
  if (d.from !== undefined && d.to !== undefined) parts.push(`${pct(d.from)} → ${pct(d.to)}`);
  if (d.decision) parts.push(String(d.decision));
  if (d.reasonCode) parts.push(String(d.reasonCode));
  if (Array.isArray(d.checks)) {
    for (const c of d.checks) {
      if (!c || !c.metric) continue;
      const cand = c.candidate && c.candidate.requests !== undefined ? ` cand n=${c.candidate.requests}` : '';
      const stab = c.stable && c.stable.requests !== undefined ? ` stable n=${c.stable.requests}` : '';
      parts.push(`${c.metric}: ${c.outcome || c.result || ''}${cand}${stab}`);
    }
  }
  if (d.reason) parts.push(`“${d.reason}”`);
  return parts.join(' · ');
}

/** An execution ARN as its name; a person or function as is. */
const shortActor = (actor) => (String(actor).startsWith('arn:') ? String(actor).split(':').pop() : actor);

function routingView(model) {
  const r = model.routing;
  if (!r) return h('p', { class: 'hint', 'data-testid': 'routing' }, 'Not routed yet (no version promoted).');
  const bar = h('span', {});
  bar.style.width = `${Math.round((r.weight || 0) * 100)}%`;
  return h(
    'div',
    {
      class: 'routing',
      'data-testid': 'routing',
      dataset: { weight: String(r.weight), candidate: r.candidate || '' },
    },
    h('span', {}, 'stable ', h('b', { 'data-testid': 'stable' }, r.stable || '—')),
    h('span', {}, 'candidate ', h('b', { 'data-testid': 'candidate' }, r.candidate || '—')),
    h('span', {}, 'weight ', h('b', { 'data-testid': 'weight' }, pct(r.weight))),
    h('span', { class: 'bar', title: 'candidate share (right)' }, bar),
    h('span', {}, 'mode ', h('b', {}, r.mode)),
    h('span', { class: 'hint' }, `revision ${r.revision}, ${time(r.updatedAt)}`),
    r.rollout
      ? h(
          'span',
          { class: 'hint' },
          `locked by ${String(r.rollout.executionId || '')
            .split(':')
            .pop()}`,
        )
      : null,
  );
}

const approvalForms = new Map();
function approvalForm(model, p) {
  const key = `${model}/${p.version}`;
  let form = approvalForms.get(key);
  if (form) return form;
  const reason = h('input', { type: 'text', placeholder: 'reason (audited)', 'aria-label': 'reason' });
  const out = h('span', { class: 'hint' });
  const decide = (decision) => async () => {
    out.textContent = '…';
    const res = await fetch(
      `/api/approvals/${encodeURIComponent(model)}/${encodeURIComponent(p.version)}/${decision}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: reason.value }),
      },
    );
    const body = await res.json().catch(() => ({}));
    out.textContent = res.ok
      ? `${body.state} by ${body.decidedBy}`
      : (body.error && body.error.message) || res.status;
  };
  form = h(
    'div',
    { class: 'approval', 'data-testid': 'approval', dataset: { model, version: p.version } },
    h('b', {}, `${p.version} waits for approval`),
    ` — ${p.why} (until ${time(p.expiresAt)}) `,
    reason,
    ' ',
    h('button', { type: 'button', onclick: decide('approve'), 'data-action': 'approve' }, 'Approve'),
    ' ',
    h('button', { type: 'button', onclick: decide('reject'), 'data-action': 'reject' }, 'Reject'),
    ' ',
    out,
  );
  approvalForms.set(key, form);
  return form;
}

function lineage(v) {
  const l = v.lineage;
  if (!l) return '';
  return Object.entries(l)
    .map(([k, val]) => `${k}: ${typeof val === 'object' ? JSON.stringify(val) : val}`)
    .join(', ');
}

/** Element.append would write `null` as text: skip absent children. */
function appendAll(parent, ...children) {
  parent.append(...children.filter((c) => c !== null && c !== undefined));
}

function renderModels() {
  const list = document.getElementById('model-list');
  const cards = state.models.map((m) => {
    const pending = new Set(m.pendingApprovals.map((p) => `${m.name}/${p.version}`));
    for (const key of approvalForms.keys())
      if (key.startsWith(`${m.name}/`) && !pending.has(key)) approvalForms.delete(key);
    return h(
      'div',
      { class: 'model', 'data-testid': 'model', dataset: { model: m.name } },
      h('h3', {}, m.name, h('span', { class: 'hint' }, `  owner ${m.owner}`)),
      routingView(m),
      m.drift
        ? h(
            'p',
            { 'data-testid': 'drift-state', dataset: { status: m.drift.status } },
            'drift ',
            h('b', { class: m.drift.status === 'ALARM' ? 'state-ALARM' : 'state-OK' }, m.drift.status),
            h(
              'span',
              { class: 'hint' },
              ` since ${time(m.drift.since)} · recent windows ${(m.drift.recent || []).map((d) => (d ? '▮' : '▯')).join('')}` +
                (m.drift.cooldownUntil ? ` · cooldown until ${time(m.drift.cooldownUntil)}` : '') +
                ` · version ${m.drift.version}`,
            ),
          )
        : null,
      ...m.pendingApprovals.map((p) => approvalForm(m.name, p)),
      m.versions.length === 0
        ? h('p', { class: 'hint' }, 'No version pushed yet.')
        : h(
            'table',
            { class: 'grid', 'data-testid': 'versions' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...['Version', 'Status', 'Registered', 'Owner', 'Lineage', 'Approved by'].map((t) =>
                  h('th', {}, t),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              ...[...m.versions]
                .reverse()
                .map((v) =>
                  h(
                    'tr',
                    { dataset: { version: v.version, status: v.status } },
                    h('td', {}, v.version),
                    h('td', { class: `v-${v.status}` }, v.status),
                    h('td', {}, time(v.createdAt)),
                    h('td', {}, v.owner || ''),
                    h('td', { class: 'hint' }, lineage(v)),
                    h('td', {}, v.approvedBy || (v.approvalDecision ? v.approvalDecision.state : '')),
                  ),
                ),
            ),
          ),
      h(
        'details',
        { open: '' },
        h('summary', {}, `Rollout timeline (${m.timeline.length})`),
        h(
          'ol',
          { class: 'log', 'data-testid': 'timeline' },
          ...[...m.timeline]
            .reverse()
            .map((e) =>
              h(
                'li',
                { class: `t-${e.type}`, dataset: { type: e.type } },
                `${time(e.at)} ${e.type} `,
                h('span', { class: 'hint', title: e.actor }, `${eventSummary(e)} — ${shortActor(e.actor)}`),
              ),
            ),
        ),
      ),
    );
  });
  // Keep a focused reason input: replace cards only around it.
  list.replaceChildren(...cards);
}

// ---- executions --------------------------------------------------------------------------------------------------

function renderExecutions() {
  const body = document.querySelector('#execution-list tbody');
  body.replaceChildren(
    ...state.executions.map((e) =>
      h(
        'tr',
        {
          class: selected.execution && selected.execution.name === e.name ? 'selected' : '',
          dataset: { name: e.name, machine: e.stateMachine, status: e.status },
          onclick: () => {
            // A state selected in another state machine's graph is not in this one.
            if (selected.execution && selected.execution.stateMachine !== e.stateMachine)
              selected.state = undefined;
            void selectExecution(e.stateMachine, e.name);
          },
        },
        h('td', {}, e.stateMachine),
        h('td', {}, e.name),
        h('td', { class: `status-${e.status}` }, e.status, e.error ? ` (${e.error})` : ''),
        h('td', {}, time(e.startDate)),
        h('td', {}, ms(e.durationMs)),
      ),
    ),
  );
  const sel = selected.execution;
  if (sel) {
    const now = state.executions.find((e) => e.name === sel.name && e.stateMachine === sel.stateMachine);
    if (now && now.revision !== sel.revision) void selectExecution(sel.stateMachine, sel.name);
  }
}

const graphs = {};
async function graphOf(machine) {
  graphs[machine] ??= fetch(`/api/graphs/${machine}`).then((r) => r.json());
  return graphs[machine];
}

/**
 * Layers the graph top-down: a depth-first walk from StartAt finds the back edges (the canary loop, retry waits);
 * every other edge points down, and a state sits one layer below its deepest predecessor. Wide layers wrap.
 */
function layout(graph) {
  const byName = new Map(graph.states.map((st) => [st.name, st]));
  const order = [];
  const onStack = new Set();
  const done = new Set();
  const back = new Set();
  const visit = (name) => {
    onStack.add(name);
    for (const n of (byName.get(name) || { next: [] }).next) {
      if (onStack.has(n.to)) back.add(`${name}>${n.to}`);
      else if (!done.has(n.to) && byName.has(n.to)) visit(n.to);
    }
    onStack.delete(name);
    done.add(name);
    order.push(name);
  };
  visit(graph.startAt);
  for (const st of graph.states) if (!done.has(st.name)) visit(st.name);
  order.reverse();
  const depth = new Map(order.map((n) => [n, 0]));
  for (const name of order) {
    for (const n of byName.get(name).next) {
      if (!back.has(`${name}>${n.to}`) && byName.has(n.to)) {
        depth.set(n.to, Math.max(depth.get(n.to), depth.get(name) + 1));
      }
    }
  }
  const MAX_ROW = 6;
  const layers = [];
  for (const name of order) (layers[depth.get(name)] ??= []).push(name);
  const rows = [];
  for (const layer of layers) {
    if (!layer) continue;
    for (let i = 0; i < layer.length; i += MAX_ROW) rows.push(layer.slice(i, i + MAX_ROW));
  }
  const W = 150;
  const H = 26;
  const GX = 14;
  const GY = 22;
  const width = Math.max(...rows.map((r) => r.length)) * (W + GX) + GX + 60;
  const pos = new Map();
  rows.forEach((row, y) => {
    const offset = (width - 60 - row.length * (W + GX)) / 2;
    row.forEach((name, x) => pos.set(name, { x: offset + GX / 2 + x * (W + GX), y: GY / 2 + y * (H + GY) }));
  });
  return { pos, W, H, width, height: rows.length * (H + GY) + GY / 2 };
}

/** Per state: its status in the execution, and each visit's input, output, timing and error. */
function visits(history) {
  const out = new Map();
  for (const ev of history) {
    if (!ev.state) continue;
    const v = out.get(ev.state) || { status: 'idle', visits: [] };
    out.set(ev.state, v);
    if (ev.type === 'StateEntered') {
      v.status = 'running';
      v.visits.push({ enteredAt: ev.timestamp, input: ev.input });
    }
    const last = v.visits[v.visits.length - 1] || {};
    if (ev.type === 'StateExited') {
      v.status = v.status === 'caught' ? 'caught' : 'succeeded';
      Object.assign(last, { exitedAt: ev.timestamp, durationMs: ev.durationMs, output: ev.output });
    } else if (ev.type === 'StateFailed') {
      v.status = 'failed';
      Object.assign(last, {
        failedAt: ev.timestamp,
        durationMs: ev.durationMs,
        error: ev.error,
        cause: ev.cause,
      });
    } else if (ev.type === 'StateCaught') {
      v.status = 'caught';
    } else if (ev.type === 'StateRetried') {
      last.retries = (last.retries || 0) + 1;
    }
  }
  return out;
}

async function selectExecution(machine, name) {
  const [graph, res] = await Promise.all([
    graphOf(machine),
    fetch(`/api/executions/${encodeURIComponent(machine)}/${encodeURIComponent(name)}`),
  ]);
  if (!res.ok) return;
  const execution = await res.json();
  selected.execution = execution;
  for (const tr of document.querySelectorAll('#execution-list tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.name === name);
  }
  const seen = visits(execution.history);
  const entered = execution.history.filter((e) => e.type === 'StateEntered').map((e) => e.state);
  const transitions = new Set(entered.slice(1).map((to, i) => `${entered[i]}>${to}`));
  const { pos, W, H, width, height } = layout(graph);
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, 'data-testid': 'state-graph' });
  for (const st of graph.states) {
    const a = pos.get(st.name);
    for (const n of st.next) {
      const b = pos.get(n.to);
      if (!a || !b) continue;
      const x1 = a.x + W / 2;
      const y1 = a.y + H;
      const x2 = b.x + W / 2;
      const y2 = b.y;
      const d =
        b.y > a.y
          ? `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}`
          : `M${a.x + W},${a.y + H / 2} C${a.x + W + 40},${a.y} ${b.x + W + 40},${b.y + H} ${b.x + W},${b.y + H / 2}`;
      const taken = transitions.has(`${st.name}>${n.to}`);
      svg.append(s('path', { d, class: `edge ${n.kind}${taken ? ' taken' : ''}` }));
    }
  }
  for (const st of graph.states) {
    const a = pos.get(st.name);
    const v = seen.get(st.name);
    const status = v ? v.status : 'idle';
    const g = s('g', {
      class: `node s-${status}${selected.state === st.name ? ' selected' : ''}`,
      transform: `translate(${a.x},${a.y})`,
      'data-state': st.name,
      'data-status': status,
    });
    const title = s('title', {});
    title.textContent = `${st.name} (${st.type})${st.comment ? `: ${st.comment}` : ''}`;
    const label = s('text', { x: 6, y: 16 });
    label.textContent = `${st.name}${v && v.visits.length > 1 ? ` ×${v.visits.length}` : ''}`;
    g.append(title, s('rect', { width: W, height: H }), label);
    g.addEventListener('click', () => {
      selected.state = st.name;
      void selectExecution(machine, name);
    });
    svg.append(g);
  }
  const detail = document.getElementById('execution-detail');
  const info = h(
    'div',
    { 'data-testid': 'execution-info' },
    h('h3', {}, `${machine} ${name} `, h('span', { class: `status-${execution.status}` }, execution.status)),
    h(
      'p',
      { class: 'hint' },
      `started ${time(execution.startDate)}`,
      execution.durationMs !== undefined ? `, ${ms(execution.durationMs)}` : '',
      execution.error ? ` — ${execution.error}: ${execution.cause || ''}` : '',
    ),
  );
  const panel = h('div', { 'data-testid': 'state-detail' });
  if (selected.state) {
    const v = seen.get(selected.state);
    panel.append(h('h4', {}, selected.state));
    if (!v) panel.append(h('p', { class: 'hint' }, 'Not entered in this execution.'));
    else
      v.visits.forEach((visit, i) =>
        appendAll(
          panel,
          h(
            'p',
            {},
            `visit ${i + 1}: entered ${time(visit.enteredAt)}`,
            visit.durationMs !== undefined ? `, ${ms(visit.durationMs)}` : ' (running)',
            visit.retries ? `, ${visit.retries} retries` : '',
            visit.error ? `, failed ${visit.error}` : '',
          ),
          h(
            'details',
            { open: '' },
            h('summary', {}, 'input'),
            h('pre', {}, JSON.stringify(visit.input, null, 2) ?? '(not recorded)'),
          ),
          visit.output !== undefined
            ? h(
                'details',
                { open: '' },
                h('summary', {}, 'output'),
                h('pre', {}, JSON.stringify(visit.output, null, 2)),
              )
            : null,
          visit.cause !== undefined
            ? h(
                'details',
                {},
                h('summary', {}, 'cause'),
                h(
                  'pre',
                  {},
                  typeof visit.cause === 'string' ? visit.cause : JSON.stringify(visit.cause, null, 2),
                ),
              )
            : null,
        ),
      );
  } else {
    panel.append(h('p', { class: 'hint' }, 'Click a state for its input, output and timing.'));
  }
  detail.replaceChildren(info, panel, svg);
}

// ---- alarms ------------------------------------------------------------------------------------------------------

/** Models whose alarm group the user opened or closed; the others follow their state (open while one is in ALARM). */
const alarmGroupOpen = new Map();

/** One tbody per model: a header row with its count in ALARM, then its alarms, those in ALARM first. */
function alarmGroup(model, alarms) {
  const firing = alarms.filter((a) => a.state === 'ALARM').length;
  const open = alarmGroupOpen.has(model) ? alarmGroupOpen.get(model) : firing > 0;
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'group-toggle',
      'aria-expanded': String(open),
      onclick: () => {
        alarmGroupOpen.set(model, !open);
        renderAlarms();
      },
    },
    `${open ? '▾' : '▸'} ${model}`,
  );
  const rows = [...alarms]
    .sort((a, b) => Number(b.state === 'ALARM') - Number(a.state === 'ALARM'))
    .map((a) => {
      const row = h(
        'tr',
        { dataset: { alarm: a.alarmName, state: a.state } },
        h('td', {}, a.model),
        h('td', { title: a.description }, a.ruleId),
        h('td', {}, a.severity),
        h('td', { class: `state-${a.state}` }, a.state),
        h('td', {}, time(a.since)),
        h('td', { class: 'hint' }, a.reason),
        h(
          'td',
          {},
          h(
            'a',
            { href: `/runbooks/${a.runbook.split('/').pop()}`, target: '_blank', rel: 'noopener' },
            a.runbook.split('/').pop(),
          ),
        ),
      );
      row.hidden = !open;
      return row;
    });
  return h(
    'tbody',
    { 'data-testid': 'alarm-group', dataset: { model, firing: String(firing) } },
    h(
      'tr',
      { class: 'group' },
      h(
        'th',
        { colspan: '7' },
        toggle,
        ' ',
        h('span', { class: firing > 0 ? 'state-ALARM' : 'state-OK' }, `${firing} in ALARM`),
        h('span', { class: 'hint' }, ` · ${alarms.length} alarms`),
      ),
    ),
    ...rows,
  );
}

function renderAlarms() {
  const byModel = new Map();
  for (const a of state.alarms) {
    if (!byModel.has(a.model)) byModel.set(a.model, []);
    byModel.get(a.model).push(a);
  }
  const table = document.getElementById('alarm-list');
  for (const body of table.querySelectorAll('tbody')) body.remove();
  table.append(...[...byModel].map(([model, alarms]) => alarmGroup(model, alarms)));
  document
    .getElementById('alarm-history')
    .replaceChildren(
      ...state.alarmHistory.map((c) =>
        h(
          'li',
          { class: `state-${c.to}` },
          `${time(c.at)} ${c.alarmName}: ${c.from} → ${c.to} `,
          h('span', { class: 'hint' }, c.reason),
        ),
      ),
    );
}

// ---- charts ------------------------------------------------------------------------------------------------------

const CHART_MINUTES = 10;
const charts = { model: undefined, key: '', plots: [] };
const palette = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#57606a', '#e16f24', '#0550ae'];

const hasData = (values) => (values || []).some((x) => x !== null);

/**
 * The charts of one model's metrics. A series is [key in m.series, legend label, scale]; scale `count` draws on a
 * right-hand axis of its own. `note` names a line of text the refresh writes under the chart (not part of the
 * chart's identity: a new value must not rebuild the chart).
 */
function chartSpecs(m) {
  const objectives = (m.budget && m.budget.objectives) || [];
  const targetOf = (sli) => (objectives.find((o) => o.sli === sli) || {}).target;
  const specs = [
    {
      title: 'Requests per 10 s',
      series: [['requests', 'all'], ...m.versions.map((v) => [`requests@${v}`, v])],
    },
    {
      title: 'Errors per 10 s',
      series: [
        ['errors', 'all'],
        ...m.versions.map((v) => [`errors@${v}`, v]),
        ['candidateErrors', 'candidate arm'],
      ],
    },
    {
      title: 'Latency p50 / p99 (ms)',
      series: [['p50', 'p50'], ['p99', 'p99'], ...m.versions.flatMap((v) => [[`p99@${v}`, `p99 ${v}`]])],
    },
    {
      title: `Burn rate (availability SLO ${m.availabilityTarget}, latency SLO ${m.latencyTarget})`,
      series: [
        ['burnRate:availability', 'availability'],
        ['burnRate:latency', 'latency'],
      ],
    },
  ];
  if (m.budget) {
    specs.push({
      title: `Error budget remaining (SLO period ${m.budget.periodDays} days, 1 = untouched)`,
      series: [
        ['budget:availability', `availability ${targetOf('availability')}`],
        ['budget:latency', `latency ${targetOf('latency')}`],
      ],
      note: 'budget',
    });
  }
  if (m.features.length > 0 || hasData(m.series.datasetDrift)) {
    specs.push({
      title: 'Drift (JS distance per feature, dataset share)',
      series: [['datasetDrift', 'dataset share'], ...m.features.map((f) => [`drift:${f}`, f])],
    });
  }
  if (m.outputs.length > 0) {
    specs.push({
      title: 'Prediction drift (JS distance per output against the baseline)',
      series: m.outputs.map((o) => [`predictionDrift:${o}`, o]),
    });
  }
  if (hasData(m.series.accuracy))
    specs.push({ title: 'Accuracy (labelled)', series: [['accuracy', 'accuracy']] });
  if (hasData(m.series.mae))
    specs.push({ title: 'Mean absolute error (labelled)', series: [['mae', 'MAE']] });
  if (hasData(m.series.labels) || hasData(m.series.labelLagP99)) {
    specs.push({
      title: 'Labels: lag from prediction (s), received per 10 s (right)',
      series: [
        ['labelLagP50', 'lag p50'],
        ['labelLagP99', 'lag p99'],
        ['labels', 'received', 'count'],
      ],
    });
  }
  return specs;
}

/** The gate's budget now, per objective: what the chart's last point shows, as numbers. */
function budgetNote(m) {
  const b = m.budget;
  if (!b) return '';
  return b.objectives
    .map((o) =>
      o.remaining === null
        ? `${o.sli}: no request in the last ${b.periodDays} days`
        : `${o.sli}: ${pct(o.remaining)} left${o.status === 'exhausted' ? ' (exhausted)' : ''}, ` +
          `${o.bad} bad of ${b.requests} requests (target ${o.target})`,
    )
    .join(' · ');
}
const NOTES = { budget: budgetNote };

/** Baseline share beside live share per prediction bin of the stable version, per output (plain DOM bars). */
function renderPredictionBins(p) {
  const box = document.getElementById('prediction-bins');
  if (!p || !Array.isArray(p.outputs) || p.outputs.length === 0) {
    box.replaceChildren();
    return;
  }
  const bar = (share, kind) => {
    const el = h('span', { class: `share ${kind}` });
    el.style.width = `${Math.round(share * 1000) / 10}%`;
    return h('span', { class: 'share-track' }, el);
  };
  box.replaceChildren(
    ...p.outputs.map((o) =>
      h(
        'div',
        { class: 'chart', 'data-testid': 'prediction-bins', dataset: { output: o.output } },
        h('h4', {}, `Predictions of ${p.version} vs baseline: ${o.output}`),
        h(
          'p',
          { class: 'hint' },
          `${o.liveCount} predictions in the drift window ${time(p.windowStart)}–${time(p.windowEnd)}; ` +
            'upper bar baseline, lower bar live',
        ),
        h(
          'table',
          { class: 'bins' },
          h(
            'tbody',
            {},
            ...o.bins.map((label, i) =>
              h(
                'tr',
                { dataset: { bin: label } },
                h('td', {}, label),
                h('td', {}, bar(o.baseline[i] || 0, 'baseline'), bar(o.live[i] || 0, 'live')),
                h(
                  'td',
                  { class: 'hint' },
                  `${pct(o.baseline[i])} / ${o.live.length > 0 ? pct(o.live[i]) : '—'}`,
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

async function refreshCharts() {
  const model = document.getElementById('chart-model').value;
  if (!model) return;
  const [res, bins] = await Promise.all([
    fetch(`/api/metrics/${encodeURIComponent(model)}?minutes=${CHART_MINUTES}`),
    fetch(`/api/predictions/${encodeURIComponent(model)}`),
  ]);
  if (!res.ok) return;
  const m = await res.json();
  renderPredictionBins(bins.ok ? await bins.json() : undefined);
  const specs = chartSpecs(m);
  const key = `${model}|${JSON.stringify(specs)}`;
  const xs = m.timestamps.map((t) => t / 1000);
  // A count with no data point in a period counted nothing: draw it as 0. Other series keep their gaps.
  const counts = /^(requests|errors|candidateRequests|candidateErrors|labels)(@|$)/;
  const dataOf = (spec) => [
    xs,
    ...spec.series.map(([label]) => {
      const values = m.series[label] || xs.map(() => null);
      return counts.test(label) ? values.map((v) => v ?? 0) : values;
    }),
  ];
  if (key !== charts.key) {
    for (const p of charts.plots) p.destroy();
    const list = document.getElementById('chart-list');
    list.replaceChildren();
    charts.plots = specs.map((spec) => {
      const box = h(
        'div',
        { class: 'chart', 'data-testid': 'chart', dataset: { title: spec.title } },
        h('h4', {}, spec.title),
      );
      list.append(box);
      const twoScales = spec.series.some(([, , scale]) => scale === 'count');
      const plot = new uPlot(
        {
          width: 460,
          height: 180,
          series: [
            {},
            ...spec.series.map(([, label, scale], i) => ({
              label,
              ...(scale ? { scale } : {}),
              stroke: palette[i % palette.length],
              width: 1.5,
              points: { show: true, size: 4 },
            })),
          ],
          axes: [
            {},
            { size: 64 },
            ...(twoScales ? [{ scale: 'count', side: 1, size: 48, grid: { show: false } }] : []),
          ],
        },
        dataOf(spec),
        box,
      );
      if (spec.note) box.append(h('p', { class: 'hint', 'data-testid': `${spec.note}-now` }));
      return plot;
    });
    charts.key = key;
    if (marks.firstChartMs === undefined && charts.plots.length > 0) {
      marks.firstChartMs = performance.now();
      document.body.dataset.firstChart = 'drawn';
    }
  } else {
    specs.forEach((spec, i) => charts.plots[i].setData(dataOf(spec)));
  }
  for (const spec of specs) {
    if (!spec.note) continue;
    const el = document.querySelector(`[data-testid="${spec.note}-now"]`);
    if (el) el.textContent = NOTES[spec.note](m);
  }
}

function renderChartModels() {
  const select = document.getElementById('chart-model');
  const names = state.models.map((m) => m.name);
  if ([...select.options].map((o) => o.value).join() === names.join()) return;
  select.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
  void refreshCharts();
}

// ---- live updates ------------------------------------------------------------------------------------------------

function render() {
  renderModels();
  renderExecutions();
  renderAlarms();
  renderChartModels();
  marks.renders++;
  document.body.dataset.generatedAt = state.generatedAt;
}

function connect() {
  const conn = document.getElementById('conn');
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => {
    conn.dataset.state = 'live';
    conn.textContent = 'live';
  });
  events.addEventListener('state', (e) => {
    state = JSON.parse(e.data);
    if (marks.firstStateMs === undefined) marks.firstStateMs = performance.now();
    render();
    conn.textContent = `live · ${time(state.generatedAt)}`;
  });
  events.addEventListener('error', () => {
    conn.dataset.state = 'reconnecting';
    conn.textContent = 'reconnecting…';
  });
}

document.getElementById('chart-model').addEventListener('change', () => void refreshCharts());
setInterval(() => void refreshCharts().catch((err) => console.warn(err)), 2000);
connect();
