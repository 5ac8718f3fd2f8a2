/**
 * StreamingChunker: FastCDC content-defined chunking over a stream, with bounded memory and chunk
 * boundaries IDENTICAL to chunking the whole input at once, however the input is fed.
 *
 * fastcdc-wasm's `get_chunks(bytes, min, avg, max)` chunks one in-memory buffer and returns chunk
 * start offsets. FastCDC decides where a chunk that starts at `s` ends by looking only at bytes
 * s..s+max (and, near the end, at how many bytes remain). So within a window, a chunk is final
 * only if at least `max` bytes follow its start inside the window, or the input has ended; the
 * first chunk that is not final, and everything after it, is carried into the next window. (A
 * naive "cut at the window end and carry the tail" wrapper measured 1043 chunks where the whole
 * buffer gave 1001.)
 *
 * Memory: the carry is < max bytes, plus at most one window (`windowBytes`) of new input.
 */
import { defaultCdc } from './cdc.js';

export interface ChunkParams {
  min: number;
  avg: number;
  max: number;
}

/**
 * 256 KiB / 1 MiB / 4 MiB. Average 1 MiB keeps block lists short (a 50 GB file is ~50k blocks,
 * ~4 MB of metadata) and per-block HTTP overhead low, while an edit re-uploads ~1-2 MiB around it;
 * min 256 KiB avoids tiny blocks after an edit; max 4 MiB bounds one request and the memory a reader
 * needs for one block (the server accepts up to 8 MiB).
 */
export const DEFAULT_CHUNK_PARAMS: ChunkParams = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 };

export interface Chunk {
  /** Offset of the chunk in the whole stream. */
  offset: number;
  /** The chunk's bytes: chunker-owned memory that is never overwritten (the input is always copied). */
  data: Buffer;
}

/** Chunk start offsets of a whole buffer (cdc.ts: the native engine, or fastcdc-wasm). */
export function chunkStarts(buf: Uint8Array, p: ChunkParams): number[] {
  return defaultCdc().starts(buf, p);
}

export class StreamingChunker {
  readonly #p: ChunkParams;
  #pending: Buffer = Buffer.alloc(0);
  /** Stream offset of #pending[0]. */
  #base = 0;

  constructor(params: ChunkParams = DEFAULT_CHUNK_PARAMS) {
    if (!(params.min > 0 && params.min <= params.avg && params.avg <= params.max)) {
      throw new Error('chunk sizes must satisfy 0 < min <= avg <= max');
    }
    this.#p = params;
  }

  /** Feeds bytes; returns the chunks that became final. */
  push(data: Uint8Array): Chunk[] {
    if (data.length === 0) return [];
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, data]) : Buffer.from(data);
    // Not enough for any chunk to be final yet: wait for more (keeps wasm calls few).
    if (this.#pending.length < this.#p.max * 2) return [];
    return this.#cut(false);
  }

  /** Ends the stream; returns the remaining chunks. */
  end(): Chunk[] {
    return this.#cut(true);
  }

  #cut(final: boolean): Chunk[] {
    const buf = this.#pending;
    if (buf.length === 0) return [];
    const starts = chunkStarts(buf, this.#p);
    const out: Chunk[] = [];
    let keepFrom = buf.length;
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i]!;
      const e = i + 1 < starts.length ? starts[i + 1]! : buf.length;
      if (!final && s + this.#p.max > buf.length) {
        keepFrom = s;
        break;
      }
      out.push({ offset: this.#base + s, data: buf.subarray(s, e) });
    }
    if (final) keepFrom = buf.length;
    // Copy the carry so the emitted chunks' memory is not overwritten by the next concat.
    this.#pending = Buffer.from(buf.subarray(keepFrom));
    this.#base += keepFrom;
    return out;
  }
}
