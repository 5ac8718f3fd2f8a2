/**
 * ChunkWorkerPool: chunk + hash files on worker threads, so the thread that answers FUSE never
 * spends seconds hashing a large file. One file per worker at a time; further requests wait in a
 * FIFO (bounded by its callers: the upload queue hands over at most `size` files at once).
 *
 * A job may stream: its worker posts each window's final blocks as found (`onBlocks`), so an upload
 * sends them while the rest of the file is chunked; an aborted job stops between windows. A job
 * with a `frontier` (a file still being written) gets its moves as messages, at most one per
 * FRONTIER_STEP bytes and its end.
 */
import { Worker } from 'node:worker_threads';
import { LoftError } from '../../shared/errors.js';
import type { BlockRef } from '../../shared/protocol.js';
import type { ChunkedFile, ChunkOptions } from './chunk-file.js';
import type { ChunkParams } from './streaming-chunker.js';

/** Frontier moves smaller than this are not posted to the worker (it reads 16 MiB windows). */
const FRONTIER_STEP = 1024 * 1024;

interface Job {
  id: number;
  path: string;
  params: ChunkParams | undefined;
  options: ChunkOptions;
  resolve: (r: ChunkedFile) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

export class ChunkWorkerPool {
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 0;
  #closed = false;

  /** `size` workers; 2 by default (one per core of a small machine, the FUSE thread mostly waits). */
  constructor(readonly size = 2) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  chunk(path: string, params?: ChunkParams, options: ChunkOptions = {}): Promise<ChunkedFile> {
    if (this.#closed) return Promise.reject(new LoftError('UNAVAILABLE', 'chunk workers are closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.#nextId++, path, params, options, resolve, reject };
      this.#queue.push(job);
      signal?.addEventListener(
        'abort',
        () => {
          const queued = this.#queue.indexOf(job);
          if (queued >= 0) {
            this.#queue.splice(queued, 1);
            reject(signal.reason as Error);
          } else this.#slots.find((s) => s.job === job)?.worker.postMessage({ cancel: job.id });
        },
        { once: true },
      );
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0))
      job.reject(new LoftError('UNAVAILABLE', 'chunk workers are closed'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./chunk-worker.js', import.meta.url));
    worker.unref();
    const slot: Slot = { worker, job: null };
    type Msg = { result?: ChunkedFile; blocks?: BlockRef[]; error?: { message: string; code?: string } };
    worker.on('message', (msg: Msg) => {
      if (msg.blocks) return void slot.job?.options.onBlocks?.(msg.blocks);
      const job = slot.job;
      slot.job = null;
      if (job?.options.frontier) job.options.frontier.onChange = null;
      if (job) {
        if (msg.error) job.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
        else job.resolve(msg.result!);
      }
      this.#dispatch();
    });
    // A crashed (or otherwise exited) worker fails its job and is replaced.
    const replace = (err: Error) => {
      if (this.#slots.indexOf(slot) < 0) return;
      if (slot.job?.options.frontier) slot.job.options.frontier.onChange = null;
      slot.job?.reject(err);
      slot.job = null;
      if (!this.#closed) {
        this.#slots[this.#slots.indexOf(slot)] = this.#spawn();
        this.#dispatch();
      }
    };
    worker.on('error', replace);
    worker.on('exit', (code) => {
      if (!this.#closed) replace(new LoftError('INTERNAL', `chunk worker exited (${code})`));
    });
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job || this.#queue.length === 0) continue;
      const job = this.#queue.shift()!;
      slot.job = job;
      const { frontier } = job.options;
      slot.worker.postMessage({
        id: job.id,
        path: job.path,
        params: job.params,
        stream: job.options.onBlocks !== undefined,
        frontier: frontier ? { at: frontier.at, final: frontier.final } : undefined,
      });
      if (frontier) {
        let posted = frontier.at;
        frontier.onChange = (at, final) => {
          if (!final && at - posted < FRONTIER_STEP) return;
          posted = at;
          slot.worker.postMessage({ frontier: job.id, at, final });
        };
      }
    }
  }
}
