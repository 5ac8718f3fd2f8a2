/** MetadataStore contract: retention of history and collection of unreferenced blocks. */
import type { Test } from 'tap';
import { NOW, block, type MetaContext } from './fixture.js';

export function retentionContract(t: Test, ctx: MetaContext): void {
  t.test('retention: superseded revisions go after the window, the current one never', async (t) => {
    const { store, alice, writeAt } = ctx;
    const DAY = 86_400_000;
    const v1 = await writeAt(alice, '/r.txt', ['v1'], null, NOW);
    const v2 = await writeAt(alice, '/r.txt', ['v2'], v1.rev, NOW + 1 * DAY);
    const v3 = await writeAt(alice, '/r.txt', ['v3'], v2.rev, NOW + 10 * DAY);
    const old = await writeAt(alice, '/old.txt', ['ancient'], null, NOW);
    const dir = await store.getNode(alice.ns, { path: '/' });
    // Cutoff between v2's and v3's times: v1 stopped being current at day 1 (purged), v2 at day 10 (kept).
    const purge = async (cutoff: number) => {
      let total = 0;
      let nodes = 0;
      for (let more = true; more;) {
        const b = await store.purgeHistory(cutoff, 2);
        total += b.revisions;
        nodes += b.nodes;
        more = b.more;
      }
      return { total, nodes };
    };
    t.same(await purge(NOW + 5 * DAY), { total: 1, nodes: 0 });
    t.same(
      (await store.listRevisions(alice.ns, v1.id)).map((r) => r.rev),
      [v2.rev, v3.rev],
    );
    await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: v1.id }, rev: v1.rev }), {
      code: 'NOT_FOUND',
    });
    // Far in the future: only current revisions remain, whatever their age.
    t.same(await purge(NOW + 1000 * DAY), { total: 1, nodes: 0 });
    t.same(
      (await store.listRevisions(alice.ns, v1.id)).map((r) => r.rev),
      [v3.rev],
    );
    t.same(
      (await store.listRevisions(alice.ns, old.id)).map((r) => r.rev),
      [old.rev],
      'old but current',
    );
    t.same((await store.getNode(alice.ns, { path: '/r.txt' }))!.blocks, [block('v3')]);
    t.same((await store.getNode(alice.ns, { path: '/old.txt' }))!.blocks, [block('ancient')]);
    t.equal(await store.canReadBlock(alice.userId, block('v3').hash), true);
    t.ok(dir);
    // The journal still replays to the current tree.
    const replay = (await store.readJournal(alice.ns, 0, 100)).entries;
    t.same(
      replay.map((r) => r.rev),
      [v3.rev, old.rev].sort((a, b) => a - b),
    );
  });

  t.test(
    'retention: a tombstone keeps its history for the window, then only the delete revision',
    async (t) => {
      const { store, alice, writeAt, del } = ctx;
      const DAY = 86_400_000;
      const f1 = await writeAt(alice, '/t/f.txt', ['f1'], null, NOW);
      const f2 = await writeAt(alice, '/t/f.txt', ['f2'], f1.rev, NOW + DAY);
      const t0 = await store.getNode(alice.ns, { path: '/t' });
      const gone = await del(alice, t0!.id, NOW + 2 * DAY);
      // Within the window after the delete: f2 (current until the delete) stays restorable.
      await store.purgeHistory(NOW + 1.5 * DAY, 1000);
      t.same(
        (await store.listRevisions(alice.ns, f1.id)).map((r) => r.rev),
        [f2.rev, gone[0]!.rev],
      );
      t.equal((await store.listDeleted(alice.ns, alice.rootId, 10)).entries.length, 2);
      // After it: history gone, the delete revision kept (the journal still tells of it), not listed.
      const b = await store.purgeHistory(NOW + 3 * DAY, 1000);
      t.equal(b.nodes, 2, 'the file and its directory');
      t.same(
        (await store.listRevisions(alice.ns, f1.id)).map((r) => [r.rev, r.deleted, r.blocks]),
        [[gone[0]!.rev, true, undefined]],
      );
      t.same((await store.listDeleted(alice.ns, alice.rootId, 10)).entries, []);
      await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: f1.id }, rev: f2.rev }), {
        code: 'NOT_FOUND',
      });
      const journal = (await store.readJournal(alice.ns, 0, 100)).entries;
      t.same(
        journal.map((r) => [r.id, r.op]),
        [
          [f1.id, 'delete'],
          [t0!.id, 'delete'],
        ],
      );
      // Nothing references the blocks any more: they can be collected.
      const claimed = await store.claimGarbage(NOW + 10 * DAY, NOW + 10 * DAY, '', 100);
      t.same(claimed.claimed.map((c) => c.hash).sort(), [block('f1').hash, block('f2').hash].sort());
    },
  );

  t.test('collection: claims only unreferenced blocks untouched since the cutoff', async (t) => {
    const { store, alice, bob, writeAt } = ctx;
    const HOUR = 3_600_000;
    const used = await writeAt(alice, '/used.txt', ['used'], null, NOW);
    const replaced = block('replaced');
    await store.recordUpload(alice.userId, replaced.hash, replaced.size, 7, NOW);
    const late = block('late');
    await store.recordUpload(bob.userId, late.hash, late.size, late.size, NOW + 2 * HOUR);
    t.equal(await store.blockState(replaced.hash), 'live');
    t.equal(await store.blockState(block('never').hash), 'absent');
    // Scan in small batches; only `replaced` is unreferenced and untouched since NOW + 1h.
    const claimed: string[] = [];
    for (let after: string | null = ''; after !== null;) {
      const b = await store.claimGarbage(NOW + HOUR, NOW + 3 * HOUR, after, 1);
      claimed.push(...b.claimed.map((c) => c.hash));
      if (b.claimed.length) t.equal(b.claimed[0]!.storedSize, 7);
      after = b.next;
    }
    t.same(claimed, [replaced.hash]);
    t.equal(await store.blockState(replaced.hash), 'collecting');
    t.same(await store.missingBlocks(alice.userId, [replaced.hash, used.blocks![0]!.hash]), [replaced.hash]);
    t.equal(await store.canReadBlock(alice.userId, replaced.hash), false, 'possession went with it');
    // A commit racing the collection finds no record: BLOCK_UNUSABLE (the client sends it again).
    await t.rejects(
      store.commitFile(alice.actor, {
        ns: alice.ns,
        node: { path: '/late.txt' },
        parentRev: null,
        blocks: [replaced],
        size: replaced.size,
        mtime: NOW,
        mode: 0o644,
      }),
      { code: 'BLOCK_UNUSABLE', details: { missing: [replaced.hash] } },
    );
    // An upload of it waits until the bytes are gone.
    await t.rejects(store.recordUpload(alice.userId, replaced.hash, replaced.size, 1, NOW + 3 * HOUR), {
      code: 'UNAVAILABLE',
    });
    // A collector that died: its claim is taken over after the lease, not before.
    t.same(await store.takeStaleClaims(NOW + 3 * HOUR, NOW + 4 * HOUR, 10), []);
    t.same(await store.takeStaleClaims(NOW + 3 * HOUR + 1, NOW + 4 * HOUR, 10), [replaced.hash]);
    t.same(await store.takeStaleClaims(NOW + 3 * HOUR + 1, NOW + 4 * HOUR, 10), [], 'renewed');
    await store.finishClaims([replaced.hash]);
    t.equal(await store.blockState(replaced.hash), 'absent');
    t.equal(await store.recordUpload(alice.userId, replaced.hash, replaced.size, 1, NOW + 5 * HOUR), true);
    t.equal(await store.blockState(replaced.hash), 'live');
  });

  t.test('collection: an upload that saw the block live fails if it was claimed meanwhile', async (t) => {
    const { store, alice, bob } = ctx;
    const b = block('raced');
    await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
    t.equal(await store.blockState(b.hash), 'live');
    // (bob's PUT reads "live" here, so its put of the bytes may be a no-op)
    const c = await store.claimGarbage(NOW + 1, NOW + 1, '', 100);
    t.same(
      c.claimed.map((x) => x.hash),
      [b.hash],
    );
    await store.finishClaims([b.hash]);
    await t.rejects(store.recordUpload(bob.userId, b.hash, b.size, 0, NOW + 2, 'live'), {
      code: 'UNAVAILABLE',
    });
    t.equal(await store.blockState(b.hash), 'absent', 'nothing recorded: the bytes may be gone');
    // Started over, it sees "absent", writes the bytes and records them.
    t.equal(await store.recordUpload(bob.userId, b.hash, b.size, b.size, NOW + 3, 'absent'), true);
    // Sending a block again refreshes its time: the grace counts from the last upload.
    await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW + 100);
    t.same((await store.claimGarbage(NOW + 50, NOW + 60, '', 100)).claimed, []);
  });

  t.test('collection: a block a restore copies back is referenced again', async (t) => {
    const { store, alice, write } = ctx;
    const r1 = await write(alice, '/x.txt', ['first']);
    await write(alice, '/x.txt', ['second'], r1.rev);
    await store.restore(alice.actor, { ns: alice.ns, node: { id: r1.id }, rev: r1.rev });
    await store.purgeHistory(NOW + 1e12, 1000);
    t.same((await store.getNode(alice.ns, { path: '/x.txt' }))!.blocks, [block('first')]);
    const c = await store.claimGarbage(NOW + 1e12, NOW + 1e12, '', 100);
    t.same(
      c.claimed.map((x) => x.hash),
      [block('second').hash],
    );
  });
}
