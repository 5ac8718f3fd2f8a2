/**
 * Test helpers for the client's read path: an in-memory BlockSource that counts calls and can be
 * told to delay, to fail with UNAVAILABLE, or to answer wrong bytes; a trivial Connectivity; temp
 * dirs; deterministic random bytes; polling.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '../../../src/shared/errors.js';
import { pieceHashes, sha256hex } from '../../../src/shared/hash.js';
import type { BlockSource, Connectivity } from '../../../src/client/hydrate/hydrator.js';
import type { BlockRangeAnswer } from '../../../src/shared/protocol.js';

export { prng } from '../../helpers/prng.js';

export interface Block {
  hash: string;
  data: Buffer;
}

/**
 * A block with content no other call returned (sizes 1..3 have few distinct values: at most a few
 * hundred of those per process).
 */
const seen = new Set<string>();
export function block(size: number): Block {
  for (let tries = 0; tries < 10_000; tries++) {
    const data = randomBytes(size);
    const hash = sha256hex(data);
    if (!seen.has(hash)) {
      seen.add(hash);
      return { hash, data };
    }
  }
  throw new Error(`no fresh block of ${size} bytes left`);
}

export function tmpDirs(t: { teardown(fn: () => void): void }, prefix: string): () => string {
  const dirs: string[] = [];
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  return () => {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export class SimpleConnectivity implements Connectivity {
  changes: boolean[] = [];
  constructor(public online = true) {}
  setOnline(online: boolean): void {
    if (online !== this.online) this.changes.push(online);
    this.online = online;
  }
}

export class FakeSource implements BlockSource {
  readonly blocks = new Map<string, Buffer>();
  /** Every getBlock call, in order. */
  readonly calls: string[] = [];
  delayMs = 0;
  /** Per-hash delay (ms), instead of delayMs. */
  readonly delays = new Map<string, number>();
  /** When true every call fails with LoftError('UNAVAILABLE'). */
  unavailable = false;
  /** Calls fail with UNAVAILABLE until this time (Date.now() ms). */
  unavailableUntil = 0;
  /** hash → how many more answers are wrong bytes; `wrongKind` says how they are wrong. */
  readonly wrong = new Map<string, number>();
  wrongKind: 'flip' | 'truncate' = 'flip';
  /** Bytes answered, right or wrong. */
  servedBytes = 0;

  add(...blocks: Block[]): this {
    for (const b of blocks) this.blocks.set(b.hash, b.data);
    return this;
  }

  count(hash: string): number {
    return this.calls.filter((h) => h === hash).length;
  }

  async getBlock(hash: string, signal?: AbortSignal): Promise<Buffer> {
    this.calls.push(hash);
    const delay = this.delays.get(hash) ?? this.delayMs;
    if (delay) await sleep(delay);
    if (signal?.aborted) throw new LoftError('UNAVAILABLE', 'aborted');
    if (this.unavailable || Date.now() < this.unavailableUntil)
      throw new LoftError('UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:1');
    const data = this.blocks.get(hash);
    if (!data) throw new LoftError('NOT_FOUND', `no block ${hash}`);
    const left = this.wrong.get(hash) ?? 0;
    if (left > 0) {
      this.wrong.set(hash, left - 1);
      const bad =
        this.wrongKind === 'flip' ? Buffer.from(data) : Buffer.from(data.subarray(0, data.length >> 1));
      if (this.wrongKind === 'flip') bad[bad.length >> 1]! ^= 0xff;
      this.servedBytes += bad.length;
      return bad;
    }
    this.servedBytes += data.length;
    return Buffer.from(data);
  }
}

/**
 * A FakeSource that also answers ranges, like `GET /v1/blocks/:hash` with a Range header: the bytes
 * and the piece hashes the server vouches for. Can be told to answer a range with wrong bytes, with
 * no piece hashes, with the whole block (a server that ignores Range), or to fail.
 */
export class RangedFakeSource extends FakeSource {
  /** Every getBlockRange call as "hash:start-end". */
  readonly rangeCalls: string[] = [];
  /** How many more ranges are answered with one byte flipped (the piece hashes stay right). */
  wrongRanges = 0;
  rangeMode: 'pieces' | 'no-pieces' | 'whole' | 'fail' = 'pieces';
  rangeDelayMs = 0;

  async getBlockRange(
    hash: string,
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<BlockRangeAnswer> {
    this.rangeCalls.push(`${hash}:${start}-${end}`);
    if (this.rangeDelayMs) await sleep(this.rangeDelayMs);
    if (signal?.aborted) throw new LoftError('UNAVAILABLE', 'aborted');
    if (this.rangeMode === 'fail') throw new LoftError('UNAVAILABLE', 'connection reset');
    const block = this.blocks.get(hash);
    if (!block) throw new LoftError('NOT_FOUND', `no block ${hash}`);
    if (this.rangeMode === 'whole') {
      this.servedBytes += block.length;
      return { data: Buffer.from(block), pieces: null, whole: true };
    }
    const data = Buffer.from(block.subarray(start, end));
    const pieces =
      this.rangeMode === 'pieces' ? pieceHashes(block, start, Math.min(end, block.length)) : null;
    if (this.wrongRanges > 0) {
      this.wrongRanges--;
      data[data.length >> 1]! ^= 0xff;
    }
    this.servedBytes += data.length;
    return { data, pieces, whole: false };
  }
}
