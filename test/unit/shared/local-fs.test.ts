/**
 * The contract of LocalFs (src/shared/local-fs.ts), run against both implementations: the real file
 * system (`nodeFs`, in a temp dir) and the simulation's in-memory one (MemFs). What staging files
 * and the disk cache rely on: positional reads and writes (a gap reads as zeros), truncate, files
 * kept by their open handles after an unlink or a rename over them, atomic rename of metadata, and
 * node's error codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { nodeFs, type LocalFs } from '../../../src/shared/local-fs.js';
import { MemFs } from '../../helpers/det-sim/mem-fs.js';

const code = (p: Promise<unknown> | (() => unknown)) =>
  (typeof p === 'function' ? Promise.resolve().then(p) : p).then(
    () => 'ok',
    (e: NodeJS.ErrnoException) => e.code,
  );

function contract(name: string, make: () => { fs: LocalFs; root: string; done: () => void }) {
  t.test(name, async (t) => {
    const { fs, root, done } = make();
    t.teardown(done);
    const p = (...parts: string[]) => path.join(root, ...parts);

    t.test('open in a missing folder: ENOENT; mkdir makes it (recursive, twice is fine)', async (t) => {
      t.equal(await code(fs.open(p('a', 'f'), 'w+')), 'ENOENT');
      await fs.mkdir(p('a', 'b'), { recursive: true });
      await fs.mkdir(p('a', 'b'), { recursive: true });
      fs.mkdirSync(p('a', 'b'), { recursive: true });
      t.ok(fs.existsSync(p('a', 'b')));
      t.equal(await code(fs.open(p('a', 'missing'), 'r')), 'ENOENT');
      t.equal(await code(fs.open(p('a', 'missing'), 'r+')), 'ENOENT');
    });

    t.test('positional writes and reads; a gap reads as zeros; truncate', async (t) => {
      const f = await fs.open(p('a', 'data'), 'w+');
      t.equal(f.writeSync(Buffer.from('hello'), 0, 5, 0), 5);
      t.equal((await f.write(Buffer.from('xxworld'), 2, 5, 10)).bytesWritten, 5);
      t.equal((await f.stat()).size, 15);
      const out = Buffer.alloc(20, 9);
      const { bytesRead } = await f.read(out, 0, 20, 0);
      t.equal(bytesRead, 15, 'a read stops at the end');
      t.same(
        out.subarray(0, 15),
        Buffer.concat([Buffer.from('hello'), Buffer.alloc(5), Buffer.from('world')]),
      );
      t.equal((await f.read(out, 0, 4, 100)).bytesRead, 0, 'past the end: nothing');
      await f.truncate(3);
      await f.truncate(8);
      const again = Buffer.alloc(8, 9);
      await f.read(again, 0, 8, 0);
      t.same(again, Buffer.concat([Buffer.from('hel'), Buffer.alloc(5)]), 'truncated bytes read as zeros');
      await f.sync();
      await f.close();
      t.same(await fs.readFile(p('a', 'data')), again);
      const r = await fs.open(p('a', 'data'), 'r');
      t.equal(await code(r.write(Buffer.from('x'), 0, 1, 0)), 'EBADF', 'read-only handle');
      await r.close();
      const w = await fs.open(p('a', 'data'), 'w+');
      t.equal((await w.stat()).size, 0, 'w+ empties the file');
      await w.close();
    });

    t.test('openSync: the same file as open; after close every call is EBADF', async (t) => {
      fs.mkdirSync(p('s'), { recursive: true });
      t.equal(await code(() => fs.openSync(p('s', 'missing', 'f'), 'w+')), 'ENOENT');
      const f = fs.openSync(p('s', 'f'), 'w+');
      t.equal(f.writeSync(Buffer.from('abc'), 0, 3, 0), 3);
      const pending = f.write(Buffer.from('def'), 0, 3, 3); // in flight when close is called
      const closed = f.close(); // waits for it
      t.equal((await pending).bytesWritten, 3);
      await closed;
      t.same(await fs.readFile(p('s', 'f')), Buffer.from('abcdef'), 'the write in flight landed');
      t.equal(await code(() => f.writeSync(Buffer.from('x'), 0, 1, 0)), 'EBADF');
      t.equal(await code(f.write(Buffer.from('x'), 0, 1, 0)), 'EBADF');
      t.equal(await code(f.read(Buffer.alloc(1), 0, 1, 0)), 'EBADF');
      t.equal(await code(f.truncate(0)), 'EBADF');
      t.equal(await code(f.stat()), 'EBADF');
      t.equal(await code(f.sync()), 'EBADF');
      t.equal(await code(f.close()), 'EBADF', 'closed once only');
      const again = fs.openSync(p('s', 'f'), 'w+');
      t.equal((await again.stat()).size, 0, 'w+ empties the file');
      await again.truncate(2);
      const out = Buffer.alloc(2, 9);
      t.equal((await again.read(out, 0, 2, 0)).bytesRead, 2);
      t.same(out, Buffer.alloc(2), 'a truncate extends with zeros');
      await again.sync();
      await again.close();
    });

    t.test('writeFile, rename over, unlink; open handles keep their file', async (t) => {
      await fs.writeFile(p('a', 'm.tmp'), '{"v":1}');
      fs.writeFileSync(p('a', 'm2.tmp'), Buffer.from('{"v":2}'));
      const held = await fs.open(p('a', 'm.tmp'), 'r');
      await fs.rename(p('a', 'm.tmp'), p('a', 'm.json'));
      t.equal((await fs.readFile(p('a', 'm.json'))).toString(), '{"v":1}');
      t.notOk(fs.existsSync(p('a', 'm.tmp')));
      fs.renameSync(p('a', 'm2.tmp'), p('a', 'm.json'));
      t.equal((await fs.readFile(p('a', 'm.json'))).toString(), '{"v":2}', 'rename replaces');
      const out = Buffer.alloc(7);
      await held.read(out, 0, 7, 0);
      t.equal(out.toString(), '{"v":1}', 'a handle keeps the file renamed over');
      await held.close();
      await fs.fsyncPath(p('a', 'm.json'));
      await fs.fsyncPath(p('a'));
      t.equal(await code(fs.fsyncPath(p('a', 'nope'))), 'ENOENT');
      const w = await fs.open(p('a', 'm.json'), 'r+');
      await fs.unlink(p('a', 'm.json'));
      t.notOk(fs.existsSync(p('a', 'm.json')));
      w.writeSync(Buffer.from('still'), 0, 5, 0);
      const back = Buffer.alloc(5);
      await w.read(back, 0, 5, 0);
      t.equal(back.toString(), 'still', 'an unlinked file lives on through its handle');
      await w.close();
      t.equal(await code(fs.unlink(p('a', 'm.json'))), 'ENOENT');
      t.equal(await code(fs.rename(p('a', 'm.json'), p('a', 'x'))), 'ENOENT');
      t.equal(await code(fs.readFile(p('a', 'm.json'))), 'ENOENT');
    });

    t.test('readdir, rm (force, recursive), space', async (t) => {
      fs.mkdirSync(p('c', 'ab'), { recursive: true });
      fs.writeFileSync(p('c', 'ab', 'f1'), 'x');
      fs.writeFileSync(p('c', 'stray'), 'y');
      t.same(fs.readdirSync(p('c')).sort(), ['ab', 'stray']);
      const types = fs
        .readdirTypesSync(p('c'))
        .map((e) => `${e.name}:${e.isDirectory() ? 'dir' : 'file'}`)
        .sort();
      t.same(types, ['ab:dir', 'stray:file']);
      t.equal(await code(() => fs.readdirSync(p('nope'))), 'ENOENT');
      fs.rmSync(p('c', 'stray'), { force: true });
      fs.rmSync(p('c', 'missing'), { force: true });
      fs.rmSync(p('nope', 'missing'), { force: true });
      fs.rmSync(p('c', 'ab'), { recursive: true, force: true });
      t.same(fs.readdirSync(p('c')), []);
      const s = fs.space(root);
      t.ok(s.total > 0 && s.free >= 0 && s.free <= s.total);
    });
  });
}

contract('nodeFs (the real file system)', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'loft-localfs-'));
  return { fs: nodeFs, root, done: () => rmSync(root, { recursive: true, force: true }) };
});

contract('MemFs (the simulation)', () => ({ fs: new MemFs(), root: '/state/dev', done: () => {} }));
