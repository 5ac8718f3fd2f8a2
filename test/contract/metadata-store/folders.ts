/**
 * MetadataStore contract: shared folders (issue 13 item 1). Sharing converts a folder of the
 * owner's home into a namespace of its own (same node ids, history kept, sequence continuing the
 * home's), mounted in each member's tree; roles and block possession follow membership.
 */
import type { Test } from 'tap';
import { block, NOW, type MetaContext } from './fixture.js';

export function foldersContract(t: Test, ctx: MetaContext): void {
  t.test('share: the folder becomes a namespace, mounted for owner and member', async (t) => {
    const { store, alice, bob } = ctx;
    const a1 = await ctx.write(alice, '/docs/a.txt', ['one']);
    const a2 = await ctx.write(alice, '/docs/a.txt', ['two'], a1.rev);
    const b = await ctx.write(alice, '/docs/sub/b.txt', ['bee']);
    const other = await ctx.write(alice, '/other.txt', ['other']);
    const gone = await ctx.write(alice, '/docs/gone.txt', ['gone']);
    await ctx.del(alice, gone.id);
    const docs = (await store.getNode(alice.ns, { path: '/docs' }))!;
    const homeHead = await store.headSeq(alice.ns);

    const info = await store.shareFolder(alice.actor, alice.ns, {
      path: '/docs',
      withUser: 'bob',
      role: 'write',
    });
    t.match(info, {
      rootId: docs.id,
      parentId: alice.rootId,
      name: 'docs',
      path: '/docs',
      role: 'owner',
      owner: 'alice',
    });
    t.same(info.members, [
      { user: 'alice', role: 'owner' },
      { user: 'bob', role: 'write' },
    ]);
    const ns = info.ns;
    t.not(ns, alice.ns);
    t.equal(await store.nsOfNode(a1.id), ns, 'the nodes moved');
    t.equal(await store.nsOfNode(gone.id), ns, 'deleted ones too (their history)');
    t.equal(await store.nsOfNode(other.id), alice.ns, 'the rest stays home');
    t.equal(await store.nsOfNode(999_999), null);
    t.equal(await store.getNode(alice.ns, { path: '/docs' }), null, 'no longer in the home');
    t.match(await store.getNode(ns, { path: '/a.txt' }), { id: a1.id, rev: a2.rev, blocks: [block('two')] });
    t.match(await store.getNode(ns, { path: '/sub/b.txt' }), { id: b.id, blocks: [block('bee')] });
    t.match(await store.getNode(ns, { path: '/' }), { id: docs.id, parentId: null, name: 'docs' });
    t.same(
      (await store.listRevisions(ns, a1.id)).map((r) => r.rev),
      [a1.rev, a2.rev],
      'history moved with the file',
    );
    t.ok((await store.headSeq(ns)) > homeHead, 'the sequence continues the home head');
    t.equal(await store.role(bob.userId, ns), 'write');
    t.equal(await store.role(alice.userId, ns), 'owner');
    t.ok(await store.canReadBlock(bob.userId, block('two').hash), 'a member reads its blocks');
    t.notOk(await store.canReadBlock(bob.userId, block('other').hash), 'not the home ones');

    t.match(await store.mountsOf(alice.userId, alice.ns), [
      { ns, rootId: docs.id, parentId: alice.rootId, name: 'docs', path: '/docs', role: 'owner' },
    ]);
    t.match(await store.mountsOf(bob.userId, bob.ns), [
      {
        ns,
        rootId: docs.id,
        parentId: bob.rootId,
        name: 'docs',
        path: '/docs',
        role: 'write',
        owner: 'alice',
      },
    ]);
    t.match(await store.listShares(bob.userId, bob.ns), [
      { path: '/docs', members: [{ user: 'alice' }, { user: 'bob' }] },
    ]);

    // The member writes there; the owner's new revisions keep rising per node.
    await store.recordUpload(bob.userId, block('bob').hash, 3, 3, NOW);
    const c = await store.commitFile(bob.actor, {
      ns,
      node: { path: '/sub/b.txt' },
      parentRev: b.rev,
      blocks: [block('bob')],
      size: 3,
      mtime: NOW,
      mode: 0o644,
    });
    t.ok(c.rev > homeHead);
    const j = await store.readJournal(ns, homeHead, 100);
    t.match(
      j.entries.map((e) => [e.id, e.parentId, e.op]),
      [
        [docs.id, null, 'move'],
        [b.id, b.parentId, 'commit'],
      ],
      'the journal: the folder became the root, then the change',
    );
    // Restore an old revision in the shared folder.
    const restored = await store.restore(bob.actor, { ns, node: { id: a1.id }, rev: a1.rev });
    t.match(restored[restored.length - 1], { id: a1.id, blocks: [block('one')] });
  });

  t.test(
    'share: a member of the same name gets a unique mount name; sharing again adds or changes members',
    async (t) => {
      const { store, alice, bob } = ctx;
      await ctx.write(alice, '/docs/a.txt', ['a']);
      await ctx.write(bob, '/docs/mine.txt', ['m']);
      const carol = await ctx.user('carol');
      const info = await store.shareFolder(alice.actor, alice.ns, {
        path: '/docs',
        withUser: 'bob',
        role: 'read',
      });
      t.match(await store.mountsOf(bob.userId, bob.ns), [
        { name: 'docs (2)', path: '/docs (2)', role: 'read' },
      ]);
      const again = await store.shareFolder(alice.actor, alice.ns, {
        path: '/docs',
        withUser: 'carol',
        role: 'write',
      });
      t.equal(again.ns, info.ns, 'the same namespace');
      t.same(
        again.members.map((m) => [m.user, m.role]),
        [
          ['alice', 'owner'],
          ['bob', 'read'],
          ['carol', 'write'],
        ],
      );
      await store.shareFolder(alice.actor, alice.ns, { path: '/docs', withUser: 'bob', role: 'write' });
      t.equal(await store.role(bob.userId, info.ns), 'write', 'a new role');
      t.equal((await store.mountsOf(bob.userId, bob.ns)).length, 1, 'still one mount');
      t.match(await store.mountsOf(carol.userId, carol.ns), [{ name: 'docs' }]);
    },
  );

  t.test('share: bad requests', async (t) => {
    const { store, alice, bob } = ctx;
    await ctx.write(alice, '/docs/in/a.txt', ['a']);
    await ctx.write(alice, '/top/docs2/b.txt', ['b']);
    await ctx.write(alice, '/f.txt', ['f']);
    const share = (path: string, withUser = 'bob', who = alice) =>
      store.shareFolder(who.actor, who.ns, { path, withUser, role: 'write' });
    await t.rejects(share('/docs', 'alice'), { code: 'BAD_REQUEST', message: /yourself/ });
    await t.rejects(share('/docs', 'nobody'), { code: 'NOT_FOUND', message: /no user nobody/ });
    await t.rejects(share('/nope'), { code: 'NOT_FOUND' });
    await t.rejects(share('/f.txt'), { code: 'NOT_DIR' });
    await t.rejects(share('/'), { code: 'BAD_REQUEST', message: /root/ });
    await t.rejects(share('../x'), { code: 'BAD_PATH' });
    await share('/docs');
    await t.rejects(share('/docs/in'), { code: 'CONFLICT', message: /inside the shared folder \/docs/ });
    await share('/top/docs2');
    const carol = await ctx.user('carol');
    await t.rejects(share('/top', 'carol'), {
      code: 'CONFLICT',
      message: /holds the shared folder \/top\/docs2/,
    });
    // bob (an editor) cannot share alice's folder further, nor a folder inside it.
    await t.rejects(share('/docs', 'carol', bob), { code: 'FORBIDDEN', message: /only the owner/ });
    await t.rejects(share('/docs/in', 'carol', bob), { code: 'CONFLICT' });
    t.equal(
      await store.role(
        carol.userId,
        (await store.nsOfNode((await store.getNode(alice.ns, { path: '/f.txt' }))!.id))!,
      ),
      null,
    );
  });

  t.test('remove and leave: the mount and the block access go at once', async (t) => {
    const { store, alice, bob } = ctx;
    await ctx.write(alice, '/docs/a.txt', ['secret']);
    const carol = await ctx.user('carol');
    const { ns } = await store.shareFolder(alice.actor, alice.ns, {
      path: '/docs',
      withUser: 'bob',
      role: 'read',
    });
    await store.shareFolder(alice.actor, alice.ns, { path: '/docs', withUser: 'carol', role: 'write' });
    t.ok(await store.canReadBlock(bob.userId, block('secret').hash));
    await t.rejects(store.unshareFolder(bob.actor, bob.ns, '/docs', 'carol'), { code: 'FORBIDDEN' });
    await t.rejects(store.unshareFolder(alice.actor, alice.ns, '/nope', 'bob'), { code: 'NOT_FOUND' });
    const left = await store.unshareFolder(alice.actor, alice.ns, '/docs', 'bob');
    t.same(
      left.members.map((m) => m.user),
      ['alice', 'carol'],
    );
    t.equal(await store.role(bob.userId, ns), null);
    t.same(await store.mountsOf(bob.userId, bob.ns), []);
    t.notOk(await store.canReadBlock(bob.userId, block('secret').hash), 'no block access after removal');
    await t.rejects(store.unshareFolder(alice.actor, alice.ns, '/docs', 'bob'), {
      code: 'NOT_FOUND',
      message: /not a member/,
    });

    await t.rejects(store.leaveFolder(alice.actor, alice.ns, '/docs'), {
      code: 'BAD_REQUEST',
      message: /you own/,
    });
    t.match(await store.leaveFolder(carol.actor, carol.ns, '/docs'), { ns, path: '/docs' });
    t.equal(await store.role(carol.userId, ns), null);
    t.same(await store.listShares(carol.userId, carol.ns), []);
    t.match(await store.listShares(alice.userId, alice.ns), [
      { path: '/docs', members: [{ user: 'alice' }] },
    ]);
  });

  t.test('moveMount: a member places the folder in their own tree; nobody else sees a change', async (t) => {
    const { store, alice, bob } = ctx;
    await ctx.write(alice, '/proj/p.txt', ['p']);
    await ctx.write(bob, '/archive/keep.txt', ['k']);
    await ctx.write(bob, '/taken.txt', ['t']);
    const { ns, rootId } = await store.shareFolder(alice.actor, alice.ns, {
      path: '/proj',
      withUser: 'bob',
      role: 'read',
    });
    const archive = (await store.getNode(bob.ns, { path: '/archive' }))!;
    t.match(await store.moveMount(bob.actor, bob.ns, ns, { path: '/archive/old' }), {
      ns,
      rootId,
      parentId: archive.id,
      name: 'old',
      path: '/archive/old',
      role: 'read',
    });
    t.match(await store.moveMount(bob.actor, bob.ns, ns, { parentId: bob.rootId, name: 'back' }), {
      path: '/back',
    });
    const mountOf = async (u: typeof alice) => (await store.mountsOf(u.userId, u.ns)).find((m) => m.ns === ns);
    t.match(await mountOf(alice), { path: '/proj' }, "the owner's place stays");
    t.match(await store.getNode(ns, { path: '/' }), { id: rootId, parentId: null, name: 'proj' });
    await t.rejects(store.moveMount(bob.actor, bob.ns, ns, { path: '/taken.txt' }), { code: 'EXISTS' });
    await t.rejects(store.moveMount(bob.actor, bob.ns, ns, { path: '/nowhere/x' }), { code: 'NOT_FOUND' });
    await t.rejects(store.moveMount(bob.actor, bob.ns, ns, { parentId: alice.rootId, name: 'x' }), {
      code: 'NOT_FOUND',
    });
    await t.rejects(store.moveMount(bob.actor, bob.ns, 999_999, { path: '/x' }), { code: 'NOT_FOUND' });
    t.match(await mountOf(bob), { path: '/back' }, 'unchanged by the refusals');
  });
}
