/**
 * DirtyFiles (vfs/dirty-files.ts): spare staging files made ahead of creates, and the sweep of
 * staging files no node records, on the real file system.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DirtyFiles } from '../../../src/client/vfs/dirty-files.js';

function setup(t: Test) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-dirty-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'staging');
  return { dir, dirty: new DirtyFiles(dir), list: () => fs.readdirSync(dir).sort() };
}

async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out: ${what}`);
}

t.test(
  'new files take spare staging files, made ahead in the background; closeAll deletes the spares',
  async (t) => {
    const { dirty, list } = setup(t);
    const first = await dirty.create(1, 0, 1000);
    t.ok(first.name.startsWith('n-'), 'the first makes its own file');
    await until('spares made', () => list().length === 17);
    const spares = list().filter((n) => n !== first.name);
    const second = await dirty.create(2, 0, 1000);
    t.ok(spares.includes(second.name), 'the next takes a spare');
    await second.file.write(0, Buffer.from('hello'));
    const out = Buffer.alloc(5);
    t.equal(await second.file.read(0, out, { read: async () => 0 }), 5);
    t.equal(out.toString(), 'hello', 'a spare is an ordinary staging file');
    const based = await dirty.create(3, 100, 1000);
    t.notOk(based.name.startsWith('n-'), 'a staging over a base is never a spare');
    t.notOk(spares.includes(based.name));
    await dirty.closeAll();
    const left = list().filter((n) => !n.endsWith('.json'));
    t.same(
      left.sort(),
      [first.name, second.name, based.name].sort(),
      'the spares are gone, the files in use stay',
    );
  },
);

t.test('sweep deletes what no node records and nothing holds, and keeps the rest', async (t) => {
  const { dir, dirty, list } = setup(t);
  t.equal(dirty.sweep(new Set()), 0, 'no folder yet: nothing to do');
  fs.mkdirSync(dir, { recursive: true });
  for (const n of ['n-recorded', 'based', 'based.json', 'n-crash-spare', 'old', 'old.json', 'old.json.tmp'])
    fs.writeFileSync(path.join(dir, n), 'x');
  const open = await dirty.create(9, 0, 1000, 'n-open');
  t.equal(dirty.sweep(new Set(['n-recorded', 'based'])), 4);
  t.same(
    list(),
    ['based', 'based.json', 'n-open', 'n-recorded'],
    'recorded and open files stay, with their metadata',
  );
  await open.file.close();
});
