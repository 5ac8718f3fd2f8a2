import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { HEADER_SIZE } from '../../../src/blockstore/block-codec.js';
import { nativeStoreFileIo } from '../../../src/blockstore/block-flusher.js';
import { FsBlockStore } from '../../../src/blockstore/fs-block-store.js';
import { PIECE_SIZE, sha256hex } from '../../../src/shared/hash.js';
import { blockStoreContract } from '../../contract/block-store-contract.js';

const MAX = 2 * 1024 * 1024;
const dirs: string[] = [];
t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'loft-fsbs-'));
  dirs.push(d);
  return d;
}

blockStoreContract(
  t,
  'FsBlockStore (brotli)',
  async () => new FsBlockStore({ root: tmp(), maxBlockSize: MAX }),
  MAX,
);
blockStoreContract(
  t,
  'FsBlockStore (raw)',
  async () => new FsBlockStore({ root: tmp(), maxBlockSize: MAX, compression: 'none' }),
  MAX,
);

function blockPath(root: string, hash: string): string {
  return path.join(root, hash.slice(0, 2), hash.slice(2, 4), hash);
}

t.test('compressible blocks are stored compressed, incompressible ones raw', async (t) => {
  const root = tmp();
  const store = new FsBlockStore({ root });
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000));
  const noise = randomBytes(text.length);
  const r1 = await store.put(sha256hex(text), text);
  const r2 = await store.put(sha256hex(noise), noise);
  t.ok(r1.storedSize < text.length / 10, `text stored in ${r1.storedSize} bytes`);
  const table = 32 * Math.ceil(noise.length / PIECE_SIZE);
  t.equal(r2.storedSize, noise.length + HEADER_SIZE + table, 'noise stored raw, after its piece table');
  t.equal(statSync(blockPath(root, sha256hex(text))).size, r1.storedSize);
  t.same(await store.get(sha256hex(text)), text);
  t.same(await store.get(sha256hex(noise)), noise);
});

t.test('a block corrupted on disk is reported CORRUPT, never served', async (t) => {
  const root = tmp();
  const store = new FsBlockStore({ root, compression: 'none' });
  const data = randomBytes(10_000);
  const hash = sha256hex(data);
  await store.put(hash, data);
  const p = blockPath(root, hash);
  const bytes = readFileSync(p);
  bytes[HEADER_SIZE + 100]! ^= 0xff;
  writeFileSync(p, bytes);
  await t.rejects(store.get(hash), { code: 'CORRUPT' });
  writeFileSync(p, bytes.subarray(0, 5));
  await t.rejects(store.get(hash), { code: 'CORRUPT' });
});

t.test('a range of a block damaged on disk does not match its stored piece hashes', async (t) => {
  const root = tmp();
  const store = new FsBlockStore({ root, compression: 'none' });
  const data = randomBytes(4 * PIECE_SIZE);
  const hash = sha256hex(data);
  await store.put(hash, data);
  const p = blockPath(root, hash);
  const bytes = readFileSync(p);
  bytes[bytes.length - PIECE_SIZE - 10]! ^= 0xff; // in piece 2
  writeFileSync(p, bytes);
  const r = await store.getRange(hash, 2 * PIECE_SIZE, 3 * PIECE_SIZE);
  t.same(
    r?.pieces,
    [sha256hex(data.subarray(2 * PIECE_SIZE, 3 * PIECE_SIZE))],
    'the hashes of the true bytes',
  );
  t.not(sha256hex(r!.data), r!.pieces![0], 'so a reader sees the damage');
  const ok = await store.getRange(hash, PIECE_SIZE, 2 * PIECE_SIZE);
  t.equal(sha256hex(ok!.data), ok!.pieces![0], 'the other pieces still check out');
  writeFileSync(p, bytes.subarray(0, 20));
  await t.rejects(store.getRange(hash, 0, PIECE_SIZE), { code: 'CORRUPT' }, 'a cut piece table');
});

