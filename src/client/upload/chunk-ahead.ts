/**
 * ChunkAhead: a new file written in order from its start is chunked and hashed while it is being
 * written, so that at its close only its last window is left to chunk and its blocks go out at once
 * (issue 17: a new 1 GiB file committed ≤ 4 s after close). Chunking after the close cost ~2.3 s of
 * that time on 2 cores, while during the write one core was mostly idle (the FUSE writes keep one
 * thread busy; README "A new 1 GiB file").
 *
 * The staging file says how far its bytes are final (InOrder: written in order, each once, never
 * changed since); a chunk worker of its own reads only that far (a Frontier, chunk-file.ts). When
 * the push uploads the file (`take`) with exactly those bytes, it gets the feed of blocks, most of
 * it found already; anything else (a write elsewhere, a truncate, a removal) ends the job and the
 * upload chunks the file as before.
 *
 * With a `send` (the drive's uploader), the blocks found are also sent ahead, window by window, those
 * the server lacks: at the close the upload asks again and sends only what is still missing (the
 * last window, usually), then commits. Nothing is committed before the close; blocks sent for a file
 * that is then removed or rewritten are never referenced, and the server's garbage collection takes
 * them. A failed send (offline, server down) stops sending ahead; the upload at close does it all.
 *
 * One file at a time (one worker, two 20 MiB regions): another file starts when the lane is free,
 * or when the file holding it has not grown for IDLE_MS (a log appended now and then keeps no lane).
 */
import { Frontier } from '../chunk/frontier.js';
import type { ChunkedFile, ChunkOptions } from '../chunk/chunk-file.js';
import type { StagingFile } from '../staging/staging-file.js';
import fs from 'node:fs/promises';
import { LoftError } from '../../shared/errors.js';
import { feedChunks, type BlockFeed, type PlacedRef } from './block-feed.js';

/** Files are chunked ahead once this much is written: below it, chunking at close is quick. */
export const AHEAD_MIN = 16 * 1024 * 1024;
/**
 * Blocks are sent ahead once this much is written in order: below it a file's upload after its
 * close is short anyway, and a file deleted or rewritten before its close (a temp file, a partial
 * download) wastes less. The upload at close still finds every block sent by then.
 */
export const SEND_AHEAD_MIN = 256 * 1024 * 1024;
/** Blocks per send ahead: the upload at close waits for at most one such send to end. */
const SEND_BATCH = 64;
/** A job whose file has not grown for this long gives its lane to another file. */
const IDLE_MS = 10_000;

interface Job {
  file: StagingFile;
  frontier: Frontier;
  feed: BlockFeed;
  stop: () => void;
  /** When its file last grew (`now`). */
  grew: number;
  failed: boolean;
  /** Blocks of `feed.all` handed to `send` so far, and the sends under way (one window at a time). */
  queued: number;
  sending: Promise<void>;
  /** Ends the sends (their PUTs abort). */
  abort: AbortController;
  /** The staging file, read by the sends; opened by the first. */
  fh: Promise<fs.FileHandle> | null;
}

/** Sends those of a file's blocks the server lacks (Uploader.presend). */
export type SendAhead = (
  blocks: readonly PlacedRef[],
  read: (offset: number, size: number) => Promise<Buffer>,
  signal: AbortSignal,
) => Promise<{ bytes: number; blocks: number }>;

export interface ChunkAheadStats {
  /** Files whose chunking started while they were written. */
  started: number;
  /** Of those, uploads that used it. */
  used: number;
  /** Block payload bytes sent ahead of a close. */
  sentBytes: number;
}

export class ChunkAhead {
  #job: Job | null = null;
  readonly stats: ChunkAheadStats = { started: 0, used: 0, sentBytes: 0 };
  readonly #min: number;
  readonly #now: () => number;
  readonly #send: SendAhead | null;
  readonly #sendMin: number;

  constructor(
    private readonly chunk: (path: string, options: ChunkOptions) => Promise<ChunkedFile>,
    options: { min?: number; sendMin?: number; now?: () => number; send?: SendAhead } = {},
  ) {
    this.#min = options.min ?? AHEAD_MIN;
    this.#sendMin = options.sendMin ?? SEND_AHEAD_MIN;
    this.#now = options.now ?? (() => performance.now());
    this.#send = options.send ?? null;
  }

  /** Follows a new file's writes (its staging tracks their order). */
  watch(file: StagingFile): void {
    if (file.inOrder) file.inOrder.onChange = (n) => this.#moved(file, n);
  }

