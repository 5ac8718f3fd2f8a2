/**
 * `loft check` end to end: reads the server's side for a DriveSnapshot and compares the two
 * (tree-check.ts).
 *
 * Order matters, because the server keeps changing while it is read:
 *   1. the drive's snapshot (by the caller), at journal cursor C;
 *   2. the server's live tree, page by page (GET /v1/tree, paged by node id: no node that stays live
 *      is skipped or seen twice, however the tree moves meanwhile);
 *   3. the journal after C, to its end (GET /v1/changes): what the drive's pull has not reached.
 *      Read after 2, it holds every change made before any page of 2 was read, so a node of the
 *      mirror that 2 lacks was deleted after C exactly when it is in 3 (and its delete is never
 *      purged by retention). A drive that is current reads one empty page; one that is far behind
 *      reads what its pull would read anyway.
 *   4. only for mirror nodes that 2 lacks and 3 does not name (true divergence, so few): their
 *      tombstones (GET /v1/node?id=…), to say when the server deleted them.
 */
import { LoftError } from '../../shared/errors.js';
import type { ChangesPage, Revision, TreePageBody } from '../../shared/protocol.js';
import {
  compareTrees,
  contentDigest,
  type CheckReport,
  type DriveSnapshot,
  type ServerEntry,
} from './tree-check.js';

/** The server API the check needs (RemoteClient implements it). */
export interface CheckSource {
  tree(after: number, limit: number): Promise<TreePageBody>;
  nodeById(id: number): Promise<Revision>;
  changes(cursor: string, limit: number): Promise<ChangesPage>;
}

/** Nodes per tree page (the server's default; its maximum is 10,000). */
const TREE_PAGE = 1000;
/** Journal entries per page (the server's maximum). */
const CHANGES_PAGE = 10_000;
/** Tombstones looked up one by one at most; past it, the rest are "not on the server". */
const MAX_GONE_LOOKUPS = 1000;
/** Lookups in flight at once. */
const LOOKUP_CONCURRENCY = 8;

export interface DriveCheck {
  report: CheckReport;
  /** Live nodes on the server (the root included) and in the drive. */
  serverNodes: number;
  driveNodes: number;
}

export async function checkDrive(drive: DriveSnapshot, source: CheckSource): Promise<DriveCheck> {
  const entries: ServerEntry[] = [];
  for (let after = 0; ;) {
    const page = await source.tree(after, TREE_PAGE);
    for (const r of page.entries) entries.push(serverEntry(r));
    if (page.next === null) break;
    if (page.next <= after) throw new LoftError('INTERNAL', `tree paging went backwards at node ${after}`);
    after = page.next;
  }
  const live = new Set(entries.map((e) => e.serverId));
  const missing = new Set<number>();
  for (const e of drive.entries) if (e.serverId !== null && !live.has(e.serverId)) missing.add(e.serverId);

  // The journal after the drive's cursor: its first revision, and the latest of each missing node.
  let firstUnseen: number | null = null;
  const gone = new Map<number, number | null>();
  for (let cursor = drive.cursor; ;) {
    const page = await source.changes(cursor, CHANGES_PAGE);
    for (const e of page.entries) {
      firstUnseen ??= e.rev;
      if (missing.has(e.id)) gone.set(e.id, e.rev);
    }
    if (!page.hasMore || page.entries.length === 0) break;
    cursor = page.cursor;
  }

  const lookups = [...missing].filter((id) => !gone.has(id)).slice(0, MAX_GONE_LOOKUPS);
  for (let i = 0; i < lookups.length; i += LOOKUP_CONCURRENCY) {
    await Promise.all(
      lookups.slice(i, i + LOOKUP_CONCURRENCY).map(async (id) => {
        try {
          gone.set(id, (await source.nodeById(id)).rev);
        } catch (err) {
          if (!(err instanceof LoftError) || err.code !== 'NOT_FOUND') throw err;
          gone.set(id, null);
        }
      }),
    );
  }
  const report = compareTrees(drive, { entries, firstUnseen, gone });
  return { report, serverNodes: entries.length, driveNodes: drive.entries.length };
}

function serverEntry(r: Revision): ServerEntry {
  return {
    serverId: r.id,
    parentId: r.parentId,
    name: r.name,
    kind: r.kind,
    rev: r.rev,
    size: r.size,
    content: r.kind === 'file' ? contentDigest(r.blocks ?? []) : null,
  };
}
