/**
 * BlockFeed: the blocks of a file still being chunked, handed from the chunker (a worker thread)
 * to the uploader as they are found, so that the first blocks are on their way to the server while
 * the rest of the file is read and hashed.
 *
 * One producer (`push`, then `end` or `fail`), one consumer (async iteration). It holds only block
 * references (hash, size, offset), never bytes: the uploader reads each block's bytes from the file
 * when it sends it, so memory stays ~100 bytes per block however far the chunker runs ahead.
 * `all` lists every block pushed, in file order; it is the file's whole block list once `done`
 * has resolved.
 */
import { LoftError } from '../../shared/errors.js';
import type { BlockRef } from '../../shared/protocol.js';
import type { ChunkedFile, ChunkOptions } from '../chunk/chunk-file.js';

export interface PlacedRef extends BlockRef {
  offset: number;
}

export class BlockFeed implements AsyncIterable<PlacedRef[]> {
  readonly all: PlacedRef[] = [];
  /** Resolves when the chunker has ended (rejects with its error). Never left unhandled. */
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;
  #queue: PlacedRef[][] = [];
  #wake: (() => void) | null = null;
  #at = 0;
  #ended = false;
  #error: unknown = null;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {});
  }

  /** True once every block is in `all`. */
  get complete(): boolean {
    return this.#ended && this.#error === null;
  }

  /** The next blocks of the file, in order. */
  push(blocks: readonly BlockRef[]): void {
    if (this.#ended) return;
    const placed = blocks.map((b) => {
      const p = { hash: b.hash, size: b.size, offset: this.#at };
      this.#at += b.size;
      return p;
    });
    this.all.push(...placed);
    this.#queue.push(placed);
    this.#signal();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resolve();
    this.#signal();
  }

  fail(err: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    this.#reject(err);
    this.#signal();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PlacedRef[]> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) yield next;
      else if (this.#error !== null) throw this.#error;
      else if (this.#ended) return;
      else await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/**
 * Starts chunking `path` into a new feed. A chunker that does not stream (it ignores `onBlocks`)
 * still feeds everything, at its end. `expectSize`: the size the file must have (else CONFLICT:
 * it changed while it was read). `stop` ends the chunking early (the upload was given up).
 */
export function feedChunks(
  chunk: (path: string, options: ChunkOptions) => Promise<ChunkedFile>,
  path: string,
  expectSize?: number,
): { feed: BlockFeed; stop: () => void } {
  const feed = new BlockFeed();
  const abort = new AbortController();
  chunk(path, { onBlocks: (blocks) => feed.push(blocks), signal: abort.signal }).then(
    (chunked) => {
      if (expectSize !== undefined && chunked.size !== expectSize)
        return feed.fail(new LoftError('CONFLICT', `${path} changed while it was uploaded`));
      feed.push(chunked.blocks.slice(feed.all.length));
      feed.end();
    },
    (err: unknown) => feed.fail(err),
  );
  return { feed, stop: () => abort.abort() };
}
