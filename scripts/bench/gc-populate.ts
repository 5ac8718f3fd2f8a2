// Fills a Loft server data directory with a big namespace, fast, for scripts/bench/gc.mjs and check.ts
// (gc.mjs, still JavaScript, imports the compiled dist/scripts/bench/gc-populate.js): rows are
// written with better-sqlite3 straight into the meta.db that the store itself created (`loft user
// add` makes the database, the user, its namespace and root), exactly as
// src/metastore/sqlite/sqlite-metadata-store.ts would write them for the same history:
//   1. `folders` mkdir revisions: /d00000, /d00001, … (each a node of kind dir under the root);
//   2. `revs` rounds over every file: round 0 creates /dNNNNN/fNNNNNN (op 'create'), the next
//      rounds commit new content to each (op 'commit'), so the namespace's journal holds
//      folders + files × revs revisions and every file's current revision is from the last round.
// Every file revision has its own one-block content (content_blocks row with content_seq = seq,
// a `blocks` row and the user's `user_blocks` row, as an upload + commit leave them), so a GC pass
// with --keep-days 0 purges (revs - 1) × files revisions and then finds as many unreferenced blocks.
// Hashes are SHA-256 of "ns:seq" (valid hex, never read: nothing fetches these blocks). All times
// (created_at, mtime, blocks.touched_at, user_blocks.uploaded_at) are `ageMs` in the past (default
// 3 days, one ms apart per revision), so `--keep-days 0` or `1` and the default 24 h `--gc-grace`
// leave GC real work. With `blockFiles`, a tiny file is also put where FsBlockStore keeps each block
// (`blocks/hh/hh/hash`), so that the pass's deletes hit real files; without it they hit missing
// files (fs.rm force: a no-op), which is cheaper than real deletes.
// Speed: secondary indexes of the tables written are dropped first and recreated at the end with
// their own SQL from sqlite_master (so a migration that changes them is followed), rows go in big
// transactions with journal_mode OFF and synchronous OFF (a throwaway database), and the database
// is put back in WAL mode at the end, as the store opens it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';

const TABLES = ['nodes', 'revisions', 'content_blocks', 'blocks', 'user_blocks'];
const TX_REVISIONS = 50_000; // revisions per transaction: big, but progress still shows every second or so
const BLOCK_SIZE = 4096; // the logical size of every file (one block)
const DAY_MS = 86_400_000;

/** Folder and file names, shared with the bench (it asks for random files by path). */
export const folderName = (d: number): string => `d${String(d).padStart(5, '0')}`;
export const fileName = (i: number): string => `f${String(i).padStart(7, '0')}`;
export const layout = (files: number, perFolder: number) => ({
  files,
  perFolder,
  folders: Math.ceil(files / perFolder),
});
export const filePath = (i: number, perFolder: number): string =>
  `/${folderName(Math.floor(i / perFolder))}/${fileName(i)}`;

/**
 * Writes the namespace of user `userName` (which must exist and own an empty namespace).
 * Returns { folders, files, revisions, ms: { rows, indexes, total }, schemaVersion }.
 */
export interface PopulateOptions {
  userName: string;
  files: number;
  revs: number;
  perFolder: number;
  blockFiles: boolean;
  ageMs?: number;
  log?: (msg: string) => void;
}

export interface Populated {
  schemaVersion: number;
  folders: number;
  files: number;
  revisions: number;
  ms: { rows: number; indexes: number; total: number };
}

