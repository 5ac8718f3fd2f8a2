/** Mirror: the local SQLite copy of the tree, block maps, cursor and pins, fed by journal pages. */
import path from 'node:path';
import t from 'tap';
import { Mirror, type MirrorNode } from '../../../src/client/mirror/mirror.js';
import type { BlockRef } from '../../../src/shared/protocol.js';
import { tmpDirs } from './fake-block-source.js';
import { revision } from './revisions.js';

const tmp = tmpDirs(t, 'loft-mirror-');
const ROOT = 1;
const H = (c: string) => c.repeat(64).slice(0, 64); // fake hashes: 'aaaa…', 'bbbb…'

const r = revision;
const mkdir = (id: number, parent: number, name: string) => r('mkdir', id, parent, name);
const create = (id: number, parent: number, name: string, blocks: BlockRef[]) =>
  r('create', id, parent, name, { blocks });
const commit = (id: number, parent: number, name: string, blocks: BlockRef[]) =>
  r('commit', id, parent, name, { blocks });
const move = (id: number, parent: number, name: string, kind: 'file' | 'dir' = 'file', blocks?: BlockRef[]) =>
  r('move', id, parent, name, { kind, ...(blocks ? { blocks } : {}) });
const del = (id: number, parent: number, name: string, kind: 'file' | 'dir' = 'file') =>
  r('delete', id, parent, name, { kind, deleted: true });

function open(file?: string): { m: Mirror; file: string } {
  const f = file ?? path.join(tmp(), 'mirror.db');
  const m = new Mirror(f);
  t.teardown(() => m.close());
  if (!file) m.initialize({ server: 'http://127.0.0.1:7420', user: 'alice', ns: 7, rootId: ROOT });
  return { m, file: f };
}

/** The whole tree as plain data (paths, node fields, block maps), for equality checks. */
function snapshot(m: Mirror): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (n: MirrorNode, p: string) => {
    out[p] = { ...n, blocks: n.kind === 'file' ? m.blocks(n.id) : undefined };
    for (const c of m.children(n.id)) walk(c, (p === '/' ? '' : p) + '/' + c.name);
  };
  walk(m.node(ROOT)!, '/');
  return {
    tree: out,
    cursor: m.cursor(),
    synced: m.synced,
    pins: [...m.pinnedIds()].sort(),
    stats: m.stats(),
  };
}

t.test('applyChanges builds the tree; lookup, children, pathOf and block offsets follow', async (t) => {
  const { m } = open();
  t.equal(m.lookup('/')?.id, ROOT);
  const { released } = m.applyChanges(
    [
      mkdir(2, ROOT, 'docs'),
      mkdir(3, 2, 'deep'),
      create(4, 2, 'a.txt', [
        { hash: H('a'), size: 100 },
        { hash: H('b'), size: 50 },
      ]),
      create(5, 3, 'b.bin', [{ hash: H('c'), size: 10 }]),
      create(6, ROOT, 'empty', []),
    ],
    'c1',
    false,
  );
  t.same(released, []);
  const a = m.lookup('/docs/a.txt');
  t.ok(a);
  t.match(a, { id: 4, parentId: 2, name: 'a.txt', kind: 'file', size: 150, mode: 0o644 });
  t.equal(m.lookup('/docs/deep/b.bin')?.id, 5);
  t.equal(m.lookup('/docs')?.kind, 'dir');
  t.equal(m.lookup('/nope'), null);
  t.equal(m.lookup('/docs/nope/b.bin'), null);
  t.equal(m.lookup('/docs/a.txt/x'), null, 'below a file: nothing');
  t.same(
    m.children(2).map((c) => c.name),
    ['a.txt', 'deep'],
  );
  t.same(
    m.children(ROOT).map((c) => c.name),
    ['docs', 'empty'],
  );
  t.same(m.blocks(4), [
    { hash: H('a'), offset: 0, size: 100 },
    { hash: H('b'), offset: 100, size: 50 },
  ]);
  t.same(m.blocks(6), []);
  t.equal(m.pathOf(5), '/docs/deep/b.bin');
  t.equal(m.pathOf(ROOT), '/');
  t.equal(m.pathOf(999), null);
  t.same(m.stats(), { files: 3, bytes: 160 });
  t.equal(m.referenced(H('a')), true);
  t.equal(m.referenced(H('z')), false);
  t.equal(m.cursor(), 'c1');
});

