/**
 * ContentIndexer (issue 16): keeps the content search index (engine/content-search.ts) up to date
 * with the text of small text files, in the background, from each namespace's journal.
 *
 * One round: the store names up to NS_PER_ROUND namespaces whose journal runs past their content
 * cursor (`contentBacklog`); for each, one journal page after the cursor is read. Within the page
 * only each node's last entry counts (the state the node has as of the page's end). For a live
 * file of at most `maxBytes` whose block list differs from what the index holds, the blocks are
 * read from the BlockStore and decoded as UTF-8 (fatal: invalid UTF-8 or a NUL byte means binary,
 * not indexed). Folders, deleted files, large and binary files get "no text". The docs and the new
 * cursor are stored in one transaction (`applyContentIndex`), so a crash loses nothing: the next
 * start reads the same page again (resumable). Overwrites, renames, deletes and restores are all
 * journal entries, so the index follows each of them.
 *
 * Never on a commit's path: commits only bump the namespace head. The indexer is woken by the
 * JournalHub (`wake()`, on every local commit and every wakeup from other servers) and also polls
 * every `pollMs`. Bounded: at most one page (JOURNAL_PAGE entries), DOCS_BUDGET texts and about
 * TEXT_BUDGET bytes of text per transaction, which is the longest the request thread waits behind it (the SQLite
 * statements run on it); between transactions it yields to the event loop.
 *
 * Concurrency: one loop per process (`start`), `runOnce` is single-flight; `close()` aborts the
 * loop and awaits the round under way. Two servers on one PostgreSQL database may index the same
 * namespace at once: the store never lets an older revision's state replace a newer one's, and
 * the cursor only moves forward.
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BlockStore } from '../blockstore/block-store.js';
import type { ContentDoc } from '../metastore/content-store.js';
import type { MetadataStore } from '../metastore/metadata-store.js';
import { sleepOn, systemTimers, type Timers } from '../shared/clock.js';
import type { Revision } from '../shared/protocol.js';

/** Largest file indexed: source, notes and configuration fit; logs and dumps past it are left out. */
export const DEFAULT_CONTENT_MAX_BYTES = 1 << 20;
/** Namespaces looked at per round (the backlog query stays short). */
const NS_PER_ROUND = 16;
/** Journal entries read per transaction. */
const JOURNAL_PAGE = 256;
/**
 * Text stored per transaction: the page is cut once this much text is gathered (one large file
 * alone still goes in whole). Measured (scripts/bench/content-search.mjs, SQLite, a loaded
 * machine): a 1 MiB budget of 16 KiB files made transactions of up to 430 ms, on the thread that
 * serves requests; one 1 MiB file alone took 70 ms. A quarter of that keeps a request's wait short.
 */
const TEXT_BUDGET = 256 << 10;
/** Texts stored per transaction (each is an FTS insert and a delete of the old text). */
const DOCS_BUDGET = 32;
/** Between looks at the backlog when nothing woke the indexer (other servers' commits, missed wakes). */
export const DEFAULT_CONTENT_POLL_MS = 30_000;

export interface ContentIndexerOptions {
  meta: MetadataStore;
  blocks: BlockStore;
  maxBytes?: number;
  pollMs?: number;
  timers?: Timers;
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

export class ContentIndexer {
  readonly #meta: MetadataStore;
  readonly #blocks: BlockStore;
  readonly #maxBytes: number;
  readonly #pollMs: number;
  readonly #timers: Timers;
  readonly #log: NonNullable<ContentIndexerOptions['log']>;
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #round: Promise<number> | null = null;
  #wake: (() => void) | null = null;
  #woken = false;

  constructor(options: ContentIndexerOptions) {
    this.#meta = options.meta;
    this.#blocks = options.blocks;
    this.#maxBytes = options.maxBytes ?? DEFAULT_CONTENT_MAX_BYTES;
    this.#pollMs = options.pollMs ?? DEFAULT_CONTENT_POLL_MS;
    this.#timers = options.timers ?? systemTimers;
    this.#log = options.log ?? (() => {});
  }

  /** Starts the background loop (once). */
  start(): void {
    this.#loop ??= this.#run(this.#abort.signal);
  }

  /** Something was committed: look at the backlog soon. */
  wake(): void {
    this.#woken = true;
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

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
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
      consumed += await this.#indexPage(b.ns, b.after, b.head);
      await yieldToLoop();
    }
    return consumed;
  }

  /** Indexes one journal page of `ns` after `after`; returns the entries consumed. */
  async #indexPage(ns: number, after: number, head: number): Promise<number> {
    const page = await this.#meta.readJournal(ns, after, JOURNAL_PAGE);
    if (!page.entries.length) {
      // Nothing after the cursor (purged by retention): the cursor catches up with the head.
      await this.#meta.applyContentIndex(ns, Math.max(page.head, head), []);
      return 1;
    }
    const lastOf = new Map<number, number>();
    page.entries.forEach((e, i) => lastOf.set(e.id, i));
    const states = await this.#meta.contentDocStates([...lastOf.keys()]);
    const docs: ContentDoc[] = [];
    let bytes = 0;
    let upTo = after;
    for (let i = 0; i < page.entries.length; i++) {
      const e = page.entries[i]!;
      upTo = e.rev;
      if (lastOf.get(e.id) !== i) continue; // a later entry of this page supersedes it
      const state = states.get(e.id);
      if (e.kind !== 'file') continue; // folders are found by name
      const wanted = e.deleted || !e.blocks || e.size > this.#maxBytes ? null : contentKey(e);
      if (state && (state.rev > e.rev || (wanted !== null && state.key === wanted))) {
        if (state.rev < e.rev) docs.push({ nodeId: e.id, rev: e.rev, key: wanted, text: null });
        continue;
      }
      if (wanted === null) {
        if (state) docs.push({ nodeId: e.id, rev: e.rev, key: null, text: null });
        continue;
      }
      const text = await this.#readText(ns, e);
      docs.push({ nodeId: e.id, rev: e.rev, key: text === null ? null : wanted, text });
      bytes += text?.length ?? 0;
      if (bytes >= TEXT_BUDGET || docs.length >= DOCS_BUDGET) break;
    }
    await this.#meta.applyContentIndex(ns, upTo, docs);
    return Math.max(1, upTo - after);
  }

  async #readText(ns: number, e: Revision): Promise<string | null> {
    const parts: Buffer[] = [];
    try {
      for (const b of e.blocks ?? []) {
        const data = await this.#blocks.get(b.hash);
        if (!data) return null; // collected meanwhile: a later entry (or none) decides
        parts.push(data);
      }
    } catch (err) {
      this.#log('error', 'content indexing: a block could not be read', { ns, node: e.id, err });
      return null;
    }
    return sniffText(Buffer.concat(parts));
  }
}
