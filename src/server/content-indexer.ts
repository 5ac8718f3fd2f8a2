/**
 * ContentIndexer (issue 16): keeps the content search index (engine/content-search.ts) up to date
 * with the text of small text files, in the background, from each namespace's journal.
 *
 * One slice: for a namespace whose journal runs past its content cursor (`contentBacklog`), one
 * journal page after the cursor is read. Within the page only each node's last entry counts (the
 * state the node has as of the page's end). For a live file of at most `maxBytes` whose block list
 * differs from what the index holds, the blocks are read from the BlockStore and the first
 * `textBytes` (256 KiB) decoded as UTF-8 (fatal: invalid UTF-8 or a NUL byte means binary, not
 * indexed). Folders, deleted files, large and
 * binary files get "no text". The docs and the new cursor are stored in one transaction
 * (`applyContentIndex`), so a crash loses nothing: the next start reads the same page again
 * (resumable). Overwrites, renames, deletes and restores are all journal entries, so the index
 * follows each of them. A round is one slice per namespace of the backlog (NS_PER_ROUND at most).
 *
 * Never on a commit's path, and never much of the request thread (the SQLite statements run on
 * it): each slice's transaction is sized to take about SLICE_MS (SliceSizer over a cost of text
 * bytes + DOC_COST per text, from the measured time of the last ones; one file larger than the
 * budget still goes alone, its text at most `textBytes`), and the indexer yields to the event loop between
 * slices.
 *
 * Yielding to write bursts: commits wake the indexer (`wake()`, from the JournalHub on every local
 * commit and every wake-up from other servers; besides, it polls every `pollMs`). It indexes only
 * once commits have been quiet for `quietMs`, so a `tar x` of 5,000 files is indexed after it,
 * not during it; a burst that starts while it indexes stops it at the next slice. A burst that
 * never ends must not starve search: once it has deferred for `maxDeferMs`, the indexer goes on
 * at a low duty cycle (after each slice, a pause of BURST_DUTY_PAUSE times the slice's time, at
 * least BURST_PAUSE_MIN_MS) until commits are quiet again.
 *
 *        wake                       quiet for quietMs
 *   idle ─────► deferring ─────────────────────────────► indexing (slices back to back) ─┐
 *    ▲            │  ▲  deferred maxDeferMs                 │  a wake: back to deferring  │
 *    │            ▼  │                                      │                             │
 *    │          overdue (one slice, pause, …) ──quiet──────►┘                             │
 *    └────────────────────────────── backlog empty ◄──────────────────────────────────────┘
 *
 * Concurrency: one loop per process (`start`), `runOnce` is single-flight; `close()` aborts the
 * loop and awaits the round under way. Two servers on one PostgreSQL database may index the same
 * namespace at once: the store never lets an older revision's state replace a newer one's, and
 * the cursor only moves forward. Time comes from the injected `timers` (quiet period, pauses,
 * poll) and `elapsed` (slice sizing), so tests run it on a fake clock.
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BlockStore } from '../blockstore/block-store.js';
import type { ContentDoc } from '../metastore/content-store.js';
import type { MetadataStore } from '../metastore/metadata-store.js';
import { sleepOn, systemTimers, type Timers } from '../shared/clock.js';
import type { Revision } from '../shared/protocol.js';
import { SliceSizer } from './garbage-collector.js';

/** Largest file indexed: source, notes and configuration fit; logs and dumps past it are left out. */
export const DEFAULT_CONTENT_MAX_BYTES = 1 << 20;
/**
 * Text indexed of one file: its first 256 KiB (cut at a character's boundary). One text is one
 * FTS row, written in one transaction on the thread that serves requests; a whole 1 MiB text took
 * ~80 ms there (trigram FTS5 indexes some 5-10 MiB/s under load), its first 256 KiB about a
 * quarter of that, so no transaction holds requests over ~50 ms. The rest of a file between
 * 256 KiB and 1 MiB is not searched (README, "Content search").
 */
