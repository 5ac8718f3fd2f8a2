/**
 * Mirror, the write path: local nodes (stable keys, no server id yet), the ops outbox (queueing,
 * coalescing, head/done/failed, persistence), recording a node's server id (and the folder merge
 * when the server says two folders here are one), committed revisions, conflicts, and the rules by
 * which applyChanges leaves local state alone. Plus the schema migrations.
 *
 * Keys and server ids: a fresh mirror gives keys in order of arrival, above the root's. `seeded()`
 * applies server ids 2, 3, 4 in that order, so there they are also the keys (asserted); tests that
 * need a server id's key elsewhere ask `keyOf`.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import t from 'tap';
import { MIGRATIONS } from '../../../src/client/mirror/mirror-schema.js';
import { Mirror } from '../../../src/client/mirror/mirror.js';
import type { BlockRef, Revision, RevisionOp } from '../../../src/shared/protocol.js';
import { tmpDirs } from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-mirror-ops-');
const ROOT = 1;
const H = (c: string) => c.repeat(64).slice(0, 64); // fake hashes: 'aaaa…', 'bbbb…'
const T0 = 1_700_000_000_000;

let nextRev = 100;
/** A journal entry as the server sends it; `rev` defaults to the next one. */
function r(
  op: RevisionOp,
  id: number,
  parentId: number,
  name: string,
  extra: { blocks?: BlockRef[]; kind?: 'file' | 'dir'; rev?: number; mode?: number } = {},
): Revision {
  const kind = extra.kind ?? (op === 'mkdir' ? 'dir' : 'file');
  const rev = extra.rev ?? ++nextRev;
  const blocks = extra.blocks;
  return {
    rev,
    id,
    op,
    parentId,
    name,
    kind,
    deleted: op === 'delete',
    size: blocks ? blocks.reduce((a, b) => a + b.size, 0) : 0,
    mtime: T0 + rev,
    mode: extra.mode ?? (kind === 'dir' ? 0o755 : 0o644),
    ...(blocks ? { blocks } : {}),
    device: 'desktop',
    time: T0 + rev,
  };
}
const mkdir = (id: number, parent: number, name: string, rev?: number) =>
  r('mkdir', id, parent, name, rev === undefined ? {} : { rev });
const create = (id: number, parent: number, name: string, blocks: BlockRef[], rev?: number) =>
  r('create', id, parent, name, rev === undefined ? { blocks } : { blocks, rev });
const commit = (id: number, parent: number, name: string, blocks: BlockRef[], rev?: number) =>
  r('commit', id, parent, name, rev === undefined ? { blocks } : { blocks, rev });
const del = (id: number, parent: number, name: string, kind: 'file' | 'dir' = 'file') =>
  r('delete', id, parent, name, { kind });

/** The key of server id `id` here; a key no node has when the mirror does not hold it. */
const key = (m: Mirror, id: number): number => m.keyOf(id) ?? -1_000_000 - id;

function open(file?: string): { m: Mirror; file: string } {
  const f = file ?? path.join(tmp(), 'mirror.db');
  const m = new Mirror(f);
  t.teardown(() => m.close());
  if (!file) m.initialize({ server: 'http://127.0.0.1:7420', user: 'alice', ns: 7, rootId: ROOT });
  return { m, file: f };
}

/** A small server tree: /docs (2) with /docs/a.txt (3, blocks a+b), /b.bin (4, block c). */
function seeded(): Mirror {
  const { m } = open();
  m.applyChanges(
    [
      mkdir(2, ROOT, 'docs'),
      create(3, 2, 'a.txt', [
        { hash: H('a'), size: 100 },
        { hash: H('b'), size: 50 },
      ]),
      create(4, ROOT, 'b.bin', [{ hash: H('c'), size: 10 }]),
    ],
    'c1',
    true,
  );
  for (const id of [2, 3, 4])
    if (m.keyOf(id) !== id) throw new Error(`seeded: key of ${id} is ${m.keyOf(id)}`);
  return m;
}

t.test('createLocal: a new key, no server id; a directory queues mkdir, a file queues nothing', async (t) => {
  const m = seeded();
  const before = Date.now();
  const f = m.createLocal(2, 'new.txt', 'file', 0o600, T0 + 1, '/docs/new.txt', 'stage-1');
  t.ok(f.id > 4, 'a key above every key given');
  t.match(f, {
    serverId: null,
    parentId: 2,
    name: 'new.txt',
    kind: 'file',
    rev: 0,
    size: 0,
    mtime: T0 + 1,
    mode: 0o600,
    staging: 'stage-1',
  });
  t.ok(f.ctime >= before && f.ctime <= Date.now(), 'ctime is now');
  t.same(m.ops(), [], 'a new file is committed on close (queueCommit), not at create');
  t.equal(m.pendingOps, 0);
  t.equal(m.lookup('/docs/new.txt')?.id, f.id, 'visible by path at once');
  t.same(
    m.stagedNodes().map((n) => n.id),
    [f.id],
  );

  const d = m.createLocal(ROOT, 'dir', 'dir', 0o750, T0 + 2, '/dir', null);
  t.equal(d.id, f.id + 1, 'keys go up');
  t.equal(d.staging, null);
  const ops = m.ops();
  t.equal(ops.length, 1);
  t.match(ops[0], {
    kind: 'mkdir',
    nodeId: d.id,
    serverId: null,
    path: '/dir',
    toPath: null,
    rev: 0,
    attempts: 0,
    lastError: null,
  });
  t.ok(ops[0]!.createdAt >= before, 'createdAt is set');
  t.same(m.headOp(), ops[0]);

  const inner = m.createLocal(d.id, 'x', 'file', 0o644, T0 + 3, '/dir/x', 'stage-2');
  t.equal(inner.id, d.id + 1);
  t.equal(m.pathOf(inner.id), '/dir/x', 'a local node below a local directory');
  t.same(
    m.children(d.id).map((n) => n.name),
    ['x'],
  );
  t.same(
    m
      .stagedNodes()
      .map((n) => n.id)
      .sort((a, b) => a - b),
    [f.id, inner.id],
  );
  t.same(m.stats(), { files: 4, bytes: 160 }, 'local files count (size 0 so far)');
  // Unique names per directory hold for local nodes too.
  t.throws(() => m.createLocal(2, 'a.txt', 'file', 0o644, T0, '/docs/a.txt', 's'), 'a taken name');
  t.equal(m.pendingOps, 1, 'the failed create queued nothing');
});

t.test('updateLocal changes only the given attributes and queues nothing', async (t) => {
  const m = seeded();
  const before = m.node(3)!;
  m.updateLocal(3, { size: 7, staging: 'st' });
  t.same(m.node(3), { ...before, size: 7, staging: 'st' }, 'the cached node is refreshed');
  m.updateLocal(3, { mtime: T0 + 9, mode: 0o600, ctime: T0 + 10 });
  t.same(m.node(3), { ...before, size: 7, staging: 'st', mtime: T0 + 9, mode: 0o600, ctime: T0 + 10 });
  t.equal(m.pendingOps, 0);
  t.same(
    m.stagedNodes().map((n) => n.id),
    [3],
  );
  m.updateLocal(3, { staging: null });
  t.same(m.stagedNodes(), []);
  t.equal(m.node(3)!.size, 7);
  m.updateLocal(key(m, 999), { size: 1 }); // gone: nothing happens
  t.equal(m.node(key(m, 999)), null);
  t.same(m.blocks(3).length, 2, 'blocks untouched');
});

