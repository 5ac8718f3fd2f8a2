/**
 * UploadScheduler: every block upload of the drive goes through one p-queue whose concurrency adapts
 * to what the link delivers, under an optional bandwidth cap, behind interactive reads.
 *
 * - Priority: callers pass one (a small or recently edited file before a bulk upload).
 * - Adaptive concurrency (a small AIMD controller, evaluated every WINDOW completed uploads):
 *     error in the window            → halve (multiplicative decrease)
 *     median latency > LATENCY_SLACK × best seen → one less (queueing somewhere: back off)
 *     throughput rose ≥ GAIN since the last step up → one more (the link had room)
 *     throughput fell after a step up → undo it
 *   between MIN_CONCURRENCY and MAX_CONCURRENCY, starting at START_CONCURRENCY.
 * - `--bwlimit`: uploads are paced so the payload rate stays at or below the cap (each upload is
 *   delayed until the bytes sent before it fit the rate; no burst).
 * - Reads first: while demand reads are downloading, an upload waits before it starts (up to
 *   READ_YIELD_MAX_MS, so uploads never starve).
 */
import PQueue from 'p-queue';
import { sleepOn, systemTimers, type Timers } from '../../shared/clock.js';

/** One upload at a time is slow on any link with latency; eight saturate loopback and most WANs. */
const MIN_CONCURRENCY = 1;
const START_CONCURRENCY = 2;
const MAX_CONCURRENCY = 8;
/** Completed uploads per controller decision: enough to average out one slow request. */
const WINDOW = 6;
/** A rise in throughput this large (10%) justifies the extra connection. */
const GAIN = 1.1;
/** Latency this many times the best seen means requests queue somewhere. */
const LATENCY_SLACK = 3;
/** Longest an upload defers to interactive reads. */
const READ_YIELD_MAX_MS = 1000;
const READ_YIELD_STEP_MS = 10;

export interface UploadSchedulerOptions {
  /** Time and timers of pacing (a simulated clock in tests; `now` alone is kept for old callers). */
  timers?: Timers;
  /** Cap on upload payload bytes per second (0 or undefined: none). */
  bwlimit?: number;
  /** True while demand reads are being downloaded. */
  readsActive?: () => boolean;
  now?: () => number;
}

export class UploadScheduler {
  readonly #queue = new PQueue({ concurrency: START_CONCURRENCY });
  readonly #bwlimit: number;
  readonly #readsActive: () => boolean;
  readonly #now: () => number;
  readonly #timers: Timers;
  #paceNext = 0;
  // controller state
  #window: { bytes: number; ms: number }[] = [];
  #windowStart = 0;
  #errors = 0;
  #bestLatency = Infinity;
  #lastThroughput = 0;
  #steppedUp = false;

  constructor(options: UploadSchedulerOptions = {}) {
    this.#bwlimit = options.bwlimit ?? 0;
    this.#readsActive = options.readsActive ?? (() => false);
    this.#timers = options.timers ?? systemTimers;
    this.#now = options.now ?? (() => this.#timers.now());
  }

  get concurrency(): number {
    return this.#queue.concurrency;
  }

  get bwlimit(): number {
    return this.#bwlimit;
  }

  /** Runs one upload of `bytes` payload bytes; higher `priority` runs first. */
  run<T>(bytes: number, fn: () => Promise<T>, priority = 0): Promise<T> {
    return this.#queue.add(
      async () => {
        await this.#yieldToReads();
        await this.#pace(bytes);
        const start = this.#now();
        if (this.#window.length === 0) this.#windowStart = start;
        try {
          const r = await fn();
          this.#record(bytes, this.#now() - start, false);
          return r;
        } catch (err) {
          this.#record(bytes, this.#now() - start, true);
          throw err;
        }
      },
      { priority },
    ) as Promise<T>;
  }

  async #yieldToReads(): Promise<void> {
    for (let waited = 0; waited < READ_YIELD_MAX_MS && this.#readsActive(); waited += READ_YIELD_STEP_MS)
      await sleepOn(this.#timers, READ_YIELD_STEP_MS);
  }

  async #pace(bytes: number): Promise<void> {
    if (!this.#bwlimit) return;
    const now = this.#now();
    const start = Math.max(now, this.#paceNext);
    this.#paceNext = start + (bytes / this.#bwlimit) * 1000;
    if (start > now) await sleepOn(this.#timers, start - now);
  }

  #record(bytes: number, ms: number, error: boolean): void {
    if (error) this.#errors++;
    else {
      this.#window.push({ bytes, ms });
      // Latency per MiB, so that big and small blocks compare.
      this.#bestLatency = Math.min(this.#bestLatency, ms / Math.max(bytes / 1048576, 0.25));
    }
    if (this.#window.length + this.#errors < WINDOW) return;
    const c = this.#queue.concurrency;
    const elapsed = Math.max(1, this.#now() - this.#windowStart);
    const throughput = this.#window.reduce((n, w) => n + w.bytes, 0) / elapsed;
    const lat = this.#window.map((w) => w.ms / Math.max(w.bytes / 1048576, 0.25)).sort((a, b) => a - b)[
      Math.floor(this.#window.length / 2)
    ];
    let next = c;
    if (this.#errors > 0) next = Math.max(MIN_CONCURRENCY, Math.floor(c / 2));
    else if (lat !== undefined && lat > LATENCY_SLACK * this.#bestLatency) next = c - 1;
    else if (this.#steppedUp && throughput < this.#lastThroughput) next = c - 1;
    else if (!this.#steppedUp || throughput >= this.#lastThroughput * GAIN) next = c + 1;
    next = Math.min(MAX_CONCURRENCY, Math.max(MIN_CONCURRENCY, next));
    this.#steppedUp = next > c;
    this.#lastThroughput = throughput;
    this.#queue.concurrency = next;
    this.#window = [];
    this.#errors = 0;
  }
}
