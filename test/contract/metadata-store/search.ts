/** MetadataStore contract: name search and the web's account operations (passwords, sessions). */
import type { Test } from 'tap';
import { NOW, type MetaContext } from './fixture.js';

export function searchContract(t: Test, ctx: MetaContext): void {
  t.test(
    'search: substring of names, case-insensitive, own namespaces only, live nodes, paths',
    async (t) => {
      const { store, alice, bob } = ctx;
      await store.mkdir(alice.actor, {
        ns: alice.ns,
        path: '/Reports/2024',
        mtime: NOW,
        mode: 0o755,
        parents: true,
      });
      await ctx.write(alice, '/Reports/2024/Quarterly report.pdf', ['q']);
      await ctx.write(alice, '/Reports/notes.txt', ['n']);
      await ctx.write(alice, '/100%_sure.txt', ['p']);
      const gone = await ctx.write(alice, '/old report.doc', ['o']);
      await ctx.del(alice, gone.id);
      await ctx.write(bob, '/bob report.txt', ['b']);

      const r = await store.searchNames(alice.userId, 'REPORT', 50);
      t.same(
        r.hits.map((h) => h.path),
        ['/Reports', '/Reports/2024/Quarterly report.pdf'],
        'prefix matches rank first; deleted nodes and other users are left out',
      );
      t.match(r.hits[1], { kind: 'file', size: 1, ns: alice.ns, name: 'Quarterly report.pdf' });
      t.equal(r.truncated, false);
      t.same(
        (await store.searchNames(bob.userId, 'report', 50)).hits.map((h) => h.path),
        ['/bob report.txt'],
      );
      // LIKE's wildcards are plain characters in a query.
      t.same(
        (await store.searchNames(alice.userId, '%_', 50)).hits.map((h) => h.path),
        ['/100%_sure.txt'],
      );
      t.same(
        (await store.searchNames(alice.userId, '_', 50)).hits.map((h) => h.path),
        ['/100%_sure.txt'],
      );
      t.same((await store.searchNames(alice.userId, 'zzz', 50)).hits, []);
      // Two characters (below the trigram): still found.
      t.same(
        (await store.searchNames(alice.userId, 'no', 50)).hits.map((h) => h.path),
        ['/Reports/notes.txt'],
      );
      // A rename is searchable at once, under its new name only.
      const notes = await store.getNode(alice.ns, { path: '/Reports/notes.txt' });
      await store.move(alice.actor, {
        ns: alice.ns,
        node: { id: notes!.id },
        parentRev: notes!.rev,
        toPath: '/minutes.txt',
        overwrite: false,
      });
      t.same((await store.searchNames(alice.userId, 'notes', 50)).hits, []);
      t.same(
        (await store.searchNames(alice.userId, 'minute', 50)).hits.map((h) => h.path),
        ['/minutes.txt'],
      );
      // 1-2 characters that few names hold (issue 16: not a scan of every node on SQLite), names
      // shorter than a trigram included, other users' never.
      await ctx.write(alice, '/Kq', ['k']);
      await ctx.write(bob, '/bq', ['b']);
      const paths = async (q: string) =>
        (await store.searchNames(alice.userId, q, 50)).hits.map((h) => h.path);
      t.same(await paths('q'), ['/Reports/2024/Quarterly report.pdf', '/Kq']);
      t.same(await paths('KQ'), ['/Kq']);
      t.same(await paths('y '), ['/Reports/2024/Quarterly report.pdf']);
      const kq = await store.getNode(alice.ns, { path: '/Kq' });
      await store.move(alice.actor, {
        ns: alice.ns,
        node: { id: kq!.id },
        parentRev: kq!.rev,
        toPath: '/Kw',
        overwrite: false,
      });
      t.same(await paths('kq'), [], 'renamed: not found under its old name');
      t.same(await paths('w'), ['/Kw']);
      const one = await store.searchNames(alice.userId, 'r', 1);
      t.equal(one.hits.length, 1);
      t.equal(one.truncated, true);
      await t.rejects(store.searchNames(alice.userId, '  ', 10), { code: 'BAD_REQUEST' });
      await t.rejects(store.searchNames(alice.userId, 'x', 0), { code: 'BAD_REQUEST' });
      await t.rejects(store.searchNames(alice.userId, 'x'.repeat(300), 10), { code: 'BAD_REQUEST' });
    },
  );

  t.test('listChildEntries: the listing fields of live children, no block lists', async (t) => {
    const { store, alice } = ctx;
    await store.mkdir(alice.actor, {
      ns: alice.ns,
      path: '/List/sub',
      mtime: NOW,
      mode: 0o755,
      parents: true,
    });
    const f = await ctx.write(alice, '/List/f.txt', ['abc']);
    const gone = await ctx.write(alice, '/List/gone.txt', ['x']);
    await ctx.del(alice, gone.id);
    const dir = (await store.getNode(alice.ns, { path: '/List' }))!;
    const got = await store.listChildEntries(alice.ns, dir.id);
    const sub = (await store.getNode(alice.ns, { path: '/List/sub' }))!;
    t.same(
      [...got].sort((a, b) => (a.name < b.name ? -1 : 1)),
      [
        { id: f.id, name: 'f.txt', kind: 'file', size: f.size, mtime: f.mtime, rev: f.rev },
        { id: sub.id, name: 'sub', kind: 'dir', size: 0, mtime: NOW, rev: sub.rev },
      ],
    );
    await t.rejects(store.listChildEntries(alice.ns, f.id), { code: 'NOT_DIR' });
  });

  t.test('web accounts: password hash set and read; a revoked device no longer authenticates', async (t) => {
    const { store, alice } = ctx;
    t.same(await store.passwordHash('alice'), { userId: alice.userId, hash: null });
    t.equal(await store.passwordHash('nobody'), null);
    await store.setPasswordHash('alice', 'scrypt$1$2$3$abc$def');
    t.same(await store.passwordHash('alice'), { userId: alice.userId, hash: 'scrypt$1$2$3$abc$def' });
    await t.rejects(store.setPasswordHash('nobody', 'x'), { code: 'NOT_FOUND' });
    await store.addDevice(alice.userId, 'web session', 'e'.repeat(64), NOW + 1000, NOW);
    t.ok(await store.authenticate('e'.repeat(64), NOW));
    t.equal(await store.revokeDevice('e'.repeat(64), NOW), true);
    t.equal(await store.authenticate('e'.repeat(64), NOW), null);
    t.equal(await store.revokeDevice('e'.repeat(64), NOW), false, 'twice: nothing left to revoke');
  });
}
