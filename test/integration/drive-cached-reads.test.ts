/**
 * Reads answered by the libfuse 3 binding from verified cache files, without JavaScript
 * (src/client/fuse/cached-reads.ts, native/loft-fuse.cc "reads answered here"), through a real
 * mount of a real `loft mount` process against a real `loft serve`. Reads use O_DIRECT so that each
 * one reaches the drive (the kernel's page cache would answer a repeat otherwise). The mount's
 * status counts reads JavaScript answered (`jsReads`) and reads the binding answered (`cachedReads`).
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { settled, waitFor } from '../helpers/devices.js';
import { MiB, pseudoRandom, putFile, sha256 } from '../helpers/fixtures.js';
import { MountProcess, type Status } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const server = new ServerProcess();
const mounts: MountProcess[] = [];
t.teardown(async () => {
  for (const m of mounts) await m.dispose();
  await server.dispose();
});

let api: Api;
let token: string;
const SIZE = 8 * MiB;
const a1 = pseudoRandom(SIZE, 21);
const a2 = pseudoRandom(SIZE, 22);
const a3 = pseudoRandom(SIZE, 24);
const other = pseudoRandom(24 * MiB, 23);
const cold = pseudoRandom(8 * MiB, 25);

if (process.env.LOFT_FUSE_BACKEND === 'fuse-native') {
  t.pass('reads answered in C exist on the libfuse 3 binding only');
  process.exit(0);
}

/** Reads a whole file through one O_DIRECT descriptor in 1 MiB reads (each one a FUSE request). */
function readDirect(fd: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let pos = 0; pos < size;) {
    const n = readSync(fd, out, pos, Math.min(MiB, size - pos), pos);
    if (n <= 0) break;
    pos += n;
  }
  return out;
}

function openDirect(file: string): number {
  return openSync(file, constants.O_RDONLY | constants.O_DIRECT);
}

const counts = (s: Status) => ({
  js: Number(s.fuse.jsReads),
  cached: Number(s.fuse.cachedReads),
  downloaded: s.downloadedBytes,
});

t.before(async () => {
  await server.start();
  token = await server.addUser('cread');
  api = new Api(server.url, token);
  await putFile(api, '/a.bin', a1);
  await putFile(api, '/other.bin', other);
  await putFile(api, '/cold.bin', cold);
});

