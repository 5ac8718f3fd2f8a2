/**
 * BlockStore on a local directory: `<root>/<hh>/<hh>/<hash>`, two levels of 256 shards so that no
 * directory grows past a few thousand entries even with hundreds of millions of blocks.
 *
 * A put writes `<root>/tmp/<random>`, fsyncs it, renames it into place and fsyncs the shard
 * directory: after a crash a block is either complete or absent, never torn. Concurrent puts of the
 * same hash race harmlessly (both rename identical bytes).
 *
 * With `syncInGroups` (the server) a put returns once the bytes are written to the temp file, and
 * BlockFlusher makes them durable in groups in the background (fdatasync of each, the renames, one
 * fsync per shard folder); `makeDurable` waits for a commit's blocks. The per-block fsync pair cost
 * every PUT a disk flush in its latency (a 1 GiB upload measured ~40% slower with it). A block's
 * final path still only ever holds a durable block; a pending one is read from its temp file.
 *
 * Leftover temp files are removed at open
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
  encodeBody,
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
  checkBody,
} from './block-store.js';
import type { BlockBody } from './block-body.js';
import { fsyncPath } from '../shared/fsync-path.js';
import { BlockFlusher, nativeStoreFileIo, type StoreFileIo } from './block-flusher.js';

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
  /**
   * Put answers before its block is durable; blocks are synced in groups in the background and
   * `makeDurable` waits for them (default false: each put is durable when it returns).
   */
  syncInGroups?: boolean;
  /** Told of a block that could not be made durable (it is then absent). */
  onDropped?: (hash: string, err: unknown) => void;
  /**
   * With `syncInGroups`: write and sync blocks through the native binding's file steps where it is
   * built (block-flusher.ts, StoreFileIo; default true), else through node's fs.
   */
  nativeIo?: boolean;
}

/**
 * Hashes known to be durable at their final path (flushed or seen there by this process), so a
 * commit of a large file edit checks its unchanged blocks once, not on every commit. Cleared when
 * full: it only saves an access(2) per block.
 */
const KNOWN_DURABLE_MAX = 200_000;
/** access(2) calls at once when `makeDurable` checks blocks that are not pending. */
const CHECK_LANES = 16;

export class FsBlockStore implements BlockStore {
  readonly #root: string;
  readonly #tmp: string;
  readonly #compression: Compression;
  readonly #maxBlockSize: number;
  readonly #durable: boolean;
  readonly #verifyOnGet: boolean;
  readonly #flusher: BlockFlusher | null;
  /** The native file steps, used with the flusher (see FsBlockStoreOptions.nativeIo). */
  readonly #io: StoreFileIo | null;
  /** Puts under way, by hash: a second put of the same block waits for the first. */
  readonly #writing = new Map<string, Promise<PutResult>>();
  readonly #known = new Set<string>();

  constructor(options: FsBlockStoreOptions) {
    this.#root = options.root;
    this.#tmp = path.join(this.#root, 'tmp');
    this.#compression = options.compression ?? 'brotli';
    this.#maxBlockSize = options.maxBlockSize ?? MAX_BLOCK_SIZE;
    this.#durable = options.durable ?? true;
    this.#verifyOnGet = options.verifyOnGet ?? true;
    const grouped = this.#durable && options.syncInGroups === true;
    this.#io = grouped && options.nativeIo !== false ? nativeStoreFileIo() : null;
    this.#flusher = grouped ? new BlockFlusher((h, err) => this.#dropped(h, err, options), this.#io) : null;
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
    return this.#putOnce(hash, () => encodeBlock(data, this.#compression));
  }

