/** MetadataStore contract: users, devices and roles. */
import type { Test } from 'tap';
import { sha256hex } from '../../../src/shared/hash.js';
import { NOW, type MetaContext } from './fixture.js';

export function accountsContract(t: Test, ctx: MetaContext): void {
  t.test('users: unique names, a home namespace with a root they own', async (t) => {
    const { store, alice, bob } = ctx;
    await t.rejects(store.createUser('alice', NOW), { code: 'EXISTS' });
    await t.rejects(store.createUser('../x', NOW), { code: 'BAD_REQUEST' });
    await t.rejects(store.createUser('', NOW), { code: 'BAD_REQUEST' });
    t.equal((await store.findUser('alice'))?.homeNs, alice.ns);
    t.equal(await store.findUser('nobody'), null);
    t.not(alice.ns, bob.ns);
    t.equal(await store.role(alice.userId, alice.ns), 'owner');
    t.equal(await store.role(alice.userId, bob.ns), null);
    const root = await store.getNode(alice.ns, { path: '/' });
    t.match(root, { kind: 'dir', parentId: null, deleted: false });
    t.equal(await store.headSeq(alice.ns), 0);
  });

  t.test('devices: authenticate by token hash; unknown and expired tokens fail', async (t) => {
    const { store, alice } = ctx;
    const p = await store.authenticate(sha256hex(Buffer.from('alice')), NOW);
    t.match(p, { userId: alice.userId, userName: 'alice', deviceName: 'alice-laptop', homeNs: alice.ns });
    t.equal(await store.authenticate(sha256hex(Buffer.from('mallory')), NOW), null);
    await store.addDevice(alice.userId, 'phone', 'f'.repeat(64), NOW + 1000, NOW);
    t.ok(await store.authenticate('f'.repeat(64), NOW + 999));
    t.equal(await store.authenticate('f'.repeat(64), NOW + 1000), null);
  });

  t.test('installation id: made once, random, the same on every read', async (t) => {
    const { store } = ctx;
    const id = await store.installationId();
    t.match(id, /^[0-9a-f]{32}$/);
    t.equal(await store.installationId(), id);
  });
}
