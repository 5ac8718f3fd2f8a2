import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  BlockBody,
  nativeBlockHasher,
  SLAB_SIZE,
  SlabPool,
  type BlockHasher,
} from '../../../src/blockstore/block-body.js';
import { pieceHashes, PIECE_SIZE, sha256hex } from '../../../src/shared/hash.js';

/** The body of `data` pushed in pieces of `step` bytes. */
function bodyOf(data: Buffer, step: number): BlockBody {
  const body = new BlockBody();
  for (let at = 0; at < data.length; at += step) body.push(data.subarray(at, at + step));
  return body.end();
}

t.test('digest and piece table are those of the whole bytes, however they arrive', async (t) => {
  for (const size of [0, 1, PIECE_SIZE - 1, PIECE_SIZE, PIECE_SIZE + 1, SLAB_SIZE + 5, 4 * SLAB_SIZE]) {
    const data = randomBytes(size);
    for (const step of [1000, PIECE_SIZE, 65_341, SLAB_SIZE + 1]) {
      const body = bodyOf(data, step);
      t.equal(body.size, size);
      t.equal(body.digest, sha256hex(data), `digest, ${size} bytes in steps of ${step}`);
      const table = body.pieceTable();
      const expect = size ? pieceHashes(data, 0, size)!.join('') : '';
      t.equal(table.toString('hex'), expect, `piece table, ${size} in ${step}`);
      t.same(Buffer.concat(body.slabs()), data, 'slabs hold the bytes in order');
      t.same(body.bytes(), data, 'bytes is the whole block');
      t.same(body.head(PIECE_SIZE), data.subarray(0, PIECE_SIZE), 'head');
      body.release();
    }
  }
});

t.test('hashed at finish by a hasher (the native one off this thread): the same digest and table', async (t) => {
  const native = nativeBlockHasher();
  t.ok(native, 'the binding has a block hasher (scripts/setup builds it)');
  let calls = 0;
  const counting: BlockHasher = (buffers, pieceSize) => (calls++, native!(buffers, pieceSize));
  const failing: BlockHasher = () => Promise.reject(new Error('no thread pool today'));
  for (const size of [0, 1, PIECE_SIZE, PIECE_SIZE + 1, SLAB_SIZE + 5, 4 * SLAB_SIZE + 3]) {
    const data = randomBytes(size);
    const expect = size ? pieceHashes(data, 0, size)!.join('') : '';
    for (const [name, hasher] of [
      ['native', counting],
      ['failing (hashed on this thread instead)', failing],
    ] as const) {
      const pool = new SlabPool(8);
      const body = new BlockBody(pool, hasher);
      for (let at = 0; at < data.length; at += 65_341) body.push(data.subarray(at, at + 65_341));
      const before = calls;
      t.equal(await body.finish(), body);
      if (hasher === counting) t.equal(calls, before + 1, `${name}: one hashing job`);
      t.equal(body.digest, sha256hex(data), `${name}: digest of ${size} bytes`);
      t.equal(body.pieceTable().toString('hex'), expect, `${name}: piece table of ${size} bytes`);
      t.same(body.bytes(), data, `${name}: bytes`);
      t.equal(await body.finish(), body, 'finish again: nothing more to do');
      body.release();
    }
  }
  // Ended without finish (a caller that reads the digest at once): hashed here, from the slabs.
  const data = randomBytes(SLAB_SIZE + 77);
  const body = new BlockBody(new SlabPool(0), counting);
  const before = calls;
  body.push(data);
  t.equal(body.digest, sha256hex(data));
  t.equal(body.pieceTable().toString('hex'), pieceHashes(data, 0, data.length)!.join(''));
  t.equal(calls, before, 'the hasher was not asked');
});

t.test('the caller may reuse what it pushed: the body copies it', async (t) => {
  const chunk = Buffer.alloc(1000, 1);
  const body = new BlockBody();
  body.push(chunk);
  chunk.fill(2);
  t.same(body.bytes(), Buffer.alloc(1000, 1));
  body.release();
});

t.test('after release the body refuses to be read, and a copy taken before stays intact', async (t) => {
  const pool = new SlabPool(4);
  const data = randomBytes(SLAB_SIZE * 2);
  const body = BlockBody.of(data, pool);
  const kept = body.bytes();
  body.release();
  body.release(); // idempotent: the slabs are given back once
  t.equal(pool.free, 2, 'its slabs are back in the pool');
  t.throws(() => body.slabs(), { code: 'INTERNAL' });
  t.throws(() => body.bytes(), { code: 'INTERNAL' });
  // The slabs go to the next body: overwriting them must not touch the copy.
  const next = BlockBody.of(Buffer.alloc(SLAB_SIZE * 2, 9), pool);
  t.equal(pool.free, 0, 'the next body took them');
  t.same(kept, data);
  t.same(next.bytes(), Buffer.alloc(SLAB_SIZE * 2, 9));
  next.release();
  t.throws(() => next.push(Buffer.from('x')), { code: 'INTERNAL' }, 'no push after the end');
});

t.test('a pool keeps at most its bound of free slabs', async (t) => {
  const pool = new SlabPool(3);
  const bodies = [0, 1, 2, 3].map(() => BlockBody.of(randomBytes(SLAB_SIZE), pool));
  for (const b of bodies) b.release();
  t.equal(pool.free, 3);
});