  /**
   * The feed of `file`'s blocks chunked ahead, if it holds exactly `size` bytes written in order
   * and no write is under way; the feed (and `stop`) are the caller's from then on. Else null.
   * `sent` resolves once the window being sent ahead is sent (or failed); windows queued behind it
   * are left to the upload. Ask the server what it lacks after it.
   */
  take(file: StagingFile, size: number): { feed: BlockFeed; stop: () => void; sent: Promise<void> } | null {
    const job = this.#job;
    if (job?.file !== file) return null;
    this.#job = null;
    if (file.inOrder) file.inOrder.onChange = null;
    if (job.failed || file.inOrder?.appended !== size || file.inOrder.writing) {
      this.#stop(job);
      return null;
    }
    job.frontier.finish(size);
    this.stats.used++;
    job.queued = Infinity; // no more sends ahead: the upload sends the rest
    const sent = job.sending.finally(() => void job.fh?.then((h) => h.close()).catch(() => {}));
    return { feed: job.feed, stop: job.stop, sent };
  }

  /** Ends the job under way (unmount). */
  close(): void {
    this.#end();
  }

  #moved(file: StagingFile, appended: number | null): void {
    const job = this.#job;
    if (job?.file === file) {
      if (appended === null) this.#end();
      else {
        job.frontier.advance(appended);
        job.grew = this.#now();
      }
      return;
    }
    if (appended === null) {
      file.inOrder!.onChange = null; // out of order: this file is chunked at its close
      return;
    }
    if (appended < this.#min) return;
    if (job && this.#now() - job.grew < IDLE_MS) return;
    this.#end();
    this.#start(file, appended);
  }

  #start(file: StagingFile, appended: number): void {
    const frontier = new Frontier();
    frontier.advance(appended);
    const job: Job = {
      file,
      frontier,
      feed: null!,
      stop: null!,
      grew: this.#now(),
      failed: false,
      queued: 0,
      sending: Promise.resolve(),
      abort: new AbortController(),
      fh: null,
    };
    const { feed, stop } = feedChunks(
      (p, o) =>
        this.chunk(p, {
          ...o,
          frontier,
          onBlocks: (blocks) => {
            o.onBlocks?.(blocks);
            this.#sendNew(job);
          },
        }),
      file.path,
    );
    Object.assign(job, { feed, stop });
    feed.done.catch(() => (job.failed = true));
    this.#job = job;
    this.stats.started++;
  }

  /** Sends the blocks found since the last call (after the sends before them). */
  #sendNew(job: Job): void {
    const send = this.#send;
    if (!send || job.queued >= job.feed.all.length || job.frontier.at < this.#sendMin) return;
    const all = job.feed.all;
    for (let i = job.queued; i < all.length; i += SEND_BATCH)
      this.#sendBatch(job, send, all.slice(i, Math.min(i + SEND_BATCH, all.length)));
    job.queued = all.length;
  }

  #sendBatch(job: Job, send: SendAhead, blocks: PlacedRef[]): void {
    const read = async (offset: number, n: number) => {
      const fh = await (job.fh ??= fs.open(job.file.path, 'r'));
      const buf = Buffer.allocUnsafe(n); // filled by the read, or refused
      const { bytesRead } = await fh.read(buf, 0, n, offset);
      if (bytesRead !== n) throw new LoftError('CONFLICT', 'a file sent ahead ended early');
      return buf;
    };
    job.sending = job.sending.then(async () => {
      // Taken (the upload sends what is left, in one pipeline) or stopped: not started.
      if (job.abort.signal.aborted || job.queued === Infinity) return;
      try {
        this.stats.sentBytes += (await send(blocks, read, job.abort.signal)).bytes;
      } catch {
        job.queued = Infinity; // offline, or the server refused: the upload at close sends it all
      }
    });
  }

  #end(): void {
    const job = this.#job;
    if (!job) return;
    this.#job = null;
    if (job.file.inOrder) job.file.inOrder.onChange = null;
    job.frontier.fail(new Error('chunking ahead stopped'));
    this.#stop(job);
  }

  #stop(job: Job): void {
    job.stop();
    job.queued = Infinity;
    job.abort.abort(new LoftError('UNAVAILABLE', 'sending ahead stopped'));
    void job.sending.finally(() => void job.fh?.then((h) => h.close()).catch(() => {}));
  }
}
