import crypto, { createHash } from 'node:crypto';
import { LoftError } from './errors.js';

/** Blocks are addressed by the lower-case hex SHA-256 of their bytes. */
export const HASH_RE = /^[0-9a-f]{64}$/;

/** Node's one-shot digest (20.12+): half the cost of a Hash object for small inputs (tokens, names). */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array | string, enc: 'hex') => string }).hash;

export function sha256hex(data: Uint8Array | string): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_RE.test(value);
}

export function assertHash(value: string): void {
  if (!HASH_RE.test(value))
    throw new LoftError('BAD_HASH', `not a lower-case hex SHA-256: ${JSON.stringify(value.slice(0, 80))}`);
}

/** Throws HASH_MISMATCH unless `data` hashes to `hash`. */
export function verifyBlock(hash: string, data: Uint8Array): void {
  const actual = sha256hex(data);
  if (actual !== hash) {
    throw new LoftError('HASH_MISMATCH', `block bytes hash to ${actual}, not ${hash}`);
  }
}

/**
 * Blocks are verified in pieces of this size when only a range of one is fetched: a ranged
 * `GET /v1/blocks/:hash` names the SHA-256 of each whole piece it covers (docs/PROTOCOL.md), so a
 * small read needs 64 KiB on the wire instead of the whole block.
 */
export const PIECE_SIZE = 64 * 1024;

/**
 * Hex SHA-256 of each piece of `block` in [start, end), or null unless the range starts on a piece
 * boundary and ends on one or at the end of the block.
 */
export function pieceHashes(block: Uint8Array, start: number, end: number): string[] | null {
  if (start < 0 || end > block.length || !isPieceAligned(block.length, start, end)) return null;
  const hashes: string[] = [];
  for (let at = start; at < end; at += PIECE_SIZE) {
    hashes.push(sha256hex(block.subarray(at, Math.min(at + PIECE_SIZE, end))));
  }
  return hashes;
}

/** Whether [start, end) of a block of `size` bytes is non-empty and starts and ends on piece boundaries (or its end). */
export function isPieceAligned(size: number, start: number, end: number): boolean {
  return start < end && start % PIECE_SIZE === 0 && (end % PIECE_SIZE === 0 || end === size);
}
