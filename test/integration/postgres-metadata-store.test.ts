/**
 * The MetadataStore contract against a real PostgreSQL (the run's throwaway cluster, a database
 * of this file's own; each store of the suite in a fresh schema), plus what only PostgreSQL has:
 * schema versions across reopen, a newer schema refused, a password never taken from the URL,
 * and the per-namespace sequence under concurrent commits from several connections.
 */
import t from 'tap';
import pg from 'pg';
import type { Actor } from '../../src/metastore/metadata-store.js';
import { PostgresMetadataStore } from '../../src/metastore/postgres/postgres-metadata-store.js';
import { LIVE_REVISIONS } from '../../src/metastore/postgres/postgres-meta-tx.js';
import { PG_SCHEMA_VERSION } from '../../src/metastore/postgres/schema.js';
import { sha256hex } from '../../src/shared/hash.js';
import { metadataStoreContract } from '../contract/metadata-store-contract.js';
import { testDatabase, type TestDatabase } from '../helpers/postgres.js';

let db: TestDatabase;
let schemas = 0;
const t0 = performance.now();

t.before(async () => {
  db = await testDatabase();
  process.env.PGPASSWORD = db.env.PGPASSWORD;
  t.comment(
    `cluster start ${db.cluster.startMs} ms (by the first file of the run); database ready after ${Math.round(performance.now() - t0)} ms`,
  );
});

const open = (schema = `s${schemas++}`, poolSize?: number) =>
  PostgresMetadataStore.open({ url: db.url, schema, ...(poolSize ? { poolSize } : {}) });

metadataStoreContract(t, 'PostgresMetadataStore', () => open());

t.test('schema: migrated once, kept across reopen; a newer schema is refused', async (t) => {
  // Servers starting together: one creates the schema and migrates, the others wait and find it.
  const together = await Promise.all(Array.from({ length: 4 }, () => open('together', 1)));
  t.equal(together.length, 4, 'four stores opened one fresh schema at once');
  await Promise.all(together.map((s) => s.close()));

  const a = await open('reopen');
  const u = await a.createUser('carol', 1);
  await a.mkdir(
    { userId: u.id, deviceId: 0, now: 1 },
    { ns: u.homeNs, path: '/kept', mtime: 1, mode: 0o755, parents: false },
  );
  await a.close();
  const b = await open('reopen');
  t.ok(await b.getNode(u.homeNs, { path: '/kept' }));
  t.equal(await b.headSeq(u.homeNs), 1);
  await b.close();

  const c = new pg.Client({ connectionString: db.url, password: db.env.PGPASSWORD });
  await c.connect();
  await c.query(`UPDATE reopen.loft_schema SET version = ${PG_SCHEMA_VERSION + 1}`);
  await c.end();
  await t.rejects(open('reopen'), /newer than this Loft/);
});

