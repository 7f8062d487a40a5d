/**
 * The local console: `http://127.0.0.1:4571/?token=…`, printed in `npm start`'s banner (docs/console.md). A node:http
 * server over {@link ConsoleApi}, serving one vanilla page (./page) and uPlot from node_modules, with live updates by
 * server-sent events.
 *
 * Closed to every other page the developer has open, as the inference server and the emulator front are
 * (local/inference-server.ts, local/emulator-front.ts), plus a secret because it can decide approvals:
 * - bound to 127.0.0.1 only, and a `Host` other than 127.0.0.1, localhost or [::1] is refused (DNS rebinding);
 * - a per-start random token is required on every route but `/healthz`: given once in the banner URL, then kept in
 *   an `HttpOnly; SameSite=Strict` cookie (a cross-site request never carries it) and stripped from the address bar;
 * - cross-origin requests are refused with 403 and no CORS header: an `Origin` other than the console's own,
 *   `Sec-Fetch-Site: cross-site|same-site`, and every OPTIONS; a POST must also be `application/json` (a cross-site
 *   form or `text/plain` POST needs no preflight) and come from the console's own origin or from no browser at all.
 * These checks run before a body is read, so a refused request never reaches a store.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  DRIFT_COUNTERS_TABLE,
  MODEL_VERSIONS_TABLE,
  MONITOR_STATE_TABLE,
} from '../../lambdas/core/tables';
import { numberEnv } from '../../lambdas/shared/env';
import type { AlarmRunner } from '../alarm-runner';
import type { ExecutionObservation } from '../asl-runner';
import { emulatorClients } from '../emulators';
import type { LocalLogger } from '../logger';
import type { LocalService, RunningService } from '../start';
import { ConsoleApi, ConsoleRequestError, ExecutionRing, type ConsoleMetricsSource } from './api';
import { ExecutionHistoryFile } from './execution-history';

export const DEFAULT_CONSOLE_PORT = 4571;
export const CONSOLE_PORT_ENV = 'MODELOPS_CONSOLE_PORT';
export const CONSOLE_SERVICE_NAME = 'console';
/**
 * The cookie that carries the token after the first visit, suffixed `_<port>`: cookies are not scoped by port, and
 * two local consoles (tests) must not overwrite each other's.
 */
export const CONSOLE_COOKIE = 'modelops_console';
/** How often the console re-reads the stores while a page is connected (the page's update latency). */
export const DEFAULT_CONSOLE_POLL_MS = 500;
const MAX_POST_BYTES = 16 * 1024;

const PAGE_DIR = path.join(__dirname, 'page');
const UPLOT_DIR = path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');
const RUNBOOK_DIR = path.resolve(__dirname, '..', '..', 'docs', 'runbooks');

/** Static files by path: only these are served (no path is ever joined from the request). */
const STATIC: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: path.join(PAGE_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/console.js': { file: path.join(PAGE_DIR, 'console.js'), type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: path.join(PAGE_DIR, 'console.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': {
    file: path.join(UPLOT_DIR, 'uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/uPlot.min.css': { file: path.join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const LOCAL_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i;
const JSON_CONTENT_TYPE = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;
const RUNBOOK_FILE = /^[a-z0-9-]{1,64}\.md$/;
const SEGMENT = /^[A-Za-z0-9._-]{1,80}$/;

export const CONSOLE_CROSS_ORIGIN_MESSAGE = 'cross-origin requests are refused by the local console';

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  // uPlot sizes its elements through the CSSOM (allowed by style-src 'self'); no inline script anywhere.
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  type: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    ...extra,
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } });
}

