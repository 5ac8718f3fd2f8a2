/**
 * SQLite schema, versioned with `PRAGMA user_version` and migrated forward only. A database newer
 * than this code is refused rather than guessed at.
 *
 * Table roles:
 * - nodes: the current tree (one row per node ever created; tombstones keep `deleted = 1`).
 * - revisions: every change, numbered per namespace (`seq`); the journal and the version history.
 * - content_blocks: the ordered block list of each file revision that set content (`content_seq`).
 * - blocks / user_blocks: block sizes and who has proven possession of which block by sending it.
 *   A `blocks` row means the bytes are in the BlockStore (rows go before bytes, see BlockCollector).
 * - gc_claims (v2): blocks claimed by garbage collection whose bytes may be being deleted.
 * - gc_candidates (v4): blocks garbage collection must look at (sent lately, or dereferenced).
 * - nodes_ns_live (v5): a namespace's live nodes by id, for paged listings of the whole tree.
 * - links, devices.last_seen_at, users.quota_bytes (sharing, issue 13): share links (their secret
 *   stored as its SHA-256, an optional scrypt password hash), when a device was last seen, and a
 *   user's storage quota.
 * - nodes_fts, name_trigrams, nodes_short_names (issue 16): name search (engine/search.ts).
 * - content_cursor, content_docs, content_fts (issue 16): content search (engine/content-search.ts).
 * - mounts (shared folders, issue 13): where a member shows a shared namespace in their tree.
 *
 * Every statement the store prepares is checked with EXPLAIN QUERY PLAN in
 * test/unit/metastore/sqlite-query-plans.test.ts: a full scan of a large table fails a test.
 */
