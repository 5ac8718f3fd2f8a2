/**
 * Data at rest is its owner's alone: after a real server stored a file sent by a real mount, every
 * directory of the server's data dir and of the drive's state dir is 0700 and every file 0600 —
 * also when the directories existed before, world-readable (as an older Loft left them).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Devices, settled } from '../helpers/devices.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'loft-private-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = path.join(root, 'data');
mkdirSync(dataDir, { mode: 0o755 }); // as an older Loft made it
const server = new ServerProcess(dataDir);
const devices = new Devices(server);
t.before(() => server.start());
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
});

/** Every entry below `dir` (itself included) whose mode lets group or others in. */
async function open(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await fs.lstat(p);
    if (st.isSocket()) return; // checked on its own below
    if ((st.mode & 0o077) !== 0)
      out.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of await fs.readdir(p)) await walk(path.join(p, name));
  };
  await walk(dir);
  return out;
}

t.test('the server data dir and the drive state dir let nobody else in', async (t) => {
  const dev = await devices.newUser('alice');
  const state = path.join(root, 'state');
  mkdirSync(state, { mode: 0o755 });
  const m = new MountProcess(server.url, dev.token, { state, cacheSize: '64M' });
  t.teardown(() => m.stop().catch(() => undefined));
  await m.start();
  await fs.writeFile(m.p('secret.txt'), 'only mine\n');
  await fs.writeFile(m.p('big.bin'), Buffer.alloc(3 << 20, 7));
  await settled(m);
  // Read back through the cache too, so cache files exist.
  await fs.readFile(m.p('big.bin'));
  const files = (await fs.readdir(state, { recursive: true })).length;
  t.ok(files > 3, `the state dir holds files (${files})`);
  t.same(await open(dataDir), [], 'server data: dirs 0700, files 0600');
  t.same(await open(state), [], 'drive state: dirs 0700, files 0600');
  t.equal((await fs.stat(dataDir)).mode & 0o777, 0o700);
  t.equal((await fs.stat(state)).mode & 0o777, 0o700);
  await m.stop();
});
