import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { HEADER_SIZE } from '../../../src/blockstore/block-codec.js';
import { FsBlockStore } from '../../../src/blockstore/fs-block-store.js';
import { sha256hex } from '../../../src/shared/hash.js';
import { blockStoreContract } from '../../contract/block-store-contract.js';
const MAX = 2 * 1024 * 1024;
const dirs = [];
t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp() {
    const d = mkdtempSync(path.join(os.tmpdir(), 'loft-fsbs-'));
    dirs.push(d);
    return d;
}
blockStoreContract(t, 'FsBlockStore (brotli)', async () => new FsBlockStore({ root: tmp(), maxBlockSize: MAX }), MAX);
blockStoreContract(t, 'FsBlockStore (raw)', async () => new FsBlockStore({ root: tmp(), maxBlockSize: MAX, compression: 'none' }), MAX);
function blockPath(root, hash) {
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
    t.equal(r2.storedSize, noise.length + HEADER_SIZE, 'noise stored raw');
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
    bytes[HEADER_SIZE + 100] ^= 0xff;
    writeFileSync(p, bytes);
    await t.rejects(store.get(hash), { code: 'CORRUPT' });
    writeFileSync(p, bytes.subarray(0, 5));
    await t.rejects(store.get(hash), { code: 'CORRUPT' });
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
//# sourceMappingURL=fs-block-store.test.js.map