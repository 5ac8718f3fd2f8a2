/**
 * Passthrough (src/client/fuse/passthrough.ts) through a real mount of a real `loft mount` process
 * against a real `loft serve`: new files whose reads and writes the kernel makes to their staging
 * file itself behave as files on a local disk (sizes while written, a second open, O_APPEND,
 * ftruncate, futimens and fchmod during the write), reach the server byte-identical, and survive a
 * kill -9 after fsync. The mounts here pass every new file through (LOFT_PASSTHROUGH=always); the
 * default rule (only a create soon after another) is the unit test's, and `tar x` in
 * drive-write.test.ts and drive-posix-diff.test.ts runs with it.
 */
import fs from 'node:fs/promises';
import t, { type Test as Tap } from 'tap';
import { Devices, serverFile, settled, status, type Device } from '../helpers/devices.js';
import { pseudoRandom, sha256 } from '../helpers/fixtures.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
const mount = (t: Tap, dev: Device) => devices.mount(t, dev);

t.teardown(async () => {
  for (const m of devices.mounts) await m.dispose().catch(() => undefined);
  await server.dispose();
});

t.before(async () => {
  await server.start();
});

/** The mount's passthrough counters (`loft status --json`, fuse). */
async function passthrough(m: Parameters<typeof status>[0]): Promise<{ on: boolean; files: number }> {
  const fuse = (await status(m)).fuse as Record<string, unknown>;
  return { on: fuse.passthrough === true, files: Number(fuse.passthroughFiles ?? 0) };
}

const saved = process.env.LOFT_PASSTHROUGH;
t.beforeEach(() => {
  process.env.LOFT_PASSTHROUGH = 'always';
});
t.afterEach(() => {
  if (saved === undefined) delete process.env.LOFT_PASSTHROUGH;
  else process.env.LOFT_PASSTHROUGH = saved;
});

t.test(
  'a file the kernel writes itself: as on a local disk while written, exact on the server',
  async (t) => {
    const a = await devices.newUser('pt-basic');
    const m = mount(t, a);
    await m.start();
    const before = await passthrough(m);
    t.equal(before.on, true, 'passthrough negotiated (root, Linux ≥ 6.9 with CONFIG_FUSE_PASSTHROUGH)');

    const w = await fs.open(m.p('notes.txt'), 'w');
    await w.write('hello ');
    t.equal((await w.stat()).size, 6, 'fstat while written');
    await w.write('world');
    t.equal((await fs.stat(m.p('notes.txt'))).size, 11, 'stat by path while written');
    const r = await fs.open(m.p('notes.txt'), 'r');
    t.equal((await r.readFile()).toString(), 'hello world', 'a second open reads what the writer wrote');
    await r.close();
    await fs.appendFile(m.p('notes.txt'), '!');
    const mtime = new Date('2001-02-03T04:05:06Z');
    await w.utimes(mtime, mtime); // tar's futimens of the file it is writing
    await w.chmod(0o640);
    await w.close();
    const st = await fs.stat(m.p('notes.txt'));
    t.equal(st.size, 12);
    t.equal(st.mtimeMs, mtime.getTime(), 'the mtime set while writing stays');
    t.equal(st.mode & 0o777, 0o640);
    t.equal(await fs.readFile(m.p('notes.txt'), 'utf8'), 'hello world!');

    // ftruncate while written, then a write past the new end.
    const big = pseudoRandom(300_000, 81);
    const f = await fs.open(m.p('cut.bin'), 'w');
    await f.write(big);
    await f.truncate(100_000);
    t.equal((await f.stat()).size, 100_000, 'ftruncate while written');
    await f.write(Buffer.from('end'), 0, 3, 150_000);
    await f.close();
    const cut = Buffer.concat([big.subarray(0, 100_000), Buffer.alloc(50_000), Buffer.from('end')]);
    t.ok((await fs.readFile(m.p('cut.bin'))).equals(cut), 'cut, a hole of zeros, then the tail');

    const after = await passthrough(m);
    t.ok(after.files - before.files >= 4, `${after.files - before.files} opens passed through`);

    await settled(m);
    t.equal((await serverFile(a.api, '/notes.txt'))?.toString(), 'hello world!', 'the server has the bytes');
    const there = await serverFile(a.api, '/cut.bin');
    t.equal(there && sha256(there), sha256(cut), 'and the cut file, byte-identical');
    const meta = await a.api.get(`/v1/node?path=${encodeURIComponent('/notes.txt')}`);
    t.equal(meta.body.mtime, mtime.getTime(), 'with the mtime set while writing');
    await m.stop();
  },
);

t.test(
  'a reader holds a file the kernel wrote across its commit; an append meanwhile reaches the server',
  async (t) => {
    const a = await devices.newUser('pt-held');
    const m = mount(t, a);
    await m.start();
    const w = await fs.open(m.p('held.txt'), 'w');
    await w.write('first\n');
    const r = await fs.open(m.p('held.txt'), 'r'); // passed through too: the kernel's rule
    await w.close();
    await settled(m); // committed while the reader still holds the staging file
    t.equal(
      (await serverFile(a.api, '/held.txt'))?.toString(),
      'first\n',
      'the first version is on the server',
    );
    // A writer now: the staging the kernel holds must still be the file's, or this append goes nowhere.
    await fs.appendFile(m.p('held.txt'), 'second\n');
    t.equal((await r.readFile()).toString(), 'first\nsecond\n', 'the reader sees the append');
    await r.close();
    await settled(m);
    t.equal((await serverFile(a.api, '/held.txt'))?.toString(), 'first\nsecond\n', 'and so does the server');
    t.equal(await fs.readFile(m.p('held.txt'), 'utf8'), 'first\nsecond\n', 'and a later open');
    await m.stop();
  },
);

t.test(
  'kill -9 after fsync of a file the kernel wrote: its bytes survive and reach the server',
  async (t) => {
    const a = await devices.newUser('pt-crash');
    const m = mount(t, a);
    await m.start();
    const data = pseudoRandom(2_000_000, 82);
    await server.stop();
    try {
      const f = await fs.open(m.p('synced.bin'), 'w');
      await f.write(data);
      await f.sync(); // a durability point: what fsync returned for must survive a crash
      t.ok((await status(m)).pending >= 1, 'queued at fsync, before any close');
      await m.crash();
      await f.close().catch(() => undefined); // the mount is gone: EIO or ENOTCONN
      await devices.restart(m);
      t.ok(
        (await fs.readFile(m.p('synced.bin'))).equals(data),
        'the fsynced bytes are there after the restart',
      );
    } finally {
      if (!server.alive) await server.start();
    }
    await settled(m);
    const there = await serverFile(a.api, '/synced.bin');
    t.equal(there && sha256(there), sha256(data), 'and on the server, byte-identical');
    await m.stop();
  },
);

t.test('no FUSE mount is left behind', async (t) => {
  for (const m of devices.mounts) await m.dispose();
  const mounts = await fs.readFile('/proc/mounts', 'utf8');
  for (const m of devices.mounts) t.notOk(mounts.includes(` ${m.mountpoint} `), `${m.mountpoint} unmounted`);
});
