/** GarbageCollector over real stores (SQLite in memory, blocks in memory) with a fake clock. */
import t from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { CLAIM_LEASE_MS, GarbageCollector, keepDaysToMs } from '../../../src/server/garbage-collector.js';
import { sha256hex } from '../../../src/shared/hash.js';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
async function setup(options = {}) {
    let now = 1_700_000_000_000;
    const clock = { now: () => now };
    const meta = new SqliteMetadataStore({ filename: ':memory:' });
    const blocks = new MemoryBlockStore();
    const user = await meta.createUser('alice', now);
    const deviceId = await meta.addDevice(user.id, 'laptop', 'a'.repeat(64), null, now);
    const actor = () => ({ userId: user.id, deviceId, now });
    /** What the PUT route does: bytes, then the record. */
    const upload = async (text) => {
        const data = Buffer.from(text);
        const hash = sha256hex(data);
        const seen = await meta.blockState(hash);
        const r = await blocks.put(hash, data);
        await meta.recordUpload(user.id, hash, data.length, r.storedSize, now, seen);
        return { hash, size: data.length };
    };
    const commit = async (path, text, parentRev) => {
        const b = await upload(text);
        return meta.commitFile(actor(), {
            ns: user.homeNs,
            node: { path },
            parentRev,
            blocks: [b],
            size: b.size,
            mtime: now,
            mode: 0o644,
        });
    };
    const gc = new GarbageCollector({
        meta,
        blocks,
        clock,
        keepMs: keepDaysToMs(options.keepDays ?? 30),
        graceMs: options.graceMs ?? DAY,
    });
    t.teardown(async () => {
        await gc.close();
        await meta.close();
    });
    return {
        meta,
        blocks,
        gc,
        user,
        actor,
        upload,
        commit,
        advance: (ms) => (now += ms),
        hash: (text) => sha256hex(Buffer.from(text)),
    };
}
t.test('old revisions and their blocks go; current ones and fresh uploads stay', async (t) => {
    const s = await setup({ keepDays: 30, graceMs: DAY });
    const v1 = await s.commit('/a.txt', 'version 1', null);
    s.advance(1 * DAY);
    await s.commit('/a.txt', 'version 2', v1.rev);
    s.advance(10 * DAY);
    const nothing = await s.gc.run();
    t.match(nothing, { purgedRevisions: 0, deletedBlocks: 0 }, 'within 30 days everything is kept');
    s.advance(25 * DAY); // v1 stopped being current 35 days ago
    await s.upload('uploaded, commit not arrived yet');
    const r = await s.gc.run();
    t.match(r, { purgedRevisions: 1, deletedBlocks: 1, freedBytes: 9 });
    t.equal(await s.blocks.has(s.hash('version 1')), false, 'the bytes are deleted');
    t.equal(await s.blocks.has(s.hash('version 2')), true, 'current content kept, whatever its age');
    t.equal(await s.blocks.has(s.hash('uploaded, commit not arrived yet')), true, 'within the grace');
    // The commit of the pending upload arrives and succeeds.
    const late = await s.commit('/late.txt', 'uploaded, commit not arrived yet', null);
    t.ok(late.rev);
    s.advance(2 * DAY);
    t.match(await s.gc.run(), { deletedBlocks: 0 }, 'now referenced');
    // An upload never committed is collected once the grace is over.
    await s.upload('abandoned');
    s.advance(DAY + 1);
    t.match(await s.gc.run(), { deletedBlocks: 1 });
    t.equal(await s.blocks.has(s.hash('abandoned')), false);
    t.same(await s.meta.missingBlocks(s.user.id, [s.hash('abandoned')]), [s.hash('abandoned')]);
});
t.test('keep-days 0: only current revisions survive a run', async (t) => {
    const s = await setup({ keepDays: 0, graceMs: 0 });
    const v1 = await s.commit('/f', 'one', null);
    const v2 = await s.commit('/f', 'two', v1.rev);
    s.advance(1);
    const r = await s.gc.run();
    t.match(r, { purgedRevisions: 1, deletedBlocks: 1 });
    t.same((await s.meta.listRevisions(s.user.homeNs, v1.id)).map((x) => x.rev), [v2.rev]);
    t.equal(await s.blocks.get(s.hash('one')), null);
    t.same(await s.blocks.get(s.hash('two')), Buffer.from('two'));
});
t.test('a failed delete leaves the block claimed; a later run finishes it after the lease', async (t) => {
    const s = await setup({ keepDays: 0, graceMs: 0 });
    const orphan = await s.upload('orphan');
    s.advance(1);
    const realDelete = s.blocks.delete.bind(s.blocks);
    s.blocks.delete = async () => {
        throw new Error('EIO');
    };
    t.match(await s.gc.run(), { deletedBlocks: 0, failedDeletes: 1 });
    t.equal(await s.meta.blockState(orphan.hash), 'collecting', 'uploads of it wait');
    s.blocks.delete = realDelete;
    t.match(await s.gc.run(), { deletedBlocks: 0 }, 'the claim is not stale yet');
    s.advance(CLAIM_LEASE_MS + 1);
    t.match(await s.gc.run(), { deletedBlocks: 1 });
    t.equal(await s.meta.blockState(orphan.hash), 'absent');
    t.equal(await s.blocks.has(orphan.hash), false);
});
t.test('run is single-flight; the periodic loop stops on close', async (t) => {
    const s = await setup();
    const [a, b] = [s.gc.run(), s.gc.run()];
    t.equal(a, b, 'one run shared');
    await a;
    s.gc.start(10);
    await new Promise((r) => setTimeout(r, 50));
    await s.gc.close();
    t.pass('closed');
});
//# sourceMappingURL=garbage-collector.test.js.map