t.test('queueCommit coalesces into a queued commit not yet being pushed', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt', { size: 200, staging: 'st-3' });
  t.match(m.node(3), { size: 200, staging: 'st-3' }, 'attributes updated with the op');
  m.queueCommit(3, '/docs/a.txt', { size: 300 });
  m.queueCommit(3, '/docs/a.txt');
  let ops = m.ops();
  t.equal(ops.length, 1, 'three commits of one file: one op');
  t.match(ops[0], { kind: 'commit', nodeId: 3, path: '/docs/a.txt', toPath: null });
  t.equal(m.node(3)!.size, 300);

  // Another file's commit is separate.
  m.queueCommit(4, '/b.bin', { size: 11 });
  t.equal(m.pendingOps, 2);

  // The push loop starts on the first op: a later write needs a commit of its own...
  const first = ops[0]!.seq;
  m.pushStarted(first);
  m.queueCommit(3, '/docs/a.txt', { size: 301 });
  ops = m.ops();
  t.same(
    ops.map((o) => [o.kind, o.nodeId]),
    [
      ['commit', 3],
      ['commit', 4],
      ['commit', 3],
    ],
  );
  t.ok(ops[2]!.seq > first);
  // ...into which further writes coalesce while the first is still being pushed.
  m.queueCommit(3, '/docs/a.txt', { size: 302 });
  t.equal(m.pendingOps, 3, 'coalesced into the second commit');
  m.opDone(first);
  m.pushDone();
  m.queueCommit(3, '/docs/a.txt');
  t.same(
    m.ops().map((o) => [o.kind, o.nodeId]),
    [
      ['commit', 4],
      ['commit', 3],
    ],
  );
  t.equal(m.node(3)!.size, 302);

  // A commit queued before a move still covers writes made after it (the node id is what counts).
  m.moveLocal(3, ROOT, 'moved.txt', '/docs/a.txt', '/moved.txt', null);
  m.queueCommit(3, '/moved.txt', { size: 5 });
  t.same(
    m.ops().map((o) => o.kind),
    ['commit', 'commit', 'move'],
  );
  t.equal(m.node(3)!.size, 5);
});

t.test('the outbox: headOp, ops in order, opFailed, opDone, pendingOps', async (t) => {
  const m = seeded();
  t.equal(m.headOp(), null);
  t.same(m.ops(), []);
  t.equal(m.pendingOps, 0);
  m.createLocal(ROOT, 'n', 'dir', 0o755, T0, '/n', null);
  m.queueCommit(4, '/b.bin');
  m.moveLocal(3, ROOT, 'a.txt', '/docs/a.txt', '/a.txt', null);
  m.removeLocal(2, '/docs');
  const ops = m.ops();
  t.same(
    ops.map((o) => o.kind),
    ['mkdir', 'commit', 'move', 'delete'],
  );
  t.ok(
    ops.every((o, i) => i === 0 || o.seq > ops[i - 1]!.seq),
    'seq increases',
  );
  t.equal(m.pendingOps, 4);
  t.same(m.headOp(), ops[0]);
  m.opFailed(ops[0]!.seq, 'network down');
  m.opFailed(ops[0]!.seq, 'still down');
  t.match(m.headOp(), { seq: ops[0]!.seq, attempts: 2, lastError: 'still down' }, 'the head stays, counted');
  m.opFailed(ops[2]!.seq, 'x');
  t.match(m.ops()[2], { attempts: 1, lastError: 'x' });
  m.opDone(ops[0]!.seq);
  t.same(m.headOp(), ops[1]);
  m.opDone(ops[2]!.seq); // out of order: fine
  t.same(
    m.ops().map((o) => o.seq),
    [ops[1]!.seq, ops[3]!.seq],
  );
  m.opDone(ops[2]!.seq); // twice: harmless
  m.opFailed(12345, 'no such op'); // unknown: harmless
  t.equal(m.pendingOps, 2);
  m.opDone(ops[1]!.seq);
  m.opDone(ops[3]!.seq);
  t.equal(m.headOp(), null);
  t.equal(m.pendingOps, 0);
});

t.test(
  'removeLocal removes the subtree, queues one delete, returns released hashes and staging files',
  async (t) => {
    const m = seeded();
    m.applyChanges(
      [
        mkdir(5, 2, 'sub'),
        create(6, 5, 'deep', [
          { hash: H('d'), size: 5 },
          { hash: H('c'), size: 10 }, // also used by /b.bin
        ]),
      ],
      'c2',
      false,
    );
    m.pin(key(m, 5));
    m.pin(4);
    m.updateLocal(key(m, 6), { staging: 'st-6' });
    const local = m.createLocal(key(m, 5), 'new', 'file', 0o644, T0, '/docs/sub/new', 'st-new');
    const docsRev = m.node(2)!.rev;
    const { released, staged } = m.removeLocal(2, '/docs');
    for (const id of [2, 3, 5, 6, local.id]) t.equal(m.node(id), null, `node ${id} gone`);
    t.equal(m.lookup('/docs'), null);
    t.equal(m.lookup('/docs/a.txt'), null, 'memoised path forgotten');
    t.same(released.sort(), [H('a'), H('b'), H('d')].sort(), 'the hash /b.bin still uses is kept');
    t.same(staged.sort(), ['st-6', 'st-new'].sort());
    t.same([...m.pinnedIds()], [4], 'pins below are gone');
    t.same(m.stagedNodes(), []);
    const ops = m.ops();
    t.equal(ops.length, 1, 'one delete for the whole subtree');
    t.match(ops[0], { kind: 'delete', nodeId: 2, path: '/docs', rev: docsRev });
    t.same(m.blocks(3), []);
    t.same(m.stats(), { files: 1, bytes: 10 });

    // A local-only node: deleted with rev 0 (and its queued mkdir stays for the push loop to sort out).
    const d = m.createLocal(ROOT, 'tmpdir', 'dir', 0o755, T0, '/tmpdir', null);
    const r2 = m.removeLocal(d.id, '/tmpdir');
    t.same(r2, { released: [], staged: [] });
    t.same(
      m.ops().map((o) => [o.kind, o.nodeId, o.rev]),
      [
        ['delete', 2, docsRev],
        ['mkdir', d.id, 0],
        ['delete', d.id, 0],
      ],
    );
  },
);