t.test('a move keeps the node id and its block list; old path disappears', async (t) => {
  const { m } = open();
  const blocks = [
    { hash: H('a'), size: 4096 },
    { hash: H('b'), size: 10 },
  ];
  m.applyChanges([mkdir(2, ROOT, 'src'), mkdir(3, ROOT, 'dst'), create(4, 2, 'f', blocks)], 'c1', false);
  t.equal(m.lookup('/src/f')?.id, 4, 'looked up (and memoised) before the move');
  const before = m.blocks(4);
  // a move revision as the server sends it carries blocks; one without must keep them too
  const r1 = m.applyChanges([move(4, 3, 'g')], 'c2', false);
  t.same(r1.released, [], 'a move releases nothing');
  t.equal(m.lookup('/src/f'), null, 'old path gone');
  t.equal(m.lookup('/dst/g')?.id, 4);
  t.same(m.blocks(4), before, 'block list kept without blocks in the entry');
  const r2 = m.applyChanges([move(4, ROOT, 'h', 'file', blocks)], 'c3', false);
  t.same(r2.released, []);
  t.same(m.blocks(4), before);
  t.equal(m.pathOf(4), '/h');
  // moving a directory carries its subtree
  m.applyChanges(
    [create(5, 2, 'inner', [{ hash: H('c'), size: 7 }]), move(2, 3, 'moved', 'dir')],
    'c4',
    false,
  );
  t.equal(m.lookup('/dst/moved/inner')?.id, 5);
  t.equal(m.lookup('/src/inner'), null);
  t.same(m.blocks(5), [{ hash: H('c'), offset: 0, size: 7 }]);
});

t.test('a commit replaces the block list with correct offsets and releases dropped hashes', async (t) => {
  const { m } = open();
  m.applyChanges(
    [
      create(2, ROOT, 'f', [
        { hash: H('a'), size: 100 },
        { hash: H('b'), size: 50 },
      ]),
    ],
    'c1',
    false,
  );
  const { released } = m.applyChanges(
    [
      commit(2, ROOT, 'f', [
        { hash: H('b'), size: 50 },
        { hash: H('d'), size: 200 },
        { hash: H('e'), size: 30 },
      ]),
    ],
    'c2',
    false,
  );
  t.same(m.blocks(2), [
    { hash: H('b'), offset: 0, size: 50 },
    { hash: H('d'), offset: 50, size: 200 },
    { hash: H('e'), offset: 250, size: 30 },
  ]);
  t.equal(m.node(2)?.size, 280);
  t.same(released, [H('a')], 'only the hash no longer used is released');
  // a block repeated inside one file gets one extent per occurrence
  m.applyChanges(
    [
      commit(2, ROOT, 'f', [
        { hash: H('z'), size: 10 },
        { hash: H('z'), size: 10 },
      ]),
    ],
    'c3',
    false,
  );
  t.same(m.blocks(2), [
    { hash: H('z'), offset: 0, size: 10 },
    { hash: H('z'), offset: 10, size: 10 },
  ]);
});

t.test('released hashes: only when no live file references them anymore', async (t) => {
  const { m } = open();
  const shared = { hash: H('s'), size: 10 };
  m.applyChanges(
    [
      create(2, ROOT, 'one', [shared, { hash: H('1'), size: 5 }]),
      create(3, ROOT, 'two', [shared]),
      mkdir(4, ROOT, 'd'),
      create(5, 4, 'three', [shared, { hash: H('3'), size: 5 }]),
    ],
    'c1',
    false,
  );
  t.same(m.applyChanges([del(2, ROOT, 'one')], 'c2', false).released, [H('1')], 'shared hash kept');
  t.same(m.applyChanges([commit(3, ROOT, 'two', [{ hash: H('n'), size: 3 }])], 'c3', false).released, []);
  t.equal(m.referenced(shared.hash), true, 'still used by /d/three');
  t.same(
    m.applyChanges([del(4, ROOT, 'd', 'dir')], 'c4', false).released.sort(),
    [H('3'), H('s')].sort(),
    'deleting the last user releases it',
  );
  t.equal(m.referenced(shared.hash), false);
  // same hash dropped and added again in one page: not released
  m.applyChanges([create(6, ROOT, 'x', [{ hash: H('x'), size: 1 }])], 'c5', false);
  t.same(
    m.applyChanges([del(6, ROOT, 'x'), create(7, ROOT, 'y', [{ hash: H('x'), size: 1 }])], 'c6', false)
      .released,
    [],
  );
});

