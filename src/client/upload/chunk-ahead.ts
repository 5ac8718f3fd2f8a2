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
 * upload chunks the file as before. Nothing is sent before the close: only chunking runs ahead.
 *
 * One file at a time (one worker, two 20 MiB regions): another file starts when the lane is free,
 * or when the file holding it has not grown for IDLE_MS (a log appended now and then keeps no lane).
 */
import { Frontier } from '../chunk/frontier.js';
import type { ChunkedFile, ChunkOptions } from '../chunk/chunk-file.js';
import type { StagingFile } from '../staging/staging-file.js';
import { feedChunks, type BlockFeed } from './block-feed.js';

/** Files are chunked ahead once this much is written: below it, chunking at close is quick. */
export const AHEAD_MIN = 16 * 1024 * 1024;
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
}

export interface ChunkAheadStats {
  /** Files whose chunking started while they were written. */
  started: number;
  /** Of those, uploads that used it. */
  used: number;
}

export class ChunkAhead {
  #job: Job | null = null;
  readonly stats: ChunkAheadStats = { started: 0, used: 0 };
  readonly #min: number;
  readonly #now: () => number;

  constructor(
    private readonly chunk: (path: string, options: ChunkOptions) => Promise<ChunkedFile>,
    options: { min?: number; now?: () => number } = {},
  ) {
    this.#min = options.min ?? AHEAD_MIN;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Follows a new file's writes (its staging tracks their order). */
  watch(file: StagingFile): void {
    if (file.inOrder) file.inOrder.onChange = (n) => this.#moved(file, n);
  }

  /**
   * The feed of `file`'s blocks chunked ahead, if it holds exactly `size` bytes written in order
   * and no write is under way; the feed (and `stop`) are the caller's from then on. Else null.
   */
  take(file: StagingFile, size: number): { feed: BlockFeed; stop: () => void } | null {
    const job = this.#job;
    if (job?.file !== file) return null;
    this.#job = null;
    if (file.inOrder) file.inOrder.onChange = null;
    if (job.failed || file.inOrder?.appended !== size || file.inOrder.writing) {
      job.stop();
      return null;
    }
    job.frontier.finish(size);
    this.stats.used++;
    return { feed: job.feed, stop: job.stop };
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
    const { feed, stop } = feedChunks((p, o) => this.chunk(p, { ...o, frontier }), file.path);
    const job: Job = { file, frontier, feed, stop, grew: this.#now(), failed: false };
    feed.done.catch(() => (job.failed = true));
    this.#job = job;
    this.stats.started++;
  }

  #end(): void {
    const job = this.#job;
    if (!job) return;
    this.#job = null;
    if (job.file.inOrder) job.file.inOrder.onChange = null;
    job.frontier.fail(new Error('chunking ahead stopped'));
    job.stop();
  }
}
