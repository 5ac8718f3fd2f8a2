/**
 * MetadataStore contract: content search (issue 16), through the background indexer
 * (server/content-indexer.ts) over a memory BlockStore holding the files' bytes: small UTF-8 text
 * is found by substring with a snippet, binary and large files are not, overwrites, renames,
 * deletes and restores are followed, other users never see it, and an older revision never
 * replaces a newer one's text.
 */
import type { Test } from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import { ContentIndexer } from '../../../src/server/content-indexer.js';
import { sha256hex } from '../../../src/shared/hash.js';
import { type MetaContext, type Who } from './fixture.js';

export function contentSearchContract(t: Test, ctx: MetaContext): void {
  t.test('content search: indexed in the background from the journal, permissions, changes', async (t) => {
    const { store, alice, bob } = ctx;
    const blocks = new MemoryBlockStore();
    const indexer = new ContentIndexer({ meta: store, blocks, maxBytes: 64 });
    t.teardown(() => indexer.close());
    const put = async (
      who: Who,
      path: string,
      texts: (string | Buffer)[],
      parentRev: number | null = null,
    ) => {
      for (const x of texts) await blocks.put(sha256hex(Buffer.from(x)), Buffer.from(x));
      return ctx.write(who, path, texts as string[], parentRev);
    };
    const find = async (who: Who, q: string) =>
      (await store.searchContent(who.userId, q, 50)).hits.map((h) => `${h.path}: ${h.snippet}`);

    const todo = await put(alice, '/notes/todo.txt', [
      'buy milk\n  Call the ',
      'PLUMBER about the leak\nbye',
    ]);
    await put(alice, '/bin.dat', [Buffer.from('plumber\0\x01\x02')]);
    await put(alice, '/bad-utf8.txt', [Buffer.from([0x70, 0x6c, 0x75, 0x6d, 0x62, 0x65, 0x72, 0xff])]);
    await put(alice, '/big.txt', ['plumber '.repeat(9)]); // 72 bytes, over maxBytes
    await put(bob, '/bob.txt', ['a plumber for bob']);
    t.equal((await store.searchContent(alice.userId, 'plumber', 50)).behind, true, 'not indexed yet');
    t.same(await find(alice, 'plumber'), [], 'nothing before the indexer runs');

    await indexer.drain();
    const r = await store.searchContent(alice.userId, 'plumber', 50);
    t.equal(r.behind, false);
    t.equal(r.truncated, false);
    t.same(
      r.hits.map((h) => `${h.path}: ${h.snippet}`),
      ['/notes/todo.txt: Call the PLUMBER about the leak'],
      'text across blocks, case-insensitive; binary, invalid UTF-8 and large files left out',
    );
    t.match(r.hits[0], { kind: 'file', ns: alice.ns, id: todo.id, rev: todo.rev, size: todo.size });
    t.same(await find(bob, 'PLUMBER'), ['/bob.txt: a plumber for bob'], 'other users: their own only');
    t.same(await find(alice, 'zebra'), []);
    // LIKE's wildcards and FTS syntax are plain characters.
    await put(alice, '/pct.txt', ['100%_sure "quoted" AND OR']);
    await indexer.drain();
    t.same(await find(alice, '%_s'), ['/pct.txt: 100%_sure "quoted" AND OR']);
    t.same(await find(alice, '"quoted" AND'), ['/pct.txt: 100%_sure "quoted" AND OR']);
    await t.rejects(store.searchContent(alice.userId, 'ab', 50), { code: 'BAD_REQUEST' }, 'under 3 chars');

    // Overwrite: the old text drops out, the new one is found.
    const todo2 = await put(alice, '/notes/todo.txt', ['the roof is fixed'], todo.rev);
    await indexer.drain();
    t.same(await find(alice, 'plumber'), []);
    t.same(await find(alice, 'roof'), ['/notes/todo.txt: the roof is fixed']);
    // Rename: found under its new path at once (paths are built at search time).
    const node = await store.getNode(alice.ns, { path: '/notes/todo.txt' });
    await store.move(alice.actor, {
      ns: alice.ns,
      node: { id: node!.id },
      parentRev: node!.rev,
      toPath: '/done.txt',
      overwrite: false,
    });
    t.same(await find(alice, 'roof'), ['/done.txt: the roof is fixed']);
    await indexer.drain();
    // Delete: gone at once (live nodes only) and from the index; restore: back.
    await ctx.del(alice, node!.id);
    t.same(await find(alice, 'roof'), []);
    await indexer.drain();
    t.same(await find(alice, 'roof'), []);
    await store.restore(alice.actor, { ns: alice.ns, node: { id: node!.id }, rev: todo2.rev });
    await indexer.drain();
    t.same(await find(alice, 'roof'), ['/done.txt: the roof is fixed']);
    t.equal((await store.searchContent(alice.userId, 'roof', 50)).behind, false);

    // An older revision's state never replaces a newer one's (two indexers racing).
    await store.applyContentIndex(alice.ns, 1, [
      { nodeId: node!.id, rev: 1, key: 'old', text: 'stale plumber' },
    ]);
    t.same(await find(alice, 'plumber'), []);
    t.same(await find(alice, 'roof'), ['/done.txt: the roof is fixed']);
    // limit and truncation
    for (let i = 0; i < 3; i++) await put(alice, `/many-${i}.txt`, [`needle ${i}`]);
    await indexer.drain();
    const two = await store.searchContent(alice.userId, 'needle', 2);
    t.equal(two.hits.length, 2);
    t.equal(two.truncated, true);
  });
}
