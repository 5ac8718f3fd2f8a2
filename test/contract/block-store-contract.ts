/**
 * The BlockStore contract: every implementation (memory, local disk, S3 later) runs this suite.
 * `factory` returns a fresh, empty store; the suite closes it.
 */
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { BlockBody } from '../../src/blockstore/block-body.js';
import { putBody, type BlockStore } from '../../src/blockstore/block-store.js';
import { PIECE_SIZE, sha256hex } from '../../src/shared/hash.js';

export interface BlockStoreFactory {
  (): Promise<BlockStore>;
}

export function blockStoreContract(
  t: Test,
  name: string,
  factory: BlockStoreFactory,
  maxBlockSize: number,
): void {
  t.test(`${name}: BlockStore contract`, async (t) => {
    let store: BlockStore;
    t.beforeEach(async () => {
      store = await factory();
    });
    t.afterEach(async () => {
      await store.close();
    });

    t.test('put then get returns the same bytes; has reports presence', async (t) => {
      for (const data of [
        Buffer.alloc(0),
        Buffer.from('x'),
        randomBytes(100_000),
        Buffer.alloc(1 << 20, 'abc'),
      ]) {
        const hash = sha256hex(data);
        t.equal(await store.has(hash), false);
        const r = await store.put(hash, data);
        t.equal(r.created, true);
        t.equal(await store.has(hash), true);
        t.same(await store.get(hash), data);
      }
    });

    t.test('makeDurable never reports a stored block absent', async (t) => {
      const blocks = [randomBytes(1000), randomBytes(70_000), Buffer.alloc(200_000, 'z')];
      const hashes = blocks.map((b) => sha256hex(b));
      await Promise.all(blocks.map((b, i) => store.put(hashes[i]!, b)));
      t.same(await store.makeDurable([...hashes, hashes[0]!]), []);
      t.same(await store.makeDurable([]), []);
      for (const [i, h] of hashes.entries()) t.same(await store.get(h), blocks[i]);
      await t.rejects(store.makeDurable(['not-a-hash']), { code: 'BAD_HASH' });
    });

    t.test('put is idempotent', async (t) => {
      const data = randomBytes(5000);
      const hash = sha256hex(data);
      t.equal((await store.put(hash, data)).created, true);
      t.equal((await store.put(hash, data)).created, false);
      t.same(await store.get(hash), data);
    });

    t.test('concurrent puts of one block store it once, intact', async (t) => {
      const data = randomBytes(300_000);
      const hash = sha256hex(data);
      await Promise.all(Array.from({ length: 8 }, () => store.put(hash, data)));
      t.same(await store.get(hash), data);
      const all: string[] = [];
      for await (const h of store.list()) all.push(h);
      t.same(all, [hash]);
    });

    t.test('a mismatching hash is rejected and nothing is stored', async (t) => {
      const data = randomBytes(1000);
      const wrong = sha256hex(Buffer.from('something else'));
      await t.rejects(store.put(wrong, data), { code: 'HASH_MISMATCH' });
      t.equal(await store.has(wrong), false);
      t.equal(await store.get(wrong), null);
    });

    t.test('an invalid hash is rejected', async (t) => {
      for (const h of ['', 'abc', 'A'.repeat(64), 'g'.repeat(64), '../' + 'a'.repeat(61)]) {
        await t.rejects(store.put(h, Buffer.from('x')), { code: 'BAD_HASH' });
        await t.rejects(store.get(h), { code: 'BAD_HASH' });
      }
    });

    t.test('a block over the size limit is rejected with TOO_LARGE', async (t) => {
      const data = Buffer.alloc(maxBlockSize + 1, 7);
      const hash = sha256hex(data);
      await t.rejects(store.put(hash, data), { code: 'TOO_LARGE' });
      t.equal(await store.has(hash), false);
      const fits = Buffer.alloc(maxBlockSize, 7);
      t.equal((await store.put(sha256hex(fits), fits)).created, true);
    });

    t.test('get of an absent block is null; delete is idempotent', async (t) => {
      const data = randomBytes(10);
      const hash = sha256hex(data);
      t.equal(await store.get(hash), null);
      await store.delete(hash);
      await store.put(hash, data);
      await store.delete(hash);
      t.equal(await store.has(hash), false);
      t.equal(await store.get(hash), null);
    });

    t.test('a deleted block is gone from list and can be put again (garbage collection)', async (t) => {
      const keep = randomBytes(100);
      const drop = randomBytes(100);
      await store.put(sha256hex(keep), keep);
      await store.put(sha256hex(drop), drop);
      await store.delete(sha256hex(drop));
      const listed: string[] = [];
      for await (const h of store.list()) listed.push(h);
      t.same(listed, [sha256hex(keep)]);
      const again = await store.put(sha256hex(drop), drop);
      t.equal(again.created, true, 'stored anew, not mistaken for present');
      t.same(await store.get(sha256hex(drop)), drop);
      t.same(await store.get(sha256hex(keep)), keep);
    });

    t.test('getRange: bytes, size and the hashes of the pieces a range covers', async (t) => {
      const data = randomBytes(3 * PIECE_SIZE + 1000);
      const hash = sha256hex(data);
      await store.put(hash, data);
      const piece = (i: number) => sha256hex(data.subarray(i * PIECE_SIZE, (i + 1) * PIECE_SIZE));
      const one = await store.getRange(hash, PIECE_SIZE, 2 * PIECE_SIZE);
      t.same(one?.data, data.subarray(PIECE_SIZE, 2 * PIECE_SIZE));
      t.equal(one?.size, data.length);
      t.same(one?.pieces, [piece(1)]);
      const tail = await store.getRange(hash, 2 * PIECE_SIZE, 10 * PIECE_SIZE);
      t.same(tail?.data, data.subarray(2 * PIECE_SIZE), 'clamped to the block end');
      t.same(tail?.pieces, [piece(2), piece(3)], 'the short last piece included');
      const odd = await store.getRange(hash, 100, 5000);
      t.same(odd?.data, data.subarray(100, 5000));
      t.equal(odd?.pieces, null, 'no piece hashes for an unaligned range');
      const past = await store.getRange(hash, data.length, data.length + 10);
      t.equal(past?.data.length, 0, 'nothing past the end');
      t.equal(past?.size, data.length);
      t.equal(await store.getRange(sha256hex(Buffer.from('absent')), 0, 10), null);
      const text = Buffer.from('compressible '.repeat(20_000));
      await store.put(sha256hex(text), text);
      const c = await store.getRange(sha256hex(text), PIECE_SIZE, 2 * PIECE_SIZE);
      t.same(c?.data, text.subarray(PIECE_SIZE, 2 * PIECE_SIZE), 'a compressible block too');
      t.same(c?.pieces, [sha256hex(text.subarray(PIECE_SIZE, 2 * PIECE_SIZE))]);
    });

    t.test('putBody: a body pushed in pieces of any size stores the same block as put', async (t) => {
      const blocks = [
        Buffer.alloc(0),
        Buffer.from('y'),
        randomBytes(3 * PIECE_SIZE + 123), // incompressible: raw
        Buffer.alloc(Math.min(maxBlockSize, 600_000), 'abc'), // compressible
      ];
      for (const data of blocks) {
        const hash = sha256hex(data);
        const body = new BlockBody();
        // Uneven pieces across piece (64 KiB) and slab boundaries, as a socket delivers them.
        for (let at = 0, step = 1; at < data.length; at += step, step = (step * 7 + 13) % 90_001 || 1)
          body.push(data.subarray(at, Math.min(at + step, data.length)));
        try {
          t.equal((await putBody(store, hash, body)).created, true);
        } finally {
          body.release();
        }
        t.same(await store.get(hash), data, `${data.length} bytes read back`);
        if (data.length > PIECE_SIZE) {
          const r = await store.getRange(hash, PIECE_SIZE, 2 * PIECE_SIZE);
          t.same(r?.pieces, [sha256hex(data.subarray(PIECE_SIZE, 2 * PIECE_SIZE))], 'piece hashes');
        }
        const again = BlockBody.of(data);
        t.equal((await putBody(store, hash, again)).created, false, 'idempotent');
        again.release();
      }
      const wrong = BlockBody.of(Buffer.from('the bytes actually sent'));
      const claimed = sha256hex(Buffer.from('other bytes'));
      await t.rejects(putBody(store, claimed, wrong), { code: 'HASH_MISMATCH' });
      t.equal(await store.has(claimed), false, 'a mismatching body stores nothing');
      const big = randomBytes(maxBlockSize + 1);
      await t.rejects(putBody(store, sha256hex(big), BlockBody.of(big)), { code: 'TOO_LARGE' });
    });

    t.test('list yields every stored hash once', async (t) => {
      const hashes = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const d = randomBytes(64);
        const h = sha256hex(d);
        hashes.add(h);
        await store.put(h, d);
      }
      const listed: string[] = [];
      for await (const h of store.list()) listed.push(h);
      t.same(listed.sort(), [...hashes].sort());
    });
  });
}
