/** MetadataStore contract: devices (list, revoke, last seen), share links and quotas (issue 13). */
import type { Test } from 'tap';
import { sha256hex } from '../../../src/shared/hash.js';
import { NOW, type MetaContext } from './fixture.js';

export function sharingContract(t: Test, ctx: MetaContext): void {
  t.test('devices: listed with creation and last seen; revoked by name, refused at once', async (t) => {
    const { store, alice, bob } = ctx;
    await store.addDevice(alice.userId, 'phone', 'a'.repeat(64), null, NOW + 5);
    let list = await store.listDevices(alice.userId);
    t.same(
      list.map((d) => [d.name, d.createdAt, d.lastSeenAt, d.revokedAt]),
      [
        ['alice-laptop', NOW, null, null],
        ['phone', NOW + 5, null, null],
      ],
    );
    t.ok(await store.authenticate('a'.repeat(64), NOW + 10));
    t.equal((await store.listDevices(alice.userId))[1]!.lastSeenAt, NOW + 10, 'seen when it authenticates');
    await store.authenticate('a'.repeat(64), NOW + 20);
    t.equal(
      (await store.listDevices(alice.userId))[1]!.lastSeenAt,
      NOW + 10,
      'written at most once a minute',
    );
    await store.authenticate('a'.repeat(64), NOW + 10 + 60_000);
    t.equal((await store.listDevices(alice.userId))[1]!.lastSeenAt, NOW + 10 + 60_000);

    t.equal(await store.revokeDevices(bob.userId, 'phone', NOW + 30), 0, "bob cannot revoke alice's phone");
    t.ok(await store.authenticate('a'.repeat(64), NOW + 30));
    t.equal(await store.revokeDevices(alice.userId, 'phone', NOW + 40), 1);
    t.equal(await store.authenticate('a'.repeat(64), NOW + 41), null, 'refused from then on');
    t.equal(await store.revokeDevices(alice.userId, 'phone', NOW + 50), 0, 'revoked once');
    list = await store.listDevices(alice.userId);
    t.equal(list[1]!.revokedAt, NOW + 40);
    t.ok(await store.authenticate(sha256hex(Buffer.from('alice')), NOW + 41), 'the other device still works');
    t.same(
      (await store.listDevices(bob.userId)).map((d) => d.name),
      ['bob-laptop'],
    );
  });

  t.test('links: found by secret hash while live; listed with their path; revoked at once', async (t) => {
    const { store, alice, bob } = ctx;
    const file = await ctx.write(alice, '/docs/a.txt', ['a']);
    const id = await store.createLink(
      {
        userId: alice.userId,
        ns: alice.ns,
        nodeId: file.id,
        secretHash: 'b'.repeat(64),
        expiresAt: NOW + 100,
        password: null,
      },
      NOW,
    );
    t.match(await store.findLink('b'.repeat(64), NOW + 99), {
      id,
      userId: alice.userId,
      ns: alice.ns,
      nodeId: file.id,
    });
    t.equal(await store.findLink('b'.repeat(64), NOW + 100), null, 'expired at its time');
    t.equal(await store.findLink('c'.repeat(64), NOW), null, 'unknown');
    await t.rejects(
      store.createLink(
        {
          userId: bob.userId,
          ns: bob.ns,
          nodeId: file.id,
          secretHash: 'd'.repeat(64),
          expiresAt: null,
          password: null,
        },
        NOW,
      ),
      { code: 'NOT_FOUND' },
      'a node of another namespace: no link',
    );
    const id2 = await store.createLink(
      {
        userId: alice.userId,
        ns: alice.ns,
        nodeId: file.id,
        secretHash: 'e'.repeat(64),
        expiresAt: null,
        password: 'scrypt$x$y',
      },
      NOW,
    );
    await store.move(alice.actor, {
      ns: alice.ns,
      node: { id: file.id },
      parentRev: file.rev,
      toPath: '/moved.txt',
      overwrite: false,
    });
    const list = await store.listLinks(alice.userId);
    t.same(
      list.map((l) => [l.id, l.path, l.hasPassword]),
      [
        [id, '/moved.txt', false],
        [id2, '/moved.txt', true],
      ],
      'the path follows the node',
    );
    t.notOk('password' in list[1]!, 'the password hash is not listed');
    t.same(await store.listLinks(bob.userId), []);
    t.equal(await store.revokeLink(bob.userId, id2, NOW + 1), false, "bob cannot revoke alice's link");
    t.equal(await store.revokeLink(alice.userId, id2, NOW + 1), true);
    t.equal(await store.revokeLink(alice.userId, id2, NOW + 2), false, 'once');
    t.equal(await store.findLink('e'.repeat(64), NOW + 1), null, 'revoked: gone at once');
    t.equal((await store.listLinks(alice.userId))[1]!.revokedAt, NOW + 1);
  });

  t.test('quotas: set and lifted by user name; usage counts live files of owned namespaces', async (t) => {
    const { store, alice, bob } = ctx;
    t.same(await store.quotaOf(alice.ns), { ownerId: alice.userId, quotaBytes: null, usedBytes: 0 });
    await store.setQuota('alice', 100);
    await ctx.write(alice, '/a.txt', ['12345', '678']);
    const b = await ctx.write(alice, '/d/b.txt', ['abcd']);
    await ctx.write(bob, '/x.txt', ['bob bytes']);
    t.same(await store.quotaOf(alice.ns), { ownerId: alice.userId, quotaBytes: 100, usedBytes: 12 });
    await store.remove(alice.actor, { ns: alice.ns, node: { id: b.id }, parentRev: b.rev, recursive: false });
    t.equal((await store.quotaOf(alice.ns))!.usedBytes, 8, 'deleted files do not count');
    await store.setQuota('alice', null);
    t.equal((await store.quotaOf(alice.ns))!.quotaBytes, null);
    await t.rejects(store.setQuota('nobody', 1), { code: 'NOT_FOUND' });
    t.equal(await store.quotaOf(999_999), null);
  });
}