function cookieToken(req: IncomingMessage, cookie: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === cookie) return rest.join('=');
  }
  return undefined;
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why a request is refused before anything else happens, or undefined. */
function refusal(req: IncomingMessage): { status: number; code: string; message: string } | undefined {
  const host = req.headers.host;
  if (host === undefined || !LOCAL_HOST.test(host)) {
    return {
      status: 403,
      code: 'Forbidden',
      message: `Host "${host ?? ''}" is refused: the console answers only to 127.0.0.1, localhost and [::1]`,
    };
  }
  const method = req.method ?? 'GET';
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  const crossOrigin =
    method === 'OPTIONS' ||
    (origin !== undefined && origin !== `http://${host}`) ||
    (site !== undefined && site !== 'same-origin' && site !== 'none');
  if (crossOrigin) return { status: 403, code: 'Forbidden', message: CONSOLE_CROSS_ORIGIN_MESSAGE };
  if (method === 'POST') {
    // A browser always sends Origin on a POST; one without it but marked by the browser is refused too.
    if (origin === undefined && site !== undefined) {
      return { status: 403, code: 'Forbidden', message: CONSOLE_CROSS_ORIGIN_MESSAGE };
    }
    const type = req.headers['content-type'];
    if (type === undefined || !JSON_CONTENT_TYPE.test(type)) {
      return {
        status: 415,
        code: 'UnsupportedMediaType',
        message: `Content-Type must be application/json, got ${type === undefined ? 'none' : `"${type.slice(0, 100)}"`}`,
      };
    }
  }
  return undefined;
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_POST_BYTES) {
        reject(new ConsoleRequestError(`the body is larger than ${MAX_POST_BYTES} bytes`));
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch (err) {
        reject(new ConsoleRequestError(`the body is not JSON: ${(err as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

const UNAUTHORIZED_PAGE = `<!doctype html><meta charset="utf-8"><title>modelops console</title>
<p>This console needs the token printed by <code>npm start</code>: open the <code>console</code> URL from its banner
(<code>http://127.0.0.1:&lt;port&gt;/?token=…</code>).</p>`;

export interface ConsoleServerOptions {
  readonly api: ConsoleApi;
  /** 0 = any free port. @default DEFAULT_CONSOLE_PORT */
  readonly port?: number;
  /** @default - 32 random bytes, hex */
  readonly token?: string;
  /** @default DEFAULT_CONSOLE_POLL_MS */
  readonly pollMs?: number;
  /** Pushes a state update at once when it fires (new execution events). */
  readonly onChange?: (listener: () => void) => () => void;
  readonly logger?: LocalLogger;
}

export interface RunningConsoleServer {
  /** `http://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  /** The banner URL, with the token. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly server: Server;
  stop(): Promise<void>;
}

/** Starts the console's HTTP server on 127.0.0.1. */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<RunningConsoleServer> {
  const { api, logger } = options;
  const token = options.token ?? randomBytes(32).toString('hex');
  const pollMs = options.pollMs ?? DEFAULT_CONSOLE_POLL_MS;
  const clients = new Set<ServerResponse>();
  let last = '';
  let polling = false;
  let cookie = CONSOLE_COOKIE; // + the port, once listening

  /** Reads the state and pushes it to every page when it changed. One read at a time. */
  const push = async (force = false): Promise<void> => {
    if (polling || clients.size === 0) return;
    polling = true;
    try {
      const state = await api.state();
      const { generatedAt: _at, ...comparable } = state;
      const key = JSON.stringify(comparable);
      if (force || key !== last) {
        last = key;
        const frame = `event: state\ndata: ${JSON.stringify(state)}\n\n`;
        for (const c of clients) c.write(frame);
      }
    } catch (err) {
      logger?.warn(`console: reading the stores failed: ${(err as Error).message}`);
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void push(), pollMs);
  timer.unref();
  const heartbeat = setInterval(() => {
    for (const c of clients) c.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();
  let soon: NodeJS.Timeout | undefined;
  const unsubscribe = options.onChange?.(() => {
    soon ??= setTimeout(() => {
      soon = undefined;
      void push();
    }, 50);
  });

  const events = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    clients.add(res);
    req.on('close', () => clients.delete(res));
    // The new page gets the current state at once.
    api.state().then(
      (state) => res.write(`event: state\ndata: ${JSON.stringify(state)}\n\n`),
      (err: Error) => logger?.warn(`console: reading the stores failed: ${err.message}`),
    );
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (url.pathname === '/healthz' && method === 'GET') return json(res, 200, { status: 'ok' });

    const refused = refusal(req);
    if (refused !== undefined) {
      req.resume();
      return error(res, refused.status, refused.code, refused.message);
    }

    // The banner URL: trade the token for the cookie, then drop it from the address bar (and history).
    const given = url.searchParams.get('token');
    if (given !== null && method === 'GET' && url.pathname === '/') {
      if (!sameToken(given, token)) {
        return send(res, 403, UNAUTHORIZED_PAGE, 'text/html; charset=utf-8');
      }
      return send(res, 303, '', 'text/plain; charset=utf-8', {
        location: '/',
        'set-cookie': `${cookie}=${token}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    if (!sameToken(cookieToken(req, cookie), token)) {
      req.resume();
      if (method === 'GET' && url.pathname === '/') {
        return send(res, 401, UNAUTHORIZED_PAGE, 'text/html; charset=utf-8');
      }
      return error(
        res,
        401,
        'Unauthorized',
        'open the console URL printed by npm start (it carries the token)',
      );
    }

    if (method === 'POST') {
      const m = /^\/api\/approvals\/([^/]+)\/([^/]+)\/(approve|reject)$/.exec(url.pathname);
      if (m === null) return error(res, 404, 'NotFound', `no POST ${url.pathname}`);
      const body = (await readJsonBody(req)) as { reason?: unknown };
      const result = await api.decide(
        decodeURIComponent(m[1]!),
        decodeURIComponent(m[2]!),
        m[3] as 'approve' | 'reject',
        body?.reason,
      );
      void push();
      return json(res, 200, result);
    }
    if (method !== 'GET') {
      req.resume();
      return error(res, 405, 'MethodNotAllowed', `${method} is not allowed`);
    }

    const file = STATIC[url.pathname];
    if (file !== undefined) return send(res, 200, await readFile(file.file), file.type);
    if (url.pathname === '/api/state') return json(res, 200, await api.state());
    if (url.pathname === '/api/events') return events(req, res);
    const graph = /^\/api\/graphs\/([a-z-]+)$/.exec(url.pathname);
    if (graph !== null) {
      const g = api.graphs[graph[1]!];
      return g ? json(res, 200, g) : error(res, 404, 'NotFound', `no state machine "${graph[1]}"`);
    }
    const execution = /^\/api\/executions\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (execution !== null && SEGMENT.test(execution[1]!) && SEGMENT.test(execution[2]!)) {
      const e = api.execution(execution[1]!, execution[2]!);
      return e
        ? json(res, 200, e)
        : error(res, 404, 'NotFound', 'no such execution (the console keeps the latest)');
    }
    const metrics = /^\/api\/metrics\/([^/]+)$/.exec(url.pathname);
    if (metrics !== null) {
      const minutes = Number(url.searchParams.get('minutes') ?? '15');
      return json(
        res,
        200,
        await api.metrics(decodeURIComponent(metrics[1]!), Number.isFinite(minutes) ? minutes : 15),
      );
    }
    const predictions = /^\/api\/predictions\/([^/]+)$/.exec(url.pathname);
    if (predictions !== null) {
      // An empty object, not 404, while there is nothing to show: the page asks every 2 s.
      return json(res, 200, (await api.predictionBins(decodeURIComponent(predictions[1]!))) ?? {});
    }
    const runbook = /^\/runbooks\/([^/]+)$/.exec(url.pathname);
    if (runbook !== null && RUNBOOK_FILE.test(runbook[1]!)) {
      try {
        return send(
          res,
          200,
          await readFile(path.join(RUNBOOK_DIR, runbook[1]!)),
          'text/plain; charset=utf-8',
        );
      } catch {
        return error(res, 404, 'NotFound', `no runbook ${runbook[1]}`);
      }
    }
    return error(res, 404, 'NotFound', `no ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
      } else if (err instanceof ConsoleRequestError) {
        error(
          res,
          err.status,
          err.status === 409 ? 'Conflict' : err.status === 404 ? 'NotFound' : 'InvalidInput',
          err.message,
        );
      } else {
        logger?.error(`console: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        error(res, 500, 'InternalError', 'internal error');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_CONSOLE_PORT, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  cookie = `${CONSOLE_COOKIE}_${port}`;
  const baseUrl = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    baseUrl,
    url: `${baseUrl}/?token=${token}`,
    port,
    token,
    server,
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        clearInterval(heartbeat);
        if (soon) clearTimeout(soon);
        unsubscribe?.();
        for (const c of clients) c.end();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

export interface ConsoleServiceOptions {
  /** 0 = any free port. @default MODELOPS_CONSOLE_PORT or DEFAULT_CONSOLE_PORT */
  readonly port?: number;
  /** The local metric store the inference server and drift monitor emit into (the charts read it). @default no charts */
  readonly metrics?: ConsoleMetricsSource;
  /** The alarm runner, once the alarm service has started. @default no alarm states */
  readonly alarms?: () => AlarmRunner | undefined;
  /** @default DEFAULT_CONSOLE_POLL_MS */
  readonly pollMs?: number;
  /** Tests only. @default random per start */
  readonly token?: string;
}

/** What {@link consoleService} returns: tests find it in `LocalMode.services` by {@link CONSOLE_SERVICE_NAME}. */
export interface RunningConsoleService extends RunningService {
  readonly url: string;
  readonly baseUrl: string;
  readonly token: string;
  readonly api: ConsoleApi;
  readonly executions: ExecutionRing;
}

/** The console as a `LocalService`: list it after the inference and alarm services so it can read them. */
export function consoleService(options: ConsoleServiceOptions = {}): LocalService {
  return {
    name: CONSOLE_SERVICE_NAME,
    async start(context): Promise<RunningConsoleService> {
      // Imported here: the adapter modules create their default SDK clients from process.env when they load.
      const [
        { DynamoVersionStore },
        { DynamoDeploymentStore },
        { DynamoAuditLog },
        { DynamoApprovalStore },
        { DynamoMonitorStateStore },
        { DynamoDriftCounterStore },
        { S3RegistryStore },
        { createDocumentClient },
      ] = await Promise.all([
        import('../../lambdas/adapters/dynamo-version-store'),
        import('../../lambdas/adapters/dynamo-deployment-store'),
        import('../../lambdas/adapters/dynamo-audit-log'),
        import('../../lambdas/adapters/dynamo-approval-store'),
        import('../../lambdas/adapters/dynamo-monitor-state'),
        import('../../lambdas/adapters/dynamo-drift-counters'),
        import('../../lambdas/adapters/s3-registry-store'),
        import('../../lambdas/adapters/clients'),
      ]);
      const { emulators, runtime } = context;
      const { s3, dynamodb } = emulatorClients(emulators);
      const doc = createDocumentClient(dynamodb);
      const tables = emulators.tables;
      const executions = new ExecutionRing();
      const history = new ExecutionHistoryFile(emulators.dataDir, context.logger);
      executions.seed(await history.load());
      const observe = (o: ExecutionObservation) => {
        executions.observe(o);
        const finished = o.kind === 'finished' ? executions.get(o.stateMachine, o.result.name) : undefined;
        if (finished !== undefined) void history.append(finished);
      };
      const unobserve = [
        runtime.release.observe(observe),
        ...(runtime.retrain ? [runtime.retrain.observe(observe)] : []),
      ];
      const api = new ConsoleApi({
        config: runtime.config,
        stores: {
          versions: new DynamoVersionStore(tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
          deployments: new DynamoDeploymentStore(tables[DEPLOYMENTS_TABLE.envVar]!, doc),
          audit: new DynamoAuditLog(tables[AUDIT_LOG_TABLE.envVar]!, doc),
          approvals: new DynamoApprovalStore(tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
          ...(tables[MONITOR_STATE_TABLE.envVar] !== undefined
            ? { monitorState: new DynamoMonitorStateStore(tables[MONITOR_STATE_TABLE.envVar]!, doc) }
            : {}),
          registry: new S3RegistryStore(emulators.bucket, s3),
          ...(tables[DRIFT_COUNTERS_TABLE.envVar] !== undefined
            ? { counters: new DynamoDriftCounterStore(doc, tables[DRIFT_COUNTERS_TABLE.envVar]!) }
            : {}),
        },
        executions,
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.alarms ? { alarms: options.alarms } : {}),
      });
      api.start();
      const running = await startConsoleServer({
        api,
        port:
          options.port ??
          numberEnv(CONSOLE_PORT_ENV, DEFAULT_CONSOLE_PORT, { min: 0, max: 65_535, integer: true }),
        ...(options.token !== undefined ? { token: options.token } : {}),
        ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
        onChange: (listener) => executions.onChange(listener),
        logger: context.logger,
      });
      return {
        url: running.url,
        baseUrl: running.baseUrl,
        token: running.token,
        api,
        executions,
        stop: async () => {
          for (const u of unobserve) u();
          await history.flush();
          api.stop();
          await running.stop();
          dynamodb.destroy();
          s3.destroy();
        },
      };
    },
  };
}
