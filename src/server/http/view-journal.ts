/**
 * The journal a drive follows (issue 13 item 1): the caller's view (user-view.ts), their home's
 * journal merged with the journal of every shared namespace they mount, behind one cursor.
 *
 * Cursor. A user who mounts nothing gets the home's plain cursor ("c…", cursor.ts), exactly as
 * before. Otherwise the cursor is "v" + base64url of "v2:<home seq>" followed by one
 * ",<ns>.<seq>.<root>.<parent>.<tag>" per mounted namespace: the seq this drive has of it, and
 * the mount it came through (root node, parent in the home, a tag of its name). A plain cursor is
 * accepted everywhere (a drive from before the first share). Cursors are checked: every seq at
 * most its namespace's head; anything else is BAD_CURSOR.
 *
 * A page holds, in order: the home's entries; for each namespace in the cursor that the user no
 * longer mounts (removed, left), a tombstone of its root (rev: the cursor's seq + 1, newer than
 * anything the drive has of it), so the folder leaves the drive; for each the user mounts at
 * another place now (moved in their tree, mount-move.ts), the root at its new place (a move with
 * the same rev rule);
 * the entries of each namespace still mounted (its root projected to the mount's place); and for
 * each namespace the cursor does not hold yet (just shared), a snapshot of its live tree, parents
 * before children, after which the cursor follows its journal from the head read before the
 * listing (changes racing the listing come again from the journal; the drive skips what it has).
 * A snapshot waits until the home is caught up, so the mount's parent is on the drive first.
 * A snapshot is one page whatever its size (the limit applies to journal entries).
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { JournalRead, MetadataStore } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import {
  MAX_TREE_LIMIT,
  MAX_TREE_PAGE_BLOCKS,
  type ChangesPage,
  type Revision,
} from '../../shared/protocol.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { JournalHub } from '../journal-hub.js';
import { freshView, project, type UserView } from './user-view.js';

interface Held {
  seq: number;
  root: number;
  parent: number;
  tag: string;
}

interface ViewCursor {
  home: number;
  mounts: Map<number, Held>;
}

function tagOf(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 8);
}

function encode(home: number, homeSeq: number, mounts: Map<number, Held>): string {
  if (!mounts.size) return encodeCursor(home, homeSeq);
  const parts = [`v2:${homeSeq}`];
  for (const [ns, h] of mounts) parts.push(`${ns}.${h.seq}.${h.root}.${h.parent}.${h.tag}`);
  return 'v' + Buffer.from(parts.join(',')).toString('base64url');
}

const BAD = () => new LoftError('BAD_CURSOR', 'malformed cursor');

async function decode(meta: MetadataStore, view: UserView, cursor: string | undefined): Promise<ViewCursor> {
  const mounts = new Map<number, Held>();
  if (cursor === undefined || cursor === '' || cursor.startsWith('c'))
    return { home: decodeCursor(cursor, view.home, await meta.headSeq(view.home)), mounts };
  const m = /^v([A-Za-z0-9_-]{1,8192})$/.exec(cursor);
  if (!m) throw BAD();
  const [first, ...rest] = Buffer.from(m[1]!, 'base64url').toString('latin1').split(',');
  const h = /^v2:(\d{1,15})$/.exec(first ?? '');
  if (!h) throw BAD();
  const home = Number(h[1]);
  if (home > (await meta.headSeq(view.home)))
    throw new LoftError('BAD_CURSOR', 'cursor is ahead of the journal');
  for (const part of rest) {
    const p = /^(\d{1,15})\.(\d{1,15})\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{8})$/.exec(part);
    if (!p) throw BAD();
    const ns = Number(p[1]);
    const held = { seq: Number(p[2]), root: Number(p[3]), parent: Number(p[4]), tag: p[5]! };
    if (view.byNs.has(ns) && held.seq > (await meta.headSeq(ns)))
      throw new LoftError('BAD_CURSOR', 'cursor is ahead of the journal');
    mounts.set(ns, held);
  }
  return { home, mounts };
}

/** True when the cursor's mounts are the view's, at the same places. */
function sameMounts(view: UserView, cur: ViewCursor): boolean {
  if (cur.mounts.size !== view.mounts.length) return false;
  return view.mounts.every((m) => {
    const h = cur.mounts.get(m.ns);
    return !!h && h.root === m.rootId && h.parent === m.parentId && h.tag === tagOf(m.name);
  });
}

/** The namespace's live tree, parents before children (the root first). */
async function snapshot(meta: MetadataStore, ns: number, rootId: number): Promise<Revision[]> {
  const byParent = new Map<number, Revision[]>();
  let root: Revision | undefined;
  for (let after: number | null = 0; after !== null;) {
    const page = await meta.listTree(ns, after, MAX_TREE_LIMIT, MAX_TREE_PAGE_BLOCKS);
    for (const e of page.entries) {
      if (e.id === rootId) root = e;
      else if (e.parentId !== null) {
        const list = byParent.get(e.parentId);
        if (list) list.push(e);
        else byParent.set(e.parentId, [e]);
      }
    }
    after = page.next;
  }
  if (!root) return [];
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]!.id) ?? []));
  return out;
}

