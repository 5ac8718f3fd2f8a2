/**
 * `loft check` end to end: reads the server's side for a DriveSnapshot and compares the two
 * (tree-check.ts).
 *
 * Order matters, because the server keeps changing while it is read:
 *   1. the drive's snapshot (by the caller), at journal cursor C;
 *   2. the server's live tree, page by page (GET /v1/tree, paged by node id: no node that stays live
 *      is skipped or seen twice, however the tree moves meanwhile);
 *   3. for mirror nodes the live tree lacks, their tombstones (GET /v1/node?id=…): deleted when;
 *   4. last, the first journal entry after C (GET /v1/changes?cursor=C&limit=1). Every revision read
 *      in 2 and 3 is either at or before C (the drive should hold it) or at or after that entry (the
 *      pull has not reached it yet); when the journal holds nothing after C, everything read in 2
 *      and 3 was at or before C.
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
/** Tombstones looked up one by one at most; past it, the rest count as unknown on the server. */
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
  const missing = drive.entries
    .filter((e) => e.serverId !== null && !live.has(e.serverId))
    .map((e) => e.serverId!);
  const gone = new Map<number, number | null>();
  const lookups = missing.slice(0, MAX_GONE_LOOKUPS);
  for (let i = 0; i < lookups.length; i += LOOKUP_CONCURRENCY) {
    await Promise.all(
      lookups.slice(i, i + LOOKUP_CONCURRENCY).map(async (id) => {
        try {
          const n = await source.nodeById(id);
          // Live now (made live again after its page was read): as good as a change after C.
          gone.set(id, n.rev);
        } catch (err) {
          if (!(err instanceof LoftError) || err.code !== 'NOT_FOUND') throw err;
          gone.set(id, null);
        }
      }),
    );
  }
  const next = await source.changes(drive.cursor, 1);
  const firstUnseen = next.entries[0]?.rev ?? null;
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
