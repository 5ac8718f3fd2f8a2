/** QuotaGate (src/server/http/quota.ts) over a real SQLite store, on an injected clock. */
import t from 'tap';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { QuotaGate, USAGE_TTL_MS } from '../../../src/server/http/quota.js';
import { sha256hex } from '../../../src/shared/hash.js';

t.test('kept usage, exact refusals, the TTL and batches', async (t) => {
  let now = 1_000;
  const clock = { now: () => now };
  const meta = new SqliteMetadataStore({ filename: ':memory:' });
  t.teardown(() => meta.close());
  const u = await meta.createUser('q', now);
  const actor = { userId: u.id, deviceId: 0, now };
  const write = async (path: string, size: number) => {
    const data = Buffer.alloc(size, path);
    const hash = sha256hex(data);
    await meta.recordUpload(u.id, hash, size, size, now);
    return meta.commitFile(actor, {
      ns: u.homeNs,
      node: { path },
      parentRev: null,
      blocks: [{ hash, size }],
      size,
      mtime: 1,
      mode: 0o644,
    });
  };
  const gate = new QuotaGate(meta, clock);
  await gate.admit(u.homeNs, 10_000); // no quota: anything
  await meta.setQuota('q', 100);
  now += USAGE_TTL_MS; // the kept "no quota" expires
  await gate.admit(u.homeNs, 60);
  const a = await write('/a', 60);
  await t.rejects(gate.admit(u.homeNs, 50), { code: 'QUOTA_EXCEEDED', details: { usedBytes: 60 } });
  await meta.remove(actor, { ns: u.homeNs, node: { id: a.id }, parentRev: a.rev, recursive: false });
  await gate.admit(u.homeNs, 50); // the kept figure says over: the exact look sees the delete
  await write('/b', 50);
  await gate.admit(u.homeNs, 40); // kept: 90, no store read needed
  await write('/c', 40);
  await gate.admit(u.homeNs, -40); // a shrink frees space in the kept figure too: 50 kept
  await gate.admit(u.homeNs, 20); // 70 kept (this commit never comes: the kept figure is high)
  // Over by the kept figure: the exact look (90 in the store) refuses it.
  await t.rejects(gate.admit(u.homeNs, 40), { code: 'QUOTA_EXCEEDED', details: { usedBytes: 90 } });

  // A batch: the exact look counts what the same batch admitted before.
  const ops = [10, 10].map((size, i) => ({
    op: 'commit' as const,
    ns: u.homeNs,
    node: { path: `/n${i}` },
    parentRev: null,
    blocks: [],
    size,
    mtime: 1,
    mode: 0o644,
  }));
  const batch = [...ops];
  await gate.admitBatch(batch);
  t.same(
    batch.map((o) => o.op),
    ['commit', 'failed'],
    '90 used + 10 fits, + 10 more does not',
  );
});