t.test('moveLocal renames and reparents, replaces a target, and queues the move', async (t) => {
  const m = seeded();
  m.pin(4);
  m.updateLocal(4, { staging: 'st-4' });
  t.equal(m.lookup('/docs/a.txt')?.id, 3, 'memoised before the move');
  const ctime0 = m.node(3)!.ctime;
  const none = m.moveLocal(3, ROOT, 'c.txt', '/docs/a.txt', '/c.txt', null);
  t.same(none, { released: [], staged: [] });
  t.equal(m.lookup('/docs/a.txt'), null);
  t.equal(m.lookup('/c.txt')?.id, 3);
  t.ok(m.node(3)!.ctime >= ctime0, 'ctime moves on');
  t.equal(m.blocks(3).length, 2, 'blocks follow the node');
  t.match(m.ops()[0], { kind: 'move', nodeId: 3, path: '/docs/a.txt', toPath: '/c.txt', rev: 0 });

  // Over an existing file: it goes (blocks released, staging file returned, pin dropped).
  const res = m.moveLocal(3, ROOT, 'b.bin', '/c.txt', '/b.bin', 4);
  t.same(res.released.sort(), [H('c')]);
  t.same(res.staged, ['st-4']);
  t.equal(m.node(4), null);
  t.equal(m.lookup('/b.bin')?.id, 3);
  t.same([...m.pinnedIds()], []);
  t.same(
    m.ops().map((o) => [o.kind, o.path, o.toPath]),
    [
      ['move', '/docs/a.txt', '/c.txt'],
      ['move', '/c.txt', '/b.bin'],
    ],
    'one move op each, no separate delete for the replaced node',
  );
  // Over a file whose own move there is still queued: the server has it elsewhere, so it is
  // deleted there by id before the move replaces what the server has at the target.
  const other = m.createLocal(ROOT, 'y.txt', 'file', 0o644, T0, '/y.txt', null);
  m.setServerId(other.id, 50);
  m.setRev(other.id, 7);
  m.moveLocal(other.id, ROOT, 'x.txt', '/y.txt', '/x.txt', null);
  m.moveLocal(3, ROOT, 'x.txt', '/b.bin', '/x.txt', other.id);
  t.same(
    m
      .ops()
      .filter((o) => o.nodeId === other.id || o.toPath === '/x.txt')
      .map((o) => [o.kind, o.nodeId, o.serverId, o.path, o.toPath, o.rev]),
    [
      ['move', other.id, 50, '/y.txt', '/x.txt', 0],
      ['delete', other.id, 50, '/x.txt', null, 7],
      ['move', 3, 3, '/b.bin', '/x.txt', 0],
    ],
  );

  // A directory moves with its subtree, into a local directory.
  const nd = m.createLocal(ROOT, 'new', 'dir', 0o755, T0, '/new', null);
  m.moveLocal(2, nd.id, 'docs2', '/docs', '/new/docs2', null);
  t.equal(m.pathOf(2), '/new/docs2');
  t.equal(m.lookup('/new/docs2')?.id, 2);
  t.equal(m.lookup('/docs'), null);
});

t.test('setServerId: the key stays; children, blocks, pins and ops keep pointing at it', async (t) => {
  const m = seeded();
  const d = m.createLocal(ROOT, 'proj', 'dir', 0o755, T0, '/proj', null);
  const f = m.createLocal(d.id, 'f', 'file', 0o644, T0, '/proj/f', 'st-f');
  const sub = m.createLocal(d.id, 'sub', 'dir', 0o755, T0, '/proj/sub', null);
  m.queueCommit(f.id, '/proj/f', { size: 15 });
  m.pin(d.id);
  // The file's commit is answered before its directory's id is known (ids are per node).
  m.committed(
    f.id,
    500,
    [
      { hash: H('e'), size: 10 },
      { hash: H('f'), size: 5 },
    ],
    15,
    false,
  );
  t.same(m.setServerId(d.id, 20), [], 'nothing released');
  t.match(m.node(d.id), { id: d.id, serverId: 20, name: 'proj', kind: 'dir', parentId: ROOT });
  t.equal(m.keyOf(20), d.id);
  t.same(
    m
      .children(d.id)
      .map((n) => n.id)
      .sort((a, b) => a - b),
    [f.id, sub.id].sort((a, b) => a - b),
  );
  t.same([...m.pinnedIds()], [d.id], 'the pin stays');
  t.same(
    m.ops().map((o) => [o.kind, o.nodeId, o.serverId]),
    [
      ['mkdir', d.id, 20],
      ['mkdir', sub.id, null],
      ['commit', f.id, null],
    ],
    'ops carry the server id',
  );

  m.setServerId(f.id, 21);
  t.match(m.node(f.id), { id: f.id, serverId: 21, parentId: d.id, rev: 500, size: 15, staging: 'st-f' });
  t.equal(m.blocks(f.id).length, 2);
  t.equal(m.lookup('/proj/f')?.id, f.id);
  t.equal(m.ops()[2]!.serverId, 21);
  m.setServerId(f.id, 21); // same id: nothing
  t.equal(m.node(f.id)?.name, 'f');

  // A stale file row already holding the server id (an echo applied at another place) is dropped.
  m.applyChanges([create(30, ROOT, 'stale', [{ hash: H('9'), size: 9 }])], 'c2', false);
  const g = m.createLocal(ROOT, 'g', 'file', 0o644, T0, '/g', 'st-g');
  t.same(m.setServerId(g.id, 30), [H('9')], "the stale row's blocks are released");
  t.match(m.node(g.id), { serverId: 30, name: 'g' });
  t.equal(m.lookup('/stale'), null);

  // A stale file row holding the server id that was edited here meanwhile: it becomes a file of
  // its own (no server id; its queued commit makes it on the server), nothing is dropped.
  m.applyChanges([create(31, ROOT, 'echo.txt', [{ hash: H('8'), size: 8 }])], 'c2b', false);
  const echo = m.keyOf(31)!;
  m.queueCommit(echo, '/echo.txt', { size: 9, staging: 'st-echo' });
  const h = m.createLocal(ROOT, 'h.txt', 'file', 0o644, T0, '/h.txt', 'st-h');
  t.same(m.setServerId(h.id, 31), [], 'nothing released');
  t.match(m.node(h.id), { serverId: 31 });
  t.match(m.node(echo), { serverId: null, name: 'echo.txt', staging: 'st-echo' }, 'the edited copy stays');
  t.match(
    m.ops().find((o) => o.nodeId === echo),
    { kind: 'commit', serverId: null },
  );
  // A folder made inside the folder it turns out to be (seed 64934): it merges into the outer one,
  // which keeps its key and server id and takes what the inner one held and its ops.
  const outer = m.createLocal(ROOT, 'outer', 'dir', 0o755, T0, '/outer', null);
  m.setServerId(outer.id, 70);
  const inner = m.createLocal(outer.id, 'inner', 'dir', 0o755, T0, '/outer/inner', null);
  const held = m.createLocal(inner.id, 'held', 'dir', 0o755, T0, '/outer/inner/held', null);
  m.setServerId(inner.id, 70);
  t.equal(m.node(inner.id), null, 'the inner folder is gone');
  t.match(m.node(outer.id), { serverId: 70, parentId: ROOT });
  t.match(m.node(held.id), { parentId: outer.id }, 'what it held is in the outer folder');
  t.match(
    m.ops().filter((o) => o.kind === 'mkdir' && o.nodeId === outer.id),
    [{ serverId: 70 }, { serverId: 70 }],
    "the inner folder's mkdir follows to the outer one",
  );
  t.equal(m.pathOf(held.id), '/outer/held');
  // A file there is refused: nothing changes.
  const file = m.createLocal(outer.id, 'f', 'file', 0o644, T0, '/outer/f', 'st-f');
  t.throws(() => m.setServerId(file.id, 70), { code: 'CONFLICT' });
  t.match(m.node(file.id), { serverId: null, parentId: outer.id });

  // Removed here before the server answered: its ops still get the server id (the delete must
  // reach the server), and no node comes back.
  const gone = m.createLocal(ROOT, 'gone', 'dir', 0o755, T0, '/gone', null);
  m.removeLocal(gone.id, '/gone');
  m.setServerId(gone.id, 40);
  t.same(
    m
      .ops()
      .filter((o) => o.path === '/gone')
      .map((o) => [o.kind, o.nodeId, o.serverId]),
    [
      ['mkdir', gone.id, 40],
      ['delete', gone.id, 40],
    ],
  );
  t.equal(m.node(gone.id), null, 'no node is brought back');
  t.equal(m.keyOf(40), null);
  // Nor by the journal: its create, echoed before the delete is pushed, is skipped (and resynced).
  m.applyChanges([mkdir(40, ROOT, 'gone')], 'c3', false);
  t.equal(m.keyOf(40), null, 'an echo of its own create does not bring it back');
  t.equal(m.lookup('/gone'), null);
  t.ok(m.resyncIds().includes(40), 'the skipped entry is remembered (by server id)');
});

