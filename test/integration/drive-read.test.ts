/**
 * The drive's read path through a real FUSE mount of a real `loft mount` process, against a real
 * `loft serve` process. Counters come from the real `loft status --json`.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { PIECE_SIZE } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';
import { waitFor } from '../helpers/devices.js';
import { MiB, pseudoRandom, putFile, readAt, sha256 } from '../helpers/fixtures.js';
import { isMounted, MountProcess } from '../helpers/mount-process.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const server = new ServerProcess();
const mounts: MountProcess[] = [];
t.teardown(async () => {
  for (const m of mounts) await m.dispose();
  await server.dispose();
});

let api: Api;
let token: string;
const big = pseudoRandom(64 * MiB, 7);
const small = pseudoRandom(3 * MiB + 123, 9);

function mount(options: ConstructorParameters<typeof MountProcess>[2] = {}): MountProcess {
  const m = new MountProcess(server.url, token, options);
  mounts.push(m);
  return m;
}

async function xattr(file: string, name: string): Promise<string> {
  const { stdout } = await execFileP('getfattr', ['--only-values', '-n', name, file]);
  return stdout;
}

t.before(async () => {
  await server.start();
  token = await server.addUser('reader');
  api = new Api(server.url, token);
  await putFile(api, '/media/big.bin', big);
  await putFile(api, '/docs/small.bin', small);
  await putFile(api, '/docs/empty.txt', Buffer.alloc(0));
  for (let i = 0; i < 50; i++)
    await putFile(api, `/many/f${String(i).padStart(3, '0')}.txt`, Buffer.from(`file ${i}\n`));
});

t.test('listing a fresh device downloads nothing; attributes come from the mirror', async (t) => {
  const m = mount({ cacheSize: '32M' });
  await m.start();
  const names = readdirSync(m.p('many')).sort();
  t.equal(names.length, 50);
  t.equal(names[0], 'f000.txt');
  t.same(readdirSync(m.mountpoint).sort(), ['docs', 'many', 'media']);
  const st = statSync(m.p('media/big.bin'));
  t.equal(st.size, big.length);
  t.ok(st.isFile());
  t.ok(statSync(m.p('docs')).isDirectory());
  await execFileP('ls', ['-lR', m.mountpoint]);
  t.equal(await xattr(m.p('media/big.bin'), 'user.loft.state'), 'cloud');
  t.equal(await xattr(m.p('media/big.bin'), 'user.loft.cached_bytes'), '0');
  t.match(await xattr(m.p('media/big.bin'), 'user.loft.rev'), /^\d+$/);
  const s = await m.status();
  t.equal(s.downloadedBytes, 0, 'no block was downloaded by listing');
  t.equal(s.cache.usedBytes, 0);
  t.equal(s.files, 53);
  t.equal(s.online, true);
  await t.rejects(fs.readFile(m.p('nope')), { code: 'ENOENT' });
  t.equal(await m.stop(), 0, 'SIGTERM unmounts cleanly');
  t.notOk(isMounted(m.mountpoint));
});

t.test('4 KiB at 40 MiB of a 64 MiB cloud-only file downloads at most 8 MiB', async (t) => {
  const m = mount({ cacheSize: '256M' });
  await m.start();
  const got = await readAt(m.p('media/big.bin'), 40 * MiB, 4096);
  t.ok(got.equals(big.subarray(40 * MiB, 40 * MiB + 4096)), 'right bytes');
  const s = await m.status();
  t.ok(s.downloadedBytes > 0 && s.downloadedBytes <= 8 * MiB, `downloaded ${s.downloadedBytes} bytes`);
  // One small read fetched only its piece: nothing is cached until the block is read again (at
  // another offset: the kernel's page cache answers the same one).
  t.equal(await xattr(m.p('media/big.bin'), 'user.loft.state'), 'cloud');
  const again = 40 * MiB + 512 * 1024;
  t.ok((await readAt(m.p('media/big.bin'), again, 4096)).equals(big.subarray(again, again + 4096)));
  await waitFor('the block cached', async () => (await m.status()).cache.usedBytes > 0, 10_000);
  t.equal(await xattr(m.p('media/big.bin'), 'user.loft.state'), 'partial');
  t.ok((await m.status()).downloadedBytes <= 8 * MiB, 'still at most 8 MiB');
  // Whole-file read is byte-identical; the empty file reads as empty.
  t.equal(sha256(await fs.readFile(m.p('media/big.bin'))), sha256(big));
  t.equal((await fs.readFile(m.p('docs/empty.txt'))).length, 0);
  t.equal(await xattr(m.p('media/big.bin'), 'user.loft.state'), 'cached');
  t.equal(await xattr(m.p('media/big.bin'), 'user.loft.cached_bytes'), String(big.length));
  const after = await m.status();
  t.ok(
    after.downloadedBytes >= big.length && after.downloadedBytes <= big.length + 8 * MiB,
    'each block fetched about once',
  );
  // Many concurrent readers of the same cold file share fetches.
  await m.stop();
});

t.test(
  'a small read of a cold block fetches its 64 KiB piece; reading it again caches the block',
  async (t) => {
    const m = mount({ cacheSize: '256M' });
    await m.start();
    const file = m.p('media/big.bin');
    const at = 20 * MiB + 5 * PIECE_SIZE + 77;
    t.ok((await readAt(file, at, 4096)).equals(big.subarray(at, at + 4096)), 'right bytes');
    t.equal((await m.status()).served.ranged, 1, 'one piece range');
    await new Promise((r) => setTimeout(r, 300));
    t.equal((await m.status()).downloadedBytes, PIECE_SIZE, 'only the piece, not its block');
    const again = 20 * MiB + 100;
    t.ok((await readAt(file, again, 4096)).equals(big.subarray(again, again + 4096)), 'right bytes');
    await waitFor('the block cached', async () => (await m.status()).cache.usedBytes >= MiB, 10_000);
    t.equal((await m.status()).downloadedBytes, 2 * PIECE_SIZE + MiB, 'a second piece, then the block once');
    const third = 20 * MiB + 700_000;
    t.ok((await readAt(file, third, 4096)).equals(big.subarray(third, third + 4096)));
    t.equal((await m.status()).downloadedBytes, 2 * PIECE_SIZE + MiB, 'the rest of the block from the cache');
    await m.stop();
  },
);

t.test('a block damaged on the server: its intact pieces read right, the damaged one EIO', async (t) => {
  const data = pseudoRandom(2 * MiB, 21);
  await putFile(api, '/damaged/rot.bin', data);
  const hash = sha256(data.subarray(MiB));
  const file = listFiles(path.join(server.dataDir, 'blocks')).find((f) => path.basename(f) === hash);
  t.ok(file, 'the block file on the server');
  const stored = readFileSync(file!);
  stored[stored.length - MiB + 3 * PIECE_SIZE + 10]! ^= 0xff; // payload byte in piece 3
  writeFileSync(file!, stored);
  const m = mount({ cacheSize: '64M' });
  await m.start();
  const good = MiB + PIECE_SIZE;
  t.ok(
    (await readAt(m.p('damaged/rot.bin'), good, 4096)).equals(data.subarray(good, good + 4096)),
    'intact piece',
  );
  await t.rejects(
    readAt(m.p('damaged/rot.bin'), MiB + 3 * PIECE_SIZE, 4096),
    { code: 'EIO' },
    'damaged piece',
  );
  await t.rejects(fs.readFile(m.p('damaged/rot.bin')), { code: 'EIO' }, 'the whole file');
  t.ok((await readAt(m.p('damaged/rot.bin'), 0, 4096)).equals(data.subarray(0, 4096)), 'the other block');
  t.match(m.stderr, /failed verification/);
  await m.stop();
});

t.test('concurrent readers of one cold file fetch each block once', async (t) => {
  const m = mount({ cacheSize: '256M' });
  await m.start();
  const reads = await Promise.all(Array.from({ length: 4 }, () => fs.readFile(m.p('docs/small.bin'))));
  for (const r of reads) t.ok(r.equals(small));
  const s = await m.status();
  t.equal(s.downloadedBytes, small.length, 'exactly the file, once');
  await m.stop();
});

t.test('the cache never exceeds its cap while a file 4x the cap is read', async (t) => {
  const m = mount({ cacheSize: '16M' });
  await m.start();
  let max = 0;
  let samples = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const s = await m.statusDirect();
      max = Math.max(max, s.cache.usedBytes);
      samples++;
      if (s.cache.usedBytes > s.cache.capBytes)
        t.fail(`usage ${s.cache.usedBytes} over the cap ${s.cache.capBytes}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  // Read in 1 MiB pieces with a sample after each, besides the poller's: how many samples there
  // are must not depend on how fast this machine reads (a quiet one read it in 20 polls).
  const pieces: Buffer[] = [];
  const fh = await fs.open(m.p('media/big.bin'), 'r');
  try {
    for (let at = 0; ; at += MiB) {
      const piece = Buffer.alloc(MiB);
      const { bytesRead } = await fh.read(piece, 0, MiB, at);
      if (bytesRead === 0) break;
      pieces.push(piece.subarray(0, bytesRead));
      const st = await m.statusDirect();
      max = Math.max(max, st.cache.usedBytes);
      samples++;
      if (st.cache.usedBytes > st.cache.capBytes)
        t.fail(`usage ${st.cache.usedBytes} over the cap ${st.cache.capBytes} after ${at + bytesRead} bytes`);
    }
  } finally {
    await fh.close();
  }
  const data = Buffer.concat(pieces);
  polling = false;
  await poller;
  t.equal(sha256(data), sha256(big), 'content intact while evicting');
  const s = await m.status();
  t.equal(s.cache.capBytes, 16 * MiB);
  t.ok(s.cache.usedBytes <= 16 * MiB);
  t.ok(max > 8 * MiB, `the cache was used (max ${max})`);
  t.ok(samples > 20, `usage sampled ${samples} times during the read`);
  // On disk too.
  const onDisk = dirSize(path.join(m.state, 'cache', 'blocks'));
  t.ok(onDisk <= 16 * MiB, `cache files take ${onDisk} bytes`);
  await m.stop();
});

t.test('pinned files are hydrated in the background and survive eviction', async (t) => {
  const m = mount({ cacheSize: '16M' });
  await m.start();
  const pin = await runLoft(['pin', m.p('docs'), '--state', m.state]);
  t.equal(pin.code, 0, pin.stderr);
  await waitFor('pin hydration', async () => {
    const s = await m.status();
    return (
      s.pins.files === 2 && s.pins.cachedBytes === s.pins.totalBytes && s.pins.totalBytes === small.length
    );
  });
  t.equal(await xattr(m.p('docs/small.bin'), 'user.loft.state'), 'pinned');
  await fs.readFile(m.p('media/big.bin')); // a sweep 4x the cap
  t.equal(
    await xattr(m.p('docs/small.bin'), 'user.loft.cached_bytes'),
    String(small.length),
    'pinned blocks stayed',
  );
  const before = (await m.status()).downloadedBytes;
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
  t.equal((await m.status()).downloadedBytes, before, 'a pinned file reads without the network');
  // Pinning more than the cap can hold is refused with a clear message.
  const tooMuch = await runLoft(['pin', m.p('media/big.bin'), '--state', m.state]);
  t.not(tooMuch.code, 0);
  t.match(tooMuch.stderr, /cache cap/);
  // Unpin frees the space for reuse.
  t.equal((await runLoft(['unpin', m.p('docs'), '--state', m.state])).code, 0);
  t.equal((await m.status()).pins.files, 0);
  t.not(await xattr(m.p('docs/small.bin'), 'user.loft.state'), 'pinned');
  // A pin of a path outside any drive is a one-line error.
  const outside = await runLoft(['pin', '/tmp', '--state', m.state]);
  t.not(outside.code, 0);
  t.match(outside.stderr, /not inside a running loft drive/);
  await m.stop();
});

t.test(
  'cache survives a restart; a corrupted or truncated cache file is detected and refetched',
  async (t) => {
    const m = mount({ cacheSize: '64M' });
    await m.start();
    t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
    await m.stop();
    // Remount: the index persisted, so a re-read downloads nothing.
    await m.start();
    t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
    t.equal((await m.status()).downloadedBytes, 0, 'served from the persisted cache');
    await m.stop();
    // Damage two cache files while unmounted: flip a byte in one, truncate another.
    const files = listFiles(path.join(m.state, 'cache', 'blocks'));
    t.ok(files.length >= 2);
    const flipped = readFileSync(files[0]!);
    flipped[100]! ^= 0xff;
    writeFileSync(files[0]!, flipped);
    writeFileSync(files[1]!, readFileSync(files[1]!).subarray(0, 10));
    await m.start();
    const data = await fs.readFile(m.p('docs/small.bin'));
    t.ok(data.equals(small), 'correct bytes, never the damaged ones');
    const s = await m.status();
    t.ok(
      s.downloadedBytes >= 2 * 1024 && s.downloadedBytes <= 2 * MiB,
      `refetched only the damaged blocks (${s.downloadedBytes})`,
    );
    t.match(m.stderr, /cache block damaged/);
    await m.stop();
  },
);

t.test('remote changes appear while mounted', async (t) => {
  const m = mount();
  await m.start();
  await putFile(api, '/docs/new-elsewhere.txt', Buffer.from('hello from another device\n'));
  const text = await waitFor('the new file', async () => {
    try {
      return await fs.readFile(m.p('docs/new-elsewhere.txt'), 'utf8');
    } catch {
      return null;
    }
  });
  t.equal(text, 'hello from another device\n');
  await m.stop();
});

t.test('server killed mid-read: EIO, not a hang; reads work again after it restarts', async (t) => {
  const m = mount({ cacheSize: '256M' });
  await m.start();
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small), 'warm a file');
  const reader = execFileP('dd', [
    `if=${m.p('media/big.bin')}`,
    'of=/dev/null',
    'bs=1M',
    'iflag=direct',
  ]).then(
    () => 'ok',
    (err: { stderr?: string }) => err.stderr ?? 'failed',
  );
  await new Promise((r) => setTimeout(r, 150));
  await server.kill();
  const started = Date.now();
  const outcome = await reader;
  const took = Date.now() - started;
  if (outcome !== 'ok') t.match(outcome, /Input\/output error/, 'the reader gets EIO');
  t.ok(took < 30_000, `the reader returned after ${took} ms`);
  // Offline: listing and cached reads keep working; uncached reads fail fast.
  t.ok(readdirSync(m.p('media')).includes('big.bin'));
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small), 'cached data stays readable');
  const t0 = Date.now();
  await t.rejects(readAt(m.p('many/f049.txt'), 0, 10), { code: 'EIO' });
  t.ok(Date.now() - t0 < 10_000, 'an uncached read fails within a bounded time');
  t.equal((await m.status()).online, false);
  t.match(m.stderr, /offline/);
  await server.start();
  const back = await waitFor('reads after the server returns', async () => {
    try {
      return (await readAt(m.p('many/f049.txt'), 0, 100)).toString();
    } catch {
      return null;
    }
  });
  t.equal(back, 'file 49\n');
  t.equal(sha256(await fs.readFile(m.p('media/big.bin'))), sha256(big));
  await waitFor('online again', async () => (await m.status()).online);
  await m.stop();
});

t.test('the mount comes back after the mount process crashes', async (t) => {
  const m = mount();
  await m.start();
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
  // Cache files are written behind the reader; let them land before pulling the plug.
  await waitFor('cache writes', async () => (await m.statusDirect()).cache.writing === 0);
  // The root listed twice (the second from the kernel's readdir cache) and stat'ed: the kernel holds
  // valid attributes of the root, so after the crash a stat of it still succeeds from them.
  await fs.readdir(m.mountpoint);
  await fs.readdir(m.mountpoint);
  await fs.stat(m.mountpoint);
  await m.crash();
  t.ok(isMounted(m.mountpoint), 'a stale mount is left behind');
  await t.rejects(fs.readdir(m.mountpoint), { code: 'ENOTCONN' });
  // Another state dir on the same mountpoint: a clear error that says how to clear it.
  const other = new MountProcess(server.url, token, {
    root: m.root,
    state: path.join(m.root, 'other-state'),
  });
  await t.rejects(other.start(), /stale mount.*--clear-stale/);
  // The same state dir recognises its own crashed mount and clears it.
  await m.start();
  t.match(m.stderr, /cleared a stale mount/);
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
  t.equal((await m.status()).downloadedBytes, 0, 'cache and mirror survived the crash');
  await m.stop();
});

t.test('unmounted from outside (fusermount -u): the mount process stops by itself', async (t) => {
  const m = mount();
  await m.start();
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
  await execFileP('fusermount', ['-u', m.mountpoint]);
  t.equal(await m.exited(15_000), 0, 'it exits cleanly within seconds');
  t.match(m.stderr, /unmounted from outside/, 'and says why');
  t.notOk(isMounted(m.mountpoint), 'nothing is left mounted');
  // Its state directory is free again: the next mount starts at once from the persisted mirror.
  await m.start();
  t.ok((await fs.readFile(m.p('docs/small.bin'))).equals(small));
  t.equal((await m.status()).downloadedBytes, 0, 'served from the cache it kept');
  await m.stop();
});

t.test('mount errors: missing, busy or non-empty mountpoint are one-line errors', async (t) => {
  const m = mount();
  const mountCli = (mnt: string, state: string) =>
    runLoft(['mount', mnt, '--server', server.url, '--state', state], { env: { LOFT_TOKEN: token } });
  const missing = await mountCli(path.join(m.root, 'nope'), m.state);
  t.not(missing.code, 0);
  t.match(missing.stderr, /^loft: mountpoint .* does not exist/);
  writeFileSync(path.join(m.mountpoint, 'x'), 'x');
  const full = await mountCli(m.mountpoint, m.state);
  t.match(full.stderr, /^loft: mountpoint .* is not empty\n$/);
  await fs.rm(path.join(m.mountpoint, 'x'));
  await m.start();
  const busy = await mountCli(m.mountpoint, path.join(m.root, 's2'));
  t.match(busy.stderr, /already a mount point/);
  const sameState = await runLoft(['mount', path.join(m.root), '--state', m.state]);
  t.match(sameState.stderr, /in use by a running loft mount/);
  const noServer = await runLoft(['mount', m.mountpoint, '--state', path.join(m.root, 's3')], {
    env: { LOFT_SERVER: '', LOFT_TOKEN: '' },
  });
  t.match(noServer.stderr, /^loft: no server/);
  await m.stop();
});

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

function dirSize(dir: string): number {
  return listFiles(dir).reduce((n, f) => n + statSync(f).size, 0);
}