export const DEFAULT_CONTENT_TEXT_BYTES = 256 << 10;
/** Namespaces looked at per round (the backlog query stays short). */
const NS_PER_ROUND = 16;
/**
 * Journal entries read per slice: enough for the texts the budget allows (each costs DOC_COST at
 * least), between these bounds. A fixed 256 made every small slice read (and look up the index
 * state of) 256 entries to store a few texts: most of the catch-up time after a burst.
 */
const MIN_JOURNAL_PAGE = 32;
const MAX_JOURNAL_PAGE = 256;
/**
 * Target time of one index transaction (ms), on the thread that serves requests. Measured
 * (scripts/bench/content-stall.mjs, SQLite FTS5 trigram, a loaded machine): text is indexed at
 * 5-10 MiB/s, so 10 ms is some 50-100 KiB of text. Before slices were timed, a fixed budget of
 * 256 KiB or 32 texts made transactions of up to 325 ms during a burst of small files.
 */
export const CONTENT_SLICE_MS = 10;
/** What one text costs besides its bytes (an FTS delete and insert, the doc row), in bytes. */
const DOC_COST = 2048;
/** Bounds of the adaptive budget (cost units: bytes of text + DOC_COST per text). */
const MIN_BUDGET = 8 << 10;
const START_BUDGET = 64 << 10;
const MAX_BUDGET = 1 << 20;
/** Between looks at the backlog when nothing woke the indexer (other servers' commits, missed wakes). */
export const DEFAULT_CONTENT_POLL_MS = 30_000;
/**
 * Commits must have been quiet this long before indexing starts: a `tar x` or a sync of a folder
 * commits files milliseconds apart, an editor's save is one commit (or a few, within ms), so
 * search trails a single save by about this much and a burst by this much after its end.
 */
export const DEFAULT_CONTENT_QUIET_MS = 250;
/** Longest indexing waits for a quiet moment; after it, it goes on at a low duty cycle. */
export const DEFAULT_CONTENT_MAX_DEFER_MS = 5_000;
/** During a burst that outlasted maxDeferMs: pause after each slice, in multiples of its time (≤ 10% duty). */
const BURST_DUTY_PAUSE = 9;
const BURST_PAUSE_MIN_MS = 50;

export interface ContentIndexerOptions {
  meta: MetadataStore;
  blocks: BlockStore;
  maxBytes?: number;
  /** Bytes of a file's text indexed, from its start (default DEFAULT_CONTENT_TEXT_BYTES). */
  textBytes?: number;
  pollMs?: number;
  /** Quiet time after the last commit before indexing (default DEFAULT_CONTENT_QUIET_MS). */
  quietMs?: number;
  /** Longest wait for quiet before indexing at a low duty cycle (default DEFAULT_CONTENT_MAX_DEFER_MS). */
  maxDeferMs?: number;
  timers?: Timers;
  /** Monotonic milliseconds, to size slices (default performance.now); tests inject their own. */
  elapsed?: () => number;
  /** Target time of one transaction (default CONTENT_SLICE_MS). */
  sliceMs?: number;
  log?: (level: 'info' | 'error', msg: string, fields?: object) => void;
}