t.test('folder merge: a folder made here that the server already has under another key', async (t) => {
  // Device B renamed /old to /shared while this device made /shared: the journal brought the
  // rename while /shared was local (skipped: the name is held), so the mirror has both. The mkdir
  // of /shared is answered "exists: 60" → the two merge into the local folder.
  const m = seeded();
  m.applyChanges(
    [
      mkdir(60, ROOT, 'old'),
      create(61, 60, 'same.txt', [{ hash: H('s'), size: 4 }]),
      create(62, 60, 'theirs.txt', [{ hash: H('t'), size: 4 }]),
      create(63, 60, 'both.txt', [{ hash: H('x'), size: 4 }]),
      mkdir(64, 60, 'sub'),
      create(65, 64, 'deep.txt', [{ hash: H('d'), size: 4 }]),
      create(66, 60, 'edited.txt', [{ hash: H('e'), size: 4 }]),
    ],
    'c2',
    false,
  );
  const old = m.keyOf(60)!;
  // This device edited the server's /old/edited.txt too (staged, commit queued).
  const edited = m.keyOf(66)!;
  m.queueCommit(edited, '/old/edited.txt', { size: 9, staging: 'st-edited' });
  m.pin(old);
  const shared = m.createLocal(ROOT, 'shared', 'dir', 0o755, T0, '/shared', null);
  const mine = m.createLocal(shared.id, 'mine.txt', 'file', 0o644, T0, '/shared/mine.txt', 'st-mine');
  const both = m.createLocal(shared.id, 'both.txt', 'file', 0o644, T0, '/shared/both.txt', 'st-both');
  const sub = m.createLocal(shared.id, 'sub', 'dir', 0o755, T0, '/shared/sub', null);
  m.createLocal(sub.id, 'mine2.txt', 'file', 0o644, T0, '/shared/sub/mine2.txt', 'st-m2');
  const mineEd = m.createLocal(shared.id, 'edited.txt', 'file', 0o644, T0, '/shared/edited.txt', 'st-me');
  m.queueCommit(mine.id, '/shared/mine.txt');
  m.queueCommit(both.id, '/shared/both.txt');
  m.queueCommit(mineEd.id, '/shared/edited.txt');
  m.applyChanges([{ ...mkdir(60, ROOT, 'shared'), op: 'move' }], 'c3', false);
  t.equal(m.lookup('/old')?.id, old, 'the rename was skipped: /shared is held here');

  const released = m.setServerId(shared.id, 60);
  t.equal(m.node(old), null, 'one folder: the other key is gone');
  t.match(m.node(shared.id), { serverId: 60, name: 'shared' });
  t.equal(m.lookup('/old'), null);
  t.same(
    m
      .children(shared.id)
      .map((n) => [n.name, n.id === mine.id || n.id === both.id || n.id === sub.id || n.id === mineEd.id]),
    [
      ['both.txt', true],
      ['edited (2).txt', true],
      ['edited.txt', false],
      ['mine.txt', true],
      ['same.txt', false],
      ['sub', true],
      ['theirs.txt', false],
    ],
    'everything of both, the local entry keeps a shared name',
  );
  t.match(
    m.lookup('/shared/edited.txt'),
    { id: edited, serverId: 66, staging: 'st-edited' },
    'both hold local changes: the edit of the server entry keeps its name and its staging...',
  );
  t.match(
    m.lookup('/shared/edited (2).txt'),
    { id: mineEd.id, serverId: null },
    '...the new one moves aside',
  );
  t.equal(m.lookup('/shared/same.txt')?.serverId, 61);
  t.match(m.node(sub.id), { serverId: 64 }, 'a child folder of both merges and takes the server id');
  t.same(
    m.children(sub.id).map((n) => n.name),
    ['deep.txt', 'mine2.txt'],
  );
  t.equal(m.keyOf(63), null, "the server's both.txt is dropped here for now...");
  t.ok(m.resyncIds().includes(63), '...and fetched again once ours is pushed');
  t.same(released, [], 'its block is not released: the resync brings it back');
  t.same([...m.pinnedIds()], [shared.id], 'the pin follows');
  t.same(
    m.ops().map((o) => [o.kind, o.nodeId, o.serverId]),
    [
      ['commit', edited, 66],
      ['mkdir', shared.id, 60],
      ['mkdir', sub.id, 64],
      ['commit', mine.id, null],
      ['commit', both.id, null],
      ['commit', mineEd.id, null],
    ],
  );
  t.same(
    m.ops().map((o) => o.path),
    [
      '/shared/edited.txt',
      '/shared',
      '/shared/sub',
      '/shared/mine.txt',
      '/shared/both.txt',
      '/shared/edited (2).txt',
    ],
    "the moved-aside file's queued commit follows it",
  );
});

t.test('committed records the revision and block list; clean clears staging', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt', { size: 123, staging: 'st-3' });
  // Not clean: newer local writes stay staged over the new base; the local size stays.
  let released = m.committed(
    3,
    200,
    [
      { hash: H('b'), size: 50 },
      { hash: H('x'), size: 60 },
    ],
    110,
    false,
  );
  t.same(released, [H('a')], 'the hash no file uses any more');
  t.match(m.node(3), { rev: 200, size: 123, staging: 'st-3' });
  t.same(m.blocks(3), [
    { hash: H('b'), offset: 0, size: 50 },
    { hash: H('x'), offset: 50, size: 60 },
  ]);
  // Clean: the local content is the commit.
  released = m.committed(3, 201, [{ hash: H('y'), size: 7 }], 7, true);
  t.same(released.sort(), [H('b'), H('x')].sort());
  t.match(m.node(3), { rev: 201, size: 7, staging: null });
  t.same(m.stagedNodes(), []);
  t.equal(m.pendingOps, 1, 'committed does not touch the queue (the push loop calls opDone)');
  // A committed hash another file still uses is not released.
  t.same(m.committed(3, 202, [{ hash: H('c'), size: 10 }], 10, true), [H('y')]);
  t.same(m.committed(3, 203, [], 0, true), [], '/b.bin still uses c');
  t.same(m.blocks(3), []);
  t.equal(m.node(3)!.size, 0);
});

