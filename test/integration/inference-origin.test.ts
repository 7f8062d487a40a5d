/**
 * The local inference server is closed to web pages and DNS rebinding: only `application/json` bodies reach the app,
 * requests marked by a browser (Origin, Sec-Fetch-Site) and OPTIONS get 403 without any CORS header, and a foreign
 * Host is refused. A client that aborts mid-body costs one INFO line, never an ERROR with a stack. Real HTTP against
 * the real adapter, with a stub app that counts what reaches it.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HttpRequest } from '../../lambdas/inference/http';
import type { HttpInferenceApp } from '../../lambdas/inference/inference-app';
import {
  CROSS_ORIGIN_MESSAGE,
  startInferenceServer,
  type RunningInferenceServer,
} from '../../local/inference-server';
import { memoryLogger } from '../../local/logger';
import { httpRequest, type HttpResult } from './harness';

const PATH = '/models/breast-cancer/invoke';
const BODY = JSON.stringify({ instances: [{ x: 1 }] });
const reached: HttpRequest[] = [];
const log = memoryLogger();
let server: RunningInferenceServer;

beforeAll(async () => {
  const app: HttpInferenceApp = Object.assign(
    (request: HttpRequest) => {
      reached.push(request);
      return Promise.resolve({
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: '{"predictions":[]}',
      });
    },
    { ready: Promise.resolve() },
  );
  server = await startInferenceServer({ app, port: 0, logger: log });
});
afterAll(async () => {
  await server?.stop();
});

function expectNoCors(r: HttpResult): void {
  expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
}

it('refuses a text/plain (or empty) content type with 415 in the app error shape, and nothing reaches the app', async () => {
  const before = reached.length;
  for (const type of [
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'application/json; charset=latin1',
    '',
  ]) {
    const r = await httpRequest(server.url, { path: PATH, body: BODY, headers: { 'content-type': type } });
    expect(r.status, type).toBe(415);
    expect(r.json).toMatchObject({
      error: { code: 'UnsupportedMediaType', message: expect.stringContaining('application/json') },
      requestId: expect.any(String),
    });
  }
  expect(reached.length).toBe(before);
});

it('serves application/json, with or without charset=utf-8', async () => {
  for (const type of [
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON;charset="UTF-8"',
  ]) {
    const r = await httpRequest(server.url, { path: PATH, body: BODY, headers: { 'content-type': type } });
    expect(r.status, type).toBe(200);
  }
});

it('refuses any request carrying Origin or a cross-site/same-site Sec-Fetch-Site with 403 and no CORS header', async () => {
  const before = reached.length;
  for (const headers of <Record<string, string>[]>[
    { origin: 'http://evil.example' },
    { origin: 'null' },
    { origin: 'http://127.0.0.1:3000' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
  ]) {
    for (const path of [PATH, '/healthz', '/metrics']) {
      const r = await httpRequest(server.url, {
        method: path === PATH ? 'POST' : 'GET',
        path,
        body: BODY,
        headers,
      });
      expect(r.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
      expect(r.json).toMatchObject({ error: { code: 'Forbidden', message: CROSS_ORIGIN_MESSAGE } });
      expectNoCors(r);
    }
  }
  expect(reached.length).toBe(before);
  // What a tool or the CLI sends (no Origin; a same-origin fetch says so) still works.
  const r = await httpRequest(server.url, { path: PATH, body: BODY, headers: { 'sec-fetch-site': 'none' } });
  expect(r.status).toBe(200);
});

it('answers OPTIONS (a CORS preflight) with 403 and no Access-Control-* header', async () => {
  const r = await httpRequest(server.url, {
    method: 'OPTIONS',
    path: PATH,
    headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  expect(r.status).toBe(403);
  expectNoCors(r);
  const plain = await httpRequest(server.url, { method: 'OPTIONS', path: PATH });
  expect(plain.status).toBe(403);
  expectNoCors(plain);
});

it('refuses a Host that is not 127.0.0.1, localhost or [::1] (DNS rebinding)', async () => {
  const before = reached.length;
  for (const host of ['evil.example', 'evil.example:4570', '127.0.0.1.evil.example', '10.0.0.1']) {
    const r = await httpRequest(server.url, { path: PATH, body: BODY, headers: { host } });
    expect(r.status, host).toBe(403);
    expect(r.json).toMatchObject({ error: { code: 'Forbidden' } });
  }
  expect(reached.length).toBe(before);
  for (const host of [`localhost:${server.port}`, `[::1]:${server.port}`, '127.0.0.1']) {
    const r = await httpRequest(server.url, { path: PATH, body: BODY, headers: { host } });
    expect(r.status, host).toBe(200);
  }
});

it('logs a client abort mid-body once, at INFO, without a stack', async () => {
  const linesBefore = log.lines.length;
  const gotRequest = new Promise<void>((resolve) => server.server.once('request', () => resolve()));
  const socket = connect(server.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(
    `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inst`,
  );
  await gotRequest; // headers parsed: the server is now reading the body
  socket.resetAndDestroy();
  const deadline = Date.now() + 10_000;
  while (!log.lines.slice(linesBefore).some((l) => l.includes('client aborted'))) {
    if (Date.now() > deadline) throw new Error(`no abort line logged: ${log.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // One more round trip, so a second line (if there were one) would have been logged by now.
  expect((await httpRequest(server.url, { path: PATH, body: BODY })).status).toBe(200);
  const lines = log.lines.slice(linesBefore);
  expect(lines.filter((l) => l.includes('client aborted'))).toHaveLength(1);
  expect(lines.filter((l) => l.includes('client aborted'))[0]).toMatch(
    /^INFO inference server: client aborted POST/,
  );
  expect(lines.filter((l) => l.startsWith('ERROR') || l.startsWith('WARN'))).toEqual([]);
  expect(lines.join('\n')).not.toMatch(/\n\s+at /);
});