  /** put of a body hashed as it arrived: its chunks and piece table are written as they are. */
  async putBody(hash: string, body: BlockBody): Promise<PutResult> {
    checkBody(hash, body, this.#maxBlockSize);
    return this.#putOnce(hash, () => encodeBody(body, this.#compression));
  }

  async #putOnce(hash: string, encode: () => Promise<Buffer[]>): Promise<PutResult> {
    const under = this.#writing.get(hash);
    if (under) {
      // The same block is being written: its bytes are the same; wait, then it is there.
      const ok = await under.then(
        () => true,
        () => false,
      );
      if (ok) return { created: false, storedSize: 0 };
    }
    const put = this.#put(hash, encode);
    this.#writing.set(hash, put);
    try {
      return await put;
    } finally {
      if (this.#writing.get(hash) === put) this.#writing.delete(hash);
    }
  }

  async #put(hash: string, encode: () => Promise<Buffer[]>): Promise<PutResult> {
    const final = this.#path(hash);
    if (this.#flusher?.location(hash) !== undefined || (await exists(final)))
      return { created: false, storedSize: 0 };
    const parts = await encode();
    const tmp = path.join(this.#tmp, randomBytes(12).toString('hex'));
    const storedSize = parts.reduce((n, p) => n + p.length, 0);
    if (this.#io && this.#flusher) {
      try {
        await this.#io.writeNew(tmp, parts);
      } catch (err) {
        // A partial file is ours to remove (EEXIST: a name not ours, never in practice).
        if ((err as { code?: string }).code !== 'EEXIST') await fs.rm(tmp, { force: true });
        throw err;
      }
      this.#flusher.add(hash, tmp, final);
      return { created: true, storedSize };
    }
    const fh = await fs.open(tmp, 'wx');
    try {
      await writeAll(fh, parts);
      if (this.#durable && !this.#flusher) await fh.sync();
    } catch (err) {
      await fh.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    if (this.#flusher) {
      this.#flusher.add(hash, tmp, final);
      return { created: true, storedSize };
    }
    const dir = path.dirname(final);
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.rename(tmp, final);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    if (this.#durable) await fsyncPath(dir);
    return { created: true, storedSize };
  }

  /**
   * Waits until every block of `hashes` that is stored is durable; returns those that are not
   * stored (never put, deleted, or lost: written before a crash and never synced, or dropped after
   * an I/O error). The commit routes call it before a commit references the blocks.
   */
  async makeDurable(hashes: readonly string[]): Promise<string[]> {
    const absent: string[] = [];
    const check: string[] = [];
    const waits: Promise<void>[] = [];
    for (const hash of new Set(hashes)) {
      assertHash(hash);
      const under = this.#writing.get(hash);
      const pending = this.#flusher?.whenDurable(hash);
      if (under || pending) {
        waits.push(
          (async () => {
            if (
              under &&
              !(await under.then(
                () => true,
                () => false,
              ))
            )
              return void absent.push(hash);
            const durable = await (this.#flusher?.whenDurable(hash) ?? null);
            if (durable === false) absent.push(hash);
            else if (durable === null) check.push(hash); // synced (or never deferred) meanwhile
          })(),
        );
      } else if (!this.#known.has(hash)) check.push(hash);
    }
    await Promise.all(waits);
    let next = 0;
    const lane = async () => {
      while (next < check.length) {
        const hash = check[next++]!;
        if (await exists(this.#path(hash))) this.#remember(hash);
        else absent.push(hash);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHECK_LANES, check.length) }, lane));
    return absent;
  }

  #remember(hash: string): void {
    if (this.#known.size >= KNOWN_DURABLE_MAX) this.#known.clear();
    this.#known.add(hash);
  }

  #dropped(hash: string, err: unknown, options: FsBlockStoreOptions): void {
    this.#known.delete(hash);
    options.onDropped?.(hash, err);
  }

  /** Opens a block's file where it is: its temp file while pending, else its final path. */
  async #open(hash: string): Promise<fs.FileHandle | null> {
    const pending = this.#flusher?.location(hash);
    for (const p of pending ? [pending, this.#path(hash)] : [this.#path(hash)]) {
      try {
        return await fs.open(p, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return null;
  }

  async get(hash: string): Promise<Buffer | null> {
    assertHash(hash);
    const fh = await this.#open(hash);
    if (!fh) return null;
    let stored: Buffer;
    try {
      stored = await fh.readFile();
    } finally {
      await fh.close();
    }
    const data = await decodeBlock(stored, hash);
    if (this.#verifyOnGet && sha256hex(data) !== hash)
      throw new LoftError('CORRUPT', `block ${hash} no longer matches its hash`);
    return data;
  }

  async getRange(hash: string, start: number, end: number): Promise<BlockRange | null> {
    assertHash(hash);
    const fh = await this.#open(hash);
    if (!fh) return null;
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
    return this.#flusher?.location(hash) !== undefined || exists(this.#path(hash));
  }

  async delete(hash: string): Promise<void> {
    assertHash(hash);
    // A pending block is deleted once in place (else its rename would bring it back).
    await this.#writing.get(hash)?.catch(() => {});
    await this.#flusher?.whenDurable(hash);
    this.#known.delete(hash);
    await fs.rm(this.#path(hash), { force: true });
  }

  async *list(): AsyncIterable<string> {
    const pending = new Set<string>();
    for (const hash of this.#flusher?.hashes() ?? []) {
      pending.add(hash);
      yield hash;
    }
    for (const a of await fs.readdir(this.#root)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await fs.readdir(path.join(this.#root, a))) {
        for (const name of await fs.readdir(path.join(this.#root, a, b))) {
          if (/^[0-9a-f]{64}$/.test(name) && !pending.has(name)) yield name;
        }
      }
    }
  }

  /** Everything written so far made durable (pending blocks synced in place). */
  async close(): Promise<void> {
    await Promise.all([...this.#writing.values()].map((w) => w.catch(() => {})));
    await this.#flusher?.drain();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Writes every byte of `parts` from the start of the file (writev may write less than asked). */
async function writeAll(fh: fs.FileHandle, parts: Buffer[]): Promise<void> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  let done = 0;
  let rest = parts;
  for (;;) {
    // At most IOV_MAX (1024) buffers per call.
    const { bytesWritten } = await fh.writev(rest.slice(0, 1024), done);
    done += bytesWritten;
    if (done >= total) return;
    if (bytesWritten === 0) throw new LoftError('INTERNAL', 'block file write made no progress');
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const p of rest) {
      if (skip >= p.length) skip -= p.length;
      else {
        next.push(skip > 0 ? p.subarray(skip) : p);
        skip = 0;
      }
    }
    rest = next;
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
