/**
 * The drive's write path through a real FUSE mount of a real `loft mount` process, against a real
 * `loft serve` process: local staging, the durable outbox, the push loop (only missing blocks
 * travel), crash safety, offline work, and conflicted copies. Counters come from the mount's real
 * status (the control socket, and `loft status --wait` once); what the server holds is checked on a
 * second device or straight through the HTTP API.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test as Tap } from 'tap';
import {
  Devices,
  mountTree,
  serverFile,
  serverNames,
  serverTree,
  settled,
  status,
  waitFor,
  type Device,
  type Tree,
  type WriteStatus,
} from '../helpers/devices.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { MiB, pseudoRandom, sha256 } from '../helpers/fixtures.js';
import type { MountProcess } from '../helpers/mount-process.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);

const server = new ServerProcess();
const devices = new Devices(server);
const mounts = devices.mounts;
const newUser = (user: string) => devices.newUser(user);
const otherDevice = (of: Device, device: string) => devices.otherDevice(of, device);
const mount = (t: Tap, dev: Device, url = server.url) => devices.mount(t, dev, url);
const restart = (m: MountProcess) => devices.restart(m);

const proxies: FaultProxy[] = [];
t.teardown(async () => {
  for (const m of mounts) await m.dispose().catch(() => undefined);
  for (const p of proxies) await p.close().catch(() => undefined);
  await server.dispose();
});

t.before(async () => {
  await server.start();
});

/** Reads a file on a fresh second device of the same user; returns its listing of `/` too. */
async function onSecondDevice(
  t: Tap,
  of: Device,
  name: string,
  file: string,
): Promise<{ names: string[]; sha: string | null; size: number | null }> {
  const dev = await otherDevice(of, name);
  const m = mount(t, dev);
  await m.start();
  try {
    const names = (await fs.readdir(m.mountpoint)).sort();
    let data: Buffer | null = null;
    try {
      data = await fs.readFile(m.p(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { names, sha: data && sha256(data), size: data && data.length };
  } finally {
    await m.stop();
  }
}

async function ensureServer(): Promise<void> {
  if (!server.alive) await server.start();
}

t.test('a new 3 MiB file: committed byte-identical, each byte sent once', async (t) => {
  const a = await newUser('basic');
  const m = mount(t, a);
  await m.start();
  const data = pseudoRandom(3 * MiB, 11);
  await fs.writeFile(m.p('new.bin'), data);
  t.ok((await fs.readFile(m.p('new.bin'))).equals(data), 'readable at once on this device');
  // The real CLI: `loft status --wait` returns once everything is committed.
  const r = await runLoft(['status', '--wait', '--json', '--state', m.state]);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as WriteStatus;
  t.equal(s.pending, 0, 'nothing pending when --wait returns');
  t.equal(s.uploading, 0, 'nothing uploading');
  t.equal(s.pushError, null, 'no push error');
  t.same(s.conflicts, [], 'status lists no conflicted copy');
  t.ok(
    s.uploadedBytes >= 3 * MiB && s.uploadedBytes < 3.2 * MiB,
    `uploadedBytes ${s.uploadedBytes} is the file, once`,
  );
  const there = await onSecondDevice(t, a, 'basic-desktop', 'new.bin');
  t.same(there.names, ['new.bin']);
  t.equal(there.sha, sha256(data), 'the second device reads the same bytes');
  t.equal(sha256((await serverFile(a.api, '/new.bin'))!), sha256(data), 'the server holds the same bytes');
  await m.stop();
});

// A new file written in order is chunked while it is written (upload/chunk-ahead.ts); one written
// otherwise is chunked at its close. Either way the server must hold exactly its bytes.
t.test('new big files: chunked while written when in order, at close when not; both exact', async (t) => {
  const a = await newUser('ahead');
  const m = mount(t, a);
  await m.start();
  const inOrder = pseudoRandom(272 * MiB + 4321, 13);
  const wh = await fs.open(m.p('in-order.bin'), 'w');
  try {
    await wh.write(inOrder, 0, 264 * MiB, 0);
    // Still open, past 256 MiB (SEND_AHEAD_MIN): its blocks are chunked and sent, nothing committed.
    const early = await waitFor(
      'blocks sent ahead of the close',
      async () => {
        const st = await status(m);
        return st.chunkedAhead.sentBytes >= 12 * MiB && st;
      },
      60_000,
      5,
    );
    t.ok(early.uploadedBytes >= 12 * MiB, `uploadedBytes counts them (${early.uploadedBytes})`);
    t.same(await serverNames(a.api), [], 'nothing committed while the file is open');
    await wh.write(inOrder, 264 * MiB, inOrder.length - 264 * MiB, 264 * MiB);
  } finally {
    await wh.close();
  }
  let s = await settled(m);
  t.match(s.chunkedAhead, { started: 1, used: 1 }, 'the file in order was chunked while written');
  t.equal(s.uploadedBytes, inOrder.length, 'each block sent once, ahead or at the close');
  // Back to front in 1 MiB pieces, then its start rewritten: never in order.
  const scattered = pseudoRandom(24 * MiB + 99, 14);
  const fh = await fs.open(m.p('scattered.bin'), 'w');
  try {
    for (let at = Math.floor(scattered.length / MiB) * MiB; at >= 0; at -= MiB)
      await fh.write(scattered, at, Math.min(MiB, scattered.length - at), at);
  } finally {
    await fh.close();
  }
  // Written in order to 20 MiB (chunking started), then its start overwritten: chunking ahead ends.
  const rewritten = pseudoRandom(30 * MiB, 15);
  const rh = await fs.open(m.p('rewritten.bin'), 'w');
  try {
    for (let at = 0; at < 20 * MiB; at += MiB) await rh.write(pseudoRandom(MiB, at), 0, MiB, at);
    await rh.write(rewritten, 0, rewritten.length, 0);
  } finally {
    await rh.close();
  }
  s = await settled(m);
  t.match(s.chunkedAhead, { started: 2, used: 1 }, 'out of order: chunked at close');
  t.same(s.conflicts, [], 'no conflicted copy');
  const names = ['in-order.bin', 'scattered.bin', 'rewritten.bin'];
  const want = [inOrder, scattered, rewritten];
  for (const [i, name] of names.entries())
    t.equal(
      sha256((await serverFile(a.api, `/${name}`))!),
      sha256(want[i]!),
      `${name}: the server holds its bytes`,
    );
  await m.stop();
});

t.test(
  'kill -9 right after closing a file whose blocks were sent ahead: committed once, exact',
  async (t) => {
    const a = await newUser('ahead-crash');
    const m = mount(t, a);
    await m.start();
    const data = pseudoRandom(288 * MiB + 17, 16);
    const wh = await fs.open(m.p('video.bin'), 'w');
    try {
      await wh.write(data, 0, 280 * MiB, 0);
      await waitFor(
        'blocks sent ahead',
        async () => (await status(m)).chunkedAhead.sentBytes >= 32 * MiB,
        60_000,
        5,
      );
      await wh.write(data, 280 * MiB, data.length - 280 * MiB, 280 * MiB);
    } finally {
      await wh.close();
    }
    await m.crash();
    await restart(m);
    const s = await settled(m);
    t.same(s.conflicts, [], 'no conflicted copy');
    t.ok(
      s.uploadedBytes < data.length - 16 * MiB,
      `blocks sent ahead were not sent again (${s.uploadedBytes})`,
    );
    t.same(await serverNames(a.api), ['video.bin'], 'server listing');
    t.equal(sha256((await serverFile(a.api, '/video.bin'))!), sha256(data), 'the server holds its bytes');
    await m.stop();
  },
);

t.test('1 MiB overwritten in the middle of a 64 MiB file: at most 4 MiB travel', async (t) => {
  const a = await newUser('edit');
  const m = mount(t, a);
  await m.start();
  const data = pseudoRandom(64 * MiB, 21);
  await fs.writeFile(m.p('big.bin'), data);
  const before = await settled(m);
  t.ok(before.uploadedBytes >= 64 * MiB, `the whole file went up first (${before.uploadedBytes})`);

  const patch = pseudoRandom(MiB, 22);
  const at = 30 * MiB + 12345;
  const fh = await fs.open(m.p('big.bin'), 'r+');
  try {
    const { bytesWritten } = await fh.write(patch, 0, patch.length, at);
    t.equal(bytesWritten, patch.length);
  } finally {
    await fh.close();
  }
  const expected = Buffer.from(data);
  patch.copy(expected, at);
  t.equal(sha256(await fs.readFile(m.p('big.bin'))), sha256(expected), 'this device reads its edit');
  const after = await settled(m);
  const delta = after.uploadedBytes - before.uploadedBytes;
  t.ok(delta >= patch.length && delta <= 4 * MiB, `the edit sent ${delta} bytes`);
  t.equal((await fs.stat(m.p('big.bin'))).size, 64 * MiB, 'size unchanged');
  const there = await onSecondDevice(t, a, 'edit-desktop', 'big.bin');
  t.same(there.names, ['big.bin'], 'no copy besides the file');
  t.equal(there.sha, sha256(expected), 'the second device reads the edited bytes');
  await m.stop();
});

t.test('a new file of 1 byte + a committed 64 MiB: at most two chunks travel', async (t) => {
  const a = await newUser('prepend');
  const m = mount(t, a);
  await m.start();
  const data = pseudoRandom(64 * MiB, 31);
  await fs.writeFile(m.p('orig.bin'), data);
  const before = await settled(m);
  const shifted = Buffer.concat([Buffer.from([0x42]), data]);
  await fs.writeFile(m.p('shifted.bin'), shifted);
  const after = await settled(m);
  const delta = after.uploadedBytes - before.uploadedBytes;
  t.ok(delta > 0 && delta <= 2 * 4 * MiB, `the shifted copy sent ${delta} bytes`);
  t.same(await serverNames(a.api), ['orig.bin', 'shifted.bin'], 'server listing');
  t.equal(sha256((await serverFile(a.api, '/shifted.bin'))!), sha256(shifted), 'committed intact');
  await m.stop();
});

t.test('kill -9 of the mount at several points: each file committed exactly once', async (t) => {
  t.test('right after close, before any push (server down)', async (t) => {
    await ensureServer();
    const a = await newUser('crash-a');
    const m = mount(t, a);
    await m.start();
    const data = pseudoRandom(5 * MiB + 7, 41);
    await server.stop();
    try {
      await fs.writeFile(m.p('offline.bin'), data);
      t.ok((await fs.readFile(m.p('offline.bin'))).equals(data), 'written locally while offline');
      t.ok((await status(m)).pending >= 1, 'queued');
      await m.crash();
      // A state directory that has synced before mounts from its mirror even with the server down.
      try {
        await restart(m);
        t.ok((await fs.readFile(m.p('offline.bin'))).equals(data), 'the staged file survived the crash');
        t.ok((await status(m)).pending >= 1, 'still queued after the restart');
      } catch (err) {
        t.fail(`the mount did not come back while the server was down: ${(err as Error).message}`);
      }
    } finally {
      await ensureServer();
    }
    if (!(await status(m).catch(() => null))) await restart(m);
    const s = await settled(m);
    t.same(s.conflicts, [], 'status lists no conflicted copy');
    t.same(await serverNames(a.api), ['offline.bin'], 'server listing');
    const there = await onSecondDevice(t, a, 'crash-a-desktop', 'offline.bin');
    t.same(there.names, ['offline.bin'], 'exactly one file, no conflicted copy');
    t.equal(there.sha, sha256(data), 'byte-identical');
    await m.stop();
  });

  t.test('in the middle of uploading a 48 MiB file', async (t) => {
    await ensureServer();
    const a = await newUser('crash-b');
    const m = mount(t, a);
    await m.start();
    const data = pseudoRandom(48 * MiB, 42);
    await fs.writeFile(m.p('big.bin'), data);
    const at = await waitFor(
      'the upload to be under way',
      async () => {
        const s = await status(m);
        const u = s.uploads[0];
        return s.uploading === 1 && u && u.sent >= 12 * MiB && u.sent < u.toSend - 12 * MiB && u;
      },
      30_000,
      2,
    );
    await m.crash();
    t.comment(`crashed with ${at.sent} of ${at.toSend} bytes sent`);
    await restart(m);
    const s = await settled(m);
    t.same(s.conflicts, [], 'status lists no conflicted copy');
    t.ok(
      s.uploadedBytes <= data.length - at.sent + 16 * MiB, // + blocks in flight at the crash
      `blocks sent before the crash were not sent again (${s.uploadedBytes} after the restart)`,
    );
    t.same(await serverNames(a.api), ['big.bin'], 'server listing');
    const there = await onSecondDevice(t, a, 'crash-b-desktop', 'big.bin');
    t.same(there.names, ['big.bin'], 'exactly one file, no conflicted copy');
    t.equal(there.sha, sha256(data), 'byte-identical');
    await m.stop();
  });

  t.test('after the server committed, before the mount heard back', async (t) => {
    await ensureServer();
    const a = await newUser('crash-c');
    const proxy = new FaultProxy(Number(new URL(server.url).port));
    proxies.push(proxy);
    await proxy.start();
    const m = mount(t, a, proxy.url);
    await m.start();
    // A committed file edited, and a new file: both kinds of commit.
    const v1 = pseudoRandom(2 * MiB, 43);
    await fs.writeFile(m.p('edited.bin'), v1);
    await settled(m);
    const v2 = pseudoRandom(2 * MiB, 44);
    const fresh = pseudoRandom(3 * MiB, 45);
    for (const [name, data] of [
      ['edited.bin', v2],
      ['fresh.bin', fresh],
    ] as const) {
      const held = proxy.affected;
      proxy.arm('hold');
      await fs.writeFile(m.p(name), data);
      await waitFor(`the server to commit ${name}`, async () => {
        const got = await serverFile(a.api, `/${name}`);
        return got !== null && got.equals(data);
      });
      t.equal(proxy.affected, held + 1, `${name}: the commit answer was held`);
      await m.crash();
      await restart(m);
      const s = await settled(m);
      t.same(s.conflicts, [], `${name}: no conflict with its own commit`);
      t.same(
        await serverNames(a.api),
        name === 'fresh.bin' ? ['edited.bin', 'fresh.bin'] : ['edited.bin'],
        `${name}: server listing has no conflicted copy`,
      );
    }
    const there = await onSecondDevice(t, a, 'crash-c-desktop', 'edited.bin');
    t.same(there.names, ['edited.bin', 'fresh.bin'], 'each file exactly once, no conflicted copy');
    t.equal(there.sha, sha256(v2), 'the edit is there');
    t.equal(sha256((await serverFile(a.api, '/fresh.bin'))!), sha256(fresh));
    await m.stop();
  });

  // Group commit (issue 17 item 1): close(2) returns before its change is fsynced; a killed mount
  // still loses none of them (the kernel keeps what was written), and the restart sends them all.
  t.test('in the middle of a tar x: every file tar had closed reaches the server', async (t) => {
    await ensureServer();
    const a = await newUser('crash-tar');
    const src = await fs.mkdtemp(path.join(os.tmpdir(), 'loft-tar-src-'));
    t.teardown(() => fs.rm(src, { recursive: true, force: true }));
    const want = new Map<string, string>(); // path in the archive → sha256
    for (let i = 0; i < 1500; i++) {
      const rel = `tree/d${i % 15}/f${i}.txt`;
      const data = pseudoRandom(200 + ((i * 37) % 3000), 1000 + i);
      await fs.mkdir(path.join(src, path.dirname(rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), data);
      want.set(rel, sha256(data));
    }
    const archive = path.join(src, 'tree.tar');
    await execFileP('tar', ['-cf', archive, '-C', src, 'tree']);
    const m = mount(t, a);
    await m.start();
    // tar -v names each member as it starts on it, one after another: every member named before
    // the last one it printed is closed.
    const tar = spawn('tar', ['-xvf', archive, '-C', m.mountpoint], { stdio: ['ignore', 'pipe', 'pipe'] });
    const named: string[] = [];
    let rest = '';
    let third: () => void;
    const atThird = new Promise<void>((resolve) => (third = resolve));
    tar.stdout.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      named.push(...lines);
      // Stopped where it is (no timing involved): the mount is killed under a tar half done.
      if (named.length >= 500 && !tar.killed && tar.exitCode === null) {
        tar.kill('SIGSTOP');
        third();
      }
    });
    tar.stderr.resume();
    const ended = new Promise<void>((resolve) => tar.on('close', () => resolve()));
    await Promise.race([atThird, ended]);
    await m.crash();
    tar.kill('SIGKILL');
    await ended;
    const closed = named.slice(0, -1).filter((n) => want.has(n));
    t.ok(closed.length >= 400 && closed.length < want.size, `killed after ${closed.length} files`);
    await restart(m);
    await settled(m, 120_000);
    const tree = await serverTree(a.api);
    const missing = closed.filter((rel) => tree[`/${rel}`]?.sha256 !== want.get(rel));
    t.same(missing.slice(0, 5), [], `all ${closed.length} closed files on the server, byte-identical`);
    await m.stop();
  });

  t.test('the answer to a commit lost on the network: retried without a conflicted copy', async (t) => {
    await ensureServer();
    const a = await newUser('lost-reply');
    const proxy = new FaultProxy(Number(new URL(server.url).port));
    proxies.push(proxy);
    await proxy.start();
    const m = mount(t, a, proxy.url);
    await m.start();
    const data = pseudoRandom(MiB + 3, 46);
    proxy.arm('reset');
    await fs.writeFile(m.p('once.bin'), data);
    const s = await settled(m);
    t.equal(proxy.affected, 1, 'one commit answer was lost');
    t.same(s.conflicts, [], 'status lists no conflicted copy');
    t.same(await serverNames(a.api), ['once.bin'], 'exactly one file, no conflicted copy');
    t.equal(sha256((await serverFile(a.api, '/once.bin'))!), sha256(data));
    await m.stop();
  });
});

// Issue 17 item 3: many new small files and folders reach the server in batches (POST /v1/batch,
// content inline), not as a mkdir or a block upload + a commit each.
// Files above the inline size (every 5th here, 20-120 KiB) join the batches too: their blocks are
// PUT first, their commits ride in the batch by block reference.
t.test('cp -r of 300 small files in 10 folders: sent in batches, all on the server', async (t) => {
  await ensureServer();
  const a = await newUser('batches');
  const proxy = new FaultProxy(Number(new URL(server.url).port));
  proxies.push(proxy);
  await proxy.start();
  const src = await fs.mkdtemp(path.join(os.tmpdir(), 'loft-cp-src-'));
  t.teardown(() => fs.rm(src, { recursive: true, force: true }));
  const want: Tree = { '/tree': { kind: 'dir', size: 0 } };
  for (let i = 0; i < 300; i++) {
    const dir = `tree/d${i % 10}`;
    const size = i === 7 ? 0 : i % 5 === 0 ? 20_000 + i * 330 : 100 + i * 40;
    const data = pseudoRandom(size, 2000 + i);
    await fs.mkdir(path.join(src, dir), { recursive: true });
    await fs.writeFile(path.join(src, dir, `f${i}.txt`), data);
    want[`/${dir}`] = { kind: 'dir', size: 0 };
    want[`/${dir}/f${i}.txt`] = { kind: 'file', size: data.length, sha256: sha256(data) };
  }
  const m = mount(t, a, proxy.url);
  await m.start();
  // Copied offline, so the whole tree is queued when the server is back: how it is sent does not
  // depend on how fast cp runs beside the push loop.
  proxy.offline();
  await execFileP('cp', ['-r', path.join(src, 'tree'), m.mountpoint]);
  proxy.online();
  await settled(m);
  t.same(await serverTree(a.api), want, 'the server holds the tree, byte-identical');
  const n = (k: string) => proxy.requests.get(k) ?? 0;
  const single = n('POST /v1/commit') + n('POST /v1/mkdir');
  t.ok(n('POST /v1/batch') >= 3, `sent in batches (${n('POST /v1/batch')} batch requests)`);
  t.ok(single < 10, `few one-op requests (${single}: commits, mkdirs)`);
  // The 60 larger files' blocks (about one each) went by PUT; the small files' content inline.
  t.ok(
    n('PUT /v1/blocks/:hash') >= 60 && n('PUT /v1/blocks/:hash') < 100,
    `${n('PUT /v1/blocks/:hash')} block uploads`,
  );
  t.comment(JSON.stringify(Object.fromEntries(proxy.requests)));
  await m.stop();
});

// Batches are pipelined (push-batch.ts): while one batch's request is on the server, the next one's
// files are read and their blocks sent. A file written again after it was read ahead goes as it is
// now, not as it was read.
t.test(
  'the next batch is read ahead while one is on the server; a file written since goes as it is now',
  async (t) => {
    await ensureServer();
    const a = await newUser('batch-read-ahead');
    const proxy = new FaultProxy(Number(new URL(server.url).port));
    proxies.push(proxy);
    await proxy.start();
    const m = mount(t, a, proxy.url);
    await m.start();
    proxy.offline(); // the whole tree queued, in this order, before anything is sent
    await fs.mkdir(m.p('d'));
    const want: Tree = { '/d': { kind: 'dir', size: 0 } };
    const late = 'f150.bin'; // in the second batch (100 ops a batch), by block reference (> 16 KiB)
    const entry = (data: Buffer) => ({ kind: 'file' as const, size: data.length, sha256: sha256(data) });
    for (let i = 0; i < 180; i++) {
      const name = `f${i}.bin`;
      const data = pseudoRandom(name === late ? 20_000 : 200 + i, 500 + i);
      await fs.writeFile(m.p(`d/${name}`), data);
      want[`/d/${name}`] = entry(data);
    }
    proxy.stall(/^POST \/v1\/batch /);
    proxy.online();
    await waitFor('the first batch held', async () => proxy.stalledRequests === 1, 60_000);
    // The late file's block goes while the first batch is held: the second batch was read ahead.
    const puts = () => proxy.requests.get('PUT /v1/blocks/:hash') ?? 0;
    await waitFor('a block of the second batch sent ahead', async () => puts() >= 1, 60_000);
    t.equal(
      proxy.requests.get('POST /v1/batch') ?? 0,
      0,
      'while the first batch was still held in the proxy',
    );
    const again = pseudoRandom(20_000, 9999); // the same size: only its generation tells
    await fs.writeFile(m.p(`d/${late}`), again);
    want[`/d/${late}`] = entry(again);
    proxy.release();
    await settled(m);
    t.same(await serverTree(a.api), want, 'the server holds the tree, the late file as it was written last');
    t.equal(puts(), 2, 'its new block sent too');
    await m.stop();
  },
);

t.test(
  'a small new file: chmod and mtime set while it is written travel with it; its staging file becomes its cache file',
  async (t) => {
    await ensureServer();
    const a = await newUser('adopt');
    const m = mount(t, a);
    await m.start();
    const staging = path.join(m.state, 'staging');
    const data = pseudoRandom(9000, 71);
    const fh = await fs.open(m.p('small.bin'), 'w', 0o644);
    await fh.write(data.subarray(0, 4000), 0, 4000, 0);
    // tar's order: the attributes by another call while its writer still holds the file open.
    await execFileP('chmod', ['600', m.p('small.bin')]);
    await execFileP('touch', ['-m', '-d', '@1600000000', m.p('small.bin')]);
    const during = await fs.stat(m.p('small.bin'));
    t.equal(during.mode & 0o7777, 0o600, 'stat shows the new mode while the file is written');
    t.equal(during.mtimeMs, 1600000000_000, 'and the new mtime');
    await fh.write(data.subarray(4000), 0, data.length - 4000, 4000);
    await execFileP('touch', ['-m', '-d', '@1600000000', m.p('small.bin')]); // the write moved it
    // Its staging file is the one with bytes (the others are spares made ahead, empty).
    const written = async () => {
      const out: { name: string; ino: number }[] = [];
      for (const name of await fs.readdir(staging)) {
        const st = await fs.stat(path.join(staging, name));
        if (st.size > 0) out.push({ name, ino: st.ino });
      }
      return out;
    };
    const made = await written();
    t.equal(made.length, 1, 'one staging file with bytes');
    const ino = made[0]!.ino;
    await fh.close();
    await settled(m);
    t.same(await written(), [], 'no staging file with bytes left once committed');
    const hash = sha256(data);
    const cached = path.join(m.state, 'cache', 'blocks', hash.slice(0, 2), hash);
    t.equal((await fs.stat(cached)).ino, ino, 'the staging file is the cache file now (moved, not copied)');
    await m.stop();

    // The server has the mode and the mtime: a second device sees them.
    const dev = await otherDevice(a, 'adopt-2');
    const m2 = mount(t, dev);
    await m2.start();
    const st = await fs.stat(m2.p('small.bin'));
    t.equal(st.mode & 0o7777, 0o600, 'the mode reached the server');
    t.equal(st.mtimeMs, 1600000000_000, 'the mtime reached the server');
    t.equal(sha256(await fs.readFile(m2.p('small.bin'))), hash, 'byte-identical');
    await m2.stop();

    // The first device reads it from its cache, offline.
    await m.start();
    await server.stop();
    try {
      t.equal(sha256(await fs.readFile(m.p('small.bin'))), hash, 'read offline from the moved file');
    } finally {
      await ensureServer();
    }
    await m.stop();
  },
);

t.test('spare staging files: made ahead of creates, deleted at unmount, swept after a kill -9', async (t) => {
  await ensureServer();
  const a = await newUser('spares');
  const m = mount(t, a);
  await m.start();
  const staging = path.join(m.state, 'staging');
  const files = async () => (await fs.readdir(staging).catch(() => [] as string[])).sort();
  for (let i = 0; i < 5; i++) await fs.writeFile(m.p(`f${i}.txt`), `file ${i}\n`);
  await settled(m);
  const spares = await waitFor(
    'spares made',
    async () => ((await files()).length > 0 ? files() : false),
    30_000,
  );
  t.ok(spares.length > 0 && spares.length <= 16, `${spares.length} spare staging files made ahead`);
  await m.crash();
  await restart(m);
  await settled(m);
  t.same(await files(), [], 'the restart deleted what the killed mount had made ahead');
  await fs.writeFile(m.p('after.txt'), 'made after the restart\n');
  await settled(m);
  await m.stop();
  t.same(await files(), [], 'an unmount deletes its spares');
  t.same(
    await serverNames(a.api),
    ['after.txt', 'f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt'],
    'every file on the server',
  );
});

t.test('a server whose batch route fails: the changes go one by one, none is set aside', async (t) => {
  await ensureServer();
  const a = await newUser('batch-fails');
  const proxy = new FaultProxy(Number(new URL(server.url).port));
  proxies.push(proxy);
  await proxy.start();
  proxy.refuse('POST /v1/batch ');
  const m = mount(t, a, proxy.url);
  await m.start();
  const want: Tree = { '/d': { kind: 'dir', size: 0 } };
  await fs.mkdir(m.p('d'));
  for (let i = 0; i < 40; i++) {
    const data = pseudoRandom(50 + i, 3000 + i);
    await fs.writeFile(m.p(`d/f${i}.txt`), data);
    want[`/d/f${i}.txt`] = { kind: 'file', size: data.length, sha256: sha256(data) };
  }
  const s = await settled(m);
  t.same(s.stuck, [], 'nothing set aside');
  t.same(await serverTree(a.api), want, 'every change on the server');
  t.ok(
    proxy.refusedRequests >= 1 && proxy.refusedRequests <= 3,
    `batch tried ${proxy.refusedRequests} times`,
  );
  await m.stop();
});

t.test('server killed during an upload: offline, then resumed without resending much', async (t) => {
  await ensureServer();
  const a = await newUser('server-kill');
  const m = mount(t, a);
  await m.start();
  const data = pseudoRandom(64 * MiB, 51);
  await fs.writeFile(m.p('big.bin'), data);
  const at = await waitFor(
    'the upload to be under way',
    async () => {
      const s = await status(m);
      const u = s.uploads[0];
      return s.uploading === 1 && u && u.sent >= 16 * MiB && u.sent < u.toSend - 16 * MiB && u;
    },
    30_000,
    2,
  );
  try {
    await server.kill();
    t.comment(`server killed with ${at.sent} of ${at.toSend} bytes sent`);
    const down = await waitFor(
      'the mount to notice',
      async () => {
        const s = await status(m);
        return (s.online === false || s.pushError !== null) && s;
      },
      15_000,
    );
    t.ok(down.pending > 0, 'the file is still pending');
    t.ok(
      down.online === false || down.pushError,
      `offline (${down.offlineReason}) or failing (${down.pushError})`,
    );
    t.ok((await fs.readFile(m.p('big.bin'))).equals(data), 'the file stays readable here');
  } finally {
    await ensureServer();
  }
  const s = await settled(m);
  t.equal(s.online, true, 'online again once the change is committed');
  if (!s.online) {
    const since = Date.now();
    await waitFor('online', async () => (await status(m)).online, 40_000).catch(() => undefined);
    t.comment(`status said online ${Date.now() - since} ms after the commit`);
  }
  t.equal(s.pushError, null, 'no push error');
  t.same(s.conflicts, [], 'status lists no conflicted copy');
  t.ok(s.uploadedBytes < 2 * data.length, `resumed: ${s.uploadedBytes} bytes sent in all`);
  t.ok(s.uploadedBytes >= data.length, 'every block was sent at least once');
  const there = await onSecondDevice(t, a, 'server-kill-desktop', 'big.bin');
  t.same(there.names, ['big.bin']);
  t.equal(there.sha, sha256(data), 'byte-identical');
  await m.stop();
});

t.test(
  'two devices write the same file while offline: one wins, the other is a conflicted copy',
  async (t) => {
    await ensureServer();
    const a = await newUser('pair');
    const b = await otherDevice(a, 'pair-desktop');
    const ma = mount(t, a);
    const mb = mount(t, b);
    await ma.start();
    await mb.start();
    await fs.writeFile(ma.p('shared.txt'), 'the first version\n');
    await settled(ma);
    await waitFor('B to see shared.txt', async () => {
      try {
        return (await fs.readFile(mb.p('shared.txt'), 'utf8')) === 'the first version\n';
      } catch {
        return false;
      }
    });
    const textA = 'written on A while offline\n';
    const textB = 'written on B while offline, a little longer\n';
    await server.stop();
    try {
      await fs.writeFile(ma.p('shared.txt'), textA);
      await fs.writeFile(mb.p('shared.txt'), textB);
      t.equal(await fs.readFile(ma.p('shared.txt'), 'utf8'), textA);
      t.equal(await fs.readFile(mb.p('shared.txt'), 'utf8'), textB);
    } finally {
      await ensureServer();
    }
    const [sa, sb] = await Promise.all([settled(ma), settled(mb)]);
    const names = await serverNames(a.api);
    t.equal(names.length, 2, `two files on the server: ${JSON.stringify(names)}`);
    t.ok(names.includes('shared.txt'), 'the file itself');
    const copy = names.find((n) => n !== 'shared.txt') ?? '';
    const winner = (await serverFile(a.api, '/shared.txt'))?.toString();
    t.ok(winner === textA || winner === textB, 'shared.txt holds one of the two versions');
    const [loserDevice, loserText, loserStatus, winnerStatus] =
      winner === textA ? [b.device, textB, sb, sa] : [a.device, textA, sa, sb];
    const stamp = /^shared \(conflicted copy from (.+) \d{4}-\d\d-\d\d \d{6}\)\.txt$/.exec(copy);
    t.ok(stamp, `the copy is named as documented: ${copy}`);
    t.equal(stamp?.[1], loserDevice, 'the copy names the losing device');
    t.equal((await serverFile(a.api, `/${copy}`))?.toString(), loserText, "the copy holds the loser's text");
    t.same(
      loserStatus.conflicts.map((p) => p.replace(/^\//, '')),
      [copy],
      "the loser's status lists the copy",
    );
    t.same(winnerStatus.conflicts, [], 'the winner made no copy');
    for (const [label, m] of [
      ['A', ma],
      ['B', mb],
    ] as const) {
      await waitFor(
        `${label} to show both files with the server's contents`,
        async () => {
          const here = (await fs.readdir(m.mountpoint)).sort();
          if (JSON.stringify(here) !== JSON.stringify(names)) return false;
          return (
            (await fs.readFile(m.p('shared.txt'), 'utf8')) === winner &&
            (await fs.readFile(m.p(copy), 'utf8')) === loserText
          );
        },
        10_000,
      ).then(
        () => t.pass(`${label} shows both files`),
        (err: Error) => t.fail(`${label}: ${err.message}`),
      );
    }
    await ma.stop();
    await mb.stop();
  },
);

t.test('local-first: every change works offline, then the server converges to the mount', async (t) => {
  await ensureServer();
  const a = await newUser('offline');
  const m = mount(t, a);
  await m.start();
  await fs.mkdir(m.p('docs'));
  await fs.writeFile(m.p('docs/a.txt'), 'file a\n');
  await fs.writeFile(m.p('docs/b.txt'), 'file b\n');
  await fs.writeFile(m.p('docs/c.bin'), pseudoRandom(300_000, 61));
  await fs.mkdir(m.p('old'));
  await fs.writeFile(m.p('old/keep.txt'), 'kept across a directory rename\n');
  await settled(m);

  const x = pseudoRandom(2 * MiB + 5, 62);
  const c2 = pseudoRandom(1234567, 63);
  const file = (data: string | Buffer) => {
    const b = Buffer.from(data);
    return { kind: 'file' as const, size: b.length, sha256: sha256(b) };
  };
  const dir = { kind: 'dir' as const, size: 0 };
  const expected: Tree = {
    '/docs': dir,
    '/docs/c.bin': file(c2),
    '/new': dir,
    '/new/a.txt': file('file a\n'),
    '/new/log.txt': file('line 1\nline 2\n'),
    '/new/sub': dir,
    '/new/sub/x.bin': file(x),
    '/new/y.txt': file('renamed before it ever reached the server\n'),
    '/older': dir,
    '/older/keep.txt': file('kept across a directory rename\n'),
  };
  await server.stop();
  try {
    await fs.mkdir(m.p('new'));
    await fs.mkdir(m.p('new/sub'));
    await fs.writeFile(m.p('new/sub/x.bin'), x);
    await fs.writeFile(m.p('tmp1.txt'), 'renamed before it ever reached the server\n');
    await fs.rename(m.p('tmp1.txt'), m.p('new/y.txt'));
    await fs.writeFile(m.p('gone.txt'), 'created and removed offline\n');
    await fs.unlink(m.p('gone.txt'));
    await fs.rename(m.p('docs/a.txt'), m.p('new/a.txt'));
    await fs.unlink(m.p('docs/b.txt'));
    await fs.writeFile(m.p('docs/c.bin'), c2);
    await fs.rename(m.p('old'), m.p('older'));
    await fs.mkdir(m.p('tmpdir'));
    await fs.rmdir(m.p('tmpdir'));
    // A file written in pieces and appended to.
    await fs.writeFile(m.p('new/log.txt'), 'line 1\n');
    await fs.appendFile(m.p('new/log.txt'), 'line 2\n');

    t.same(await mountTree(m.mountpoint), expected, 'the mount shows every change at once');
    const off = await waitFor(
      'the mount to report offline',
      async () => {
        const s = await status(m);
        return s.online === false && s;
      },
      15_000,
    );
    t.ok(off.pending > 0, `${off.pending} changes pending`);
    t.equal(off.online, false, 'status says offline');
  } finally {
    await ensureServer();
  }
  const s = await settled(m);
  t.equal(s.online, true, 'online again');
  t.same(s.conflicts, [], 'status lists no conflicted copy');
  const local = await mountTree(m.mountpoint);
  t.same(await serverTree(a.api), local, 'the server tree equals the mount tree');
  t.same(local, expected, 'after the sync the mount still shows every change (nothing lost)');
  await m.stop();
});

t.test('no FUSE mount is left behind', async (t) => {
  for (const m of mounts) await m.dispose();
  const { stdout } = await execFileP('cat', ['/proc/mounts']);
  for (const m of mounts) t.notOk(stdout.includes(` ${m.mountpoint} `), `${m.mountpoint} unmounted`);
});
