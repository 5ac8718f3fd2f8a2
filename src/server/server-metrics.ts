/**
 * ServerMetrics: what an operator watches on one `loft serve` process, in the Prometheus text
 * format (`GET /metrics`, src/server/http/metrics-routes.ts), through prom-client. One registry per
 * server (no process-wide default registry: tests run several servers in one process).
 *
 *   loft_http_requests_total{method,route,status}      requests answered; route is the template
 *                                                      (/v1/blocks/:hash), never the URL, so the
 *                                                      label set stays bounded
 *   loft_http_request_duration_seconds{method,route}   latency histogram (long-polls included:
 *                                                      they end when a change comes or at timeout)
 *   loft_longpolls_open                                long-polls waiting now
 *   loft_tree_changes_total                            requests that committed a tree change
 *                                                      (commit, mkdir, move, delete, restore; a
 *                                                      batch once per namespace it changed):
 *                                                      rate() is the commit rate
 *   loft_block_bytes_in_total / _out_total             block bytes received (puts) / served
 *                                                      (whole blocks and ranges)
 *   loft_block_stored_bytes_total                      bytes newly written to the block store
 *                                                      (after compression; 0 for a block it had)
 *   loft_gc_runs_total{result}                         garbage-collection runs, ok or error
 *   loft_gc_deleted_blocks_total, loft_gc_freed_bytes_total, loft_gc_last_duration_seconds
 *   process_* and nodejs_*                             prom-client's default process metrics
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BlockMeter } from '../blockstore/metered-block-store.js';
import type { GcReport } from './garbage-collector.js';

/**
 * Latency buckets (seconds): a metadata call takes about a millisecond, a 4 MiB block a few tens,
 * a long-poll up to its timeout (30 s by default, 300 s at most).
 */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class ServerMetrics implements BlockMeter {
  readonly registry = new Registry();
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #latency: Histogram<'method' | 'route'>;
  readonly #longPolls: Gauge;
  readonly #treeChanges: Counter;
  readonly #bytesIn: Counter;
  readonly #bytesOut: Counter;
  readonly #stored: Counter;
  readonly #gcRuns: Counter<'result'>;
  readonly #gcDeleted: Counter;
  readonly #gcFreed: Counter;
  readonly #gcDuration: Gauge;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'loft_http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'loft_http_request_duration_seconds',
      help: 'HTTP request latency, by route template',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#longPolls = new Gauge({ name: 'loft_longpolls_open', help: 'long-polls waiting now', registers });
    this.#treeChanges = new Counter({
      name: 'loft_tree_changes_total',
      help: 'requests that committed a tree change (a batch: once per namespace it changed)',
      registers,
    });
    this.#bytesIn = new Counter({
      name: 'loft_block_bytes_in_total',
      help: 'block bytes received by puts',
      registers,
    });
    this.#bytesOut = new Counter({
      name: 'loft_block_bytes_out_total',
      help: 'block bytes served (whole blocks and ranges)',
      registers,
    });
    this.#stored = new Counter({
      name: 'loft_block_stored_bytes_total',
      help: 'bytes newly written to the block store, after compression',
      registers,
    });
    this.#gcRuns = new Counter({
      name: 'loft_gc_runs_total',
      help: 'garbage-collection runs, by result',
      labelNames: ['result'],
      registers,
    });
    this.#gcDeleted = new Counter({
      name: 'loft_gc_deleted_blocks_total',
      help: 'blocks deleted by garbage collection',
      registers,
    });
    this.#gcFreed = new Counter({
      name: 'loft_gc_freed_bytes_total',
      help: 'block-store bytes freed by garbage collection',
      registers,
    });
    this.#gcDuration = new Gauge({
      name: 'loft_gc_last_duration_seconds',
      help: 'duration of the last garbage-collection run',
      registers,
    });
    // Both results exist from the start, so rate() and alerts see 0 instead of no series.
    this.#gcRuns.inc({ result: 'ok' }, 0);
    this.#gcRuns.inc({ result: 'error' }, 0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.#requests.inc({ method, route, status: String(status) });
    this.#latency.observe({ method, route }, seconds);
  }

  longPollOpened(): void {
    this.#longPolls.inc();
  }

  longPollClosed(): void {
    this.#longPolls.dec();
  }

  treeChanged(): void {
    this.#treeChanges.inc();
  }

  bytesIn(n: number, storedSize: number): void {
    this.#bytesIn.inc(n);
    this.#stored.inc(storedSize);
  }

  bytesOut(n: number): void {
    this.#bytesOut.inc(n);
  }

  gcRun(report: GcReport | null): void {
    if (!report) {
      this.#gcRuns.inc({ result: 'error' });
      return;
    }
    this.#gcRuns.inc({ result: 'ok' });
    this.#gcDeleted.inc(report.deletedBlocks);
    this.#gcFreed.inc(report.freedBytes);
    this.#gcDuration.set(report.durationMs / 1000);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
