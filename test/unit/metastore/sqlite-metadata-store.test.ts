import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { SCHEMA_VERSION } from '../../../src/metastore/sqlite/schema.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { metadataStoreContract } from '../../contract/metadata-store-contract.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-meta-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

metadataStoreContract(
  t,
  'SqliteMetadataStore (file)',
  async () => new SqliteMetadataStore({ filename: path.join(dir, `m${n++}.db`) }),
);
metadataStoreContract(
  t,
  'SqliteMetadataStore (:memory:)',
  async () => new SqliteMetadataStore({ filename: ':memory:' }),
);

t.test('data persists across reopen', async (t) => {
  const file = path.join(dir, 'persist.db');
  const a = new SqliteMetadataStore({ filename: file });
  const u = await a.createUser('carol', 1);
  await a.mkdir(
    { userId: u.id, deviceId: 0, now: 1 },
    { ns: u.homeNs, path: '/kept', mtime: 1, mode: 0o755, parents: false },
  );
  await a.close();
  const b = new SqliteMetadataStore({ filename: file });
  t.ok(await b.getNode(u.homeNs, { path: '/kept' }));
  t.equal(await b.headSeq(u.homeNs), 1);
  await b.close();
});

t.test('a database from a newer Loft is refused, not guessed at', async (t) => {
  const file = path.join(dir, 'future.db');
  const db = new Database(file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => new SqliteMetadataStore({ filename: file }), /newer than this Loft/);
});

/** Schema v1 as it shipped (a fixture: migrations must keep upgrading it). */
const SCHEMA_V1 = `
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    home_ns INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
  );
  CREATE TABLE namespaces (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL,
    root_id INTEGER NOT NULL,
    head_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE ns_members (
    ns_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'write', 'read')),
    PRIMARY KEY (ns_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX ns_members_user ON ns_members(user_id, ns_id);
  CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    ns_id INTEGER NOT NULL,
    parent_id INTEGER,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
    deleted INTEGER NOT NULL DEFAULT 0,
    rev INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX nodes_live_name ON nodes(parent_id, name) WHERE deleted = 0;
  CREATE TABLE revisions (
    ns_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    op TEXT NOT NULL,
    parent_id INTEGER,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    content_seq INTEGER,
    device_id INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ns_id, seq)
  ) WITHOUT ROWID;
  CREATE INDEX revisions_node ON revisions(node_id, seq);
  CREATE TABLE content_blocks (
    ns_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (ns_id, seq, idx)
  ) WITHOUT ROWID;
  CREATE INDEX content_blocks_hash ON content_blocks(hash, ns_id);
  CREATE TABLE blocks (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE user_blocks (
    user_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
  ) WITHOUT ROWID;
`;

t.test('a v1 database (before history and collection) upgrades and keeps its data', async (t) => {
  const file = path.join(dir, 'v1.db');
  const db = new Database(file);
  db.exec(SCHEMA_V1);
  db.pragma('user_version = 1');
  // alice, her namespace and root, one file with one block she sent at t=5.
  db.exec(`
    INSERT INTO users (id, name, home_ns, created_at) VALUES (1, 'alice', 1, 1);
    INSERT INTO namespaces (id, owner_id, root_id, head_seq, created_at) VALUES (1, 1, 1, 2, 1);
    INSERT INTO ns_members (ns_id, user_id, role) VALUES (1, 1, 'owner');
    INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (1, 1, NULL, '', 'dir', 0, 0);
    INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (2, 1, 1, 'f', 'file', 0, 1);
    INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (3, 1, 1, 'notes', 'dir', 0, 2);
    INSERT INTO revisions VALUES (1, 0, 1, 'mkdir', NULL, '', 'dir', 0, 0, 1, 493, NULL, NULL, 1);
    INSERT INTO revisions VALUES (1, 1, 2, 'create', 1, 'f', 'file', 0, 1, 1, 420, 1, NULL, 5);
    INSERT INTO revisions VALUES (1, 2, 3, 'mkdir', 1, 'notes', 'dir', 0, 0, 1, 493, NULL, NULL, 6);
    INSERT INTO content_blocks VALUES (1, 1, 0, '${'a'.repeat(64)}', 1);
    INSERT INTO blocks VALUES ('${'a'.repeat(64)}', 1, 1, 3);
    INSERT INTO user_blocks VALUES (1, '${'a'.repeat(64)}', 5);
    INSERT INTO blocks VALUES ('${'b'.repeat(64)}', 1, 1, 3);
    INSERT INTO user_blocks VALUES (1, '${'b'.repeat(64)}', 7);
  `);
  db.close();
  const store = new SqliteMetadataStore({ filename: file });
  t.teardown(() => store.close());
  t.match(await store.getNode(1, { path: '/f' }), {
    id: 2,
    rev: 1,
    blocks: [{ hash: 'a'.repeat(64), size: 1 }],
  });
  t.equal(await store.blockState('b'.repeat(64)), 'live');
  // touched_at comes from the last upload: b (sent at 7) is kept by a cutoff of 7, collected by 8.
  t.same((await store.claimGarbage(7, 10, '', 100)).claimed, []);
  t.same(
    (await store.claimGarbage(8, 10, '', 100)).claimed.map((c) => c.hash),
    ['b'.repeat(64)],
    'a (referenced) is never claimed',
  );
  t.same((await store.listDeleted(1, 1, 10)).entries, []);
  // Search over names that were there before the search migrations: the FTS5 table and the
  // trigram vocabulary are filled from them, and a 1-character name is found by its own index.
  const paths = async (q: string) => (await store.searchNames(1, q, 10)).hits.map((h) => h.path);
  t.same(await paths('note'), ['/notes']);
  t.same(await paths('ot'), ['/notes']);
  t.same(await paths('F'), ['/f']);
});