t.test('deleting a directory removes its whole subtree', async (t) => {
  const { m } = open();
  m.applyChanges(
    [
      mkdir(2, ROOT, 'top'),
      mkdir(3, 2, 'mid'),
      mkdir(4, 3, 'low'),
      create(5, 4, 'f', [{ hash: H('a'), size: 1 }]),
      create(6, 2, 'g', [{ hash: H('b'), size: 2 }]),
      create(7, ROOT, 'keep', [{ hash: H('c'), size: 3 }]),
    ],
    'c1',
    false,
  );
  t.equal(m.lookup('/top/mid/low/f')?.id, 5);
  const { released } = m.applyChanges([del(2, ROOT, 'top', 'dir')], 'c2', false);
  for (const id of [2, 3, 4, 5, 6]) t.equal(m.node(id), null, `node ${id} gone`);
  for (const p of ['/top', '/top/mid', '/top/mid/low/f', '/top/g']) t.equal(m.lookup(p), null, `${p} gone`);
  t.same(m.blocks(5), []);
  t.same(released.sort(), [H('a'), H('b')].sort());
  t.same(m.stats(), { files: 1, bytes: 3 });
  t.equal(m.lookup('/keep')?.id, 7);
  // the server's own journal tombstones children first, then the dir: applying that is fine too
  m.applyChanges([mkdir(8, ROOT, 'd2'), create(9, 8, 'x', [{ hash: H('d'), size: 1 }])], 'c3', false);
  const r2 = m.applyChanges([del(9, 8, 'x'), del(8, ROOT, 'd2', 'dir')], 'c4', false);
  t.same(r2.released, [H('d')]);
  t.equal(m.lookup('/d2'), null);
});

t.test('a newcomer under a taken name replaces the stale node (and its subtree)', async (t) => {
  const { m } = open();
  m.applyChanges(
    [create(2, ROOT, 'a', [{ hash: H('a'), size: 1 }]), create(3, ROOT, 'b', [{ hash: H('b'), size: 1 }])],
    'c1',
    false,
  );
  m.pin(3);
  // move with overwrite: a → b; the server tombstones the old b in the same page, after
  const { released } = m.applyChanges([move(2, ROOT, 'b'), del(3, ROOT, 'b')], 'c2', false);
  t.equal(m.lookup('/b')?.id, 2);
  t.equal(m.lookup('/a'), null);
  t.equal(m.node(3), null);
  t.same(m.blocks(2), [{ hash: H('a'), offset: 0, size: 1 }]);
  t.same(released, [H('b')]);
  t.equal(m.pinnedIds().has(3), false, 'the replaced node lost its pin');
});

t.test('cursor, synced flag, identity and tree persist across reopen', async (t) => {
  const { m, file } = open();
  t.equal(m.cursor(), '');
  t.equal(m.synced, false);
  m.applyChanges([mkdir(2, ROOT, 'd'), create(3, 2, 'f', [{ hash: H('a'), size: 9 }])], 'cur-1', false);
  t.equal(m.synced, false, 'not synced before a complete page');
  m.pin(2);
  const snap = snapshot(m);
  m.close();
  const m2 = new Mirror(file);
  t.teardown(() => m2.close());
  t.equal(m2.cursor(), 'cur-1');
  t.equal(m2.synced, false);
  t.same(m2.identity(), { server: 'http://127.0.0.1:7420', user: 'alice', ns: 7, rootId: ROOT });
  t.equal(m2.rootId, ROOT);
  t.same(snapshot(m2), snap, 'same tree, blocks and pins');
  m2.applyChanges([], 'cur-2', true);
  t.equal(m2.synced, true);
  t.equal(m2.cursor(), 'cur-2');
  m2.close();
  const m3 = new Mirror(file);
  t.teardown(() => m3.close());
  t.equal(m3.synced, true, 'synced persisted');
  t.equal(m3.cursor(), 'cur-2');
  m3.applyChanges([], 'cur-3', false);
  t.equal(m3.synced, true, 'stays synced after later incomplete pages');
  const fresh = new Mirror(path.join(tmp(), 'other.db'));
  t.teardown(() => fresh.close());
  t.equal(fresh.identity(), null, 'an uninitialised mirror has no identity');
});

