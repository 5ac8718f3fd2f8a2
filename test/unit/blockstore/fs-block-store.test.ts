import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
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
