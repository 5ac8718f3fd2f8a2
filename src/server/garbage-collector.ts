/**
 * GarbageCollector: history retention, then deletion of blocks no kept revision references.
 *
 * One run:
 *   1. Retention (`MetadataStore.purgeHistory`, in slices): a file revision that stopped
 *      being current more than `keepMs` ago is removed (the current revision of a live file never,
 *      whatever its age); a node deleted more than `keepMs` ago loses its history but its delete
 *      revision (kept so the journal still tells old devices it is gone).
 *   2. Claims left by a collector that died mid-run (older than CLAIM_LEASE_MS) are taken over.
 *   3. Blocks that no revision references and that nobody sent for `graceMs` are claimed
 *      (`claimGarbage`, in batches), their bytes deleted, and the claims finished.
 *
 * Why no commit ever references a deleted block, and no upload in flight loses its block:
 *
 *   (a) A `blocks` record means "the bytes are stored". Records are written only after the bytes
 *       (PUT: BlockStore.put, then recordUpload), and the claim that removes a record (with every
 *       possession record of the block) commits before any byte is deleted. So while a record
 *       exists, the bytes exist.
 *   (b) Commits and restores check every block's record and insert their references in one
 *       metadata transaction; a claim checks "no reference" and removes the record in one
 *       transaction. The store serialises the two (SQLite: one writer; PostgreSQL must lock the
 *       block rows): a commit that comes first makes the block referenced, so it is not claimed;
 *       a commit that comes second finds no record and answers BLOCK_UNUSABLE, and the client sends
 *       the block again. No interleaving leaves a reference to a claimed block.
 *   (c) An upload whose commit has not arrived yet: its recordUpload set the block's `touched_at`,
 *       and a claim takes only blocks untouched for `graceMs` (default 24 h), so the block survives
 *       until the commit comes (which makes it referenced) or the grace runs out (the upload is
 *       then abandoned; a late commit gets BLOCK_UNUSABLE and re-sends). The grace must exceed the
 *       longest time between an upload and its commit, and clock skew between server processes.
 *   (d) An upload racing the deletion of the same bytes: the PUT reads the block's state first.
 *       `collecting` (claimed, bytes maybe being deleted) -> it waits and retries. `live` -> its
 *       write may be a no-op (bytes already there), so recordUpload(seen = 'live') insists that the
 *       record still exists; if a claim took it meanwhile, the PUT starts over and then writes the
 *       bytes itself. `absent` -> nobody deletes bytes of an unrecorded block (only claimed blocks
 *       are deleted, and a claim needs a record untouched for the grace), so its write stands.
 *       A claim stays until its bytes are deleted; a failed delete leaves the claim, and the block
 *       stays `collecting` until a later run takes the stale claim over and deletes it.
 *
 * Possession follows the bytes: a claim removes every user's possession record of the block, so
 * `missing` asks for it again, GET answers 404 and a commit answers BLOCK_UNUSABLE.
 *
 * Slices: every metadata step is a short transaction sized to take about GC_SLICE_MS (SliceSizer),
 * and the collector yields to the event loop between slices, so a request never waits behind more
 * than a few milliseconds of collection (the store's statements run on the request thread). What
 * one slice costs follows what it removes or looks at (partial indexes of candidates), never the
 * size of a namespace.
 *
 * Concurrency: `run()` is single-flight (a run asked for while one is under way shares it). The
 * periodic loop takes an AbortSignal; `close()` stops it and awaits the run in progress. Several
 * processes may collect at once (`loft gc` beside `loft serve`): claims are atomic, and a claim is
 * taken over only after CLAIM_LEASE_MS, far longer than deleting one batch takes.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BlockStore } from '../blockstore/block-store.js';
import type { MetadataStore } from '../metastore/metadata-store.js';
import type { Clock } from '../shared/clock.js';

/** Default history retention: 30 days, as Dropbox Basic keeps versions. */
export const DEFAULT_KEEP_DAYS = 30;
/** Default grace for uploads awaiting their commit: far longer than any upload takes. */
export const DEFAULT_GC_GRACE_MS = 24 * 3_600_000;
/** Default time between runs in `loft serve`. */
export const DEFAULT_GC_INTERVAL_MS = 3_600_000;
/** First run after start: soon, so that a server restarted often still collects. */
const FIRST_RUN_MAX_DELAY_MS = 60_000;
/** A claim older than this belongs to a dead collector (one batch takes seconds). */
export const CLAIM_LEASE_MS = 10 * 60_000;
/**
 * Longest a GC transaction should hold the thread that serves requests (ms). better-sqlite3 runs
 * each transaction synchronously on that thread, so a request arriving meanwhile waits this long at
 * most; between slices the collector yields to the event loop (requests, I/O) with setImmediate.
 */
export const GC_SLICE_MS = 4;
/** Bounds of the adaptive batch sizes (items a slice looks at): the slice time decides between. */
const MIN_BATCH = 8;
const MAX_BATCH = 4096;
/** Stale claims taken per transaction (their bytes are deleted between transactions). */
const CLAIM_SCAN_BLOCKS = 1000;
const DAY_MS = 86_400_000;

export interface GarbageCollectorOptions {
  meta: MetadataStore;
  blocks: BlockStore;
  clock: Clock;
  /** Non-current revisions and tombstones older than this are purged. */
  keepMs: number;
  /** Unreferenced blocks sent within this are kept (uploads awaiting their commit). */
  graceMs: number;
  /** Called after each run and on errors of the periodic loop. */
  log?: (level: 'info' | 'error', msg: string, fields?: object) => void;
  /** Monotonic milliseconds, to size slices (default performance.now); tests inject their own. */
  elapsed?: () => number;
  /** Target time of one slice (default GC_SLICE_MS). */
  sliceMs?: number;
  /** Called after every run, periodic or asked for: its report, or null when it failed (metrics). */
  onRun?: (report: GcReport | null) => void;
}