t.test('pins: files below a pinned dir, ancestors decide isPinned, deleted nodes lose pins', async (t) => {
  const { m } = open();
  m.applyChanges(
    [
      mkdir(2, ROOT, 'p'),
      mkdir(3, 2, 'sub'),
      create(4, 2, 'x', [{ hash: H('a'), size: 1 }]),
      create(5, 3, 'y', [{ hash: H('b'), size: 1 }]),
      mkdir(6, ROOT, 'q'),
      create(7, 6, 'z', [{ hash: H('c'), size: 1 }]),
      create(8, ROOT, 'loose', [{ hash: H('d'), size: 1 }]),
    ],
    'c1',
    false,
  );
  t.same(m.pinnedFiles(), []);
  t.equal(m.isPinned(4), false);
  m.pin(2);
  m.pin(2); // twice: harmless
  t.same(
    m
      .pinnedFiles()
      .map((n) => n.id)
      .sort(),
    [4, 5],
    'files below the pinned dir, at any depth; not the dirs',
  );
  t.equal(m.isPinned(2), true);
  t.equal(m.isPinned(3), true, 'a subdir through its ancestor');
  t.equal(m.isPinned(5), true, 'a file two levels down');
  t.equal(m.isPinned(7), false);
  t.equal(m.isPinned(ROOT), false);
  m.pin(8);
  t.same(
    m
      .pinnedFiles()
      .map((n) => n.id)
      .sort(),
    [4, 5, 8],
    'a file pinned by itself',
  );
  // moving a file out of the pinned dir unpins it; moving one in pins it
  m.applyChanges([move(5, 6, 'y'), move(7, 3, 'z')], 'c2', false);
  t.equal(m.isPinned(5), false);
  t.equal(m.isPinned(7), true);
  t.same(
    m
      .pinnedFiles()
      .map((n) => n.id)
      .sort(),
    [4, 7, 8],
  );
  // deleting a pinned file and a pinned dir removes their pins
  m.pin(3);
  m.applyChanges([del(8, ROOT, 'loose')], 'c3', false);
  t.same([...m.pinnedIds()].sort(), [2, 3]);
  m.applyChanges([del(2, ROOT, 'p', 'dir')], 'c4', false);
  t.same([...m.pinnedIds()], [], 'the pinned dir and the pinned subdir below it lost their pins');
  t.same(m.pinnedFiles(), []);
  // a node reusing a name is not pinned by the old pin
  m.applyChanges([mkdir(20, ROOT, 'p'), create(21, 20, 'x', [{ hash: H('e'), size: 1 }])], 'c5', false);
  t.equal(m.isPinned(21), false);
  m.pin(20);
  m.unpin(20);
  t.equal(m.isPinned(21), false, 'unpin removes the pin');
});

t.test('applying the same page twice is idempotent', async (t) => {
  const { m } = open();
  const page = [
    mkdir(2, ROOT, 'd'),
    create(3, 2, 'f', [{ hash: H('a'), size: 10 }]),
    commit(3, 2, 'f', [
      { hash: H('b'), size: 10 },
      { hash: H('c'), size: 5 },
    ]),
    create(4, ROOT, 'g', [{ hash: H('d'), size: 3 }]),
    move(4, 2, 'g2'),
    mkdir(5, 2, 'tmp'),
    create(6, 5, 'junk', [{ hash: H('e'), size: 1 }]),
    del(6, 5, 'junk'),
    del(5, 2, 'tmp', 'dir'),
  ];
  m.applyChanges(page, 'c1', false);
  m.pin(2);
  const once = snapshot(m);
  t.equal(m.lookup('/d/g2')?.id, 4);
  t.same(m.blocks(3), [
    { hash: H('b'), offset: 0, size: 10 },
    { hash: H('c'), offset: 10, size: 5 },
  ]);
  const again = m.applyChanges(page, 'c1', false);
  t.same(snapshot(m), once, 'same tree, blocks, pins and cursor');
  for (const h of again.released) t.equal(m.referenced(h), false, 'nothing live is released');
  t.notOk(
    again.released.includes(H('b')) || again.released.includes(H('c')) || again.released.includes(H('d')),
  );
});

