/**
 * BlockBody: a block's bytes as they arrived (an HTTP PUT body's chunks), hashed as they arrive.
 *
 * Each chunk is hashed twice while it is still in the CPU's cache: into the SHA-256 of the whole
 * block (the hash the server verifies) and into the SHA-256 of its PIECE_SIZE piece (the stored
 * piece table, block-codec.ts); then it is copied into slabs of the server's SlabPool. Before, the
 * server collected each body's chunks, joined them into a fresh buffer (new memory outside V8's
 * heap for every request, page faults on it, and more for the GC to account), hashed it whole to
 * verify it, then read it again to hash it piece by piece for the table. Now the socket's chunks
 * are dropped as soon as they are copied and a slab is reused once its block is written
 * (`release`). The HTTP parser's own chunk buffers remain (node allocates one per read): they are
 * what still drives the server's GC during an upload.
 *
 * With a BlockHasher (the server's, where the native binding is built: native/block-io.cc
 * `hashBlock`), a body is not hashed as it arrives but once it has all arrived (`finish`), on libuv's
 * thread pool: the server's JavaScript thread, which parses every upload, was the one busy thread
 * of a big upload's send phase (a third of the machine idle meanwhile, issue 17), and hashing was
 * ~40% of its work per block. The bytes are then read once more, from the slabs.
 *
 * The hashes are this process's own: a BlockBody can only say what its bytes are, so a store may
 * trust `digest` instead of hashing the bytes again. `slabs` hands a store the bytes without a copy,
 * valid until `release`; `bytes` is a copy the caller may keep.
 */
import { createHash, type Hash } from 'node:crypto';
import { LoftError } from '../shared/errors.js';
import { PIECE_SIZE } from '../shared/hash.js';
import { optionalBinding } from '../shared/native-binding.js';

/** Hashes a block's bytes (in order) whole and by `pieceSize` piece, off this thread. */
export type BlockHasher = (buffers: Buffer[], pieceSize: number) => Promise<{ hash: string; pieces: Buffer }>;

/** The binding's hasher (native/block-io.cc), or null where it is not built or does not load. */
export function nativeBlockHasher(): BlockHasher | null {
  const { hashBlock } = (optionalBinding() ?? {}) as { hashBlock?: BlockHasher };
  return hashBlock ?? null;
}

const PIECE_HASH_SIZE = 32;
/** Bytes per slab: 4 pieces; an average 1 MiB block takes 4, the 8 MiB limit 32 (one writev). */
export const SLAB_SIZE = 256 * 1024;
/** Free slabs a pool keeps by default (32 MiB: 8 uploads of 4 MiB blocks in flight); more are let go. */
const POOL_MAX = 128;

/**
 * Slabs for BlockBodies, reused once a body is released. One per server (block-routes.ts makes it
 * with the parser): bounded by `max` free slabs, and a body takes new memory only while every slab
 * is in use.
 */
export class SlabPool {
  readonly #free: Buffer[] = [];

  constructor(readonly max = POOL_MAX) {}

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(SLAB_SIZE);
  }

  give(slab: Buffer): void {
    if (this.#free.length < this.max) this.#free.push(slab);
  }

  /** Free slabs held (tests). */
  get free(): number {
    return this.#free.length;
  }
}

export class BlockBody {
  /** Full slabs, then the one being filled (its first `#fill` bytes). */
  #slabs: Buffer[] = [];
  #fill = 0;
  #released = false;
  readonly #whole: Hash | null;
  readonly #pieces: Buffer[] = [];
  /** The piece table, when a hasher made it (else the concatenation of #pieces). */
  #table: Buffer | null = null;
  #piece: Hash | null = null;
  /** Bytes in the current piece. */
  #inPiece = 0;
  #size = 0;
  #digest: string | null = null;

  /**
   * `pool`: where slabs come from and go back to (a private one when none is given). `hasher`: hash
   * at `finish` with it instead of as the bytes arrive.
   */
  constructor(
    private readonly pool: SlabPool = new SlabPool(0),
    private readonly hasher: BlockHasher | null = null,
  ) {
    this.#whole = hasher ? null : createHash('sha256');
  }

