/**
 * CachedReads: which byte ranges of which open handles the libfuse 3 binding answers by itself,
 * from verified block files of the disk cache, without a round trip to this thread
 * (native/loft-fuse.cc, "reads answered here"). The Vfs says what is true (Vfs.spans) and
 * when it stops being true (CachedSpanWatcher); this file keeps the binding's table in step and
 * brings what the binding served back into the drive's accounting.
 *
 * Publishing. After this thread answers a read of a clean handle, the spans from that read's block
 * up to PUBLISH_AHEAD bytes further that verified cache files hold are published (those not yet
 * published); a handle that reads through a staging (local changes) publishes nothing. When the
 * cache has written new blocks (a cold read's readahead), the same is done again for every handle
 * this thread has answered a read of, from its last such read, once per turn of the event loop: the
 * kernel's next reads of those blocks are answered by the binding. A stream's readahead still moves
 * on: only blocks the cache holds are published, those lie inside the window the hydrator scheduled
 * at the last read it saw, and the first read past them comes here and counts as sequential (it
 * lands inside that window: hydrator.ts, isSequential).
 *
 * Withdrawing, before the change it answers takes effect (every call below is synchronous on the
 * JavaScript thread, and withdrawReads returns only once no FUSE thread still reads through what it
 * removed): a block file about to be removed (eviction, corruption) → that block's spans of every
 * handle; a node getting a staging (open for writing, truncate), a commit, a new remote revision →
 * every handle of the node; a release → the handle. Publishing is decided from the Vfs's state at
 * the moment it is made, never from state captured before an await, so a change that happened
 * while a read was under way is already seen.
 *
 * Accounting. The binding counts reads per block; drain() (every DRAIN_MS, and before status is
 * read) touches those blocks in the cache's LRU and adds the counts to this mount's counters.
 */
import type { Timers } from '../../shared/clock.js';
import type { CachedSpanWatcher, Vfs } from '../vfs/vfs.js';
import type { LowlevelBinding, Session } from './lowlevel-binding.js';

/**
 * How far past a read the spans published after it reach (bytes). 64 MiB: 64 blocks of 1 MiB in
 * one call, so a re-read of a cached file comes back to this thread about once per 64 MiB.
 */
const PUBLISH_AHEAD = 64 * 1024 * 1024;
/** How often what the binding served is drained into the cache's LRU and the counters (ms). */
const DRAIN_MS = 1000;

interface Published {
  node: number;
  /** Span start → its block's hash, for every span published. */
  spans: Map<number, string>;
}

export interface CachedReadsOptions {
  /** False: nothing is published (every read goes to JavaScript). */
  enabled?: boolean;
  binding: LowlevelBinding;
  vfs: Vfs;
  timers: Timers;
  onError: (err: unknown) => void;
}

export class CachedReads implements CachedSpanWatcher {
  readonly #b: LowlevelBinding;
  readonly #vfs: Vfs;
  readonly #timers: Timers;
  readonly #onError: (err: unknown) => void;
  readonly #enabled: boolean;
  #session: Session | null = null;
  #stopWatch: (() => void) | null = null;
  #timer: unknown = null;
  readonly #handles = new Map<number, Published>();
  /** Block hash → handles with spans of it. */
  readonly #byHash = new Map<string, Set<number>>();
  /** Totals since the mount started. */
  readonly counts = { reads: 0, bytes: 0, fallbacks: 0, published: 0, withdrawn: 0 };

  constructor(options: CachedReadsOptions) {
    this.#b = options.binding;
    this.#vfs = options.vfs;
    this.#timers = options.timers;
    this.#onError = options.onError;
    this.#enabled = options.enabled ?? true;
  }

  start(session: Session): void {
    this.#session = session;
    this.#stopWatch = this.#vfs.watchCachedSpans(this);
    this.#arm();
  }

