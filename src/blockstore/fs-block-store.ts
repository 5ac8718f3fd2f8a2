/**
 * BlockStore on a local directory: `<root>/<hh>/<hh>/<hash>`, two levels of 256 shards so that no
 * directory grows past a few thousand entries even with hundreds of millions of blocks.
 *
 * A put writes `<root>/tmp/<random>`, fsyncs it, renames it into place and fsyncs the shard
 * directory: after a crash a block is either complete or absent, never torn. Concurrent puts of the
 * same hash race harmlessly (both rename identical bytes). Leftover temp files are removed at open
 * (only those older than `tmpMaxAgeMs` when another process may be writing: `loft gc` or
 * `loft user add` beside a running server must not remove the server's uploads in progress).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LoftError } from '../shared/errors.js';
import { assertHash, isPieceAligned, PIECE_SIZE, sha256hex } from '../shared/hash.js';
import { MAX_BLOCK_SIZE } from '../shared/protocol.js';
import {
  decodeBlock,
  encodeBlock,
  MAX_HEAD_SIZE,
  parseHead,
  RAW,
  tablePieces,
  type Compression,
} from './block-codec.js';
import {
  clampRange,
  rangeOf,
  type BlockRange,
  type BlockStore,
  type PutResult,
  checkBlock,
} from './block-store.js';
import { fsyncPath } from '../shared/fsync-path.js';

export interface FsBlockStoreOptions {
  root: string;
  compression?: Compression;
  maxBlockSize?: number;
  /** fsync files and directories (on by default; tests of logic may turn it off for speed). */
  durable?: boolean;
  /**
   * Re-hash every block on get (default true). The server turns it off: every Loft client checks
   * each block against its hash before using it, so a second check there only costs the server
   * ~0.6 ms of CPU per MiB served (measured: ~20% of a cold read's server time). A damaged block
   * still never reaches a user: the client refuses it (EIO), and put always verifies.
   */
  verifyOnGet?: boolean;
  /** At open, remove only temp files older than this (default 0: all of them). */
  tmpMaxAgeMs?: number;
}

export class FsBlockStore implements BlockStore {
  readonly #root: string;
  readonly #tmp: string;
  readonly #compression: Compression;
  readonly #maxBlockSize: number;
  readonly #durable: boolean;
  readonly #verifyOnGet: boolean;

  constructor(options: FsBlockStoreOptions) {
    this.#root = options.root;
    this.#tmp = path.join(this.#root, 'tmp');
    this.#compression = options.compression ?? 'brotli';
    this.#maxBlockSize = options.maxBlockSize ?? MAX_BLOCK_SIZE;
    this.#durable = options.durable ?? true;
    this.#verifyOnGet = options.verifyOnGet ?? true;
    mkdirSync(this.#tmp, { recursive: true });
    const maxAge = options.tmpMaxAgeMs ?? 0;
    for (const leftover of readdirSync(this.#tmp)) {
      const file = path.join(this.#tmp, leftover);
      try {
        if (maxAge > 0 && Date.now() - statSync(file).mtimeMs < maxAge) continue;
      } catch {
        continue; // renamed into place meanwhile
      }
      rmSync(file, { force: true });
    }
  }

  #path(hash: string): string {
    return path.join(this.#root, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  async put(hash: string, data: Uint8Array): Promise<PutResult> {
    checkBlock(hash, data, this.#maxBlockSize);
    const final = this.#path(hash);
    if (await exists(final)) return { created: false, storedSize: 0 };
    const parts = await encodeBlock(data, this.#compression);
    const tmp = path.join(this.#tmp, randomBytes(12).toString('hex'));
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writev(parts);
      if (this.#durable) await fh.sync();
    } catch (err) {
      await fh.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    const dir = path.dirname(final);
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.rename(tmp, final);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    if (this.#durable) await fsyncPath(dir);
    return { created: true, storedSize: parts.reduce((n, p) => n + p.length, 0) };
  }

  async get(hash: string): Promise<Buffer | null> {
    assertHash(hash);
    let stored: Buffer;
    try {
      stored = await fs.readFile(this.#path(hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const data = await decodeBlock(stored, hash);
    if (this.#verifyOnGet && sha256hex(data) !== hash)
      throw new LoftError('CORRUPT', `block ${hash} no longer matches its hash`);
    return data;
  }

  async getRange(hash: string, start: number, end: number): Promise<BlockRange | null> {
    assertHash(hash);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.#path(hash), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const { size: fileSize } = await fh.stat();
      const first = Buffer.allocUnsafe(Math.min(fileSize, MAX_HEAD_SIZE));
      await readFully(fh, first, 0);
      const head = parseHead(first, hash);
      let size: number;
      let block: Buffer | null = null;
      if (head.codec === RAW && head.pieces) {
        size = fileSize - head.payloadOffset; // only the range is read: the table vouches for it
      } else {
        const stored = Buffer.allocUnsafe(fileSize);
        await readFully(fh, stored, 0);
        block = await decodeBlock(stored, hash);
        size = block.length;
      }
      if (!head.pieces) {
        // A version-1 block has no table: its piece hashes are only as good as a check of the whole.
        if (sha256hex(block!) !== hash)
          throw new LoftError('CORRUPT', `block ${hash} no longer matches its hash`);
        return rangeOf(block!, start, end);
      }
      const [from, to] = clampRange(size, start, end);
      let data: Buffer;
      if (block) data = block.subarray(from, to);
      else {
        data = Buffer.allocUnsafe(to - from);
        await readFully(fh, data, head.payloadOffset + from);
      }
      return {
        size,
        data,
        pieces: isPieceAligned(size, from, to) ? this.#pieces(head.pieces, from, to) : null,
      };
    } finally {
      await fh.close();
    }
  }

  /** Hashes of the pieces over [from, to) from a stored table; a cut table is a damaged block. */
  #pieces(table: Buffer, from: number, to: number): string[] {
    const first = from / PIECE_SIZE;
    const pieces = tablePieces(table, first, Math.ceil(to / PIECE_SIZE) - first);
    if (!pieces) throw new LoftError('CORRUPT', 'block piece table is too short');
    return pieces;
  }

  async has(hash: string): Promise<boolean> {
    assertHash(hash);
    return exists(this.#path(hash));
  }

  async delete(hash: string): Promise<void> {
    assertHash(hash);
    await fs.rm(this.#path(hash), { force: true });
  }

  async *list(): AsyncIterable<string> {
    for (const a of await fs.readdir(this.#root)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await fs.readdir(path.join(this.#root, a))) {
        for (const name of await fs.readdir(path.join(this.#root, a, b))) {
          if (/^[0-9a-f]{64}$/.test(name)) yield name;
        }
      }
    }
  }

  async close(): Promise<void> {}
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Fills `buf` from `position`; a short file is a damaged block. */
async function readFully(fh: fs.FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new LoftError('CORRUPT', 'block file is shorter than its header says');
    done += bytesRead;
  }
}