t.test('a delete queued during a push carries the revision that push made', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt', { staging: 'st' });
  const rev0 = m.node(3)!.rev;
  m.removeLocal(3, '/docs/a.txt'); // while the commit is under way
  t.equal(m.ops()[1]!.rev, rev0);
  t.same(m.committed(3, 300, [{ hash: H('z'), size: 1 }], 1, true), [], 'node gone: nothing recorded');
  t.equal(m.node(3), null, 'not brought back');
  t.equal(m.referenced(H('z')), false);
  t.same(
    m.ops().map((o) => [o.kind, o.rev]),
    [
      ['commit', 0],
      ['delete', 300],
    ],
    "the delete names the push's revision",
  );
  // setRev does the same for mkdir and move pushes; a delete with a newer revision is not lowered.
  m.queueCommit(4, '/b.bin');
  m.removeLocal(4, '/b.bin');
  m.setRev(4, 250);
  t.equal(m.ops()[3]!.rev, 250);
  m.setRev(4, 240);
  t.equal(m.ops()[3]!.rev, 250, 'never lowered');
  // setRev of a live node records the rev.
  m.applyChanges([create(9, ROOT, 'n', [])], 'c2', false);
  m.setRev(key(m, 9), 999);
  t.equal(m.node(key(m, 9))!.rev, 999);
});

t.test('renameRaw renames here only; conflicts are remembered (newest last, at most 100)', async (t) => {
  const { m, file } = open();
  m.applyChanges([create(3, ROOT, 'a.txt', [{ hash: H('a'), size: 1 }])], 'c1', false);
  t.equal(m.lookup('/a.txt')?.serverId, 3);
  m.renameRaw(key(m, 3), 'a (conflicted copy).txt');
  t.equal(m.lookup('/a.txt'), null);
  t.equal(m.lookup('/a (conflicted copy).txt')?.serverId, 3);
  t.equal(m.pendingOps, 0, 'no op');
  m.renameRaw(ROOT, 'x'); // the root: nothing
  m.renameRaw(key(m, 999), 'x'); // gone: nothing
  t.equal(m.node(ROOT)!.name, '');

  t.same(m.conflicts(), []);
  m.addConflict('/one');
  m.addConflict('/two');
  t.same(m.conflicts(), ['/one', '/two']);
  for (let i = 0; i < 120; i++) m.addConflict(`/c${i}`);
  const list = m.conflicts();
  t.equal(list.length, 100);
  t.equal(list[0], '/c20');
  t.equal(list[99], '/c119');
  m.close();
  const m2 = new Mirror(file);
  t.teardown(() => m2.close());
  t.same(m2.conflicts(), list, 'persisted');
});

t.test('applyChanges: entries not newer than the node are ignored (the echo of our commits)', async (t) => {
  const m = seeded();
  m.committed(3, 400, [{ hash: H('n'), size: 3 }], 3, true);
  const snap = { node: m.node(3), blocks: m.blocks(3) };
  m.applyChanges(
    [
      commit(3, 2, 'a.txt', [{ hash: H('o'), size: 4 }], 400), // same rev
      commit(3, 2, 'renamed', [{ hash: H('p'), size: 5 }], 399), // older
      r('delete', 3, 2, 'a.txt', { rev: 350 }), // older
    ],
    'c2',
    false,
  );
  t.same({ node: m.node(3), blocks: m.blocks(3) }, snap, 'unchanged');
  t.equal(m.cursor(), 'c2', 'the cursor still moves on');
  m.applyChanges([commit(3, 2, 'a.txt', [{ hash: H('q'), size: 6 }], 401)], 'c3', false);
  t.same(m.blocks(3), [{ hash: H('q'), offset: 0, size: 6 }], 'a newer one applies');
  t.equal(m.node(3)!.rev, 401);
});

t.test('applyChanges: nodes with queued ops or staged content are left alone', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt', { size: 1 });
  const r1 = m.applyChanges(
    [commit(3, 2, 'a.txt', [{ hash: H('r'), size: 8 }]), r('move', 3, ROOT, 'elsewhere')],
    'c2',
    false,
  );
  t.same(r1.released, []);
  t.equal(m.pathOf(3), '/docs/a.txt', 'not moved');
  t.equal(m.blocks(3)[0]!.hash, H('a'), 'blocks kept');
  t.equal(m.node(3)!.size, 1, 'local size kept');
  m.applyChanges([del(3, 2, 'a.txt')], 'c3', false);
  t.ok(m.node(3), 'not deleted');

  // Staged content without an op (written, not yet closed) also counts as local.
  m.updateLocal(4, { staging: 'st-4' });
  m.applyChanges([commit(4, ROOT, 'b.bin', [{ hash: H('s'), size: 2 }]), del(4, ROOT, 'b.bin')], 'c4', false);
  t.equal(m.blocks(4)[0]!.hash, H('c'));
  t.ok(m.node(4));

  // Once the op is done and the staging cleared, remote changes apply again.
  m.opDone(m.headOp()!.seq);
  m.applyChanges([commit(3, 2, 'a.txt', [{ hash: H('t'), size: 4 }])], 'c5', false);
  t.same(m.blocks(3), [{ hash: H('t'), offset: 0, size: 4 }]);
  m.updateLocal(4, { staging: null });
  m.applyChanges([del(4, ROOT, 'b.bin')], 'c6', false);
  t.equal(m.node(4), null);
});

t.test('applyChanges: a name held by a local node is not taken over', async (t) => {
  const m = seeded();
  const local = m.createLocal(2, 'mine.txt', 'file', 0o644, T0, '/docs/mine.txt', 'st');
  const r1 = m.applyChanges([create(10, 2, 'mine.txt', [{ hash: H('u'), size: 3 }])], 'c2', false);
  t.same(r1.released, []);
  t.equal(m.node(key(m, 10)), null, 'the remote node is not added');
  t.equal(m.lookup('/docs/mine.txt')?.id, local.id, 'the local node keeps the name');
  t.equal(m.referenced(H('u')), false);
  // A local directory holding the name: same.
  const ld = m.createLocal(ROOT, 'work', 'dir', 0o755, T0, '/work', null);
  m.applyChanges([mkdir(11, ROOT, 'work')], 'c3', false);
  t.equal(m.node(key(m, 11)), null);
  t.equal(m.lookup('/work')?.id, ld.id);
  // A server directory that holds a local node below it keeps its name too.
  m.createLocal(2, 'x', 'file', 0o644, T0, '/docs/x', 'st-x');
  m.applyChanges([mkdir(12, ROOT, 'docs')], 'c4', false);
  t.equal(m.node(key(m, 12)), null);
  t.equal(m.lookup('/docs')?.id, 2);
  // Without local nodes below, the newcomer takes the name (the server's order is authoritative).
  m.applyChanges([create(13, ROOT, 'b.bin', [{ hash: H('v'), size: 1 }])], 'c5', false);
  t.equal(m.lookup('/b.bin')?.serverId, 13);
  t.equal(m.node(4), null);
});

t.test('applyChanges: remote deletes of a directory holding local nodes are ignored', async (t) => {
  const m = seeded();
  m.applyChanges([mkdir(5, 2, 'sub'), mkdir(6, ROOT, 'plain'), create(7, 6, 'p', [])], 'c2', false);
  // A local node two levels down.
  const local = m.createLocal(key(m, 5), 'new', 'file', 0o644, T0, '/docs/sub/new', 'st');
  m.applyChanges([del(2, ROOT, 'docs', 'dir')], 'c3', false);
  t.equal(m.lookup('/docs/sub/new')?.id, local.id, 'the local file and its ancestors stay');
  t.ok(m.node(3), 'siblings too (the whole delete is skipped)');
  // A server file with staged content below a directory: same.
  m.updateLocal(key(m, 7), { staging: 'st-7' });
  m.applyChanges([del(6, ROOT, 'plain', 'dir')], 'c4', false);
  t.ok(m.node(key(m, 6)));
  m.updateLocal(key(m, 7), { staging: null });
  m.applyChanges([del(6, ROOT, 'plain', 'dir')], 'c5', false);
  t.equal(m.node(key(m, 6)), null, 'applied once nothing local is below');
  t.equal(m.node(key(m, 7)), null);
  // An entry whose parent this device has deleted is skipped.
  m.applyChanges([mkdir(8, ROOT, 'gone')], 'c6', false);
  m.removeLocal(key(m, 8), '/gone');
  m.applyChanges([create(9, 8, 'late', [{ hash: H('w'), size: 1 }])], 'c7', false);
  t.equal(m.node(key(m, 9)), null);
  t.equal(m.referenced(H('w')), false);
});

