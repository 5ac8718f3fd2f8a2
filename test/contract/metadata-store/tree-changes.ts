/** MetadataStore contract: commits, folders, moves and deletes: revisions, conflicts and the rules of the tree. */
import type { Test } from 'tap';
import { NOW, block, type MetaContext } from './fixture.js';

export function treeChangesContract(t: Test, ctx: MetaContext): void {
  t.test('commit: create, update with parentRev, conflict otherwise; history kept', async (t) => {
    const { store, alice, write } = ctx;
    const r1 = await write(alice, '/docs/a.txt', ['v1']);
    t.match(r1, {
      op: 'create',
      name: 'a.txt',
      kind: 'file',
      size: 2,
      deleted: false,
      device: 'alice-laptop',
    });
    t.same(r1.blocks, [block('v1')]);
    const docs = await store.getNode(alice.ns, { path: '/docs' });
    t.match(docs, { kind: 'dir', parentId: alice.rootId });
    t.equal(r1.parentId, docs!.id, 'missing parents are created');
    const r2 = await write(alice, '/docs/a.txt', ['v2', '!'], r1.rev);
    t.equal(r2.id, r1.id, 'same node');
    t.ok(r2.rev > r1.rev);
    t.equal(r2.op, 'commit');
    await t.rejects(write(alice, '/docs/a.txt', ['v3'], r1.rev), {
      code: 'CONFLICT',
      details: { currentRev: r2.rev },
    });
    await t.rejects(write(alice, '/docs/a.txt', ['v3'], null), {
      code: 'CONFLICT',
      details: { currentRev: r2.rev },
    });
    await t.rejects(write(alice, '/docs/b.txt', ['v3'], 5), { code: 'CONFLICT' });
    // By id.
    const b = block('v4');
    await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
    const r3 = await store.commitFile(alice.actor, {
      ns: alice.ns,
      node: { id: r1.id },
      parentRev: r2.rev,
      blocks: [b],
      size: 2,
      mtime: NOW + 5,
      mode: 0o600,
    });
    t.match(r3, { id: r1.id, mtime: NOW + 5, mode: 0o600 });
    await t.rejects(
      store.commitFile(alice.actor, {
        ns: alice.ns,
        node: { id: r1.id },
        parentRev: r2.rev,
        blocks: [b],
        size: 2,
        mtime: NOW,
        mode: 0o600,
      }),
      { code: 'CONFLICT' },
    );
    const history = await store.listRevisions(alice.ns, r1.id);
    t.same(
      history.map((h) => h.rev),
      [r1.rev, r2.rev, r3.rev],
    );
    t.same(history[0]!.blocks, [block('v1')], 'old revisions keep their block lists');
    // A file in the way of a directory, and a directory in the way of a file.
    await t.rejects(write(alice, '/docs/a.txt/x', ['y']), { code: 'NOT_DIR' });
    await t.rejects(write(alice, '/docs', ['y']), { code: 'IS_DIR' });
    await t.rejects(write(alice, '/', ['y']), { code: 'IS_DIR' });
  });

  t.test('commit: an empty file has no blocks', async (t) => {
    const { alice, write } = ctx;
    const r = await write(alice, '/empty', []);
    t.equal(r.size, 0);
    t.same(r.blocks, []);
  });

  t.test('mkdir: exists, parents, missing parent', async (t) => {
    const { store, alice } = ctx;
    const d = await store.mkdir(alice.actor, {
      ns: alice.ns,
      path: '/a',
      mtime: NOW,
      mode: 0o700,
      parents: false,
    });
    t.match(d, { op: 'mkdir', kind: 'dir', mode: 0o700, name: 'a' });
    await t.rejects(
      store.mkdir(alice.actor, { ns: alice.ns, path: '/a', mtime: NOW, mode: 0o755, parents: false }),
      {
        code: 'EXISTS',
        details: { id: d.id, kind: 'dir' },
      },
    );
    await t.rejects(
      store.mkdir(alice.actor, { ns: alice.ns, path: '/x/y', mtime: NOW, mode: 0o755, parents: false }),
      { code: 'NOT_FOUND' },
    );
    const deep = await store.mkdir(alice.actor, {
      ns: alice.ns,
      path: '/x/y/z',
      mtime: NOW,
      mode: 0o755,
      parents: true,
    });
    t.equal((await store.getNode(alice.ns, { path: '/x/y/z' }))?.id, deep.id);
    await t.rejects(
      store.mkdir(alice.actor, { ns: alice.ns, path: '/', mtime: NOW, mode: 0o755, parents: false }),
      { code: 'EXISTS' },
    );
    await t.rejects(
      store.mkdir(alice.actor, { ns: alice.ns, path: '/a/../b', mtime: NOW, mode: 0o755, parents: false }),
      { code: 'BAD_PATH' },
    );
  });

  t.test('by folder id: creates and moves follow the folder; a deleted folder is NOT_FOUND', async (t) => {
    const { store, alice, bob } = ctx;
    const base = { ns: alice.ns, mtime: NOW, mode: 0o755, parents: false };
    const a = await store.mkdir(alice.actor, { ...base, path: '/a' });
    const b = await store.mkdir(alice.actor, { ...base, path: '/b' });
    // Another device renames /a to /c; a device that has not seen it yet places things in /a by id.
    await store.move(alice.actor, {
      ns: alice.ns,
      node: { id: a.id },
      parentRev: a.rev,
      toPath: '/c',
      overwrite: false,
    });
    const sub = await store.mkdir(alice.actor, { ...base, parentId: a.id, name: 'sub' });
    t.match(sub, { parentId: a.id, name: 'sub', kind: 'dir' });
    t.equal((await store.getNode(alice.ns, { path: '/c/sub' }))?.id, sub.id, 'mkdir followed the folder');
    t.equal(await store.getNode(alice.ns, { path: '/a' }), null, 'no new /a was made');
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: a.id, name: 'sub' }), {
      code: 'EXISTS',
      details: { id: sub.id, kind: 'dir' },
    });
    const blocks = [block('by id')];
    await store.recordUpload(alice.userId, blocks[0]!.hash, blocks[0]!.size, blocks[0]!.size, NOW);
    const commit = {
      ns: alice.ns,
      parentRev: null,
      blocks,
      size: blocks[0]!.size,
      mtime: NOW,
      mode: 0o644,
    };
    const f = await store.commitFile(alice.actor, { ...commit, node: { parentId: sub.id, name: 'f.txt' } });
    t.match(f, { op: 'create', parentId: sub.id, name: 'f.txt' });
    t.equal((await store.getNode(alice.ns, { path: '/c/sub/f.txt' }))?.id, f.id);
    await t.rejects(store.commitFile(alice.actor, { ...commit, node: { parentId: sub.id, name: 'f.txt' } }), {
      code: 'CONFLICT',
      details: { id: f.id, currentRev: f.rev },
    });
    const m = await store.move(alice.actor, {
      ns: alice.ns,
      node: { id: f.id },
      parentRev: f.rev,
      toParentId: b.id,
      toName: 'g.txt',
      overwrite: false,
    });
    t.match(m, { id: f.id, parentId: b.id, name: 'g.txt', op: 'move' });
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: a.id },
        parentRev: (await store.getNode(alice.ns, { id: a.id }))!.rev,
        toParentId: sub.id,
        toName: 'x',
        overwrite: false,
      }),
      { code: 'CYCLE' },
    );
    // Bad places: a file as the folder, a deleted folder, an unknown id, a bad name.
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: f.id, name: 'x' }), { code: 'NOT_DIR' });
    await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: sub.id },
      parentRev: sub.rev,
      recursive: true,
    });
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: sub.id, name: 'x' }), {
      code: 'NOT_FOUND',
      details: { id: sub.id, deleted: true },
    });
    await t.rejects(store.commitFile(alice.actor, { ...commit, node: { parentId: sub.id, name: 'h' } }), {
      code: 'NOT_FOUND',
      details: { deleted: true },
    });
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: 999_999, name: 'x' }), {
      code: 'NOT_FOUND',
    });
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: b.id, name: '..' }), {
      code: 'BAD_PATH',
    });
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: b.id, name: 'x/y' }), {
      code: 'BAD_PATH',
    });
    await t.rejects(store.mkdir(alice.actor, { ...base, parentId: bob.rootId, name: 'x' }), {
      code: 'NOT_FOUND',
    });
  });

  t.test('move: keeps the node id and blocks; overwrite rules; cycles refused', async (t) => {
    const { store, alice, write } = ctx;
    const f = await write(alice, '/a/f.txt', ['data']);
    const m = await store.move(alice.actor, {
      ns: alice.ns,
      node: { id: f.id },
      parentRev: f.rev,
      toPath: '/a/g.txt',
      overwrite: false,
    });
    t.match(m, { id: f.id, op: 'move', name: 'g.txt', size: 4 });
    t.same(m.blocks, f.blocks, 'content unchanged, nothing re-sent');
    t.equal(await store.getNode(alice.ns, { path: '/a/f.txt' }), null);
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: f.rev,
        toPath: '/a/h.txt',
        overwrite: false,
      }),
      { code: 'CONFLICT', details: { currentRev: m.rev } },
    );
    // Target exists.
    const other = await write(alice, '/a/other.txt', ['o']);
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: m.rev,
        toPath: '/a/other.txt',
        overwrite: false,
      }),
      { code: 'EXISTS', details: { id: other.id } },
    );
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: m.rev,
        toPath: '/a/other.txt',
        overwrite: true,
        targetRev: other.rev - 1,
      }),
      { code: 'CONFLICT' },
    );
    const over = await store.move(alice.actor, {
      ns: alice.ns,
      node: { id: f.id },
      parentRev: m.rev,
      toPath: '/a/other.txt',
      overwrite: true,
      targetRev: other.rev,
    });
    t.equal(over.id, f.id);
    t.match(
      await store.getNode(alice.ns, { id: other.id }),
      { deleted: true },
      'replaced target is a tombstone',
    );
    // Kinds.
    const dir = await store.mkdir(alice.actor, {
      ns: alice.ns,
      path: '/a/d',
      mtime: NOW,
      mode: 0o755,
      parents: false,
    });
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: over.rev,
        toPath: '/a/d',
        overwrite: true,
      }),
      { code: 'IS_DIR' },
    );
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: dir.id },
        parentRev: dir.rev,
        toPath: '/a/other.txt',
        overwrite: true,
      }),
      { code: 'NOT_DIR' },
    );
    const full = await store.mkdir(alice.actor, {
      ns: alice.ns,
      path: '/full',
      mtime: NOW,
      mode: 0o755,
      parents: false,
    });
    await write(alice, '/full/x', ['x']);
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: dir.id },
        parentRev: dir.rev,
        toPath: '/full',
        overwrite: true,
      }),
      { code: 'NOT_EMPTY' },
    );
    // Directory moves carry their subtree; a move below itself is a cycle.
    const a = await store.getNode(alice.ns, { path: '/a' });
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: a!.id },
        parentRev: a!.rev,
        toPath: '/a/d/a',
        overwrite: false,
      }),
      { code: 'CYCLE' },
    );
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: a!.id },
        parentRev: a!.rev,
        toPath: '/a/a',
        overwrite: false,
      }),
      { code: 'CYCLE' },
    );
    const moved = await store.move(alice.actor, {
      ns: alice.ns,
      node: { path: '/a' },
      parentRev: a!.rev,
      toPath: '/full/a',
      overwrite: false,
    });
    t.equal(moved.id, a!.id);
    t.equal((await store.getNode(alice.ns, { path: '/full/a/other.txt' }))?.id, f.id);
    t.equal(full.id, moved.parentId);
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { path: '/' },
        parentRev: 0,
        toPath: '/r',
        overwrite: false,
      }),
      { code: 'BAD_REQUEST' },
    );
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { path: '/nope' },
        parentRev: 0,
        toPath: '/r',
        overwrite: false,
      }),
      { code: 'NOT_FOUND' },
    );
    await t.rejects(
      store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: over.rev,
        toPath: '/missing/x',
        overwrite: false,
      }),
      { code: 'NOT_FOUND' },
    );
  });

  t.test('remove: tombstones with history; non-empty needs recursive; deepest first', async (t) => {
    const { store, alice, write } = ctx;
    const f = await write(alice, '/d/e/f', ['f']);
    const d = await store.getNode(alice.ns, { path: '/d' });
    await t.rejects(
      store.remove(alice.actor, { ns: alice.ns, node: { id: d!.id }, parentRev: d!.rev, recursive: false }),
      { code: 'NOT_EMPTY' },
    );
    await t.rejects(
      store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: f.rev - 1,
        recursive: false,
      }),
      { code: 'CONFLICT' },
    );
    const gone = await store.remove(alice.actor, {
      ns: alice.ns,
      node: { path: '/d' },
      parentRev: d!.rev,
      recursive: true,
    });
    t.same(
      gone.map((r) => r.name),
      ['f', 'e', 'd'],
    );
    t.ok(gone.every((r) => r.deleted && r.op === 'delete'));
    t.equal(await store.getNode(alice.ns, { path: '/d' }), null);
    t.match(await store.getNode(alice.ns, { id: f.id }), { deleted: true, name: 'f' });
    const history = await store.listRevisions(alice.ns, f.id);
    t.same(
      history.map((r) => r.op),
      ['create', 'delete'],
    );
    t.same(history[0]!.blocks, [block('f')], 'the deleted content stays in history');
    await t.rejects(
      store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: gone[0]!.rev,
        recursive: false,
      }),
      { code: 'CONFLICT', details: { deleted: true } },
    );
    await t.rejects(
      store.commitFile(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: gone[0]!.rev,
        blocks: [],
        size: 0,
        mtime: NOW,
        mode: 0o644,
      }),
      { code: 'CONFLICT', details: { deleted: true } },
    );
    // The name is free again; a new file there is a new node.
    const again = await write(alice, '/d/e/f', ['new']);
    t.not(again.id, f.id);
    await t.rejects(
      store.remove(alice.actor, { ns: alice.ns, node: { path: '/' }, parentRev: 0, recursive: true }),
      { code: 'BAD_REQUEST' },
    );
  });

  t.test('remove with expect: one delete for a folder; what was not seen as it is stays', async (t) => {
    const { store, alice, write } = ctx;
    const a = await write(alice, '/x/a.txt', ['a']);
    const b = await write(alice, '/x/b.txt', ['b']);
    const c = await write(alice, '/x/sub/c.txt', ['c']);
    const x = await store.getNode(alice.ns, { path: '/x' });
    const sub = await store.getNode(alice.ns, { path: '/x/sub' });
    // What the deleting device saw: everything as above. Then, elsewhere: b edited, a file added.
    const seen: [number, number][] = [
      [a.id, a.rev],
      [b.id, b.rev],
      [sub!.id, sub!.rev],
      [c.id, c.rev],
    ];
    const b2 = await write(alice, '/x/b.txt', ['b2'], b.rev);
    const added = await write(alice, '/x/sub/new.txt', ['new']);
    const head = await store.headSeq(alice.ns);
    const gone = await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: x!.id },
      parentRev: x!.rev,
      recursive: true,
      expect: seen,
    });
    t.same(
      gone.map((r) => r.name),
      ['a.txt', 'c.txt'],
      'only what was seen as it is goes',
    );
    t.ok(
      gone.every((r, i) => r.rev === head + 1 + i),
      'in one run of the journal',
    );
    t.match(await store.getNode(alice.ns, { path: '/x/b.txt' }), { id: b.id, rev: b2.rev, deleted: false });
    t.match(await store.getNode(alice.ns, { path: '/x/sub/new.txt' }), { id: added.id, deleted: false });
    t.match(
      await store.getNode(alice.ns, { path: '/x/sub' }),
      { deleted: false },
      'a folder holding a kept node stays',
    );
    t.equal(await store.getNode(alice.ns, { path: '/x/a.txt' }), null);
    // Seen as it is now: the rest goes in one delete, deepest first, one batch for a restore.
    const rest = await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: x!.id },
      parentRev: x!.rev,
      recursive: true,
      expect: [
        [b.id, b2.rev],
        [sub!.id, sub!.rev],
        [added.id, added.rev],
      ],
    });
    t.same(
      rest.map((r) => r.name),
      ['b.txt', 'new.txt', 'sub', 'x'],
    );
    t.equal(await store.getNode(alice.ns, { path: '/x' }), null);
  });
}