/**
 * Sizes batches so that one takes about `sliceMs`: doubles while a batch takes less than half of
 * it, halves when one takes more. Work per item varies (a tombstone with a long history, a block
 * referenced or not), so the size follows what was measured, not a guess.
 */
export class SliceSizer {
  #size: number;
  constructor(
    readonly sliceMs: number,
    start = 64,
    readonly min = MIN_BATCH,
    readonly max = MAX_BATCH,
  ) {
    this.#size = start;
  }
  get size(): number {
    return this.#size;
  }
  took(ms: number): void {
    if (ms > this.sliceMs) this.#size = Math.max(this.min, Math.floor(this.#size / 2));
    else if (ms < this.sliceMs / 2) this.#size = Math.min(this.max, this.#size * 2);
  }
}

export interface GcReport {
  purgedRevisions: number;
  purgedNodes: number;
  deletedBlocks: number;
  /** Bytes the deleted blocks took in the block store. */
  freedBytes: number;
  /** Deletes of block bytes that failed (left claimed; retried by a later run). */
  failedDeletes: number;
  /** Candidate blocks looked at (sent lately, or dropped from a block list by retention). */
  examinedBlocks: number;
  durationMs: number;
}

export function keepDaysToMs(days: number): number {
  return Math.round(days * DAY_MS);
}

export class GarbageCollector {
  readonly #o: GarbageCollectorOptions;
  #running: Promise<GcReport> | null = null;
  #abort: AbortController | null = null;
  #loop: Promise<void> | null = null;

  constructor(options: GarbageCollectorOptions) {
    this.#o = options;
  }

  /** One full run (retention, then blocks); shares the run already under way, if any. */
  run(): Promise<GcReport> {
    this.#running ??= this.#run()
      .then(
        (report) => {
          this.#o.onRun?.(report);
          return report;
        },
        (err: unknown) => {
          this.#o.onRun?.(null);
          throw err;
        },
      )
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  /** Runs every `intervalMs` until `close()`. */
  start(intervalMs: number): void {
    if (this.#loop || intervalMs <= 0) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#loop = (async () => {
      let delay = Math.min(intervalMs, FIRST_RUN_MAX_DELAY_MS);
      while (!abort.signal.aborted) {
        if (!(await sleep(delay, abort.signal))) break;
        try {
          const r = await this.run();
          this.#o.log?.('info', 'garbage collection done', r);
        } catch (err) {
          this.#o.log?.('error', 'garbage collection failed', { err });
        }
        delay = intervalMs;
      }
    })();
  }

  async close(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
    await this.#running?.catch(() => undefined);
  }

  async #run(): Promise<GcReport> {
    const { meta, blocks, clock } = this.#o;
    const started = clock.now();
    const report: GcReport = {
      purgedRevisions: 0,
      purgedNodes: 0,
      deletedBlocks: 0,
      freedBytes: 0,
      failedDeletes: 0,
      examinedBlocks: 0,
      durationMs: 0,
    };
    const elapsed = this.#o.elapsed ?? (() => performance.now());
    const sliceMs = this.#o.sliceMs ?? GC_SLICE_MS;
    /** Runs one slice, timed; yields to requests after it. */
    const slice = async <T>(sizer: SliceSizer, work: (size: number) => Promise<T>): Promise<T> => {
      const t0 = elapsed();
      const out = await work(sizer.size);
      sizer.took(elapsed() - t0);
      await yieldToLoop();
      return out;
    };
    const cutoff = started - this.#o.keepMs;
    const purgeSizer = new SliceSizer(sliceMs);
    for (let more = true; more;) {
      const batch = await slice(purgeSizer, (n) => meta.purgeHistory(cutoff, n));
      report.purgedRevisions += batch.revisions;
      report.purgedNodes += batch.nodes;
      more = batch.more;
    }

    const deleteAll = async (hashes: string[], sizes?: Map<string, number>) => {
      const done: string[] = [];
      for (const hash of hashes) {
        try {
          await blocks.delete(hash);
          done.push(hash);
          report.deletedBlocks++;
          report.freedBytes += sizes?.get(hash) ?? 0;
        } catch (err) {
          // Left claimed (uploads of it wait): a later run takes the stale claim over.
          report.failedDeletes++;
          this.#o.log?.('error', 'deleting a collected block failed', { hash, err });
        }
      }
      await meta.finishClaims(done);
    };

    for (;;) {
      const stale = await meta.takeStaleClaims(clock.now() - CLAIM_LEASE_MS, clock.now(), CLAIM_SCAN_BLOCKS);
      if (stale.length === 0) break;
      await deleteAll(stale);
      if (stale.length < CLAIM_SCAN_BLOCKS) break;
    }

    const touchedBefore = started - this.#o.graceMs;
    const claimSizer = new SliceSizer(sliceMs);
    for (let after: string | null = ''; after !== null;) {
      const from: string = after;
      const batch = await slice(claimSizer, (n) => meta.claimGarbage(touchedBefore, clock.now(), from, n));
      report.examinedBlocks += batch.scanned;
      if (batch.claimed.length) {
        await deleteAll(
          batch.claimed.map((c) => c.hash),
          new Map(batch.claimed.map((c) => [c.hash, c.storedSize])),
        );
      }
      after = batch.next;
    }
    report.durationMs = clock.now() - started;
    return report;
  }
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