t.test('blocks stored before piece tables (format 1) are still read; ranges verify the whole', async (t) => {
  const root = tmp();
  const store = new FsBlockStore({ root, compression: 'none' });
  const data = randomBytes(3 * PIECE_SIZE);
  const hash = sha256hex(data);
  const header = Buffer.alloc(HEADER_SIZE);
  header.write('LFB1', 0);
  const p = blockPath(root, hash);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, Buffer.concat([header, data]));
  t.same(await store.get(hash), data);
  const r = await store.getRange(hash, PIECE_SIZE, 2 * PIECE_SIZE);
  t.same(r?.data, data.subarray(PIECE_SIZE, 2 * PIECE_SIZE));
  t.same(r?.pieces, [sha256hex(r!.data)]);
  const bytes = readFileSync(p);
  bytes[HEADER_SIZE + 10]! ^= 0xff; // outside the range asked for
  writeFileSync(p, bytes);
  await t.rejects(store.getRange(hash, PIECE_SIZE, 2 * PIECE_SIZE), { code: 'CORRUPT' });
});

t.test('leftover temp files from a crash are removed on open; blocks survive', async (t) => {
  const root = tmp();
  const store = new FsBlockStore({ root });
  const data = randomBytes(1000);
  await store.put(sha256hex(data), data);
  writeFileSync(path.join(root, 'tmp', 'deadbeef'), 'half a block');
  const reopened = new FsBlockStore({ root });
  t.same(readdirSync(path.join(root, 'tmp')), []);
  t.same(await reopened.get(sha256hex(data)), data);
  t.ok(existsSync(blockPath(root, sha256hex(data))));
});

t.test('a tool opening beside a running server keeps recent temp files (uploads in progress)', async (t) => {
  const root = tmp();
  new FsBlockStore({ root });
  const recent = path.join(root, 'tmp', 'in-progress');
  const old = path.join(root, 'tmp', 'crashed');
  writeFileSync(recent, 'half');
  writeFileSync(old, 'half');
  const hourAgo = new Date(Date.now() - 2 * 3_600_000);
  utimesSync(old, hourAgo, hourAgo);
  new FsBlockStore({ root, tmpMaxAgeMs: 3_600_000 });
  t.same(readdirSync(path.join(root, 'tmp')), ['in-progress']);
  new FsBlockStore({ root });
  t.same(readdirSync(path.join(root, 'tmp')), [], 'the owner removes every leftover');
});

// The server's mode, through the native binding's file steps and through node's fs.
t.test('the binding has the file steps (scripts/setup builds it)', async (t) => {
  t.ok(nativeStoreFileIo(), 'writeNew, syncInto and fsyncDir');
});
for (const nativeIo of [true, false]) {
  const io = nativeIo ? 'native file steps' : "node's fs";
  blockStoreContract(
    t,
    `FsBlockStore (synced in groups, ${io})`,
    async () => new FsBlockStore({ root: tmp(), maxBlockSize: MAX, syncInGroups: true, nativeIo }),
    MAX,
  );

  t.test(
    `synced in groups (${io}): a pending block is read from its temp file, then lands in place`,
    async (t) => {
      const root = tmp();
      const store = new FsBlockStore({ root, syncInGroups: true, nativeIo, compression: 'none' });
      const blocks = Array.from({ length: 40 }, (_, i) => randomBytes(10_000 + i));
      const hashes = blocks.map((b) => sha256hex(b));
      await Promise.all(blocks.map((b, i) => store.put(hashes[i]!, b)));
      // Readable at once, wherever its bytes are (temp file, or in place if its group already ran).
      for (const [i, h] of hashes.entries()) {
        t.equal(await store.has(h), true);
        t.same(await store.get(h), blocks[i]);
        t.same((await store.getRange(h, 5, 50))!.data, blocks[i]!.subarray(5, 50));
      }
      const listed: string[] = [];
      for await (const h of store.list()) listed.push(h);
      t.same(listed.sort(), [...hashes].sort(), 'each block listed once, pending or not');
      t.same(await store.makeDurable(hashes), []);
      for (const h of hashes) t.ok(existsSync(blockPath(root, h)), 'durable = in its final place');
      t.same(readdirSync(path.join(root, 'tmp')), [], 'no temp file left');
      t.equal((await store.put(hashes[0]!, blocks[0]!)).created, false);
      await store.close();
    },
  );

  t.test(
    `synced in groups (${io}): a block lost in a crash is reported absent, and can be sent again`,
    async (t) => {
      const root = tmp();
      const store = new FsBlockStore({ root, syncInGroups: true, nativeIo });
      const data = randomBytes(50_000);
      const hash = sha256hex(data);
      await store.put(hash, data);
      await store.close();
      t.ok(existsSync(blockPath(root, hash)), 'close makes everything durable');
      // What a power loss leaves of a block that was never synced: nothing in place (the temp file is
      // removed at open, or was never there).
      rmSync(blockPath(root, hash));
      const reopened = new FsBlockStore({ root, syncInGroups: true, nativeIo });
      t.same(await reopened.makeDurable([hash]), [hash]);
      t.equal((await reopened.put(hash, data)).created, true);
      t.same(await reopened.makeDurable([hash]), []);
      await reopened.close();
    },
  );

  t.test(`synced in groups (${io}): a block deleted while pending stays deleted`, async (t) => {
    const root = tmp();
    const store = new FsBlockStore({ root, syncInGroups: true, nativeIo });
    const data = randomBytes(30_000);
    const hash = sha256hex(data);
    await store.put(hash, data);
    await store.delete(hash);
    await store.close();
    t.equal(existsSync(blockPath(root, hash)), false);
    t.equal(await store.has(hash), false);
    t.same(await store.makeDurable([hash]), [hash]);
  });

  t.test(
    `synced in groups (${io}): a block that cannot be synced is dropped and reported absent`,
    async (t) => {
      const root = tmp();
      const dropped: string[] = [];
      const store = new FsBlockStore({
        root,
        syncInGroups: true,
        nativeIo,
        onDropped: (h) => dropped.push(h),
      });
      const data = randomBytes(20_000);
      const hash = sha256hex(data);
      // The shard folder cannot be made (a file stands where it should be): the rename fails.
      writeFileSync(path.join(root, hash.slice(0, 2)), 'in the way');
      await store.put(hash, data);
      t.same(await store.makeDurable([hash]), [hash]);
      t.same(dropped, [hash]);
      t.equal(await store.has(hash), false);
      t.same(readdirSync(path.join(root, 'tmp')), []);
      await store.close();
    },
  );
}

