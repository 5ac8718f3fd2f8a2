/**
 * chunkFile: FastCDC chunks of a file with their SHA-256, streaming with bounded memory.
 *
 * Chunking (wasm) runs on the calling thread while the hashes of earlier chunks are computed by
 * WebCrypto's digest, which runs on the libuv thread pool: the two overlap, so the file is chunked
 * and hashed at about the chunker's speed rather than the sum of both costs (see
 * scripts/bench/chunk.mjs). At most HASHES_IN_FLIGHT chunks wait for their hash, bounding memory to
 * a few windows.
 *
 * Call it from a worker thread (ChunkWorkerPool) so the thread that answers FUSE stays free.
 */
import { webcrypto } from 'node:crypto';
import fs from 'node:fs/promises';
import type { BlockRef } from '../../shared/protocol.js';
import { DEFAULT_CHUNK_PARAMS, StreamingChunker, type ChunkParams } from './streaming-chunker.js';

/** Bytes read per step: a few max-size chunks, so the chunker finalises most of each window. */
const READ_WINDOW = 16 * 1024 * 1024;
/** Chunks whose hash may be pending at once (memory bound: this many chunks of up to `max`). */
const HASHES_IN_FLIGHT = 16;

export interface ChunkedFile {
  blocks: BlockRef[];
  size: number;
}

export async function chunkFile(
  path: string,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
): Promise<ChunkedFile> {
  const fh = await fs.open(path, 'r');
  const chunker = new StreamingChunker(params);
  const pending: Promise<string>[] = [];
  const sizes: number[] = [];
  const hashes: string[] = [];
  let inFlightFrom = 0;
  let size = 0;
  const take = (chunks: { data: Buffer }[]) => {
    for (const c of chunks) {
      // Chunk memory belongs to the chunker and is never overwritten, so no copy is needed.
      sizes.push(c.data.length);
      pending.push(webcrypto.subtle.digest('SHA-256', c.data).then((d) => Buffer.from(d).toString('hex')));
    }
  };
  const drain = async (max: number) => {
    while (pending.length - inFlightFrom > max) hashes.push(await pending[inFlightFrom++]!);
  };
  try {
    const buf = Buffer.allocUnsafe(READ_WINDOW);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_WINDOW, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      take(chunker.push(buf.subarray(0, bytesRead)));
      await drain(HASHES_IN_FLIGHT);
    }
    take(chunker.end());
    await drain(0);
  } finally {
    await fh.close();
  }
  return { blocks: hashes.map((hash, i) => ({ hash, size: sizes[i]! })), size };
}