t.test(
  'regression: re-applying a page in which a name changes hands keeps the pins of its new holder',
  async (t) => {
    const { m } = open();
    const page = [
      create(3, ROOT, 'f', [{ hash: H('a'), size: 1 }]),
      move(3, ROOT, 'g'),
      create(4, ROOT, 'f', [{ hash: H('b'), size: 2 }]),
      mkdir(5, ROOT, 'd'),
      create(6, 5, 'x', [{ hash: H('c'), size: 3 }]),
      move(5, ROOT, 'e', 'dir'),
      mkdir(7, ROOT, 'd'),
    ];
    m.applyChanges(page, 'c1', false);
    const k = (serverId: number) => m.keyOf(serverId)!;
    m.pin(k(4));
    m.pin(k(7));
    const once = snapshot(m);
    t.equal(m.lookup('/f')?.serverId, 4);
    t.equal(m.lookup('/e/x')?.serverId, 6);
    const again = m.applyChanges(page, 'c1', false);
    t.same(snapshot(m), once, 'same tree, blocks, pins and cursor');
    t.same(again.released, []);
  },
);

t.test('onRemotePath: each path a remote revision changes, as it was and as it is', async (t) => {
  const { m } = open();
  m.applyChanges(
    [mkdir(5, ROOT, 'd'), create(6, 5, 'x', [{ hash: H('a'), size: 1 }]), create(7, ROOT, 'f', [])],
    'c1',
    false,
  );
  const seen: string[] = [];
  m.watch({ remotePath: (p) => seen.push(p) });
  m.applyChanges([commit(7, ROOT, 'f', [{ hash: H('b'), size: 2 }])], 'c2', false);
  t.same(seen.splice(0), ['/f'], 'content changed in place');
  m.applyChanges([move(5, ROOT, 'e', 'dir')], 'c3', false);
  t.same(seen.splice(0), ['/d', '/e'], 'moved: the old path and the new one');
  m.applyChanges([del(7, ROOT, 'f')], 'c4', false);
  t.same(seen.splice(0), ['/f'], 'deleted');
  m.applyChanges([create(8, 5, 'new', [])], 'c5', false);
  t.same(seen.splice(0), ['/e/new'], 'created');
  m.applyChanges([{ ...commit(8, 5, 'new', []), rev: 1 }], 'c6', false);
  t.same(seen, [], 'an older revision (our own echo) changes nothing');
});

t.test('blocksIn: the blocks over a byte range, as a scan of the whole list finds them', async (t) => {
  const { m } = open();
  // Blocks of uneven sizes (FastCDC's), plus a second file whose blocks must never show.
  const sizes = [7, 100, 1, 64, 300, 2, 90, 4096, 5, 33];
  const hashes = 'abcdefghij'.split('');
  const blocks = sizes.map((size, i) => ({ hash: H(hashes[i]!), size }));
  m.applyChanges(
    [create(2, ROOT, 'f', blocks), create(3, ROOT, 'g', [{ hash: H('z'), size: 10_000 }])],
    'c1',
    false,
  );
  const id = m.lookup('/f')!.id;
  const all = m.blocks(id);
  const total = sizes.reduce((a, b) => a + b, 0);
  let checked = 0;
  for (let from = 0; from <= total + 3; from += 3)
    for (const len of [1, 2, 50, 500, 5000]) {
      const to = from + len;
      const want = all.filter((e) => e.offset < to && e.offset + e.size > from);
      t.same(m.blocksIn(id, from, to), want, `[${from}, ${to})`, { diagnostic: false });
      checked++;
    }
  t.ok(checked > 1000);
  t.same(m.blocksIn(m.lookup('/g')!.id, 9_999, 20_000), [{ hash: H('z'), offset: 0, size: 10_000 }]);
  t.same(m.blocksIn(999, 0, 10), [], 'no such file');
});
