/**
 * MetadataStore contract: the journal, listings, the live tree by pages, deleted listings and
 * namespace isolation.
 */
import type { Test } from 'tap';
import { NOW, type MetaContext } from './fixture.js';

export function treeReadsContract(t: Test, ctx: MetaContext): void {
  t.test('journal: every change once, in order, paginated; namespaces separate', async (t) => {
    const { store, alice, bob, write } = ctx;
    const revs = [];
    for (let i = 0; i < 25; i++) revs.push(await write(alice, `/j/${i}`, [`${i}`]));
    await write(bob, '/bob', ['b']);
    const head = await store.headSeq(alice.ns);
    t.equal(head, 26, 'one mkdir + 25 creates');
    const seen = [];
    let after = 0;
    for (;;) {
      const page = await store.readJournal(alice.ns, after, 7);
      t.equal(page.head, head);
      if (page.entries.length === 0) break;
      t.ok(page.entries.length <= 7);
      seen.push(...page.entries);
      after = page.last;
    }
    t.same(
      seen.map((e) => e.rev),
      Array.from({ length: 26 }, (_, i) => i + 1),
    );
    t.same(
      seen.slice(1).map((e) => e.id),
      revs.map((r) => r.id),
    );
    t.ok(seen.every((e) => e.name !== 'bob'));
    t.same((await store.readJournal(alice.ns, head, 10)).entries, []);
    t.equal((await store.readJournal(bob.ns, 0, 10)).entries.length, 1);
  });

  t.test(
    'listTree: every live node once, by id, paged; tombstones and other namespaces left out',
    async (t) => {
      const { store, alice, bob, write } = ctx;
      const a = await write(alice, '/t/a', ['a1', 'a2']);
      const gone = await write(alice, '/t/gone', ['g']);
      await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: gone.id },
        parentRev: gone.rev,
        recursive: false,
      });
      for (let i = 0; i < 5; i++) await write(alice, `/t/sub/f${i}`, [`f${i}`]);
      await write(bob, '/bob', ['b']);
      const seen: Awaited<ReturnType<typeof store.listTree>>['entries'] = [];
      let after = 0;
      let pages = 0;
      for (;;) {
        const page = await store.listTree(alice.ns, after, 3, 1000);
        pages++;
        t.ok(page.entries.length <= 3, 'at most limit nodes');
        seen.push(...page.entries);
        if (page.next === null) break;
        t.equal(page.next, page.entries[page.entries.length - 1]!.id, 'next is the last id');
        after = page.next;
      }
      const ids = seen.map((e) => e.id);
      t.same(
        ids,
        [...ids].sort((x, y) => x - y),
        'by id',
      );
      t.equal(new Set(ids).size, ids.length, 'each node once');
      t.equal(seen.length, 1 + 1 + 1 + 1 + 5, 'root, /t, /t/a, /t/sub and its 5 files');
      t.equal(pages, 3);
      t.notOk(ids.includes(gone.id), 'a tombstone is not listed');
      t.ok(
        seen.every((e) => !e.deleted && e.name !== 'bob'),
        'only live nodes of the namespace',
      );
      t.ok(
        seen.some((e) => e.parentId === null && e.id === alice.rootId),
        'the root is listed',
      );
      const fa = seen.find((e) => e.id === a.id)!;
      t.same(fa, await store.getNode(alice.ns, { id: a.id }), 'as the current revision, blocks included');
      t.equal(fa.blocks?.length, 2);
      // Block cap: a page stops once its block lists reach maxBlocks (but holds one node at least).
      const capped = await store.listTree(alice.ns, a.id - 1, 100, 1);
      t.same(
        capped.entries.map((e) => e.id),
        [a.id],
        'a 2-block file fills a page capped at 1 block',
      );
      t.equal(capped.next, a.id);
      t.same((await store.listTree(alice.ns, ids[ids.length - 1]!, 10, 1000)).entries, [], 'past the end');
      await t.rejects(store.listTree(999_999, 0, 10, 1000), { code: 'NOT_FOUND' });
    },
  );

  t.test('listChildren: live children only, by name', async (t) => {
    const { store, alice, write } = ctx;
    await write(alice, '/c/b', ['1']);
    const a = await write(alice, '/c/a', ['2']);
    await store.remove(alice.actor, {
      ns: alice.ns,
      node: { id: a.id },
      parentRev: a.rev,
      recursive: false,
    });
    await write(alice, '/c/c', ['3']);
    const c = await store.getNode(alice.ns, { path: '/c' });
    t.same(
      (await store.listChildren(alice.ns, c!.id)).map((r) => r.name),
      ['b', 'c'],
    );
    const root = await store.listChildren(alice.ns, alice.rootId);
    t.same(
      root.map((r) => r.name),
      ['c'],
    );
    const file = await store.getNode(alice.ns, { path: '/c/b' });
    await t.rejects(store.listChildren(alice.ns, file!.id), { code: 'NOT_DIR' });
  });

  t.test('listDeleted: deleted nodes below a directory with their last paths', async (t) => {
    const { store, alice, bob, write, del } = ctx;
    const a = await write(alice, '/d/a.txt', ['aaaa']);
    const b = await write(alice, '/d/sub/b.txt', ['bb']);
    await write(alice, '/d/keep.txt', ['k']);
    await write(alice, '/elsewhere.txt', ['e']);
    const e = await store.getNode(alice.ns, { path: '/elsewhere.txt' });
    await del(alice, e!.id);
    const [aGone] = await del(alice, a.id, NOW + 10);
    const sub = await store.getNode(alice.ns, { path: '/d/sub' });
    await del(alice, sub!.id, NOW + 20);
    const d = await store.getNode(alice.ns, { path: '/d' });
    const list = await store.listDeleted(alice.ns, d!.id, 100);
    t.equal(list.truncated, false);
    t.same(
      list.entries.map((x) => [x.path, x.kind, x.size, x.lastRev]),
      [
        ['/d/a.txt', 'file', 4, a.rev],
        ['/d/sub', 'dir', 0, sub!.rev],
        ['/d/sub/b.txt', 'file', 2, b.rev],
      ],
    );
    t.match(list.entries[0], { id: a.id, rev: aGone!.rev, deletedAt: NOW + 10, device: 'alice-laptop' });
    const all = await store.listDeleted(alice.ns, alice.rootId, 100);
    t.equal(all.entries.length, 4);
    const two = await store.listDeleted(alice.ns, alice.rootId, 2);
    t.equal(two.entries.length, 2);
    t.equal(two.truncated, true);
    await t.rejects(store.listDeleted(alice.ns, sub!.id, 10), { code: 'NOT_FOUND' });
    await t.rejects(store.listDeleted(alice.ns, b.id, 10), { code: 'NOT_FOUND' });
    const keep = await store.getNode(alice.ns, { path: '/d/keep.txt' });
    await t.rejects(store.listDeleted(alice.ns, keep!.id, 10), { code: 'NOT_DIR' });
    await t.rejects(store.listDeleted(bob.ns, d!.id, 10), { code: 'NOT_FOUND' });
  });

  t.test('nodes of one namespace are invisible from another', async (t) => {
    const { store, alice, bob, write } = ctx;
    const f = await write(alice, '/private', ['p']);
    t.equal(await store.getNode(bob.ns, { id: f.id }), null);
    await t.rejects(store.listRevisions(bob.ns, f.id), { code: 'NOT_FOUND' });
    await t.rejects(
      store.commitFile(bob.actor, {
        ns: bob.ns,
        node: { id: f.id },
        parentRev: f.rev,
        blocks: [],
        size: 0,
        mtime: NOW,
        mode: 0o644,
      }),
      { code: 'NOT_FOUND' },
    );
    await t.rejects(
      store.remove(bob.actor, { ns: bob.ns, node: { id: f.id }, parentRev: f.rev, recursive: false }),
      { code: 'NOT_FOUND' },
    );
    await t.rejects(
      store.move(bob.actor, {
        ns: bob.ns,
        node: { id: f.id },
        parentRev: f.rev,
        toPath: '/stolen',
        overwrite: false,
      }),
      { code: 'NOT_FOUND' },
    );
  });
}