import type Database from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
  // v1
  `
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
  `,
  // v2: version history and garbage collection.
  // - blocks.touched_at: last time anyone sent the block (GC's grace period counts from it).
  // - nodes.purged: a tombstone whose history retention removed (only the delete revision is kept,
  //   so a device that last synced before the delete still learns of it from the journal).
  // - revisions.restored_from: the revision a restore copied.
  // - nodes_parent: deleted listings walk children whatever their state.
  `
  ALTER TABLE blocks ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0;
  UPDATE blocks SET touched_at = COALESCE(
    (SELECT MAX(uploaded_at) FROM user_blocks ub WHERE ub.hash = blocks.hash), created_at);
  ALTER TABLE nodes ADD COLUMN purged INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE revisions ADD COLUMN restored_from INTEGER;
  CREATE INDEX nodes_parent ON nodes(parent_id);
  CREATE INDEX user_blocks_hash ON user_blocks(hash);
  CREATE INDEX revisions_content ON revisions(ns_id, content_seq);
  CREATE TABLE gc_claims (
    hash TEXT PRIMARY KEY,
    claimed_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // v3: revisions.deleted_with: on a delete revision, the seq of the first tombstone of the delete
  // that made it (one per request: a recursive delete tombstones a whole subtree), so restoring a
  // deleted folder brings back exactly what that delete took. NULL on older tombstones.
  `
  ALTER TABLE revisions ADD COLUMN deleted_with INTEGER;
  `,
  // v4: retention that costs what it removes (issue 18).
  // - revisions_node gains ns_id: on (node_id, seq) alone, SQLite planned `node_id = ? AND ns_id = ?
  //   ORDER BY seq` on the primary key (ns_id, seq) — covering, so it looked cheaper — and walked
  //   every revision of the namespace for each node.
  // - revisions.superseded_at: when the revision stopped being current (the time of the node's next
  //   revision); retention takes file revisions superseded before its cutoff from a partial index
  //   instead of visiting every node.
  // - nodes.deleted_at: when a tombstoned node was deleted; tombstones awaiting their purge are
  //   found by a partial index.
  // - gc_candidates: blocks that may be unreferenced — every block sent (until a collection finds
  //   it referenced) and every block of a block list retention dropped. Collection looks at these
  //   instead of every block in the store. Every existing block starts as one.
  `
  DROP INDEX revisions_node;
  CREATE INDEX revisions_node ON revisions(node_id, ns_id, seq);
  ALTER TABLE revisions ADD COLUMN superseded_at INTEGER;
  UPDATE revisions SET superseded_at = (
    SELECT r2.created_at FROM revisions r2
     WHERE r2.node_id = revisions.node_id AND r2.ns_id = revisions.ns_id AND r2.seq > revisions.seq
     ORDER BY r2.seq LIMIT 1);
  CREATE INDEX revisions_superseded ON revisions(superseded_at)
    WHERE superseded_at IS NOT NULL AND kind = 'file';
  ALTER TABLE nodes ADD COLUMN deleted_at INTEGER;
  UPDATE nodes SET deleted_at = (
    SELECT r.created_at FROM revisions r WHERE r.ns_id = nodes.ns_id AND r.seq = nodes.rev)
   WHERE deleted = 1;
  CREATE INDEX nodes_tombstones ON nodes(deleted_at) WHERE deleted = 1 AND purged = 0;
  CREATE TABLE gc_candidates (hash TEXT PRIMARY KEY) WITHOUT ROWID;
  INSERT INTO gc_candidates (hash) SELECT hash FROM blocks;
  `,
  // v5: the live tree of a namespace paged by node id (`listTree`, `GET /v1/tree`, `loft check`)
  // without walking other namespaces' nodes or tombstones.
  `
  CREATE INDEX nodes_ns_live ON nodes(ns_id, id) WHERE deleted = 0;
  `,
  // sharing (issue 13): share links, devices a user can list and revoke, quotas.
  // - links: a public link to a node (file or folder) of a namespace; `secret_hash` is the SHA-256
  //   of the secret in its URL (never stored), `password` an scrypt hash or NULL.
  // - devices.last_seen_at: the last authenticated request (to a minute, see engine/devices.ts).
  // - users.quota_bytes: the most the live files of the namespaces a user owns may hold (NULL: none).
  `
  CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    ns_id INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    password TEXT,
    revoked_at INTEGER
  );
  CREATE INDEX links_user ON links(user_id, id);
  ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;
  CREATE INDEX devices_user ON devices(user_id, id);
  ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
  CREATE INDEX namespaces_owner ON namespaces(owner_id, id);
  `,
  // web (issue 16): sign-in and search.
  // - users.password_hash: the scrypt hash of the user's web password (NULL: no web sign-in).
  // - nodes_fts: FTS5 over node names with the trigram tokenizer (substring search, any language),
  //   an external-content table kept in step with `nodes` by triggers (names change only on
  //   insert and rename; a tombstone keeps its row and is filtered by the join).
  `
  ALTER TABLE users ADD COLUMN password_hash TEXT;
  CREATE VIRTUAL TABLE nodes_fts USING fts5(name, content='nodes', content_rowid='id', tokenize='trigram');
  CREATE TRIGGER nodes_fts_ins AFTER INSERT ON nodes BEGIN
    INSERT INTO nodes_fts(rowid, name) VALUES (new.id, new.name);
  END;
  CREATE TRIGGER nodes_fts_del AFTER DELETE ON nodes BEGIN
    INSERT INTO nodes_fts(nodes_fts, rowid, name) VALUES ('delete', old.id, old.name);
  END;
  CREATE TRIGGER nodes_fts_upd AFTER UPDATE OF name ON nodes WHEN old.name IS NOT new.name BEGIN
    INSERT INTO nodes_fts(nodes_fts, rowid, name) VALUES ('delete', old.id, old.name);
    INSERT INTO nodes_fts(rowid, name) VALUES (new.id, new.name);
  END;
  INSERT INTO nodes_fts(nodes_fts) VALUES ('rebuild');
  `,
  // short search (issue 16): 1-2 character name searches without scanning every node.
  // - name_trigrams: every distinct trigram (ASCII-lowercased) any node name ever held; a 1-2
  //   character query looks up the trigrams that contain it here, then asks nodes_fts for names
  //   holding any of them. Only grows (a stale trigram matches nothing in nodes_fts); bounded by
  //   the distinct trigrams of real names, not by the number of nodes.
  // - name_positions: 1..1024, the character positions a trigger walks (a CTE is not allowed in a
  //   trigger; a name is at most 255 bytes, so 1024 characters is more than enough).
  // - nodes_short_names: live names of 1-2 characters, which hold no trigram.
  `
  CREATE TABLE name_positions (n INTEGER PRIMARY KEY);
  WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p WHERE n < 1024)
  INSERT INTO name_positions (n) SELECT n FROM p;
  CREATE TABLE name_trigrams (tri TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE TRIGGER name_trigrams_ins AFTER INSERT ON nodes WHEN length(new.name) >= 3 BEGIN
    INSERT OR IGNORE INTO name_trigrams (tri)
      SELECT lower(substr(new.name, n, 3)) FROM name_positions WHERE n <= length(new.name) - 2;
  END;
  CREATE TRIGGER name_trigrams_upd AFTER UPDATE OF name ON nodes
    WHEN old.name IS NOT new.name AND length(new.name) >= 3 BEGIN
    INSERT OR IGNORE INTO name_trigrams (tri)
      SELECT lower(substr(new.name, n, 3)) FROM name_positions WHERE n <= length(new.name) - 2;
  END;
  INSERT OR IGNORE INTO name_trigrams (tri)
    SELECT lower(substr(nodes.name, p.n, 3)) FROM nodes JOIN name_positions p ON p.n <= length(nodes.name) - 2;
  CREATE INDEX nodes_short_names ON nodes(ns_id) WHERE length(name) < 3 AND deleted = 0;
  `,
  // installation id (issue 15, moving to new servers): a random id made once per installation,
  // kept by `loft migrate`; a drive follows a new server URL only when the new server reports the
  // installation id the drive recorded (src/client/server-binding.ts).
  `
  CREATE TABLE installation (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), id TEXT NOT NULL);
  INSERT INTO installation (singleton, id) VALUES (1, lower(hex(randomblob(16))));
  `,
  // content search (issue 16): the text of small text files, filled by the server's background
  // indexer (src/server/content-indexer.ts) from the journal, never by a commit.
  // - content_cursor: per namespace, the journal sequence number indexed up to (resumable).
  // - content_docs: per file node, the revision last indexed and the key (hash of its block list)
  //   of the text in content_fts; key NULL: not indexed (deleted, a folder, binary, too large).
  //   The row stays so an older revision can never overwrite a newer one.
  // - content_fts: FTS5 over the text with the trigram tokenizer (substring search, as for names),
  //   rowid = node id; it keeps its own copy of the text (the snippets are cut from it).
  `
  CREATE TABLE content_cursor (ns_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
  CREATE TABLE content_docs (
    node_id INTEGER PRIMARY KEY,
    ns_id INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    key TEXT
  );
  CREATE VIRTUAL TABLE content_fts USING fts5(body, tokenize='trigram');
  `,
  // shared folders (issue 13 item 1): where each member of a shared namespace shows its root in
  // their own tree (a folder of their home and a name); roles stay in ns_members.
  `
  CREATE TABLE mounts (
    user_id INTEGER NOT NULL,
    ns_id INTEGER NOT NULL,
    parent_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (user_id, ns_id)
  ) WITHOUT ROWID;
  CREATE INDEX mounts_ns ON mounts(ns_id, user_id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `metadata database is schema v${current}, newer than this Loft (v${SCHEMA_VERSION}); upgrade Loft`,
    );
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
