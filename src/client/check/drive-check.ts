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
  pathsOf,
  type CheckReport,
  type DriveSnapshot,
  type ServerEntry,
} from './tree-check.js';

/** The server API the check needs (RemoteClient implements it). */
export interface CheckSource {
  tree(after: number, limit: number): Promise<TreePageBody>;
  nodeById(id: number): Promise<Revision>;
  changes(cursor: string, limit: number): Promise<ChangesPage>;
  /** The shared folders the user mounts (absent: none are checked). */
  shares?(): Promise<{ ns: number; path: string }[]>;
  /** A page of a shared folder's namespace. */
  treeOf?(ns: number, after: number, limit: number): Promise<TreePageBody>;
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

/** Every live node of a tree read page by page (`read(after)`). */
async function readTree(read: (after: number) => Promise<TreePageBody>): Promise<ServerEntry[]> {
  const entries: ServerEntry[] = [];
  for (let after = 0; ;) {
    const page = await read(after);
    for (const r of page.entries) entries.push(serverEntry(r));
    if (page.next === null) break;
    if (page.next <= after) throw new LoftError('INTERNAL', `tree paging went backwards at node ${after}`);
    after = page.next;
  }
  return entries;
}

/**
 * The shared folders the user mounts (issue 13 item 1), each namespace's live tree with its root
 * placed as the user's tree shows it (the folder of the home at the mount's path, its name): with
 * the home's, the tree the drive mirrors. Their node ids go in `shared`.
 */
async function sharedTrees(
  source: CheckSource,
  home: ServerEntry[],
  shared: Set<number>,
): Promise<ServerEntry[]> {
  if (!source.shares || !source.treeOf) return [];
  const treeOf = source.treeOf.bind(source);
  const shares = await source.shares();
  if (!shares.length) return [];
  const out: ServerEntry[] = [];
  const byPath = new Map<string, number>();
  const homePath = pathsOf(home);
  for (const e of home) byPath.set(homePath(e.serverId), e.serverId);
  const sorted = [...shares].sort((a, b) => a.path.length - b.path.length);
  for (const s of sorted) {
    const slash = s.path.lastIndexOf('/');
    const parentId = byPath.get(slash === 0 ? '/' : s.path.slice(0, slash));
    if (parentId === undefined) continue; // moved meanwhile: the drive's cursor says what follows
    const name = s.path.slice(slash + 1);
    for (const e of await readTree((after) => treeOf(s.ns, after, TREE_PAGE))) {
      shared.add(e.serverId);
      out.push(e.parentId === null ? { ...e, parentId, name, mountRoot: true } : e);
    }
  }
  return out;
}

export async function checkDrive(drive: DriveSnapshot, source: CheckSource): Promise<DriveCheck> {
  const entries = await readTree((after) => source.tree(after, TREE_PAGE));
  const shared = new Set<number>();
  entries.push(...(await sharedTrees(source, entries, shared)));
  const live = new Set(entries.map((e) => e.serverId));
  const missing = new Set<number>();
  for (const e of drive.entries) if (e.serverId !== null && !live.has(e.serverId)) missing.add(e.serverId);

  // The journal after the drive's cursor: its first revision, and the latest of each missing node.
  // Revisions are numbered per namespace: the home's first unseen one is a threshold for home
  // nodes; a shared folder's node is unseen when the journal after the cursor names it.
  let firstUnseen: number | null = null;
  const unseenIds = new Set<number>();
  const gone = new Map<number, number | null>();
  for (let cursor = drive.cursor; ;) {
    const page = await source.changes(cursor, CHANGES_PAGE);
    for (const e of page.entries) {
      if (shared.has(e.id)) unseenIds.add(e.id);
      else firstUnseen ??= e.rev;
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
  const report = compareTrees(drive, { entries, firstUnseen, gone, shared, unseenIds });
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
