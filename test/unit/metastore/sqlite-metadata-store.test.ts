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
