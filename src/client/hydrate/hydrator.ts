/**
 * Hydrator: turns byte ranges of a file revision into block bytes, fetching only what is missing.
 *
 * Lookup order for a block: a small in-memory LRU of recent blocks (kernel reads arrive in 128 KiB
 * pieces; one block serves many) → the disk cache (verified on read) → one fetch from the server,
 * shared by every reader that wants the same block (single-flight), verified against its SHA-256
 * before anyone sees it; a mismatch is refetched once and then reported as CORRUPT (EIO).
 *
 * Scheduling: fetches run through one p-queue (bounded concurrency). Demanded blocks run at
 * DEMAND priority; readahead and pin hydration run lower, and a queued low-priority fetch that a
 * reader starts waiting on is raised to DEMAND. Sequential reads grow a per-handle readahead window
 * (doubling up to a cap tied to the cache size); a jump resets it.
 *
 * Offline: a network failure marks the connection offline (logged once). While offline a demanded
 * block gets one attempt, so an uncached read fails fast with EIO; while online it is retried with
 * backoff for up to RETRY_BUDGET_MS, which rides out a server restart.
 */
import PQueue from 'p-queue';
import { sleepOn, systemTimers, type Timers } from '../../shared/clock.js';
import { LoftError, isOfflineError } from '../../shared/errors.js';
import { PIECE_SIZE, pieceHashes } from '../../shared/hash.js';
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import { nodeBlockIo, type BlockIo } from './block-io.js';
import type { BlockRangeAnswer } from '../../shared/protocol.js';
import type { BlockExtent } from '../mirror/mirror.js';

export interface BlockSource {
  getBlock(hash: string, signal?: AbortSignal): Promise<Buffer>;
  /** Bytes [start, end) of a block with the SHA-256 of each piece they cover. Optional. */
  getBlockRange?(hash: string, start: number, end: number, signal?: AbortSignal): Promise<BlockRangeAnswer>;
}

/** Bytes of one block from offset `base` of the block (the whole block when base is 0 and full). */
interface Part {
  bytes: Buffer;
  base: number;
}

export const DEMAND = 10;
export const READAHEAD = 5;
export const BACKGROUND = 1;

/** Parallel block downloads: enough to fill a fast link with ~1 MiB blocks, few enough to stay fair. */
const DEFAULT_CONCURRENCY = 8;
/**
 * Recent blocks kept in memory to serve consecutive small reads of the same block. At least four
 * readahead windows, so blocks fetched ahead are still here when the reader arrives (a miss costs a
 * disk read and a re-hash: measured at ~25% of cold-read CPU when this was only one window).
 */
const DEFAULT_MEMORY_BYTES = 128 * 1024 * 1024;
/** First readahead window once reads look sequential. */
const INITIAL_WINDOW = 2 * 1024 * 1024;
/**
 * Largest readahead window (also capped at a quarter of the cache so it is not evicted unread).
 * 32 MiB in flight covers ~250 ms at 1 Gbit/s; on loopback the window is full long before that.
 */
const MAX_WINDOW = 32 * 1024 * 1024;
/** How far from the stream position a read may land and still count as sequential. */
const SEQUENTIAL_SLACK = 1024 * 1024;
/**
 * A random read (not part of a sequential stream) of a block nobody has fetched yet asks the server
 * for just the pieces it needs when they are at most this fraction of the block (see #demand). Cuts
 * the first byte of a cold random read by the transfer and hashing of the rest of the block.
 */
const MAX_RANGE_FRACTION = 0.25;
/** Blocks remembered as read once by range (64 bytes each). */
const TOUCHED_MAX = 16_384;
/** How long a demanded block is retried while the server seems up (ms). */
const RETRY_BUDGET_MS = 4000;
/**
 * The block warmUp asks for: a hash no content has (SHA-256 preimages are not known), so the
 * server answers 404, whoever asks, and sends no block bytes.
 */
const WARM_HASH = '0'.repeat(64);

export interface ReadState {
  /** Offset where the next sequential read would start. */
  nextOffset: number;
  window: number;
}

export function newReadState(): ReadState {
  return { nextOffset: -1, window: 0 };
}

export interface Connectivity {
  online: boolean;
  setOnline(online: boolean, reason?: string): void;
}

