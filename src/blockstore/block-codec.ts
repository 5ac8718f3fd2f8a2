/**
 * On-store encoding of one block: an 8-byte header, a table of piece hashes, then the payload, raw
 * or brotli-compressed.
 *
 *   0..3  magic "LFB2" (format version 2; version 1, "LFB1", had no table and is still read)
 *   4     codec: 0 = raw, 1 = brotli
 *   5     reserved, zero
 *   6..7  piece count N, big-endian (0 in version 1)
 *   8..   N × 32 bytes: the SHA-256 of each PIECE_SIZE piece of the raw block, computed when the
 *         block was stored (after the whole block was verified), so a range of the block can be
 *         served with hashes that vouch for it without reading or hashing the rest
 *   ..    payload
 *
 * Compression is kept only when it saves at least MIN_SAVING of the block; a sample is tried first
 * so incompressible data (media, archives, encrypted files) costs almost no CPU. Brotli quality 1
 * was measured against deflate-1 and zstd-wasm (scripts/bench/compression.mjs, README): similar
 * ratio and speed, and node's zlib runs it on the libuv thread pool, off the event loop.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { LoftError } from '../shared/errors.js';
import { PIECE_SIZE } from '../shared/hash.js';
import { MAX_BLOCK_SIZE } from '../shared/protocol.js';
import type { BlockBody } from './block-body.js';

const MAGIC_V1 = Buffer.from('LFB1');
const MAGIC = Buffer.from('LFB2');
export const HEADER_SIZE = 8;
const PIECE_HASH_SIZE = 32;
/** Bytes that always hold a block's header and piece table (read first for a range). */
export const MAX_HEAD_SIZE = HEADER_SIZE + PIECE_HASH_SIZE * Math.ceil(MAX_BLOCK_SIZE / PIECE_SIZE);
export const RAW = 0;
const BROTLI = 1;

/** Blocks smaller than this are stored raw: the header and file-system overhead dominate. */
const MIN_COMPRESS_SIZE = 4096;
/** Bytes compressed as a probe before committing CPU to the whole block. */
const SAMPLE_SIZE = 64 * 1024;
/** Keep the compressed form only when it is at least this much smaller (fraction of the block). */
const MIN_SAVING = 0.1;

const brotli = promisify(zlib.brotliCompress);
const unbrotli = promisify(zlib.brotliDecompress);

function brotliParams(size: number): zlib.BrotliOptions {
  return {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 1,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
}

function header(codec: number, raw: Buffer): Buffer {
  const count = Math.ceil(raw.length / PIECE_SIZE);
  const h = headerWithRoom(codec, count);
  for (let i = 0; i < count; i++) {
    createHash('sha256')
      .update(raw.subarray(i * PIECE_SIZE, (i + 1) * PIECE_SIZE))
      .digest()
      .copy(h, HEADER_SIZE + i * PIECE_HASH_SIZE);
  }
  return h;
}

/** A header for `count` pieces whose table is still to be filled in. */
function headerWithRoom(codec: number, count: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE + PIECE_HASH_SIZE * count);
  MAGIC.copy(h, 0);
  h[4] = codec;
  h.writeUInt16BE(count, 6);
  return h;
}

/** Where a stored block's payload starts, its codec and its piece table (null in version 1). */
export interface BlockHead {
  codec: number;
  payloadOffset: number;
  pieces: Buffer | null;
}

/** Parses the start of a stored block (at least MAX_HEAD_SIZE bytes of it, or all); throws CORRUPT. */
export function parseHead(stored: Buffer, hash: string): BlockHead {
  const v1 = stored.length >= HEADER_SIZE && stored.subarray(0, 4).equals(MAGIC_V1);
  if (!v1 && (stored.length < HEADER_SIZE || !stored.subarray(0, 4).equals(MAGIC))) {
    throw new LoftError('CORRUPT', `block ${hash} has no valid header`);
  }
  const codec = stored[4]!;
  if (codec !== RAW && codec !== BROTLI)
    throw new LoftError('CORRUPT', `block ${hash} has unknown codec ${codec}`);
  if (v1) return { codec, payloadOffset: HEADER_SIZE, pieces: null };
  const payloadOffset = HEADER_SIZE + PIECE_HASH_SIZE * stored.readUInt16BE(6);
  if (stored.length < payloadOffset) throw new LoftError('CORRUPT', `block ${hash} has a cut piece table`);
  return { codec, payloadOffset, pieces: stored.subarray(HEADER_SIZE, payloadOffset) };
}