t.test('a re-read of cached blocks is answered without JavaScript, byte-exact', async (t) => {
  const m = new MountProcess(server.url, token, { cacheSize: '20M' });
  mounts.push(m);
  await m.start();
  t.equal(m.backend, 'lowlevel');
  const file = m.p('a.bin');
  let fd = openDirect(file);
  t.equal(sha256(readDirect(fd, SIZE)), sha256(a1), 'cold read: right bytes');
  closeSync(fd);
  await waitFor('the blocks cached', async () => (await m.statusDirect()).cache.usedBytes >= SIZE);
  const before = counts(await m.statusDirect());
  fd = openDirect(file);
  t.equal(sha256(readDirect(fd, SIZE)), sha256(a1), 'warm read: right bytes');
  const after = counts(await m.statusDirect());
  // The handle's first read goes to JavaScript (it publishes the handle's cached ranges; the kernel
  // may split it in two requests sent at once); the other 1 MiB reads are answered by the binding.
  t.ok(after.js - before.js <= 2, `JavaScript answered ${after.js - before.js} reads`);
  t.ok(after.cached - before.cached >= 7, `the binding answered ${after.cached - before.cached} reads`);
  t.equal(after.downloaded, before.downloaded, 'nothing downloaded');
  // Odd offsets and lengths across block boundaries, and past the end.
  for (const [at, len] of [
    [MiB - 100, 300],
    [3 * MiB + 7, 2 * MiB + 11],
    [SIZE - 5, 4096],
  ] as const) {
    const buf = Buffer.alloc(len);
    const n = readSync(fd, buf, 0, len, at);
    t.ok(buf.subarray(0, n).equals(a1.subarray(at, at + len)), `bytes at ${at}+${len}`);
  }
  closeSync(fd);

  t.test('a local write through another descriptor is seen at once by the reader', async (t) => {
    const reader = openDirect(file);
    readDirect(reader, SIZE);
    const published = counts(await m.statusDirect());
    const w = openSync(file, 'r+');
    const patch = Buffer.from('written here, never stale');
    writeSync(w, patch, 0, patch.length, 2 * MiB + 10);
    const want = Buffer.from(a1);
    patch.copy(want, 2 * MiB + 10);
    t.equal(sha256(readDirect(reader, SIZE)), sha256(want), 'the reader sees the write');
    const seen = counts(await m.statusDirect());
    t.ok(seen.js - published.js >= 8, 'reads of the dirty file went to JavaScript');
    closeSync(w);
    await settled(m);
    // After the commit the handle reads the committed content, from cache files again.
    t.equal(sha256(readDirect(reader, SIZE)), sha256(want), 'after the commit');
    const again = counts(await m.statusDirect());
    t.equal(sha256(readDirect(reader, SIZE)), sha256(want), 'and again');
    const last = counts(await m.statusDirect());
    t.ok(last.cached - again.cached >= 7, 'served by the binding once committed and cached');
    closeSync(reader);
  });

  t.test('a remote change: a new open reads the new bytes', async (t) => {
    const fd = openDirect(file);
    const oldContent = readDirect(fd, SIZE);
    const rev = Number((await execFileP('getfattr', ['--only-values', '-n', 'user.loft.rev', file])).stdout);
    await putFile(api, '/a.bin', a2, MiB, rev);
    await waitFor('the new revision', async () => {
      const f = openDirect(file);
      try {
        return readDirect(f, 64).equals(a2.subarray(0, 64));
      } finally {
        closeSync(f);
      }
    });
    const f = openDirect(file);
    t.equal(sha256(readDirect(f, SIZE)), sha256(a2), 'new content');
    t.equal(sha256(readDirect(f, SIZE)), sha256(a2), 'new content, read again');
    closeSync(f);
    // The descriptor opened before keeps the revision it opened (Vfs semantics), in C or not.
    t.equal(sha256(readDirect(fd, SIZE)), sha256(oldContent), 'the older reader keeps its revision');
    closeSync(fd);
  });

  t.test("eviction of an open reader's blocks: its spans are withdrawn, bytes stay exact", async (t) => {
    const r = openDirect(file);
    t.equal(sha256(readDirect(r, SIZE)), sha256(a2));
    t.equal(sha256(readDirect(r, SIZE)), sha256(a2), 'published');
    // A newer revision elsewhere: the reader keeps a2, whose blocks are now evicted first.
    const rev = Number((await execFileP('getfattr', ['--only-values', '-n', 'user.loft.rev', file])).stdout);
    await putFile(api, '/a.bin', a3, MiB, rev);
    await waitFor('the newer revision', async () => {
      const f = openDirect(file);
      try {
        return readDirect(f, 64).equals(a3.subarray(0, 64));
      } finally {
        closeSync(f);
      }
    });
    // The remote change withdrew every span of the file, the reader's too (whether a release of the
    // probes above counted before or after the snapshot below is a race): a read publishes the
    // reader's spans again, so the eviction below has spans of its own to withdraw.
    t.equal(sha256(readDirect(r, SIZE)), sha256(a2), 'the reader keeps its revision, published again');
    const before = await m.statusDirect();
    const o = openDirect(m.p('other.bin'));
    t.equal(sha256(readDirect(o, other.length)), sha256(other), 'a file larger than the cache');
    closeSync(o);
    const mid = await m.statusDirect();
    t.ok(
      Number(mid.fuse.cachedSpansWithdrawn) > Number(before.fuse.cachedSpansWithdrawn),
      'the evicted blocks were withdrawn',
    );
    t.equal(sha256(readDirect(r, SIZE)), sha256(a2), 'the reader after eviction: its revision, exact');
    const after = await m.statusDirect();
    t.ok(after.downloadedBytes > mid.downloadedBytes, 'evicted blocks were fetched again');
    closeSync(r);
  });
});

t.test('a cold read: blocks the readahead has written are answered by the binding', async (t) => {
  const m = new MountProcess(server.url, token, { cacheSize: '64M' });
  mounts.push(m);
  await m.start();
  const fd = openDirect(m.p('cold.bin'));
  t.teardown(() => closeSync(fd));
  const read = (i: number) => {
    const buf = Buffer.alloc(MiB);
    t.equal(readSync(fd, buf, 0, MiB, i * MiB), MiB);
    t.ok(buf.equals(cold.subarray(i * MiB, (i + 1) * MiB)), `MiB ${i}: right bytes`);
  };
  read(0); // JavaScript: starts the stream, whose readahead fetches the next blocks
  // The readahead's blocks are fetched, verified, written to the cache, and published as they are
  // written (no read of this handle comes to JavaScript in between).
  await waitFor('blocks 1-2 published', async () => {
    const s = await m.statusDirect();
    return s.cache.usedBytes >= 3 * MiB && s.cache.writing === 0 && Number(s.fuse.cachedSpansPublished) >= 2;
  });
  const before = counts(await m.statusDirect());
  read(1);
  read(2);
  const after = counts(await m.statusDirect());
  t.equal(after.js, before.js, 'JavaScript answered none of them');
  // (The kernel may split a 1 MiB O_DIRECT read in two requests.)
  t.ok(
    after.cached - before.cached >= 2,
    `the binding answered both (${after.cached - before.cached} requests)`,
  );
  t.equal(after.downloaded, before.downloaded, 'nothing more downloaded for them');
  // The stream goes on past them (the next read reaches JavaScript inside the readahead window).
  for (let i = 3; i < 8; i++) read(i);
  t.equal((await m.statusDirect()).downloadedBytes, cold.length, 'each block downloaded once');
});