t.test('schema v1 → v2: nodes_ns_live is added, and a page of the live tree is read by it', async (t) => {
  const a = await open('v1tree');
  const u = await a.createUser('gina', 1);
  const actor = { userId: u.id, deviceId: 0, now: 1 };
  for (const dir of ['/x', '/y', '/z'])
    await a.mkdir(actor, { ns: u.homeNs, path: dir, mtime: 1, mode: 0o755, parents: false });
  await a.close();

  const c = new pg.Client({ connectionString: db.url, password: db.env.PGPASSWORD });
  await c.connect();
  const hasIndex = async () =>
    (
      await c.query(
        "SELECT 1 FROM pg_indexes WHERE schemaname = 'v1tree' AND tablename = 'nodes' AND indexname = 'nodes_ns_live'",
      )
    ).rowCount === 1;
  try {
    // Back to a v1 database: what a server of the previous release left.
    await c.query('DROP INDEX v1tree.nodes_ns_live');
    await c.query('UPDATE v1tree.loft_schema SET version = 1');
    t.notOk(await hasIndex(), 'a v1 database has no nodes_ns_live');

    const b = await open('v1tree');
    t.ok(await hasIndex(), 'opening it migrates forward');
    const { rows } = await c.query<{ version: number }>('SELECT version FROM v1tree.loft_schema');
    t.equal(rows[0]!.version, PG_SCHEMA_VERSION);
    const page = await b.listTree(u.homeNs, 0, 10, 1000);
    t.same(
      page.entries.map((e) => e.name),
      ['', 'x', 'y', 'z'],
      'the root and the three folders, by id',
    );
    await b.close();

    // The plan, whatever the table sizes: with sequential scans priced out, the page walks
    // nodes_ns_live (ns_id = and id >), not the primary key filtered by namespace.
    await c.query('BEGIN');
    await c.query('SET LOCAL search_path = v1tree');
    await c.query('SET LOCAL enable_seqscan = off');
    const plan = (
      await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${LIVE_REVISIONS}`, [u.homeNs, 0, 1000])
    ).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    await c.query('ROLLBACK');
    t.match(plan, /Index (Only )?Scan using nodes_ns_live on nodes/, 'the page walks nodes_ns_live');
  } finally {
    await c.end();
  }
});

t.test('the URL never carries the password; PGPASSWORD does', async (t) => {
  const withPassword = db.url.replace('loft@', 'loft:secret@');
  await t.rejects(PostgresMetadataStore.open({ url: withPassword }), {
    code: 'BAD_REQUEST',
    message: /PGPASSWORD/,
  });
  await t.rejects(PostgresMetadataStore.open({ url: 'mysql://x@y/z' }), { code: 'BAD_REQUEST' });
  await t.rejects(PostgresMetadataStore.open({ url: `${db.url}?sslmode=disable` }), {
    code: 'BAD_REQUEST',
    message: /takes no options/,
  });
  await t.rejects(PostgresMetadataStore.open({ url: db.url.replace(/\/[^/]*$/, '/') }), {
    code: 'BAD_REQUEST',
    message: /needs a database/,
  });
  const saved = process.env.PGPASSWORD;
  process.env.PGPASSWORD = 'wrong';
  try {
    await t.rejects(open('wrongpw'), /password authentication failed/);
  } finally {
    process.env.PGPASSWORD = saved;
  }
});

t.test('concurrent commits on several connections: one sequence, no gap, no lost update', async (t) => {
  const stores = await Promise.all([open('conc', 4), open('conc', 4)]);
  const [a, b] = stores as [PostgresMetadataStore, PostgresMetadataStore];
  const u = await a.createUser('dave', 1);
  const actor: Actor = {
    userId: u.id,
    deviceId: await a.addDevice(u.id, 'x', sha256hex(Buffer.from('d')), null, 1),
    now: 1,
  };
  // 40 files created at once through two stores (8 connections): every one gets its own seq.
  const made = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? a : b).commitFile(actor, {
        ns: u.homeNs,
        node: { path: `/f${i}` },
        parentRev: null,
        blocks: [],
        size: 0,
        mtime: 1,
        mode: 0o644,
      }),
    ),
  );
  const seqs = made.map((r) => r.rev).sort((x, y) => x - y);
  t.same(
    seqs,
    Array.from({ length: 40 }, (_, i) => i + 1),
    'seqs 1..40, each once',
  );
  t.equal(await a.headSeq(u.homeNs), 40);
  // 10 updates of one file, all based on the same revision: exactly one wins, the others conflict.
  const base = made[0]!;
  const tries = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? a : b).commitFile(actor, {
        ns: u.homeNs,
        node: { id: base.id },
        parentRev: base.rev,
        blocks: [],
        size: 0,
        mtime: 2,
        mode: 0o644,
      }),
    ),
  );
  t.equal(tries.filter((r) => r.status === 'fulfilled').length, 1, 'one update wins');
  t.ok(
    tries.every((r) => r.status === 'fulfilled' || (r.reason as { code?: string }).code === 'CONFLICT'),
    'the others are CONFLICT',
  );
  const journal = await a.readJournal(u.homeNs, 0, 100);
  t.same(
    journal.entries.map((e) => e.rev),
    Array.from({ length: 41 }, (_, i) => i + 1),
    'the journal has no gap',
  );
  // Two creators of one user name: one wins, the other is told it exists.
  const both = await Promise.allSettled([a.createUser('erin', 1), b.createUser('erin', 1)]);
  t.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
  t.match(
    both.find((r) => r.status === 'rejected'),
    { reason: { code: 'EXISTS' } },
  );
  await Promise.all(stores.map((s) => s.close()));
});

t.test(
  'collection racing commits and uploads on other connections: a claimed block is never used',
  async (t) => {
    const [a, b] = (await Promise.all([open('race', 4), open('race', 4)])) as [
      PostgresMetadataStore,
      PostgresMetadataStore,
    ];
    const u = await a.createUser('frank', 1);
    const actor: Actor = {
      userId: u.id,
      deviceId: await a.addDevice(u.id, 'x', sha256hex(Buffer.from('f')), null, 1),
      now: 1,
    };
    // Sent at time 1; collection claims what was touched before 10 and nothing references.
    const TOUCHED = 1;
    const BEFORE = 10;
    const seen = { committed: 0, claimedFirst: 0, uploaded: 0, refused: 0 };
    for (let i = 0; i < 25; i++) {
      const data = Buffer.from(`race ${i}`);
      const hash = sha256hex(data);
      const size = data.length;
      await a.recordUpload(u.id, hash, size, size, TOUCHED);
      // A commit of the block against a claim of it: one of them, never both.
      const [commit, claim] = await Promise.allSettled([
        a.commitFile(actor, {
          ns: u.homeNs,
          node: { path: `/r${i}` },
          parentRev: null,
          blocks: [{ hash, size }],
          size,
          mtime: 1,
          mode: 0o644,
        }),
        b.claimGarbage(BEFORE, 2, '', 1000),
      ]);
      const claimed = claim.status === 'fulfilled' && claim.value.claimed.some((c) => c.hash === hash);
      if (commit.status === 'fulfilled') {
        t.notOk(claimed, `${i}: a committed block is not claimed`);
        t.equal(await a.blockState(hash), 'live');
        seen.committed++;
      } else {
        t.match(commit.reason, { code: 'BLOCK_UNUSABLE' }, `${i}: the commit lost to the claim`);
        t.ok(claimed, `${i}: and the block was claimed`);
        seen.claimedFirst++;
        await b.finishClaims([hash]);
      }
      // An upload that saw the block live (sent again at 100, within the grace) against a claim.
      const other = Buffer.from(`again ${i}`);
      const h2 = sha256hex(other);
      await a.recordUpload(u.id, h2, other.length, other.length, TOUCHED);
      const [upload, claim2] = await Promise.allSettled([
        a.recordUpload(u.id, h2, other.length, other.length, 100, 'live'),
        b.claimGarbage(BEFORE, 2, '', 1000),
      ]);
      const claimed2 = claim2.status === 'fulfilled' && claim2.value.claimed.some((c) => c.hash === h2);
      if (upload.status === 'fulfilled') {
        t.notOk(claimed2, `${i}: a block recorded again is not claimed`);
        t.equal(await a.blockState(h2), 'live');
        seen.uploaded++;
      } else {
        t.match(upload.reason, { code: 'UNAVAILABLE' }, `${i}: the upload is told to send again`);
        t.ok(claimed2, `${i}: because the block was claimed`);
        seen.refused++;
        await b.finishClaims([h2]);
      }
    }
    t.comment(`outcomes: ${JSON.stringify(seen)}`);
    await Promise.all([a.close(), b.close()]);
  },
);

t.test('name search: a pg_trgm index in every schema, used by the search query', async (t) => {
  const names = ['trgm_a', 'trgm_b'];
  for (const schema of names) {
    const s = await open(schema);
    const u = await s.createUser('hana', 1);
    await s.mkdir(
      { userId: u.id, deviceId: 0, now: 1 },
      { ns: u.homeNs, path: '/Quarterly Reports', mtime: 1, mode: 0o755, parents: false },
    );
    t.same(
      (await s.searchNames(u.id, 'report', 10)).hits.map((h) => h.path),
      ['/Quarterly Reports'],
    );
    await s.close();
  }
  const c = new pg.Client({ connectionString: db.url, password: db.env.PGPASSWORD });
  await c.connect();
  try {
    for (const schema of names) {
      const r = await c.query(
        "SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND tablename = 'nodes' AND indexname = 'nodes_name_trgm'",
        [schema],
      );
      t.equal(r.rowCount, 1, `${schema}: nodes_name_trgm exists`);
    }
    await c.query('BEGIN');
    await c.query('SET LOCAL search_path = trgm_b');
    // Enough other names that the planner prefers the trigram index to walking live names.
    await c.query(
      "INSERT INTO nodes (ns_id, parent_id, name, kind, deleted, rev) SELECT 1, 1, 'file ' || g, 'file', 0, 0 FROM generate_series(1, 5000) g",
    );
    await c.query('ANALYZE nodes');
    // Rows added after the GIN index was made wait in its pending list, which the planner does not
    // count until (auto)vacuum merges it; REINDEX stands in for that here.
    await c.query('REINDEX INDEX nodes_name_trgm');
    await c.query('SET LOCAL enable_seqscan = off');
    const plan = (
      await c.query<{ 'QUERY PLAN': string }>(
        "EXPLAIN SELECT n.* FROM nodes n WHERE n.name ILIKE '%report%' AND n.deleted = 0",
      )
    ).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    t.match(plan, /nodes_name_trgm/, 'the search reads the trigram index');
    await c.query('ROLLBACK');
  } finally {
    await c.end();
  }
});

t.teardown(() => t.comment(`postgres file total ${Math.round(performance.now() - t0)} ms`));