export interface HydratorOptions {
  source: BlockSource;
  cache: DiskBlockCache;
  connectivity: Connectivity;
  concurrency?: number;
  memoryBytes?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Time and timers of retries and follow-up prefetches (a simulated clock in tests). */
  timers?: Timers;
  /** Hashing of downloaded blocks (default: node's, on this thread; block-io.ts). */
  io?: Pick<BlockIo, 'sha256'>;
}

interface Flight {
  promise: Promise<Buffer>;
  id: string;
  priority: number;
  size: number;
}

export class Hydrator {
  readonly #source: BlockSource;
  readonly #cache: DiskBlockCache;
  readonly #net: Connectivity;
  readonly #queue: PQueue;
  readonly #flights = new Map<string, Flight>();
  /** Piece-range downloads in flight, by "hash:start:end" (one per range however many readers). */
  readonly #ranges = new Map<string, Promise<Part | null>>();
  /** Blocks read by range recently, oldest first: a second range read caches the whole block. */
  readonly #touched = new Set<string>();
  readonly #memory = new Map<string, Buffer>();
  readonly #memoryBytesMax: number;
  #memoryBytes = 0;
  #nextId = 0;
  readonly #log: (msg: string, fields?: Record<string, unknown>) => void;
  readonly #abort = new AbortController();
  /** Block payload bytes downloaded since start (refetches included). */
  downloadedBytes = 0;
  downloadedBlocks = 0;
  /** Where demanded blocks came from (for `loft status --json` and tuning). */
  readonly served = { memory: 0, disk: 0, inFlight: 0, fetched: 0, ranged: 0 };

  readonly #timers: Timers;
  readonly #io: Pick<BlockIo, 'sha256'>;

  constructor(options: HydratorOptions) {
    this.#io = options.io ?? nodeBlockIo;
    this.#source = options.source;
    this.#cache = options.cache;
    this.#net = options.connectivity;
    this.#queue = new PQueue({ concurrency: options.concurrency ?? DEFAULT_CONCURRENCY });
    this.#memoryBytesMax = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.#log = options.log ?? (() => {});
    this.#timers = options.timers ?? systemTimers;
  }