export async function populate(
  dataDir: string,
  { userName, files, revs, perFolder, blockFiles, ageMs = 3 * DAY_MS, log }: PopulateOptions,
): Promise<Populated> {
  const t0 = performance.now();
  const db = new Database(path.join(dataDir, 'meta.db'));
  try {
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    const user = db.prepare('SELECT id, home_ns FROM users WHERE name = ?').get(userName) as
      { id: number; home_ns: number } | undefined;
    if (!user) throw new Error(`populate: no user ${userName} in ${dataDir}`);
    const ns = user.home_ns;
    const { root_id: rootId, head_seq: head } = db
      .prepare('SELECT root_id, head_seq FROM namespaces WHERE id = ?')
      .get(ns) as { root_id: number; head_seq: number };
    if (head !== 0) throw new Error(`populate: namespace ${ns} is not empty (head ${head})`);
    const device = db.prepare('SELECT id FROM devices WHERE user_id = ? ORDER BY id LIMIT 1').get(user.id) as
      { id: number } | undefined;
    const deviceId = device?.id ?? null;
    let nextNode = (db.prepare('SELECT MAX(id) AS m FROM nodes').get() as { m: number }).m + 1;

    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -1048576'); // 1 GiB: the random-key B-trees (hashes) stay in memory
    db.pragma('temp_store = MEMORY');
    const indexes = db
      .prepare(
        `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
          AND tbl_name IN (${TABLES.map(() => '?').join(', ')})`,
      )
      .all(...TABLES) as { name: string; sql: string }[];
    for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`);

    // Schema v4 keeps, per revision, when it stopped being current, and the blocks collection must
    // look at (candidates): filled as the store fills them, when the database has them.
    const hasSuperseded = db
      .prepare('SELECT 1 FROM pragma_table_info(?) WHERE name = ?')
      .get('revisions', 'superseded_at');
    const hasCandidates = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gc_candidates'")
      .get();
    const ins = {
      superseded: hasSuperseded
        ? db.prepare('UPDATE revisions SET superseded_at = ? WHERE ns_id = ? AND seq = ?')
        : null,
      candidate: hasCandidates ? db.prepare('INSERT INTO gc_candidates (hash) VALUES (?)') : null,
      node: db.prepare(
        'INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev) VALUES (?, ?, ?, ?, ?, 0, ?)',
      ),
      rev: db.prepare(
        `INSERT INTO revisions (ns_id, seq, node_id, op, parent_id, name, kind, deleted, size, mtime, mode,
                                content_seq, device_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`,
      ),
      content: db.prepare('INSERT INTO content_blocks (ns_id, seq, idx, hash, size) VALUES (?, ?, 0, ?, ?)'),
      block: db.prepare(
        'INSERT INTO blocks (hash, size, stored_size, created_at, touched_at) VALUES (?, ?, ?, ?, ?)',
      ),
      userBlock: db.prepare('INSERT INTO user_blocks (user_id, hash, uploaded_at) VALUES (?, ?, ?)'),
    };

    const { folders } = layout(files, perFolder);
    const base = Date.now() - ageMs;
    const at = (seq: number) => base + seq;
    const folderIds: number[] = [];
    db.transaction(() => {
      for (let d = 0; d < folders; d++) {
        const seq = d + 1;
        const id = nextNode++;
        folderIds.push(id);
        ins.node.run(id, ns, rootId, folderName(d), 'dir', seq);
        ins.rev.run(
          ns,
          seq,
          id,
          'mkdir',
          rootId,
          folderName(d),
          'dir',
          0,
          at(seq),
          0o755,
          null,
          deviceId,
          at(seq),
        );
      }
    })();
    const firstFile = nextNode;
    const fileSeq = (round: number, i: number) => folders + round * files + i + 1;
    const lastSeq = fileSeq(revs - 1, files - 1);
    const blocksRoot = path.join(dataDir, 'blocks');
    const madeDirs = new Set<string>();
    const total = files * revs;
    let done = 0;
    let lastLog = 0;
    const writeBatch = (round: number, from: number, to: number) =>
      db.transaction(() => {
        for (let i = from; i < to; i++) {
          const seq = fileSeq(round, i);
          const id = firstFile + i;
          const parent = folderIds[Math.floor(i / perFolder)];
          const name = fileName(i);
          const hash = createHash('sha256').update(`${ns}:${seq}`).digest('hex');
          const t = at(seq);
          if (round === 0) ins.node.run(id, ns, parent, name, 'file', fileSeq(revs - 1, i));
          ins.rev.run(
            ns,
            seq,
            id,
            round === 0 ? 'create' : 'commit',
            parent,
            name,
            'file',
            BLOCK_SIZE,
            t,
            0o644,
            seq,
            deviceId,
            t,
          );
          ins.content.run(ns, seq, hash, BLOCK_SIZE);
          ins.block.run(hash, BLOCK_SIZE, BLOCK_SIZE, t, t);
          ins.candidate?.run(hash);
          if (round > 0) ins.superseded?.run(t, ns, fileSeq(round - 1, i));
          ins.userBlock.run(user.id, hash, t);
          if (blockFiles) {
            const dir = path.join(blocksRoot, hash.slice(0, 2), hash.slice(2, 4));
            if (!madeDirs.has(dir)) {
              fs.mkdirSync(dir, { recursive: true });
              madeDirs.add(dir);
            }
            fs.writeFileSync(path.join(dir, hash), 'x');
          }
        }
      })();
    for (let round = 0; round < revs; round++) {
      for (let from = 0; from < files; from += TX_REVISIONS) {
        const to = Math.min(files, from + TX_REVISIONS);
        writeBatch(round, from, to);
        done += to - from;
        if (performance.now() - lastLog > 1000 || done === total) {
          lastLog = performance.now();
          const s = (lastLog - t0) / 1000;
          log?.(
            `populate: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} file revisions (${s.toFixed(0)} s)`,
          );
        }
      }
    }
    db.prepare('UPDATE namespaces SET head_seq = ? WHERE id = ?').run(lastSeq, ns);
    const tRows = performance.now();
    for (const { name, sql } of indexes) {
      const t = performance.now();
      db.exec(sql);
      log?.(`populate: index ${name} rebuilt in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const tIdx = performance.now();
    db.pragma('journal_mode = WAL');
    return {
      schemaVersion,
      folders,
      files,
      revisions: folders + total,
      ms: { rows: tRows - t0, indexes: tIdx - tRows, total: performance.now() - t0 },
    };
  } finally {
    db.close();
  }
}