// writeNew sends a block of 64 KiB or more past the page cache (direct I/O, block-io.cc): its
// aligned front from an aligned copy, its tail (< 4 KiB) buffered. The bytes must be exact whatever
// the sizes and the parts' boundaries, and it must really go direct where the file system allows.
t.test(
  'writeNew: exact bytes at every size around the direct I/O limits, direct where allowed',
  async (t) => {
    const io = nativeStoreFileIo()!;
    const dir = tmp();
    let directOk = true;
    try {
      const fd = openSync(
        path.join(dir, 'probe'),
        constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT,
        0o600,
      );
      closeSync(fd);
    } catch {
      directOk = false; // this file system refuses O_DIRECT: writeNew writes buffered, still exact
    }
    const K = 1024;
    const sizes = [
      0,
      1,
      4095,
      4096,
      64 * K - 1,
      64 * K,
      64 * K + 1,
      64 * K + 4095,
      1024 * K,
      1024 * K + 123,
      8 * 1024 * K - 7,
    ];
    let n = 0;
    for (const size of sizes) {
      for (const split of [1, 3, 17]) {
        const data = randomBytes(size);
        // Parts of uneven lengths, some empty, none aligned (as a header and slabs are).
        const parts: Buffer[] = [];
        for (let at = 0, i = 0; at < size || i === 0; i++) {
          const len = Math.min(size - at, Math.ceil(size / split) + (i % 3) * 517);
          parts.push(data.subarray(at, at + len), Buffer.alloc(0));
          at += len;
        }
        const file = path.join(dir, `b${n++}`);
        const direct = await io.writeNew(file, parts);
        t.ok(readFileSync(file).equals(data), `${size} bytes in ${split} part(s): exact`);
        const want = size >= 64 * K && directOk ? size - (size % 4096) : 0;
        t.equal(direct, want, `${size} bytes: ${want} of them direct`);
        t.equal(statSync(file).mode & 0o777, 0o600);
      }
    }
    await t.rejects(
      io.writeNew(path.join(dir, 'b0'), [randomBytes(70_000)]),
      { code: 'EEXIST' },
      'never replaces a file',
    );
  },
);