  /**
   * The session is gone (or going): what was served is drained and every range withdrawn first (a
   * lazily detached mount still serves descriptors open in it, and nobody watches for changes any
   * more), then nothing more is published.
   */
  stop(): void {
    this.drain();
    const s = this.#session;
    if (s) for (const fh of this.#handles.keys()) this.counts.withdrawn += this.#b.withdrawReads(s, fh);
    this.#stopWatch?.();
    this.#stopWatch = null;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#session = null;
    this.#handles.clear();
    this.#lastRead.clear();
    this.#byHash.clear();
  }

  #arm(): void {
    this.#timer = this.#timers.setTimeout(() => {
      this.drain();
      if (this.#timer !== null) this.#arm();
    }, DRAIN_MS);
  }

  /** Publishes what can be answered from the cache around a read this thread just answered. */
  afterRead(fh: number, offset: number): void {
    this.#lastRead.set(fh, offset);
    try {
      this.#publish(fh, offset);
    } catch (err) {
      this.#onError(err); // the read was answered; only its followers go to JavaScript
    }
  }

  /** Handle → offset of the last read this thread answered (the handles `written` publishes for). */
  readonly #lastRead = new Map<number, number>();
  #republishing = false;

  written(): void {
    if (this.#republishing || !this.#lastRead.size || !this.#session) return;
    this.#republishing = true;
    // Once for every block written in this turn of the event loop (a readahead writes several).
    this.#timers.setTimeout(() => {
      this.#republishing = false;
      for (const [fh, offset] of this.#lastRead) this.afterRead(fh, offset);
    }, 0);
  }

  #publish(fh: number, offset: number): void {
    const s = this.#session;
    if (!s || !this.#enabled) return;
    const got = this.#vfs.spans.cachedSpans(fh, offset, PUBLISH_AHEAD);
    if (!got) return;
    let p = this.#handles.get(fh);
    const fresh = got.spans.filter((x) => !p?.spans.has(x.start));
    if (!fresh.length) return;
    if (!p) {
      p = { node: this.#vfs.handleNode(fh), spans: new Map() };
      this.#handles.set(fh, p);
    }
    for (const x of fresh) {
      p.spans.set(x.start, x.hash);
      let fhs = this.#byHash.get(x.hash);
      if (!fhs) this.#byHash.set(x.hash, (fhs = new Set()));
      fhs.add(fh);
    }
    this.#b.publishReads(
      s,
      fh,
      got.size,
      Float64Array.from(fresh, (x) => x.start),
      Float64Array.from(fresh, (x) => x.end),
      Float64Array.from(fresh, (x) => x.fileOff),
      fresh.map((x) => x.path),
      fresh.map((x) => x.hash),
    );
    this.counts.published += fresh.length;
  }

  // ---- CachedSpanWatcher ------------------------------------------------------------------------

  handle(fh: number): void {
    this.#lastRead.delete(fh);
    const p = this.#handles.get(fh);
    if (!p) return;
    this.#handles.delete(fh);
    for (const hash of new Set(p.spans.values())) this.#unindex(hash, fh);
    if (this.#session) this.counts.withdrawn += this.#b.withdrawReads(this.#session, fh);
  }

  node(id: number): void {
    for (const [fh, p] of [...this.#handles]) if (p.node === id) this.handle(fh);
  }

  block(hash: string): void {
    const fhs = this.#byHash.get(hash);
    if (!fhs) return;
    this.#byHash.delete(hash);
    for (const fh of fhs) {
      const p = this.#handles.get(fh);
      // Its spans may be published again once the block is back in the cache.
      if (p) for (const [start, h] of [...p.spans]) if (h === hash) p.spans.delete(start);
      if (this.#session) this.counts.withdrawn += this.#b.withdrawReads(this.#session, fh, hash);
    }
  }

  #unindex(hash: string, fh: number): void {
    const fhs = this.#byHash.get(hash);
    if (!fhs) return;
    fhs.delete(fh);
    if (!fhs.size) this.#byHash.delete(hash);
  }

  /** The counters for `loft status` (fuse.*), drained first. */
  info(): Record<string, number> {
    this.drain();
    const c = this.counts;
    return {
      // Reads answered by the binding from cache files, never seen by JavaScript one by one.
      cachedReads: c.reads,
      cachedReadBytes: c.bytes,
      cachedReadFallbacks: c.fallbacks,
      cachedSpansPublished: c.published,
      cachedSpansWithdrawn: c.withdrawn,
    };
  }

  /** Brings what the binding served since the last drain into the cache's LRU and the counters. */
  drain(): void {
    const s = this.#session;
    if (!s) return;
    try {
      const d = this.#b.drainReads(s);
      this.counts.reads += d.reads;
      this.counts.bytes += d.bytes;
      this.counts.fallbacks += d.fallbacks;
      if (d.hashes.length) this.#vfs.spans.read(d.hashes);
    } catch (err) {
      this.#onError(err);
    }
  }
}
