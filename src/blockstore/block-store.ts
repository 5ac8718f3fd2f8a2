import { LoftError } from '../shared/errors.js';
import { assertHash, pieceHashes, verifyBlock } from '../shared/hash.js';
import type { BlockBody } from './block-body.js';

/**
 * BlockStore: immutable blocks addressed by the lower-case hex SHA-256 of their bytes.
 *
 * Contract (test/contract/block-store-contract.ts runs it against every implementation):
 * - `put` verifies the bytes against the hash (HASH_MISMATCH, nothing stored), rejects blocks over
 *   the size limit (TOO_LARGE), is idempotent and atomic: a reader sees the whole block or nothing.
 * - `get` returns exactly the bytes that were put, or null when the block is absent; bytes that no
 *   longer match their hash (disk rot) throw CORRUPT instead of being served. (FsBlockStore may
 *   leave that check to its readers, see its `verifyOnGet`: the server does, since every client
 *   verifies each block it receives.)
 * - `getRange` returns bytes [start, min(end, size)) of a block and its size (no bytes when start is
 *   past the end), with the SHA-256 of each piece they cover when the range is piece-aligned
 *   (shared/hash.ts `pieceHashes`); those hashes come from bytes verified against the block's hash,
 *   so a reader can check the range alone. Null when the block is absent.
 * - `delete` of an absent block is not an error.
 * - `makeDurable(hashes)` returns once every stored block among `hashes` would survive a power
 *   loss, and lists those it found absent. A store whose puts are durable when they return may
 *   skip the look (S3: bytes first, record second, both durable, so a recorded block is there);
 *   one that defers durability (FsBlockStore `syncInGroups`) must list every block a crash lost.
 *   The commit routes call it before a commit references blocks ("a committed revision never
 *   references a block that a power loss could lose", docs/PROTOCOL.md).
 */
export interface PutResult {
  /** False when the block was already stored (the put changed nothing). */
  created: boolean;
  /** Bytes the block takes in the store (after compression); 0 when nothing new was stored. */
  storedSize: number;
}

export interface BlockRange {
  /** The whole block's size. */
  size: number;
  data: Buffer;
  /** Hex SHA-256 of each piece the range covers; null unless the range is piece-aligned. */
  pieces: string[] | null;
}

export interface BlockStore {
  put(hash: string, data: Uint8Array): Promise<PutResult>;
  /**
   * `put` of bytes hashed as they arrived (block-body.ts): same contract, but a store that has it
   * writes the body's chunks and piece table as they are instead of joining and re-hashing them.
   * Optional: `putBody` below falls back to `put`.
   */
  putBody?(hash: string, body: BlockBody): Promise<PutResult>;
  get(hash: string): Promise<Buffer | null>;
  getRange(hash: string, start: number, end: number): Promise<BlockRange | null>;
  has(hash: string): Promise<boolean>;
  delete(hash: string): Promise<void>;
  /** Makes the stored blocks among `hashes` durable; returns those found absent (see above). */
  makeDurable(hashes: readonly string[]): Promise<string[]>;
  /** Every stored hash, in no particular order (for garbage collection and checks). */
  list(): AsyncIterable<string>;
  close(): Promise<void>;
}

/** Puts a body into any store: through its `putBody` when it has one, else as one buffer. */
export function putBody(store: BlockStore, hash: string, body: BlockBody): Promise<PutResult> {
  return store.putBody ? store.putBody(hash, body) : store.put(hash, body.bytes());
}

/** checkBlock of a BlockBody: its own digest vouches for its bytes (no second hash). */
export function checkBody(hash: string, body: BlockBody, maxBlockSize: number): void {
  assertHash(hash);
  if (body.size > maxBlockSize) {
    throw new LoftError('TOO_LARGE', `block is ${body.size} bytes; the limit is ${maxBlockSize}`);
  }
  if (body.digest !== hash) {
    throw new LoftError('HASH_MISMATCH', `block bytes hash to ${body.digest}, not ${hash}`);
  }
}

/** [start, end) of a block of `size` bytes, clamped to it (empty past its end). */
export function clampRange(size: number, start: number, end: number): [number, number] {
  const from = Math.min(start, size);
  return [from, Math.min(Math.max(end, from), size)];
}

/** A range of a whole block already verified against its hash, with its piece hashes. */
export function rangeOf(block: Buffer, start: number, end: number): BlockRange {
  const [from, to] = clampRange(block.length, start, end);
  return { size: block.length, data: block.subarray(from, to), pieces: pieceHashes(block, from, to) };
}

/** What every store checks before keeping a block: a well-formed hash, the size limit, the bytes. */
export function checkBlock(hash: string, data: Uint8Array, maxBlockSize: number): void {
  assertHash(hash);
  if (data.byteLength > maxBlockSize) {
    throw new LoftError('TOO_LARGE', `block is ${data.byteLength} bytes; the limit is ${maxBlockSize}`);
  }
  verifyBlock(hash, data);
}
