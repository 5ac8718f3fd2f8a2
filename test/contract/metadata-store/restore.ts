/** MetadataStore contract: restoring files and folders from their history. */
import type { Test } from 'tap';
import { NOW, block, type MetaContext } from './fixture.js';

export function restoreContract(t: Test, ctx: MetaContext): void {
  t.test('restore: a live file gets a new revision with the old content', async (t) => {
    const { store, alice, write } = ctx;
    const r1 = await write(alice, '/docs/a.txt', ['one']);
    const r2 = await write(alice, '/docs/a.txt', ['two!'], r1.rev);
    const head = await store.headSeq(alice.ns);
    const [r3, ...more] = await store.restore(alice.actor, {
      ns: alice.ns,
      node: { id: r1.id },
      rev: r1.rev,
    });
    t.same(more, []);
    t.match(r3, { id: r1.id, op: 'commit', size: 3, mtime: r1.mtime, mode: r1.mode, restoredFrom: r1.rev });
    t.same(r3!.blocks, r1.blocks, 'the old block list');
    t.equal(r3!.rev, head + 1, 'a new journal entry');
    t.same((await store.readJournal(alice.ns, head, 10)).entries, [r3]);
    t.match(await store.getNode(alice.ns, { path: '/docs/a.txt' }), { rev: r3!.rev, size: 3 });
    // By path (the node's current path); parentRev, when given, must be current.
    await t.rejects(
      store.restore(alice.actor, {
        ns: alice.ns,
        node: { path: '/docs/a.txt' },
        rev: r2.rev,
        parentRev: r2.rev,
      }),
      { code: 'CONFLICT', details: { currentRev: r3!.rev } },
    );
    const [r4] = await store.restore(alice.actor, {
      ns: alice.ns,
      node: { path: '/docs/a.txt' },
      rev: r2.rev,
      parentRev: r3!.rev,
    });
    t.same(r4!.blocks, [block('two!')]);
    t.same(
      (await store.listRevisions(alice.ns, r1.id)).map((r) => r.restoredFrom ?? null),
      [null, null, r1.rev, r2.rev],
    );
  });

  t.test('restore: unknown revisions, revisions of other nodes, directories, other namespaces', async (t) => {
    const { store, alice, bob, write } = ctx;
    const a = await write(alice, '/a', ['a']);
    const b = await write(alice, '/b', ['b']);
    const d = await store.getNode(alice.ns, { path: '/' });
    const head = await store.headSeq(alice.ns);
    const bad = [
      { node: { id: a.id }, rev: head + 5 },
      { node: { id: a.id }, rev: b.rev },
      { node: { path: '/a' }, rev: b.rev },
      { node: { path: '/nope' }, rev: a.rev },
      { node: { id: 999_999 }, rev: a.rev },
    ];
    for (const x of bad) {
      await t.rejects(
        store.restore(alice.actor, { ns: alice.ns, ...x }),
        { code: 'NOT_FOUND' },
        JSON.stringify(x),
      );
    }
    const dir = await store.mkdir(alice.actor, {
      ns: alice.ns,
      path: '/dir',
      mtime: NOW,
      mode: 0o755,
      parents: false,
    });
    await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: dir.id }, rev: dir.rev }), {
      code: 'IS_DIR',
    });
    await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: d!.id }, rev: 0 }), {
      code: 'IS_DIR',
    });
    await t.rejects(store.restore(bob.actor, { ns: bob.ns, node: { id: a.id }, rev: a.rev }), {
      code: 'NOT_FOUND',
    });
    await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { path: '/a/../b' }, rev: a.rev }), {
      code: 'BAD_PATH',
    });
    await t.rejects(
      store.restore(alice.actor, { ns: alice.ns, node: { id: a.id }, rev: a.rev, toPath: 'rel' }),
      { code: 'BAD_PATH' },
    );
    t.equal(await store.headSeq(alice.ns), head + 1, 'only the mkdir happened');
  });

  t.test(
    'restore: a deleted file comes back as the same node; parents re-created; EXISTS; toPath',
    async (t) => {
      const { store, alice, write, del } = ctx;
      const f = await write(alice, '/p/q/f.txt', ['old']);
      const f2 = await write(alice, '/p/q/f.txt', ['newer'], f.rev);
      const p = await store.getNode(alice.ns, { path: '/p' });
      await del(alice, p!.id);
      t.equal(await store.getNode(alice.ns, { path: '/p' }), null);
      // The last path names it; the content of any kept revision comes back.
      const back = await store.restore(alice.actor, {
        ns: alice.ns,
        node: { path: '/p/q/f.txt' },
        rev: f.rev,
      });
      t.same(
        back.map((r) => [r.op, r.name, r.kind]),
        [
          ['mkdir', 'p', 'dir'],
          ['mkdir', 'q', 'dir'],
          ['create', 'f.txt', 'file'],
        ],
      );
      const file = back[2]!;
      t.equal(file.id, f.id, 'same node id');
      t.same(file.blocks, [block('old')]);
      t.not(back[0]!.id, p!.id, 'directories are new ones');
      t.match(await store.getNode(alice.ns, { path: '/p/q/f.txt' }), { id: f.id, deleted: false });
      // Deleted again, and another file takes the name: EXISTS, or restore beside it with toPath.
      await del(alice, f.id);
      const other = await write(alice, '/p/q/f.txt', ['other']);
      await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: f.id }, rev: f2.rev }), {
        code: 'EXISTS',
        details: { id: other.id, kind: 'file' },
      });
      const [copy] = await store.restore(alice.actor, {
        ns: alice.ns,
        node: { path: '/p/q/f.txt' },
        rev: f2.rev,
        toPath: '/p/q/f (restored).txt',
      });
      t.match(copy, { op: 'create', name: 'f (restored).txt', restoredFrom: f2.rev });
      t.not(copy!.id, f.id);
      t.same(copy!.blocks, [block('newer')]);
      await t.rejects(
        store.restore(alice.actor, { ns: alice.ns, node: { id: f.id }, rev: f2.rev, toPath: '/p/q/f.txt' }),
        { code: 'EXISTS' },
      );
      await t.rejects(
        store.restore(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          rev: f2.rev,
          toPath: '/p/q/f.txt/x',
        }),
        { code: 'NOT_DIR' },
      );
      t.match(
        await store.getNode(alice.ns, { id: f.id }),
        { deleted: true },
        'the deleted node stays deleted',
      );
    },
  );

  t.test('restore of a deleted folder: it comes back with what its delete took, ids kept', async (t) => {
    const { store, alice, write } = ctx;
    const base = { ns: alice.ns, mtime: NOW, mode: 0o750, parents: true };
    const q = await store.mkdir(alice.actor, { ...base, path: '/p/q' });
    await write(alice, '/p/q/f1', ['one']);
    const f1 = await write(
      alice,
      '/p/q/f1',
      ['one, again'],
      (await store.getNode(alice.ns, { path: '/p/q/f1' }))!.rev,
    );
    const f2 = await write(alice, '/p/q/sub/f2', ['two']);
    const empty = await store.mkdir(alice.actor, { ...base, path: '/p/q/empty' });
    const old = await write(alice, '/p/q/old', ['deleted before']);
    await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: old.id },
      parentRev: old.rev,
      recursive: false,
    });
    const p = (await store.getNode(alice.ns, { path: '/p' }))!;
    await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: p.id },
      parentRev: p.rev,
      recursive: true,
    });
    const head = await store.headSeq(alice.ns);

    const revs = await store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev });
    const folder = revs[revs.length - 1]!;
    t.match(folder, { id: q.id, kind: 'dir', op: 'mkdir', deleted: false, mode: 0o750, name: 'q' });
    const newP = (await store.getNode(alice.ns, { path: '/p' }))!;
    t.not(newP.id, p.id, 'the missing ancestor is a new directory');
    t.equal((await store.getNode(alice.ns, { path: '/p/q' }))?.id, q.id, 'the folder keeps its id');
    const back1 = (await store.getNode(alice.ns, { path: '/p/q/f1' }))!;
    t.match(back1, { id: f1.id, op: 'create', size: f1.size });
    t.same(back1.blocks, f1.blocks, 'a file comes back with its last content');
    t.equal((await store.getNode(alice.ns, { path: '/p/q/sub/f2' }))?.id, f2.id);
    t.equal((await store.getNode(alice.ns, { path: '/p/q/empty' }))?.id, empty.id, 'empty folders too');
    const stillOld = await store.getNode(alice.ns, { path: '/p/q/old' });
    t.ok(stillOld === null || stillOld.deleted, 'a file deleted before stays deleted');
    // Journal order: every node after its folder (the answer lists the folder's revision last).
    const journal = (await store.readJournal(alice.ns, head, 100)).entries;
    t.equal(journal.length, revs.length, 'one revision per node brought back');
    t.same(new Set(journal.map((e) => e.rev)), new Set(revs.map((r) => r.rev)), 'the same revisions');
    const seen = new Set([newP.id, p.parentId]);
    for (const e of journal) {
      t.ok(seen.has(e.parentId!), `${e.name} comes after its folder`);
      seen.add(e.id);
    }
    await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev }), {
      code: 'IS_DIR',
    });
    // Taken by another node meanwhile: EXISTS, nothing changes.
    const q2 = (await store.getNode(alice.ns, { path: '/p/q' }))!;
    await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: q.id },
      parentRev: q2.rev,
      recursive: true,
    });
    await store.mkdir(alice.actor, { ...base, path: '/p/q' });
    const before = await store.headSeq(alice.ns);
    await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev }), {
      code: 'EXISTS',
    });
    await t.rejects(
      store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev, toPath: '/elsewhere' }),
      { code: 'BAD_REQUEST' },
    );
    t.equal(await store.headSeq(alice.ns), before, 'refused restores change nothing');
  });
}