/** Hex hashes of pieces [first, first + count) from a piece table; null when it is too short. */
export function tablePieces(table: Buffer, first: number, count: number): string[] | null {
  if ((first + count) * PIECE_HASH_SIZE > table.length) return null;
  const out: string[] = [];
  for (let i = first; i < first + count; i++) {
    out.push(table.toString('hex', i * PIECE_HASH_SIZE, (i + 1) * PIECE_HASH_SIZE));
  }
  return out;
}

export type Compression = 'brotli' | 'none';

/**
 * Whether a block of `size` bytes that starts with `sample` is worth compressing whole: a block no
 * longer than the sample always is tried; else the sample must shrink by MIN_SAVING. The probe runs
 * on this thread: one 64 KiB brotli-1 call costs ~0.08 ms here against ~0.45 ms of CPU through the
 * promisified (thread-pool, stream-backed) call, measured, for 1,024 probes per GiB of upload.
 */
function worthCompressing(sample: Buffer, size: number): boolean {
  if (sample.length >= size) return true;
  const probe = zlib.brotliCompressSync(sample, brotliParams(sample.length));
  return probe.length <= sample.length * (1 - MIN_SAVING);
}

/** Encodes a block for storage; returns the header and payload as separate buffers (no copy). */
export async function encodeBlock(data: Uint8Array, compression: Compression): Promise<Buffer[]> {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (compression === 'brotli' && raw.length >= MIN_COMPRESS_SIZE) {
    if (worthCompressing(raw.subarray(0, SAMPLE_SIZE), raw.length)) {
      const packed = await brotli(raw, brotliParams(raw.length));
      if (packed.length <= raw.length * (1 - MIN_SAVING)) return [header(BROTLI, raw), packed];
    }
  }
  return [header(RAW, raw), raw];
}

/**
 * encodeBlock of a body whose piece table was computed as it arrived (block-body.ts): the header
 * and views of the body's slabs, so incompressible bytes are neither copied nor hashed again (the
 * views are valid until the body is released: write them before). Brotli is
 * tried as encodeBlock tries it (a sample first); only a block it shrinks is joined into one buffer.
 */
export async function encodeBody(body: BlockBody, compression: Compression): Promise<Buffer[]> {
  if (compression === 'brotli' && body.size >= MIN_COMPRESS_SIZE) {
    if (worthCompressing(body.head(SAMPLE_SIZE), body.size)) {
      const raw = body.bytes();
      const packed = await brotli(raw, brotliParams(raw.length));
      if (packed.length <= raw.length * (1 - MIN_SAVING)) return [bodyHeader(BROTLI, body), packed];
    }
  }
  return [bodyHeader(RAW, body), ...body.slabs()];
}

function bodyHeader(codec: number, body: BlockBody): Buffer {
  const table = body.pieceTable();
  const h = headerWithRoom(codec, Math.ceil(body.size / PIECE_SIZE));
  if (table.length !== h.length - HEADER_SIZE)
    throw new LoftError('INTERNAL', 'block body piece table does not match its size');
  table.copy(h, HEADER_SIZE);
  return h;
}

/** Decodes a stored block (either version); throws CORRUPT on an unknown header. */
export async function decodeBlock(stored: Buffer, hash: string): Promise<Buffer> {
  const head = parseHead(stored, hash);
  const payload = stored.subarray(head.payloadOffset);
  if (head.codec === RAW) return payload;
  try {
    return await unbrotli(payload);
  } catch (cause) {
    throw new LoftError('CORRUPT', `block ${hash} does not decompress`, { cause });
  }
}