  /** Downloads in flight or queued: count and bytes. */
  /** True while a block some reader is waiting for is being downloaded (uploads yield to it). */
  get demandActive(): boolean {
    for (const f of this.#flights.values()) if (f.priority >= DEMAND) return true;
    return false;
  }

  get pending(): { blocks: number; bytes: number } {
    let bytes = 0;
    for (const f of this.#flights.values()) bytes += f.size;
    return { blocks: this.#flights.size, bytes };
  }

  close(): void {
    this.#abort.abort();
    this.#queue.clear();
  }

  /**
   * Copies bytes [offset, offset+length) of the file described by `extents` into `out`; returns the
   * number of bytes copied (short at end of file).
   */
  async read(
    extents: readonly BlockExtent[],
    fileSize: number,
    offset: number,
    out: Buffer,
    state?: ReadState,
  ): Promise<number> {
    const views = await this.views(extents, fileSize, offset, out.length, state);
    let copied = 0;
    for (const v of views) copied += v.copy(out, copied);
    return copied;
  }

  /**
   * Bytes [offset, offset+length) of the file described by `extents` (short at end of file), as
   * views of the verified block buffers in order, without copying them: a reply made from them
   * costs no allocation and no copy (the cold read's largest JavaScript costs after hashing). The
   * views share memory with the hydrator's blocks: callers must not write to them.
   */
  async views(
    extents: readonly BlockExtent[],
    fileSize: number,
    offset: number,
    length: number,
    state?: ReadState,
  ): Promise<Buffer[]> {
    const end = Math.min(offset + length, fileSize);
    if (offset >= end) return [];
    const first = findExtent(extents, offset);
    // A handle's first read at offset 0 starts a stream (cat, cp, a thumbnailer): whole blocks.
    const random = !state || !(isSequential(state, offset) || (state.nextOffset < 0 && offset === 0));
    // Start every demanded block first (DEMAND priority), then readahead behind them.
    const parts: { ext: BlockExtent; data: Promise<Part> }[] = [];
    for (let i = first, pos = offset; pos < end; i++) {
      const ext = extents[i];
      if (!ext || ext.offset > pos) throw new LoftError('CORRUPT', `block map has no block at offset ${pos}`);
      const stop = Math.min(end, ext.offset + ext.size);
      const data = random
        ? this.#demand(ext, pos - ext.offset, stop - ext.offset, extents[i - 1])
        : this.block(ext.hash, ext.size, DEMAND).then((bytes) => ({ bytes, base: 0 }));
      // A later block may fail while an earlier one is still awaited: never an unhandled rejection.
      data.catch(() => {});
      parts.push({ ext, data });
      pos = stop;
    }
    if (state) this.#readahead(extents, offset, end, first, state);
    const views: Buffer[] = [];
    let pos = offset;
    for (const { ext, data } of parts) {
      const { bytes, base } = await data;
      const from = pos - ext.offset - base;
      const n = Math.min(ext.size - (pos - ext.offset), end - pos);
      views.push(bytes.subarray(from, from + n));
      pos += n;
    }
    return views;
  }

  /** The verified bytes of one block, from memory, the disk cache or the server. */
  async block(hash: string, size: number, priority: number): Promise<Buffer> {
    const demanded = priority >= DEMAND;
    const mem = this.#memory.get(hash);
    if (mem) {
      if (demanded) this.served.memory++;
      this.#memory.delete(hash);
      this.#memory.set(hash, mem);
      return mem;
    }
    const flight = this.#flights.get(hash);
    if (flight) {
      if (demanded) this.served.inFlight++;
      if (priority > flight.priority) {
        flight.priority = priority;
        try {
          this.#queue.setPriority(flight.id, priority);
        } catch {
          // already running
        }
      }
      return flight.promise;
    }
    if (this.#cache.has(hash)) {
      const cached = await this.#cache.get(hash);
      if (cached) {
        if (demanded) this.served.disk++;
        this.#remember(hash, cached);
        return cached;
      }
      // Corrupt or missing: fall through and refetch.
      if (this.#flights.has(hash)) return this.#flights.get(hash)!.promise;
    }
    if (demanded) this.served.fetched++;
    return this.#fetch(hash, size, priority);
  }

  /**
   * Bytes [from, to) of a block for a random read: when the block is nowhere yet, only the pieces
   * that cover them (verified piece by piece); otherwise the whole block as `block` gets it. The
   * second random read of a block also fetches the whole block behind it, for the cache: a reader
   * that comes back to a block is likely to again, one that touches each block once (a sparse scan
   * of a huge file) is not worth 16 times the bytes it reads. A read next to a block that is being
   * read right now (in memory or in flight: another handle streams the file, and the kernel sent
   * this handle's first read where the shared page cache ends) is part of that stream: whole block,
   * or the stream would fetch the same pieces again.
   */
  #demand(ext: BlockExtent, from: number, to: number, previous?: BlockExtent): Promise<Part> {
    const { hash, size } = ext;
    const start = Math.floor(from / PIECE_SIZE) * PIECE_SIZE;
    const stop = Math.min(size, Math.ceil(to / PIECE_SIZE) * PIECE_SIZE);
    const worthIt =
      this.#source.getBlockRange !== undefined &&
      this.#net.online &&
      stop - start <= size * MAX_RANGE_FRACTION &&
      !this.#memory.has(hash) &&
      !this.#flights.has(hash) &&
      !this.#cache.has(hash) &&
      !(previous && (this.#memory.has(previous.hash) || this.#flights.has(previous.hash)));
    if (!worthIt) return this.block(hash, size, DEMAND).then((bytes) => ({ bytes, base: 0 }));
    this.served.ranged++;
    const again = this.#touched.delete(hash);
    this.#touched.add(hash);
    if (this.#touched.size > TOUCHED_MAX) this.#touched.delete(this.#touched.values().next().value!);
    const key = `${hash}:${start}:${stop}`;
    let flight = this.#ranges.get(key);
    if (!flight) {
      // Not queued behind whole-block downloads: a range is small and a reader is waiting for it.
      flight = this.#downloadRange(hash, size, start, stop);
      const done = () => this.#ranges.delete(key);
      flight.then(done, done);
      this.#ranges.set(key, flight);
    }
    if (again) {
      // The whole block follows once the reader has its answer (not in the same tick, ahead of it).
      const follow = () =>
        this.#timers.setTimeout(() => {
          if (!this.#abort.signal.aborted) this.prefetch(hash, size, READAHEAD);
        }, 0);
      flight.then(follow, follow);
    }
    // A range that failed or did not verify falls back to the whole block, which retries and reports.
    return flight.then(
      (part) => part ?? this.block(hash, size, DEMAND).then((bytes) => ({ bytes, base: 0 })),
    );
  }

  /** One attempt at a verified range; null when it failed, so the caller fetches the whole block. */
  async #downloadRange(hash: string, size: number, start: number, stop: number): Promise<Part | null> {
    let got: BlockRangeAnswer;
    try {
      got = await this.#source.getBlockRange!(hash, start, stop, this.#abort.signal);
    } catch (err) {
      if (this.#abort.signal.aborted) throw new LoftError('UNAVAILABLE', 'drive is shutting down');
      this.#log('block range download failed', { hash, start, error: String(err) });
      return null;
    }
    this.downloadedBytes += got.data.length;
    this.#net.setOnline(true);
    if (got.whole) {
      if (!(await this.#isBlock(got.data, hash, size))) return null;
      this.downloadedBlocks++;
      this.#keep(hash, got.data);
      return { bytes: got.data, base: 0 };
    }
    const pieces = got.data.length === stop - start ? pieceHashes(got.data, 0, got.data.length) : null;
    if (
      pieces &&
      got.pieces &&
      pieces.length === got.pieces.length &&
      pieces.every((h, i) => h === got.pieces![i])
    )
      return { bytes: got.data, base: start };
    this.#log('block range failed verification', { hash, start });
    return null;
  }

  /**
   * Readies the path of the first cold read (called before the kernel mount appears): one ranged GET as
   * a random read makes (of WARM_HASH: answered 404, a few hundred bytes) and one piece hashed as a
   * range is verified. The keep-alive connection the first read will use is then open, and the code
   * of the request, its answer's body and the piece check has run once: run cold, the first time,
   * it cost ~1 ms of a 4 KiB read's ~7 ms on the drive benchmark (README, "Drive vs rclone mount").
   * Downloads nothing, counts nothing; errors (offline) are ignored.
   */
  async warmUp(): Promise<void> {
    pieceHashes(Buffer.alloc(PIECE_SIZE), 0, PIECE_SIZE);
    await this.#source.getBlockRange?.(WARM_HASH, 0, PIECE_SIZE, this.#abort.signal).catch(() => {});
    // undici hands the connection back to its pool a turn after the answer's body ends: resolved
    // after that, so a read that follows at once finds it (test/unit/client/hydrator-warm-up).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Fetches a block into the cache in the background (readahead, pins). Errors are swallowed. */
  prefetch(hash: string, size: number, priority: number): void {
    if (this.#memory.has(hash) || this.#flights.has(hash) || this.#cache.has(hash)) return;
    this.#fetch(hash, size, priority).catch(() => {});
  }

  /** Ensures a block is in the disk cache (pin hydration); resolves false if the cache declined it. */
  async ensureCached(hash: string, size: number, priority: number): Promise<boolean> {
    if (this.#cache.has(hash)) return true;
    const data = await this.block(hash, size, priority);
    if (this.#cache.has(hash)) return true;
    return this.#cache.put(hash, data);
  }

  #fetch(hash: string, size: number, priority: number): Promise<Buffer> {
    const id = String(this.#nextId++);
    const flight: Flight = { id, priority, size, promise: undefined as unknown as Promise<Buffer> };
    flight.promise = this.#queue
      .add(() => this.#download(hash, size, flight), { priority, id })
      .then((data) => {
        this.#keep(hash, data);
        return data;
      })
      .finally(() => this.#flights.delete(hash)) as Promise<Buffer>;
    this.#flights.set(hash, flight);
    return flight.promise;
  }

  async #download(hash: string, size: number, flight: Flight): Promise<Buffer> {
    const started = this.#timers.now();
    // Decided once per download: a server that was up when the read began gets the retry budget
    // (it may be restarting); one already known to be down gets a single attempt (fail fast).
    const wasOnline = this.#net.online;
    let mismatches = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await this.#source.getBlock(hash, this.#abort.signal);
        this.downloadedBytes += data.length;
        this.downloadedBlocks++;
        this.#net.setOnline(true);
        if (await this.#isBlock(data, hash, size)) return data;
        if (++mismatches >= 2) {
          this.#log('block failed verification twice', { hash });
          throw new LoftError('CORRUPT', `block ${hash} does not match its hash (fetched twice)`);
        }
        continue;
      } catch (err) {
        if (this.#abort.signal.aborted) throw new LoftError('UNAVAILABLE', 'drive is shutting down');
        if (!isOfflineError(err)) throw err;
        this.#net.setOnline(false, err.message);
        const elapsed = this.#timers.now() - started;
        const background = flight.priority < DEMAND;
        if ((!wasOnline && !background) || elapsed > RETRY_BUDGET_MS) throw err;
        await sleepOn(this.#timers, Math.min(200 * 2 ** attempt, 1000));
      }
    }
  }

  /** Whether downloaded bytes are the block: its size and its SHA-256. */
  async #isBlock(data: Buffer, hash: string, size: number): Promise<boolean> {
    return data.length === size && (await this.#io.sha256(data)) === hash;
  }

  /** A verified block, kept in memory and written to the disk cache. */
  #keep(hash: string, data: Buffer): void {
    this.#remember(hash, data);
    // The reader does not wait for the disk: space is reserved synchronously inside put (so `has`
    // is true at once and the cap holds), and a cache read of the block waits for the write. A
    // failed write only means the block is fetched again later.
    this.#cache
      .put(hash, data)
      .catch((err: unknown) => this.#log('cache write failed', { hash, error: String(err) }));
  }

  #remember(hash: string, data: Buffer): void {
    if (data.length > this.#memoryBytesMax) return;
    if (this.#memory.has(hash)) return;
    this.#memory.set(hash, data);
    this.#memoryBytes += data.length;
    for (const [h, b] of this.#memory) {
      if (this.#memoryBytes <= this.#memoryBytesMax) break;
      this.#memory.delete(h);
      this.#memoryBytes -= b.length;
    }
  }

  /** Forgets a block kept in memory (its file changed remotely). */
  forget(hash: string): void {
    const b = this.#memory.get(hash);
    if (b) {
      this.#memory.delete(hash);
      this.#memoryBytes -= b.length;
    }
  }

  #readahead(
    extents: readonly BlockExtent[],
    offset: number,
    end: number,
    first: number,
    state: ReadState,
  ): void {
    const sequential = isSequential(state, offset);
    state.nextOffset = sequential ? Math.max(state.nextOffset, end) : end;
    if (!sequential) {
      state.window = 0;
      return;
    }
    const maxWindow = Math.max(
      INITIAL_WINDOW,
      Math.min(MAX_WINDOW, Math.floor(this.#cache.usage().capBytes / 4)),
    );
    state.window = Math.min(Math.max(state.window * 2, INITIAL_WINDOW), maxWindow);
    const limit = state.nextOffset + state.window;
    for (let i = first; i < extents.length && extents[i]!.offset < limit; i++) {
      const ext = extents[i]!;
      if (ext.offset + ext.size <= end) continue;
      this.prefetch(ext.hash, ext.size, READAHEAD);
    }
  }
}

/**
 * Whether a read at `offset` continues the handle's stream. The kernel issues several reads of one
 * stream at once and they may arrive slightly out of order, so "sequential" means "near where the
 * stream has got to", not "exactly at its end". A read further on but inside the readahead window
 * continues it too: the reads between were answered without the hydrator (the FUSE binding serves
 * blocks of the window from the disk cache once they are written: fuse/cached-reads.ts).
 */
function isSequential(state: ReadState, offset: number): boolean {
  return (
    state.nextOffset >= 0 &&
    offset >= state.nextOffset - SEQUENTIAL_SLACK &&
    offset <= state.nextOffset + Math.max(SEQUENTIAL_SLACK, state.window)
  );
}

/** Index of the extent containing `offset` (binary search over sorted offsets). */
export function findExtent(extents: readonly BlockExtent[], offset: number): number {
  let lo = 0;
  let hi = extents.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (extents[mid]!.offset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