t.test('skipped remote changes are remembered for a resync; cycles are never applied', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt', { size: 1 });
  m.applyChanges([commit(3, 2, 'a.txt', [{ hash: H('r'), size: 8 }])], 'c2', false);
  t.same(m.resyncIds(), [3], 'the skipped entry of a local node is remembered');
  t.equal(m.holdsLocal(3), true);
  m.opDone(m.headOp()!.seq);
  t.equal(m.holdsLocal(3), false);
  m.resync(3, commit(3, ROOT, 'moved.txt', [{ hash: H('r'), size: 8 }], 500));
  t.equal(m.pathOf(3), '/moved.txt', 'the resync applies the server state');
  t.same(m.resyncIds(), [], 'and forgets the node');
  m.markResync(3);
  m.resync(3, null);
  t.equal(m.node(3), null, 'gone on the server: removed here');
  // Directories moved into each other: the remote move that would make a cycle here is skipped.
  m.applyChanges([mkdir(20, ROOT, 'p'), mkdir(21, ROOT, 'q')], 'c3', false);
  m.moveLocal(key(m, 21), key(m, 20), 'q', '/q', '/p/q', null);
  m.applyChanges([r('move', 20, 21, 'p')], 'c4', false);
  t.equal(m.pathOf(key(m, 20)), '/p', 'p stays at the root');
  t.equal(m.pathOf(key(m, 21)), '/p/q');
  t.ok(m.resyncIds().includes(20), 'and is resynced later');
});

t.test('a folder moved elsewhere takes the paths of queued ops below it along', async (t) => {
  const m = seeded();
  m.applyChanges([mkdir(30, ROOT, 'c'), mkdir(31, 30, 'a'), mkdir(32, ROOT, 'dest')], 'c2', false);
  const dir = m.createLocal(key(m, 31), 'b', 'dir', 0o755, T0, '/c/a/b', null);
  const file = m.createLocal(key(m, 31), 'x.txt', 'file', 0o644, T0, '/c/a/x.txt', 'st-x');
  m.queueCommit(file.id, '/c/a/x.txt', { size: 3 });
  m.applyChanges([r('move', 30, 32, 'c')], 'c3', false);
  t.equal(m.pathOf(dir.id), '/dest/c/a/b');
  t.same(
    m.ops().map((o) => o.path),
    ['/dest/c/a/b', '/dest/c/a/x.txt'],
    'queued creates follow the moved folder',
  );
  // A sibling whose name only starts the same is not touched.
  const other = m.createLocal(ROOT, 'destination', 'dir', 0o755, T0, '/destination', null);
  m.applyChanges([r('move', 32, ROOT, 'dest2')], 'c4', false);
  t.same(
    m.ops().map((o) => o.path),
    ['/dest2/c/a/b', '/dest2/c/a/x.txt', '/destination'],
  );
  t.ok(other);
});

t.test('putRemote forces a server revision over local state', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt', { size: 999, staging: 'st' });
  m.committed(3, 600, [{ hash: H('m'), size: 2 }], 2, false);
  // An older revision with a different name and blocks (the winner of a conflict).
  m.putRemote(r('move', 3, ROOT, 'winner.txt', { blocks: [{ hash: H('w'), size: 4 }], rev: 550 }));
  t.match(m.node(3), { rev: 550, name: 'winner.txt', parentId: ROOT, size: 4 });
  t.equal(m.lookup('/winner.txt')?.id, 3);
  t.same(m.blocks(3), [{ hash: H('w'), offset: 0, size: 4 }], 'blocks replaced even for a move');
  t.equal(m.pendingOps, 1, 'the queue is the caller’s business');
  // Forced past the revision check: an older delete removes the node (once nothing local holds it).
  m.opDone(m.headOp()!.seq);
  m.updateLocal(3, { staging: null });
  m.putRemote(r('delete', 3, ROOT, 'winner.txt', { rev: 500 }));
  t.equal(m.node(3), null);
  t.equal(m.referenced(H('w')), false);
  // The root never changes.
  m.putRemote({ ...r('mkdir', ROOT, ROOT, 'x'), parentId: null });
  t.equal(m.node(ROOT)!.name, '');
});

t.test('ops, local nodes and staging survive closing and reopening the mirror', async (t) => {
  const { m, file } = open();
  m.applyChanges([mkdir(2, ROOT, 'd'), create(3, 2, 'f', [{ hash: H('a'), size: 4 }])], 'c1', true);
  const nd = m.createLocal(2, 'newdir', 'dir', 0o700, T0 + 5, '/d/newdir', null);
  const nf = m.createLocal(nd.id, 'nf', 'file', 0o640, T0 + 6, '/d/newdir/nf', 'st-nf');
  m.queueCommit(nf.id, '/d/newdir/nf', { size: 12 });
  m.queueCommit(3, '/d/f', { size: 8, staging: 'st-3' });
  m.moveLocal(3, ROOT, 'g', '/d/f', '/g', null);
  m.opFailed(m.headOp()!.seq, 'offline');
  const ops = m.ops();
  const nodes = [nd.id, nf.id, 3].map((id) => m.node(id));
  const maxSeq = Math.max(...ops.map((o) => o.seq));
  m.close();

  const m2 = new Mirror(file);
  t.teardown(() => m2.close());
  t.same(m2.ops(), ops, 'same ops, seqs, attempts, errors');
  t.equal(m2.pendingOps, ops.length);
  t.same(
    [nd.id, nf.id, 3].map((id) => m2.node(id)),
    nodes,
    'same local nodes',
  );
  t.same(
    m2
      .stagedNodes()
      .map((n) => n.staging)
      .sort(),
    ['st-3', 'st-nf'],
  );
  t.equal(m2.lookup('/d/newdir/nf')?.id, nf.id);
  t.equal(m2.pushing, 0, 'nothing is being pushed after a restart');
  // Coalescing works against the persisted queue.
  m2.queueCommit(nf.id, '/d/newdir/nf', { size: 13 });
  t.equal(m2.pendingOps, ops.length);
  // Keys keep counting up across a restart; seqs are never reused, even after the queue drains.
  t.equal(m2.createLocal(ROOT, 'more', 'file', 0o644, T0, '/more', 'st-m').id, nf.id + 1);
  for (const o of m2.ops()) m2.opDone(o.seq);
  m2.close();
  const m3 = new Mirror(file);
  t.teardown(() => m3.close());
  t.equal(m3.pendingOps, 0);
  m3.queueCommit(3, '/g');
  t.ok(
    m3.headOp()!.seq > maxSeq,
    `a new op's seq (${m3.headOp()!.seq}) is above every earlier one (${maxSeq})`,
  );
});