  /** Adds the next bytes (copied: the caller may reuse `chunk`). */
  push(chunk: Uint8Array): void {
    if (this.#digest !== null) throw new LoftError('INTERNAL', 'block body pushed after it ended');
    if (chunk.length === 0) return;
    this.#whole?.update(chunk);
    for (let at = 0; at < chunk.length;) {
      if (this.#slabs.length === 0 || this.#fill === SLAB_SIZE) {
        this.#slabs.push(this.pool.take());
        this.#fill = 0;
      }
      const n = Math.min(SLAB_SIZE - this.#fill, chunk.length - at);
      this.#slabs[this.#slabs.length - 1]!.set(chunk.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
    }
    this.#size += chunk.length;
    if (this.#whole) this.#hashPieces(chunk);
  }

  #hashPieces(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.length;) {
      this.#piece ??= createHash('sha256');
      const n = Math.min(PIECE_SIZE - this.#inPiece, chunk.length - at);
      this.#piece.update(n === chunk.length ? chunk : chunk.subarray(at, at + n));
      at += n;
      this.#inPiece += n;
      if (this.#inPiece === PIECE_SIZE) this.#endPiece();
    }
  }

  /**
   * Ends the body and hashes it with the hasher, off this thread (without one, as `end`). A hasher
   * that fails leaves the hashing to this thread: the body is never left unhashed.
   */
  async finish(): Promise<this> {
    if (this.#digest !== null || !this.hasher) return this.end();
    this.#live();
    try {
      const { hash, pieces } = await this.hasher(this.#views(), PIECE_SIZE);
      this.#digest ??= hash;
      this.#table ??= pieces;
    } catch {
      // hashed below
    }
    return this.end();
  }

  #endPiece(): void {
    this.#pieces.push(this.#piece!.digest());
    this.#piece = null;
    this.#inPiece = 0;
  }

  /** Ends the body: no more bytes. Idempotent. */
  end(): this {
    if (this.#digest === null) {
      if (!this.#whole) {
        // Deferred to a hasher that was not asked (or failed): hashed here, from the slabs.
        const whole = createHash('sha256');
        for (const v of this.#views()) {
          whole.update(v);
          this.#hashPieces(v);
        }
        if (this.#inPiece > 0) this.#endPiece();
        this.#digest = whole.digest('hex');
        return this;
      }
      if (this.#inPiece > 0) this.#endPiece();
      this.#digest = this.#whole.digest('hex');
    }
    return this;
  }

  get size(): number {
    return this.#size;
  }

  /** Lower-case hex SHA-256 of the whole body (ends it). */
  get digest(): string {
    return this.end().#digest!;
  }

  /** The bytes in order, as views of pooled slabs: valid until `release` (ends it). */
  slabs(): Buffer[] {
    this.#live();
    this.end();
    return this.#views();
  }

  #views(): Buffer[] {
    return this.#slabs.map((s, i) => (i === this.#slabs.length - 1 ? s.subarray(0, this.#fill) : s));
  }

  /** The SHA-256 of each PIECE_SIZE piece, concatenated: block-codec.ts's piece table (ends it). */
  pieceTable(): Buffer {
    this.end();
    return this.#table ?? Buffer.concat(this.#pieces, this.#pieces.length * PIECE_HASH_SIZE);
  }

  /** The bytes as one new buffer the caller may keep (ends it). */
  bytes(): Buffer {
    this.#live();
    this.end();
    const out = Buffer.allocUnsafe(this.#size);
    let at = 0;
    for (const s of this.slabs()) at += s.copy(out, at);
    return out;
  }

  /** A copy of the first `n` bytes (or all). */
  head(n: number): Buffer {
    this.#live();
    const want = Math.min(n, this.#size);
    const out = Buffer.allocUnsafe(want);
    let at = 0;
    for (const s of this.#slabs) {
      if (at >= want) break;
      at += s.copy(out, at, 0, Math.min(SLAB_SIZE, want - at));
    }
    return out;
  }

  /**
   * Gives the slabs back to the pool; the body is unusable after. Call it once nothing reads the
   * views `slabs` returned (the store's write has ended). Idempotent.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const s of this.#slabs) this.pool.give(s);
    this.#slabs = [];
  }

  #live(): void {
    if (this.#released) throw new LoftError('INTERNAL', 'block body used after release');
  }

  /** A body of these bytes (tests). */
  static of(data: Uint8Array, pool?: SlabPool): BlockBody {
    const body = new BlockBody(pool);
    body.push(data);
    return body.end();
  }
}
