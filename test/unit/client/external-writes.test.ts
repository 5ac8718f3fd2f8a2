/**
 * ExternalWrites (vfs/external-writes.ts): what the kernel wrote to a staging file itself
 * (passthrough) is taken in from the file, with real staging files on the real file system; the
 * handle table and the mirror are stand-ins; the clock is injected.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DirtyFiles } from '../../../src/client/vfs/dirty-files.js';
import { ExternalWrites } from '../../../src/client/vfs/external-writes.js';
import type { Handle, HandleTable } from '../../../src/client/vfs/handle-table.js';
import type { Mirror } from '../../../src/client/mirror/mirror.js';

async function setup(t: Test) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-external-'));
  const dirty = new DirtyFiles(path.join(root, 'staging'));
  t.teardown(async () => {
    await dirty.closeAll();
    fs.rmSync(root, { recursive: true, force: true });
  });
  let clock = 5000;
  const handles = new Map<number, Handle>();
  const table = { find: (fh: number) => handles.get(fh), get: (fh: number) => handles.get(fh)! };
  const mirror = { node: (id: number) => (id === 99 ? { size: 1234 } : undefined) };
  const ext = new ExternalWrites({
    handles: table as unknown as HandleTable,
    dirty,
    mirror: mirror as unknown as Pick<Mirror, 'node'>,
    now: () => clock,
  });
  const d = await dirty.create(7, 0, 1000);
  const h = { id: 7, write: true, dirty: d } as unknown as Handle;
  handles.set(1, h);
  return { ext, d, h, dirty, tick: (ms: number) => (clock += ms), now: () => clock, root };
}

t.test(
  'a handle passed to the kernel: its writes are taken in at a look, and each close counts',
  async (t) => {
    const { ext, d, h, tick, now } = await setup(t);
    const fd = ext.fd(1);
    if (fd === null) return t.fail('a new file has a staging descriptor');
    fs.writeSync(fd, Buffer.from('abc'), 0, 3, 0);
    ext.take(d);
    t.equal(d.size, 0, 'not passed through yet: the Vfs knows every write, the file is not read');
    ext.passed(1);
    ext.passed(1);
    t.equal(d.passthrough, 1, 'once per handle');
    t.equal(h.passthrough, true);
    const gen = d.gen;
    tick(10);
    ext.take(d);
    t.equal(d.size, 3, 'a look takes the size from the file');
    t.equal(d.gen, gen + 1, 'and counts a change');
    t.equal(d.mtime, now(), 'at the time of the look');
    t.equal(d.modified, true);
    d.mtime = 42; // futimens while written
    tick(10);
    ext.take(d);
    t.equal(d.gen, gen + 1, 'no write since: nothing changes');
    t.equal(d.mtime, 42, 'the mtime set stays');
    ext.closing(h);
    t.equal(d.gen, gen + 2, "a writer's close counts as a change anyway (timestamp granularity)");
    t.equal(d.mtime, 42, 'without moving the mtime');
    t.equal(ext.size(7), 3, 'size() of the node');
    t.equal(ext.size(99), 1234, "a node with no staging: the mirror's size");
    ext.closing(h, true);
    t.equal(d.gen, gen + 2, 'the release only looks (its flush made the commit point)');
    t.equal(d.passthrough, 0, 'released');
  },
);

t.test('within one kernel request a staging is looked at once; the next request looks again', async (t) => {
  const { ext, d, tick } = await setup(t);
  const fd = ext.fd(1)!;
  ext.passed(1);
  ext.request();
  fs.writeSync(fd, Buffer.from('abc'), 0, 3, 0);
  ext.take(d);
  t.equal(d.size, 3, 'the first look of the request');
  tick(1);
  fs.writeSync(fd, Buffer.from('defg'), 0, 4, 3);
  ext.take(d);
  t.equal(d.size, 3, 'the same request: not looked at again (what it saw was a state during it)');
  ext.request();
  ext.take(d);
  t.equal(d.size, 7, 'a later request sees the later write');
});

t.test('roomy: the staging disk is looked at once a second at most', async (t) => {
  const { ext, dirty, tick } = await setup(t);
  const st = fs.statfsSync(dirty.dir);
  const free = st.bavail * st.bsize;
  const expected = free >= 1024 ** 3 && free >= st.blocks * st.bsize * 0.1;
  t.equal(ext.roomy(), expected, `this disk: ${free} bytes free`);
  fs.rmSync(dirty.dir, { recursive: true, force: true });
  t.equal(ext.roomy(), expected, 'within the second: the last look');
  tick(1000);
  t.equal(ext.roomy(), false, 'a staging folder that cannot be looked at: no room');
});
