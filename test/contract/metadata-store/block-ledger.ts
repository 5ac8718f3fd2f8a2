/** MetadataStore contract: possession of blocks and the block checks of a commit. */
import type { Test } from 'tap';
import { NOW, block, type MetaContext } from './fixture.js';

export function blockLedgerContract(t: Test, ctx: MetaContext): void {
  t.test('possession: missing reflects only the caller; other users never unlock a block', async (t) => {
    const { store, alice, bob, write } = ctx;
    const b = block('secret');
    t.same(await store.missingBlocks(alice.userId, [b.hash, b.hash]), [b.hash]);
    await write(alice, '/s.txt', ['secret']);
    t.same(await store.missingBlocks(alice.userId, [b.hash]), []);
    t.equal(await store.canReadBlock(alice.userId, b.hash), true);
    // Bob knows the hash but never sent the bytes and cannot read Alice's namespace.
    t.same(await store.missingBlocks(bob.userId, [b.hash]), [b.hash]);
    t.equal(await store.canReadBlock(bob.userId, b.hash), false);
    await t.rejects(
      store.commitFile(bob.actor, {
        ns: bob.ns,
        node: { path: '/x' },
        parentRev: null,
        blocks: [b],
        size: b.size,
        mtime: NOW,
        mode: 0o644,
      }),
      { code: 'BLOCK_UNUSABLE', details: { missing: [b.hash] } },
    );
    t.equal(await store.headSeq(bob.ns), 0, 'nothing committed');
    // Once Bob sends the bytes himself, he may use the (deduplicated) block.
    t.equal(
      await store.recordUpload(bob.userId, b.hash, b.size, 0, NOW),
      true,
      'new for bob, whoever had it',
    );
    t.equal(await store.recordUpload(bob.userId, b.hash, b.size, 0, NOW), false, 'bob had it already');
    t.same(await store.missingBlocks(bob.userId, [b.hash]), []);
    t.ok(
      await store.commitFile(bob.actor, {
        ns: bob.ns,
        node: { path: '/x' },
        parentRev: null,
        blocks: [b],
        size: b.size,
        mtime: NOW,
        mode: 0o644,
      }),
    );
  });

  t.test('commit: block sizes must be true and add up to size', async (t) => {
    const { store, alice } = ctx;
    const b = block('abc');
    await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
    const base = { ns: alice.ns, node: { path: '/f' }, parentRev: null, mtime: NOW, mode: 0o644 };
    await t.rejects(
      store.commitFile(alice.actor, { ...base, blocks: [{ hash: b.hash, size: 4 }], size: 4 }),
      { code: 'BAD_REQUEST' },
    );
    await t.rejects(store.commitFile(alice.actor, { ...base, blocks: [b], size: 2 }), {
      code: 'BAD_REQUEST',
    });
    t.equal(await store.headSeq(alice.ns), 0);
  });
}