/**
 * A page shorter than `limit` read everything up to the head (one snapshot): its cursor is the
 * head. A shared folder's conversion moves revisions out of the home, so the home's last seqs may
 * hold no entry; without this the cursor would stay below the head and every page say hasMore.
 */
function done(read: JournalRead, limit: number): JournalRead {
  return read.entries.length < limit ? { ...read, last: read.head } : read;
}

/** One page of the view's journal after `cursor`. */
export async function viewChanges(
  meta: MetadataStore,
  view: UserView,
  cursor: string | undefined,
  limit: number,
  now: number,
): Promise<ChangesPage> {
  const cur = await decode(meta, view, cursor);
  const home = done(await meta.readJournal(view.home, cur.home, limit), limit);
  const entries = [...home.entries];
  let hasMore = home.last < home.head;
  const next = new Map<number, Held>();
  for (const [ns, h] of cur.mounts) {
    const m = view.byNs.get(ns);
    if (m && m.rootId === h.root && m.parentId === h.parent && tagOf(m.name) === h.tag) continue;
    const root = m && m.rootId === h.root ? await meta.getNode(ns, { id: m.rootId }) : null;
    if (m && root && !root.deleted) {
      // Moved within the user's tree (their mount record, mount-move.ts): the root at its new
      // place, newer than anything the drive has of it; the folder is followed on from here.
      entries.push({ ...project(view, root), op: 'move', rev: Math.max(root.rev, h.seq) + 1, time: now });
      cur.mounts.set(ns, { ...h, parent: m.parentId, tag: tagOf(m.name) });
      continue;
    }
    entries.push({
      rev: h.seq + 1,
      id: h.root,
      op: 'delete',
      parentId: h.parent,
      name: '',
      kind: 'dir',
      deleted: true,
      size: 0,
      mtime: now,
      mode: 0o755,
      device: null,
      time: now,
    });
    cur.mounts.delete(ns);
  }
  for (const m of view.mounts) {
    const h = cur.mounts.get(m.ns);
    const held = { root: m.rootId, parent: m.parentId, tag: tagOf(m.name) };
    if (h) {
      const r = done(await meta.readJournal(m.ns, h.seq, limit), limit);
      for (const e of r.entries) entries.push(project(view, e));
      if (r.last < r.head) hasMore = true;
      next.set(m.ns, { ...held, seq: r.last });
    } else if (home.last >= home.head) {
      const head = await meta.headSeq(m.ns);
      for (const e of await snapshot(meta, m.ns, m.rootId)) entries.push(project(view, e));
      next.set(m.ns, { ...held, seq: head });
    } else {
      hasMore = true; // its snapshot comes once the home is caught up
    }
  }
  return { entries, cursor: encode(view.home, home.last, next), hasMore };
}

/** True when the view has anything after `cursor` (a change, or mounts that differ). */
async function hasNews(meta: MetadataStore, view: UserView, cur: ViewCursor): Promise<boolean> {
  if (!sameMounts(view, cur)) return true;
  if ((await meta.headSeq(view.home)) > cur.home) return true;
  for (const [ns, h] of cur.mounts) if ((await meta.headSeq(ns)) > h.seq) return true;
  return false;
}

/**
 * The long-poll of the view: waits on the home and every mounted namespace at once (a change of
 * the user's mounts wakes the home's waiters, share-routes.ts), then answers a page.
 */
export async function waitViewChanges(
  meta: MetadataStore,
  hub: JournalHub,
  request: FastifyRequest,
  view: UserView,
  cursor: string | undefined,
  limit: number,
  timeoutMs: number,
  now: () => number,
): Promise<ChangesPage> {
  const cur = await decode(meta, view, cursor);
  const gone = new AbortController();
  const onClose = () => gone.abort();
  request.raw.once('close', onClose);
  try {
    // The mounts read again once the waits are registered: a change of them between the
    // request's start and then has woken nobody.
    const news = async () => hasNews(meta, await freshView(meta, request), cur);
    const waits = [
      hub.wait(view.home, cur.home, news, { timeoutMs, signal: gone.signal }),
      ...[...cur.mounts]
        .filter(([ns]) => view.byNs.has(ns))
        .map(([ns, h]) => hub.wait(ns, h.seq, news, { timeoutMs, signal: gone.signal })),
    ];
    for (const w of waits) w.catch(() => {}); // the race reports the first failure
    await Promise.race(waits);
  } finally {
    gone.abort();
    request.raw.off('close', onClose);
  }
  // Woken by a change of the user's mounts (or one racing it): the page follows the mounts as
  // they are now, so a folder joined, removed or moved arrives in this answer, not the next.
  return viewChanges(meta, await freshView(meta, request), cursor, limit, now());
}
