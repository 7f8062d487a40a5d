/**
 * The demo's client: steady traffic against the local inference server, a few requests in flight, each a small batch
 * of rows cycled from a population (the reference rows, or the drifted ones after the population shifts). Counts
 * the answers per serving version (`x-modelops-version`) so each step can say who served.
 */
import { Agent, request } from 'node:http';
import type { Row } from './models';
import { instanceOf } from './models';

export interface TrafficStats {
  sent: number;
  ok: number;
  /** Answers other than 200 (and transport errors), by status ('error' for the latter). */
  bad: Record<string, number>;
  byVersion: Record<string, number>;
}

export interface TrafficOptions {
  readonly baseUrl: string;
  readonly model: string;
  readonly population: readonly Row[];
  /** Instances per request. */
  readonly batch: number;
  /** Requests in flight. */
  readonly concurrency: number;
  /** Pause between a worker's requests, ms. */
  readonly pauseMs: number;
}

export class Traffic {
  readonly stats: TrafficStats = { sent: 0, ok: 0, bad: {}, byVersion: {} };
  private population: readonly (readonly Record<string, number>[])[] = [];
  private next = 0;
  private stopped = false;
  private readonly workers: Promise<void>[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  constructor(private readonly options: TrafficOptions) {
    this.use(options.population);
  }

  /** Switches the population the next requests are drawn from. */
  use(rows: readonly Row[]): void {
    const instances = rows.map(instanceOf);
    const { batch } = this.options;
    this.population = Array.from({ length: Math.ceil(instances.length / batch) }, (_, i) =>
      instances.slice(i * batch, (i + 1) * batch),
    );
    this.next = 0;
  }

  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.workers.push(this.worker());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
    this.agent.destroy();
  }

  /** Resets the per-version counts (each step reports its own). */
  snapshot(): TrafficStats {
    return JSON.parse(JSON.stringify(this.stats)) as TrafficStats;
  }

  private async worker(): Promise<void> {
    while (!this.stopped) {
      const instances = this.population[this.next++ % this.population.length]!;
      this.stats.sent += 1;
      try {
        const { status, version } = await this.invoke(JSON.stringify({ instances }));
        if (status === 200) {
          this.stats.ok += 1;
          if (version) this.stats.byVersion[version] = (this.stats.byVersion[version] ?? 0) + 1;
        } else this.stats.bad[status] = (this.stats.bad[status] ?? 0) + 1;
      } catch {
        this.stats.bad.error = (this.stats.bad.error ?? 0) + 1;
      }
      if (this.options.pauseMs > 0) await new Promise((r) => setTimeout(r, this.options.pauseMs));
    }
  }

  private invoke(body: string): Promise<{ status: number; version?: string }> {
    const url = new URL(`${this.options.baseUrl}/models/${this.options.model}/invoke`);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => {
          res.resume();
          res.on('error', reject);
          res.on('end', () => {
            const v = res.headers['x-modelops-version'];
            resolve({ status: res.statusCode ?? 0, ...(typeof v === 'string' ? { version: v } : {}) });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** Answers per version between two snapshots, e.g. "1.0.0 812, 1.1.0 790". */
export function servedBetween(before: TrafficStats, after: TrafficStats): string {
  const parts = Object.entries(after.byVersion)
    .map(([v, n]) => [v, n - (before.byVersion[v] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${v} ${n}`);
  const bad = Object.entries(after.bad)
    .map(([s, n]) => [s, n - (before.bad[s] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n}× ${s}`);
  return `${parts.join(', ') || 'none'}${bad.length > 0 ? `; failed: ${bad.join(', ')}` : ''}`;
}