t.test(
  'an upgraded database keeps its retention: superseded times and tombstones are migrated',
  async (t) => {
    const file = path.join(dir, 'v1-history.db');
    const db = new Database(file);
    db.exec(SCHEMA_V1);
    db.pragma('user_version = 1');
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    // f: created at 5 (seq 1), rewritten at 9 (seq 2). g: created at 6 (seq 3), deleted at 8 (seq 4).
    db.exec(`
    INSERT INTO users (id, name, home_ns, created_at) VALUES (1, 'alice', 1, 1);
    INSERT INTO namespaces (id, owner_id, root_id, head_seq, created_at) VALUES (1, 1, 1, 4, 1);
    INSERT INTO ns_members (ns_id, user_id, role) VALUES (1, 1, 'owner');
    INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (1, 1, NULL, '', 'dir', 0, 0);
    INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (2, 1, 1, 'f', 'file', 0, 2);
    INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (3, 1, 1, 'g', 'file', 1, 4);
    INSERT INTO revisions VALUES (1, 0, 1, 'mkdir', NULL, '', 'dir', 0, 0, 1, 493, NULL, NULL, 1);
    INSERT INTO revisions VALUES (1, 1, 2, 'create', 1, 'f', 'file', 0, 1, 5, 420, 1, NULL, 5);
    INSERT INTO revisions VALUES (1, 2, 2, 'commit', 1, 'f', 'file', 0, 1, 9, 420, 2, NULL, 9);
    INSERT INTO revisions VALUES (1, 3, 3, 'create', 1, 'g', 'file', 0, 1, 6, 420, 3, NULL, 6);
    INSERT INTO revisions VALUES (1, 4, 3, 'delete', 1, 'g', 'file', 1, 1, 6, 420, 3, NULL, 8);
    INSERT INTO content_blocks VALUES (1, 1, 0, '${a}', 1);
    INSERT INTO content_blocks VALUES (1, 2, 0, '${b}', 1);
    INSERT INTO content_blocks VALUES (1, 3, 0, '${a}', 1);
    INSERT INTO blocks VALUES ('${a}', 1, 1, 3);
    INSERT INTO blocks VALUES ('${b}', 1, 1, 3);
  `);
    db.close();
    const store = new SqliteMetadataStore({ filename: file });
    t.teardown(() => store.close());
    // Cutoff 7: nothing was superseded or deleted by then.
    t.same(await store.purgeHistory(7, 100), { revisions: 0, nodes: 0, more: false });
    // Cutoff 8: g's delete is old enough (its create goes); f's first revision is still in the window.
    t.same(await store.purgeHistory(8, 100), { revisions: 1, nodes: 1, more: false });
    // Cutoff 9: f's first revision stopped being current at 9.
    t.same(await store.purgeHistory(9, 100), { revisions: 1, nodes: 0, more: false });
    t.same(
      (await store.listRevisions(1, 2)).map((r) => r.rev),
      [2],
    );
    t.same(
      (await store.listRevisions(1, 3)).map((r) => [r.rev, r.deleted]),
      [[4, true]],
    );
    // a is referenced by nothing kept now; b still is.
    t.same(
      (await store.claimGarbage(10, 10, '', 100)).claimed.map((c) => c.hash),
      [a],
    );
  },
);
