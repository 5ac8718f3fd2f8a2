const MIGRATIONS = [
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
];
export const SCHEMA_VERSION = MIGRATIONS.length;
export function migrate(db) {
    const current = db.pragma('user_version', { simple: true });
    if (current > SCHEMA_VERSION) {
        throw new Error(`metadata database is schema v${current}, newer than this Loft (v${SCHEMA_VERSION}); upgrade Loft`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
        db.transaction(() => {
            db.exec(MIGRATIONS[v]);
            db.pragma(`user_version = ${v + 1}`);
        }).immediate();
    }
}
//# sourceMappingURL=schema.js.map