/** The key of a file's text: its block list (the same blocks are the same bytes). */
export function contentKey(rev: Revision): string {
  const h = createHash('sha256');
  for (const b of rev.blocks ?? []) h.update(b.hash);
  return h.digest('hex');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of `bytes`, or null when they are not UTF-8 text (invalid sequences, NUL bytes). */
export function sniffText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The text of the first `limit` bytes of `bytes` (sniffText's rules), cut before a character that
 * the limit would split (so a UTF-8 text is not taken for binary at its cut).
 */
export function sniffTextPrefix(bytes: Uint8Array, limit: number): string | null {
  if (bytes.length <= limit) return sniffText(bytes);
  let end = limit;
  // Back to the start of the character the cut falls in (at most 3 continuation bytes: 10xxxxxx).
  while (end > limit - 3 && end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return sniffText(bytes.subarray(0, end));
}

/** What the indexer may do now, from the time of the last wake (see the diagram above). */
type Mode = 'quiet' | 'deferring' | 'overdue';

export class ContentIndexer {
  readonly #meta: MetadataStore;
  readonly #blocks: BlockStore;
  readonly #maxBytes: number;
  readonly #textBytes: number;
  readonly #pollMs: number;
  readonly #quietMs: number;
  readonly #maxDeferMs: number;
  readonly #timers: Timers;
  readonly #elapsed: () => number;
  readonly #sizer: SliceSizer;
  readonly #log: NonNullable<ContentIndexerOptions['log']>;
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #round: Promise<number> | null = null;
  #wake: (() => void) | null = null;
  #woken = false;
  /** Time of the last wake (a commit), and since when indexing has been put off for commits. */
  #lastWake = -Infinity;
  #deferSince: number | null = null;

  constructor(options: ContentIndexerOptions) {
    this.#meta = options.meta;
    this.#blocks = options.blocks;
    this.#maxBytes = options.maxBytes ?? DEFAULT_CONTENT_MAX_BYTES;
    this.#textBytes = options.textBytes ?? DEFAULT_CONTENT_TEXT_BYTES;
    this.#pollMs = options.pollMs ?? DEFAULT_CONTENT_POLL_MS;
    this.#quietMs = options.quietMs ?? DEFAULT_CONTENT_QUIET_MS;
    this.#maxDeferMs = options.maxDeferMs ?? DEFAULT_CONTENT_MAX_DEFER_MS;
    this.#timers = options.timers ?? systemTimers;
    this.#elapsed = options.elapsed ?? (() => performance.now());
    this.#sizer = new SliceSizer(options.sliceMs ?? CONTENT_SLICE_MS, START_BUDGET, MIN_BUDGET, MAX_BUDGET);
    this.#log = options.log ?? (() => {});
  }

  /** Starts the background loop (once). */
  start(): void {
    this.#loop ??= this.#run(this.#abort.signal);
  }

  /** Something was committed: index once commits are quiet. */
  wake(): void {
    this.#woken = true;
    this.#lastWake = this.#timers.now();
    this.#wake?.();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
    await this.#round;
  }

  /** One round over the backlog (single-flight); resolves to the journal entries consumed. */
  runOnce(): Promise<number> {
    this.#round ??= this.#doRound().finally(() => (this.#round = null));
    return this.#round;
  }

  /** Rounds until the backlog is empty (tests, `loft` tools). */
  async drain(): Promise<void> {
    while ((await this.runOnce()) > 0);
  }

  #mode(): Mode {
    const now = this.#timers.now();
    if (now - this.#lastWake >= this.#quietMs) {
      this.#deferSince = null;
      return 'quiet';
    }
    this.#deferSince ??= now;
    return now - this.#deferSince >= this.#maxDeferMs ? 'overdue' : 'deferring';
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.#mode() === 'deferring') {
        // Commits are coming: sleep until they have been quiet for quietMs (wakes meanwhile
        // move that moment, they do not cut the sleep) or the deferral runs out.
        const now = this.#timers.now();
        const until = Math.min(this.#lastWake + this.#quietMs, this.#deferSince! + this.#maxDeferMs);
        await sleepOn(this.#timers, Math.max(1, until - now), signal);
        continue;
      }
      let consumed = 0;
      this.#woken = false;
      try {
        consumed = await this.runOnce();
      } catch (err) {
        this.#log('error', 'content indexing failed; retrying later', { err });
      }
      if (signal.aborted) break;
      if (consumed > 0 || this.#woken) {
        await yieldToLoop();
        continue;
      }
      // Sleep until woken, closed or the poll is due (a wake clears the timer).
      const nap = new AbortController();
      const stop = () => nap.abort();
      signal.addEventListener('abort', stop, { once: true });
      this.#wake = stop;
      await sleepOn(this.#timers, this.#pollMs, nap.signal);
      signal.removeEventListener('abort', stop);
      this.#wake = null;
    }
  }

  async #doRound(): Promise<number> {
    let consumed = 0;
    for (const b of await this.#meta.contentBacklog(NS_PER_ROUND)) {
      if (this.#abort.signal.aborted) break;
      const began = this.#elapsed();
      consumed += await this.#indexPage(b.ns, b.after, b.head);
      const took = this.#elapsed() - began;
      const mode = this.#mode();
      if (mode === 'deferring') break; // a burst began: index after it
      if (mode === 'overdue') {
        const pause = Math.max(BURST_PAUSE_MIN_MS, BURST_DUTY_PAUSE * took);
        await sleepOn(this.#timers, pause, this.#abort.signal);
      } else await yieldToLoop();
    }
    return consumed;
  }

  /** Indexes one journal page of `ns` after `after`; returns the entries consumed. */
  async #indexPage(ns: number, after: number, head: number): Promise<number> {
    const budget = this.#sizer.size;
    const pageSize = Math.min(MAX_JOURNAL_PAGE, Math.max(MIN_JOURNAL_PAGE, Math.ceil(budget / DOC_COST)));
    const page = await this.#meta.readJournal(ns, after, pageSize);
    if (!page.entries.length) {
      // Nothing after the cursor (purged by retention): the cursor catches up with the head.
      await this.#meta.applyContentIndex(ns, Math.max(page.head, head), []);
      return 1;
    }
    const lastOf = new Map<number, number>();
    page.entries.forEach((e, i) => lastOf.set(e.id, i));
    const states = await this.#meta.contentDocStates([...lastOf.keys()]);
    const docs: ContentDoc[] = [];
    let cost = 0;
    let upTo = after;
    for (let i = 0; i < page.entries.length; i++) {
      const e = page.entries[i]!;
      if (lastOf.get(e.id) !== i || e.kind !== 'file') {
        upTo = e.rev; // superseded by a later entry of this page, or a folder (found by name)
        continue;
      }
      const state = states.get(e.id);
      const wanted = e.deleted || !e.blocks || e.size > this.#maxBytes ? null : contentKey(e);
      let doc: ContentDoc | null = null;
      if (state && (state.rev > e.rev || (wanted !== null && state.key === wanted))) {
        if (state.rev < e.rev) doc = { nodeId: e.id, rev: e.rev, key: wanted, text: null };
      } else if (wanted === null) {
        if (state) doc = { nodeId: e.id, rev: e.rev, key: null, text: null };
      } else {
        // A text that would take the slice past its budget waits for the next one (alone if need be).
        if (docs.length > 0 && cost + Math.min(e.size, this.#textBytes) + DOC_COST > budget) break;
        const text = await this.#readText(ns, e);
        doc = { nodeId: e.id, rev: e.rev, key: text === null ? null : wanted, text };
      }
      upTo = e.rev;
      if (doc) {
        docs.push(doc);
        cost += (doc.text?.length ?? 0) + DOC_COST;
        if (cost >= budget) break;
      }
    }
    const began = this.#elapsed();
    await this.#meta.applyContentIndex(ns, upTo, docs);
    if (docs.length) this.#sizer.took(this.#elapsed() - began);
    return Math.max(1, upTo - after);
  }
  async #readText(ns: number, e: Revision): Promise<string | null> {
    const parts: Buffer[] = [];
    let got = 0;
    try {
      for (const b of e.blocks ?? []) {
        if (got > this.#textBytes) break; // the prefix indexed, and a byte past it (a split character)
        const data = await this.#blocks.get(b.hash);
        if (!data) return null; // collected meanwhile: a later entry (or none) decides
        parts.push(data);
        got += data.length;
      }
    } catch (err) {
      this.#log('error', 'content indexing: a block could not be read', { ns, node: e.id, err });
      return null;
    }
    return sniffTextPrefix(Buffer.concat(parts), this.#textBytes);
  }
}