t.test('a schema v1 database opens with the new code and keeps its nodes', async (t) => {
  const file = path.join(tmp(), 'v1.db');
  // MIGRATIONS[0] of mirror.ts, as a v1 client left it.
  const db = new Database(file);
  db.exec(`
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    rev INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    mode INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX nodes_name ON nodes(parent_id, name);
  CREATE TABLE blocks (
    node_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (node_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX blocks_hash ON blocks(hash);
  CREATE TABLE pins (node_id INTEGER PRIMARY KEY);
  `);
  const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
  for (const [k, v] of [
    ['server', 'http://127.0.0.1:7420'],
    ['user', 'alice'],
    ['ns', '7'],
    ['rootId', String(ROOT)],
    ['cursor', 'old-cursor'],
    ['synced', '1'],
  ])
    meta.run(k, v);
  const node = db.prepare('INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  node.run(ROOT, null, '', 'dir', 0, 0, T0, 0o755);
  node.run(2, ROOT, 'docs', 'dir', 5, 0, T0 + 1, 0o755);
  node.run(3, 2, 'a.txt', 'file', 6, 30, T0 + 2, 0o644);
  db.prepare('INSERT INTO blocks VALUES (?, ?, ?, ?, ?)').run(3, 0, H('a'), 0, 30);
  db.prepare('INSERT INTO pins VALUES (?)').run(2);
  db.pragma('user_version = 1');
  db.close();

  const m = new Mirror(file);
  t.teardown(() => m.close());
  t.same(m.identity(), { server: 'http://127.0.0.1:7420', user: 'alice', ns: 7, rootId: ROOT });
  t.equal(m.cursor(), 'old-cursor');
  t.equal(m.synced, true);
  t.same(m.node(3), {
    id: 3,
    serverId: 3, // v7: the old id is the key and the server id
    parentId: 2,
    name: 'a.txt',
    kind: 'file',
    rev: 6,
    size: 30,
    mtime: T0 + 2,
    mode: 0o644,
    ctime: T0 + 2, // no ctime in v1: the mtime stands in
    staging: null,
    atime: null, // never set on this device
  });
  t.equal(m.lookup('/docs/a.txt')?.id, 3);
  t.same(m.blocks(3), [{ hash: H('a'), offset: 0, size: 30 }]);
  t.same([...m.pinnedIds()], [2]);
  t.same(m.ops(), []);
  t.same(m.stagedNodes(), []);
  // The new tables work.
  m.queueCommit(3, '/docs/a.txt', { size: 31, staging: 'st' });
  t.equal(m.pendingOps, 1);
  t.equal(m.createLocal(2, 'b', 'file', 0o644, T0, '/docs/b', 'st-b').id, 4, 'keys start above the old ids');
  m.close();
  const check = new Database(file, { readonly: true });
  t.ok((check.pragma('user_version', { simple: true }) as number) >= 2, 'migrated past v1');
  check.close();
  // Reopening a migrated file changes nothing.
  const again = new Mirror(file);
  t.teardown(() => again.close());
  t.equal(again.pendingOps, 1);
  t.equal(again.node(3)!.size, 31);
});

t.test('v6 → v7: a state dir of session 6 keeps working with stable keys', async (t) => {
  // A mirror as the drive of session 6 left it: server ids as ids, a folder made offline with a
  // negative temporary id (its mkdir queued, a file staged in it), a delete of a server node queued,
  // nodes to resync (one of them a temporary id), pins on both kinds.
  const file = path.join(tmp(), 'mirror.db');
  const db = new Database(file);
  for (const m of MIGRATIONS.slice(0, 6)) db.exec(m);
  const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
  for (const [k, v] of [
    ['server', 'http://127.0.0.1:7420'],
    ['user', 'alice'],
    ['ns', '7'],
    ['rootId', String(ROOT)],
    ['cursor', 'c9'],
    ['synced', '1'],
    ['lastTempId', '-1'],
  ])
    meta.run(k, v);
  const node = db.prepare(
    'INSERT INTO nodes (id, parent_id, name, kind, rev, size, mtime, mode, ctime, staging) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  node.run(ROOT, null, '', 'dir', 0, 0, T0, 0o755, T0, null);
  node.run(2, ROOT, 'docs', 'dir', 5, 0, T0, 0o755, T0, null);
  node.run(3, 2, 'a.txt', 'file', 6, 30, T0, 0o644, T0, null);
  node.run(-1, 2, 'new', 'dir', 0, 0, T0, 0o755, T0, null);
  node.run(-2, -1, 'n.txt', 'file', 0, 4, T0, 0o644, T0, 'st-n');
  db.prepare('INSERT INTO blocks VALUES (?, ?, ?, ?, ?)').run(3, 0, H('a'), 0, 30);
  const op = db.prepare('INSERT INTO ops (kind, node_id, path, rev, created_at) VALUES (?, ?, ?, ?, ?)');
  op.run('mkdir', -1, '/docs/new', 0, T0);
  op.run('commit', -2, '/docs/new/n.txt', 0, T0);
  op.run('delete', 9, '/gone.txt', 4, T0);
  db.prepare('INSERT INTO resync (id) VALUES (?)').run(7);
  db.prepare('INSERT INTO resync (id) VALUES (?)').run(-1);
  db.prepare('INSERT INTO pins VALUES (?)').run(2);
  db.prepare('INSERT INTO pins VALUES (?)').run(-1);
  db.pragma('user_version = 6');
  db.close();

  const m = new Mirror(file);
  t.teardown(() => m.close());
  t.match(m.node(2), { id: 2, serverId: 2, name: 'docs' }, 'a server node: its id is its key and server id');
  t.equal(m.keyOf(3), 3);
  t.match(m.node(-1), { id: -1, serverId: null, name: 'new' }, 'a temporary id is kept as the key');
  t.equal(m.pathOf(-2), '/docs/new/n.txt');
  t.same(
    m.ops().map((o) => [o.kind, o.nodeId, o.serverId]),
    [
      ['mkdir', -1, null],
      ['commit', -2, null],
      ['delete', 9, 9],
    ],
    'ops carry server ids where there are some',
  );
  t.same(m.resyncIds(), [7], 'the resync set holds server ids only');
  t.same(
    [...m.pinnedIds()].sort((a, b) => a - b),
    [-1, 2],
  );
  // It keeps working: the queued mkdir is answered, new nodes get keys above every old id.
  m.setServerId(-1, 40);
  t.match(m.node(-1), { serverId: 40, name: 'new' });
  t.equal(m.keyOf(40), -1);
  t.same(m.ops()[0]!.serverId, 40);
  const f = m.createLocal(2, 'b.txt', 'file', 0o644, T0, '/docs/b.txt', 'st-b');
  t.equal(f.id, 10, 'the first new key is above every key still named (9, by the queued delete)');
  m.applyChanges([create(41, 40, 'remote.txt', [{ hash: H('r'), size: 1 }])], 'c10', false);
  t.match(
    m.lookup('/docs/new/remote.txt'),
    { id: 11, serverId: 41 },
    'a remote node under the migrated folder',
  );
});

t.test('a database from a newer Loft is refused', async (t) => {
  const file = path.join(tmp(), 'future.db');
  const db = new Database(file);
  db.pragma('user_version = 99');
  db.close();
  t.throws(() => new Mirror(file), { code: 'CORRUPT' });
});

t.test("rm -rf: a folder's delete absorbs the deletes queued just before it of what it held", async (t) => {
  const { m } = open();
  // /top/{x.txt, sub/{y.txt, z.txt}}, /other.txt, /top2
  m.applyChanges(
    [
      mkdir(10, ROOT, 'top', 201),
      create(11, 10, 'x.txt', [{ hash: H('a'), size: 1 }], 202),
      mkdir(12, 10, 'sub', 203),
      create(13, 12, 'y.txt', [{ hash: H('b'), size: 1 }], 204),
      create(14, 12, 'z.txt', [{ hash: H('c'), size: 1 }], 205),
      create(15, ROOT, 'other.txt', [{ hash: H('d'), size: 1 }], 206),
    ],
    'c1',
    true,
  );
  m.removeLocal(key(m, 15), '/other.txt'); // not under /top: never absorbed, and it stops the scan
  const made = m.createLocal(key(m, 12), 'new.txt', 'file', 0o644, T0, '/top/sub/new.txt', null);
  m.queueCommit(made.id, '/top/sub/new.txt');
  m.removeLocal(made.id, '/top/sub/new.txt'); // not on the server: runs (as nothing) on its own
  m.removeLocal(key(m, 13), '/top/sub/y.txt');
  m.removeLocal(key(m, 14), '/top/sub/z.txt');
  m.removeLocal(key(m, 12), '/top/sub');
  t.same(
    m.ops().map((o) => [o.kind, o.path]),
    [
      ['delete', '/other.txt'],
      ['commit', '/top/sub/new.txt'],
      ['delete', '/top/sub/new.txt'],
      ['delete', '/top/sub'],
    ],
    'the deletes of y and z went into the delete of sub',
  );
  const subOp = m.ops()[3]!;
  t.same(m.absorbed(subOp.seq), [
    [13, 204],
    [14, 205],
  ]);
  m.removeLocal(key(m, 11), '/top/x.txt');
  m.removeLocal(key(m, 10), '/top');
  const ops = m.ops();
  t.same(
    ops.map((o) => [o.kind, o.path]),
    [
      ['delete', '/other.txt'],
      ['commit', '/top/sub/new.txt'],
      ['delete', '/top/sub/new.txt'],
      ['delete', '/top'],
    ],
    'sub (with what it absorbed) and x went into the delete of top; the scan stopped at the commit',
  );
  const topOp = ops[3]!;
  t.same(
    m.absorbed(topOp.seq).sort((a, b) => a[0] - b[0]),
    [
      [11, 202],
      [12, 203],
      [13, 204],
      [14, 205],
    ],
  );
  t.equal(m.pendingOps, 4);
  // Applied remote changes of absorbed nodes are still held back (their delete is queued).
  m.applyChanges([commit(13, 12, 'y.txt', [{ hash: H('e'), size: 1 }], 300)], 'c2', true);
  t.equal(m.node(key(m, 13)), null, 'a removed node does not come back while its delete is absorbed');
  // Done: the folder's delete takes what it absorbed with it.
  m.opDone(topOp.seq);
  t.equal(m.absorbed(topOp.seq).length, 0);
  t.equal(m.pendingOps, 3);
});

t.test(
  'rm -rf: the op being pushed, and a delete whose node is being pushed, are not absorbed',
  async (t) => {
    const { m } = open();
    m.applyChanges(
      [
        mkdir(10, ROOT, 'top', 201),
        create(11, 10, 'a.txt', [{ hash: H('a'), size: 1 }], 202),
        create(12, 10, 'b.txt', [{ hash: H('b'), size: 1 }], 203),
      ],
      'c1',
      true,
    );
    const b = key(m, 12);
    m.queueCommit(b, '/top/b.txt');
    const commitSeq = m.headOp()!.seq;
    m.pushStarted(commitSeq); // b's commit is under way: b's revision may still change
    m.removeLocal(key(m, 11), '/top/a.txt');
    m.removeLocal(b, '/top/b.txt');
    m.removeLocal(key(m, 10), '/top');
    t.same(
      m.ops().map((o) => [o.kind, o.path]),
      [
        ['commit', '/top/b.txt'],
        ['delete', '/top/b.txt'],
        ['delete', '/top'],
      ],
    );
    t.same(m.absorbed(m.ops()[2]!.seq), [[11, 202]]);
    // The commit's answer bumps b's delete to the new revision, which then runs on its own.
    m.setRev(b, 250);
    t.match(m.ops()[1], { kind: 'delete', rev: 250 });
    m.pushDone();
  },
);

t.test('nextOp: ops set aside or held wait, with the later ops of their node; others go on', async (t) => {
  const m = seeded();
  m.queueCommit(3, '/docs/a.txt');
  m.queueCommit(4, '/b.bin');
  m.moveLocal(3, ROOT, 'a2.txt', '/docs/a.txt', '/a2.txt', null);
  m.createLocal(ROOT, 'n', 'dir', 0o755, T0, '/n', null);
  const [commitA, commitB, moveA, mkdirN] = m.ops();
  t.equal(m.nextOp()?.seq, commitA!.seq, 'the head, usually');
  m.markStuck(commitA!.seq, T0 + 5);
  t.equal(m.nextOp()?.seq, commitB!.seq, 'a stuck op is passed by ops of other nodes');
  t.equal(m.nextOp(new Set([4]))?.seq, mkdirN!.seq, "a's move waits behind a's stuck commit; b is held");
  t.match(m.stuckOps(), [{ seq: commitA!.seq, stuckSince: T0 + 5 }]);
  t.equal(m.pendingOps, 4, 'still pending, with its data');
  t.equal(m.unstickAll(), 1);
  t.equal(m.nextOp()?.seq, commitA!.seq, 'back in line, in its place');
  t.same(m.stuckOps(), []);
  t.ok(moveA);
});

t.test(
  "this device's own create, its answer lost, is skipped while that create waits (seed 80449)",
  async (t) => {
    const m = seeded();
    t.equal(m.device, null);
    m.setDevice('desktop'); // the device name r() puts on every entry
    t.equal(m.device, 'desktop');
    // Made here as /proj, renamed to /proj2 before the server's answer came: no holder at /proj here.
    const mine = m.createLocal(ROOT, 'proj', 'dir', 0o755, T0, '/proj', null);
    m.moveLocal(mine.id, ROOT, 'proj2', '/proj', '/proj2', null);
    m.applyChanges([mkdir(70, ROOT, 'proj'), mkdir(71, ROOT, 'other')], 'c-lost', false);
    t.equal(m.keyOf(70), null, 'the entry that may answer the pending mkdir is not applied');
    t.ok(m.resyncIds().includes(70), '...it is fetched again once the ops are through');
    t.ok(m.keyOf(71), 'an entry of another name applies at once');
    m.setServerId(mine.id, 70); // the retried mkdir met it (EXISTS) and adopted it
    t.match(m.node(mine.id), { serverId: 70 });
    // Another device's entry of a name with a create waiting here: applied as before.
    m.setDevice('laptop');
    const other = m.createLocal(ROOT, 'q', 'dir', 0o755, T0, '/q', null);
    m.moveLocal(other.id, ROOT, 'q2', '/q', '/q2', null);
    m.applyChanges([mkdir(73, ROOT, 'q')], 'c-other', false);
    t.ok(m.keyOf(73), 'not this device: applied');
  },
);
