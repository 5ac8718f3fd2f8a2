/**
 * NodeTable (the low-level mount's view of the kernel's node ids): ids by Vfs key, paths by parent
 * names, moves, lookup counts and forgets, and the names kernel-cache.ts walks.
 */
import t from 'tap';
import { NodeTable, ROOT_ID, StaleNode } from '../../../src/client/fuse/node-table.js';
import type { Stat } from '../../../src/client/vfs/vfs.js';
import { FsError } from '../../../src/shared/errors.js';

t.test('ids, paths and names', async (t) => {
  const table = new NodeTable();
  table.setRootKey(100);
  t.equal(table.idOfKey(100), ROOT_ID);
  t.equal(table.pathOf(ROOT_ID), '/');
  const dir = table.looked(ROOT_ID, 'dir', 7);
  const file = table.looked(dir, 'a.txt', 8);
  t.not(dir, file);
  t.equal(table.pathOf(file), '/dir/a.txt');
  t.equal(table.keyOf(file), 8);
  t.equal(table.nodeIdOf('/dir/a.txt'), file);
  t.equal(table.nodeIdOf('/dir/none'), null);
  t.equal(table.looked(dir, 'a.txt', 8), file, 'the same key keeps its id');
  t.equal(table.size, 3);
  let err: unknown = null;
  try {
    table.path(999);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof StaleNode, 'an id the kernel does not hold is stale (ESTALE)');
});

t.test('a key seen under another name moves its id there', async (t) => {
  const table = new NodeTable();
  const a = table.looked(ROOT_ID, 'a', 1);
  const b = table.looked(ROOT_ID, 'b', 2);
  const f = table.looked(a, 'f', 3);
  t.equal(table.idFor(b, 'g', 3), f);
  t.equal(table.pathOf(f), '/b/g');
  t.equal(table.nodeIdOf('/a/f'), null, 'the old name is gone');
  t.equal(table.nodeIdOf('/b/g'), f);
});

t.test('forget drops an id when its lookups reach zero; the root stays', async (t) => {
  const table = new NodeTable();
  const next = table.nextId;
  const d = table.looked(ROOT_ID, 'd', 5);
  t.equal(d, next, 'nextId is the id a new node gets');
  table.looked(ROOT_ID, 'd', 5);
  table.forget(d, 1);
  t.equal(table.pathOf(d), '/d', 'one lookup left');
  table.forget(d, 1);
  t.equal(table.pathOf(d), null);
  t.equal(table.idOfKey(5), undefined);
  t.equal(table.nodeIdOf('/d'), null);
  table.forget(ROOT_ID, 10);
  t.equal(table.pathOf(ROOT_ID), '/');
  t.equal(table.size, 1);
});

t.test('a name taken over by another id is not dropped by the old one', async (t) => {
  const table = new NodeTable();
  const old = table.looked(ROOT_ID, 'x', 1);
  const now = table.looked(ROOT_ID, 'x', 2); // another file under the same name (moved there)
  table.forget(old, 1);
  t.equal(table.nodeIdOf('/x'), now);
});

t.test('a node id names its file wherever the file is now (current)', async (t) => {
  const table = new NodeTable();
  table.setRootKey(100);
  const f = table.looked(ROOT_ID, 'f.txt', 5);
  // The drive's tree: key → path, as the mirror holds it after changes made elsewhere.
  const tree = new Map<number, string>([
    [100, '/'],
    [5, '/f.txt'],
  ]);
  const vfs = {
    getattr(p: string): Stat {
      for (const [key, at] of tree) if (at === p) return { ino: key, size: key } as unknown as Stat;
      throw new FsError('ENOENT', `${p} not found`);
    },
    pathOfKey: (key: number) => tree.get(key) ?? null,
  };
  t.same(table.current(f, vfs).path, '/f.txt', 'its name still names it: that path');

  tree.set(5, '/moved.txt'); // moved elsewhere; the kernel still knows it as f.txt
  t.same(table.current(f, vfs), { path: '/moved.txt', st: { ino: 5, size: 5 } }, 'moved: found by key');

  tree.set(6, '/f.txt'); // and another file took its old name
  t.equal(table.current(f, vfs).path, '/moved.txt', 'replaced: still its own file, never the newcomer');

  tree.delete(5); // deleted elsewhere
  let err: unknown = null;
  try {
    table.current(f, vfs);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof StaleNode, 'gone: stale (ESTALE), not the file now at its old name');
  t.equal(table.current(ROOT_ID, vfs).path, '/', 'the root is the root');
});
