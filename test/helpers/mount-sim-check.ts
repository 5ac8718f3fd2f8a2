/**
 * What MountSim (mount-sim.ts) compares: the server's tree and history read through the HTTP API,
 * a mount's tree walked with readdir/lstat and read through the mountpoint, and a plain model of
 * the tree (path → kind, size, SHA-256) that the schedule keeps while only one device changes
 * things. Adapted from the checkers of sync-sim.ts (`serverTree`, the history of (b)), which walk
 * in-process drives instead of mountpoints.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Revision } from '../../src/shared/protocol.js';
import type { Api } from './api.js';
import { cursorSeq, type Tree } from './sync-sim.js';

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const EMPTY_SHA = sha256(Buffer.alloc(0));
export const join = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
export const short = (sha: string | null): string => (sha ? sha.slice(0, 8) : '????????');

/** The server's side of the checks, through one device token of the user (not a simulated device). */
export class ServerView {
  readonly #blocks = new Map<string, Buffer>();

  constructor(readonly api: Api) {}

  async #block(hash: string): Promise<Buffer> {
    const hit = this.#blocks.get(hash);
    if (hit) return hit;
    const r = await this.api.get(`/v1/blocks/${hash}`);
    if (r.status !== 200) throw new Error(`GET /v1/blocks/${hash}: ${r.status}`);
    if (sha256(r.raw) !== hash) throw new Error(`block ${hash} does not match its hash`);
    this.#blocks.set(hash, r.raw);
    return r.raw;
  }

  /** SHA-256 of a revision's content: its blocks' bytes in order. */
  async contentSha(blocks: readonly { hash: string; size: number }[]): Promise<string> {
    if (blocks.length === 0) return EMPTY_SHA;
    if (blocks.length === 1) return blocks[0]!.hash; // blocks are verified against their hash
    const h = createHash('sha256');
    for (const b of blocks) h.update(await this.#block(b.hash));
    return h.digest('hex');
  }

  /** The server's live tree, walked through GET /v1/list from the root. */
  async tree(): Promise<Tree> {
    const tree: Tree = new Map();
    const who = await this.api.get('/v1/whoami');
    const walk = async (id: number, dir: string) => {
      const r = await this.api.get(`/v1/list?id=${id}`);
      if (r.status !== 200) throw new Error(`GET /v1/list?id=${id}: ${r.status}`);
      for (const e of r.body.entries as Revision[]) {
        const p = join(dir, e.name);
        if (e.kind === 'dir') {
          tree.set(p, { kind: 'dir', size: 0, sha: '' });
          await walk(e.id, p);
        } else {
          tree.set(p, { kind: 'file', size: e.size, sha: await this.contentSha(e.blocks ?? []) });
        }
      }
    };
    await walk(who.body.rootId as number, '/');
    return tree;
  }

  /** Every journal entry, oldest first, and the head's sequence number. */
  async journal(): Promise<{ entries: Revision[]; head: number }> {
    const entries: Revision[] = [];
    let cursor = '';
    for (;;) {
      const r = await this.api.get(`/v1/changes?limit=10000&cursor=${encodeURIComponent(cursor)}`);
      if (r.status !== 200) throw new Error(`GET /v1/changes: ${r.status} ${r.raw.toString()}`);
      entries.push(...(r.body.entries as Revision[]));
      cursor = r.body.cursor;
      if (!r.body.hasMore) return { entries, head: cursorSeq(cursor) };
    }
  }

  /**
   * SHA-256 of every content the server ever held: every revision of every file node the journal
   * names (GET /v1/revisions), deleted files and conflicted copies included. `problems` gets what
   * the history itself gets wrong (a journal revision the node's history lacks).
   */
  async history(problems: string[]): Promise<Set<string>> {
    const { entries } = await this.journal();
    const out = new Set<string>();
    for (const id of new Set(entries.filter((e) => e.kind === 'file').map((e) => e.id))) {
      const r = await this.api.get(`/v1/revisions?id=${id}`);
      if (r.status !== 200) {
        problems.push(`history: GET /v1/revisions?id=${id}: ${r.status}`);
        continue;
      }
      const revs = r.body.revisions as Revision[];
      const seen = new Set(revs.map((x) => x.rev));
      for (const e of entries)
        if (e.id === id && !seen.has(e.rev)) problems.push(`history: node ${id} lacks rev ${e.rev}`);
      for (const x of revs) if (!x.deleted && x.blocks) out.add(await this.contentSha(x.blocks));
    }
    return out;
  }
}

/**
 * A mount's tree through the mountpoint: readdir, lstat of every entry (the kernel's cached
 * attributes when it has them: what `ls -l` shows) and the content read with a fresh open. `size`
 * is lstat's; a file whose read gives another length is shown with the length read as `sha`'s
 * suffix, so it differs from every tree that has it right. A file that cannot be read (EIO: a
 * cloud-only file on an offline device) gets sha null, and `unreadable` names it.
 */
export async function mountTree(root: string, unreadable: string[] = []): Promise<Tree> {
  const tree: Tree = new Map();
  const walk = async (dir: string) => {
    const names = (await fs.readdir(path.join(root, dir))).sort();
    for (const name of names) {
      const p = join(dir, name);
      const st = await fs.lstat(path.join(root, p));
      if (st.isDirectory()) {
        tree.set(p, { kind: 'dir', size: 0, sha: '' });
        await walk(p);
        continue;
      }
      let sha = '';
      try {
        const data = await fs.readFile(path.join(root, p));
        sha = sha256(data) + (data.length === st.size ? '' : ` (read ${data.length}B)`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EIO') throw err;
        unreadable.push(p);
      }
      tree.set(p, { kind: 'file', size: st.size, sha });
    }
  };
  await walk('/');
  return tree;
}

/**
 * Differences between two trees; a file whose sha is '' on either side (content not known or not
 * readable) is compared by kind only.
 */
export function diffTrees(got: Tree, want: Tree, gotName: string, wantName: string): string[] {
  const out: string[] = [];
  const show = (e: { kind: string; size: number; sha: string }) =>
    e.kind === 'dir' ? 'dir' : `file ${e.size}B ${short(e.sha)}${e.sha.includes(' ') ? e.sha.slice(64) : ''}`;
  for (const [p, x] of got) {
    const y = want.get(p);
    if (!y) out.push(`${p}: only on ${gotName} (${show(x)})`);
    else if (x.kind !== y.kind) out.push(`${p}: ${gotName} ${show(x)} vs ${wantName} ${show(y)}`);
    else if (x.kind === 'file' && x.sha !== '' && y.sha !== '' && (x.size !== y.size || x.sha !== y.sha))
      out.push(`${p}: ${gotName} ${show(x)} vs ${wantName} ${show(y)}`);
  }
  for (const [p, y] of want) if (!got.has(p)) out.push(`${p}: only on ${wantName} (${show(y)})`);
  return out.sort();
}

/**
 * The tree a device must show while it is the only one that changed anything since the last sync
 * step: the synced tree with that device's successful ops applied. A file whose content is not
 * known (a handle held open, a write that failed half-way) has sha '' and is compared by kind only.
 */
export class TreeModel {
  constructor(readonly tree: Tree) {}

  write(p: string, content: Buffer | null): void {
    this.tree.set(p, { kind: 'file', size: content?.length ?? 0, sha: content ? sha256(content) : '' });
  }

  unknown(p: string): void {
    const e = this.tree.get(p);
    if (e?.kind === 'file') e.sha = '';
  }

  mkdir(p: string): void {
    this.tree.set(p, { kind: 'dir', size: 0, sha: '' });
  }

  remove(p: string): void {
    for (const k of [...this.tree.keys()]) if (k === p || k.startsWith(p + '/')) this.tree.delete(k);
  }

  rename(from: string, to: string): void {
    if (from === to || !this.tree.has(from)) return;
    this.remove(to);
    for (const [k, e] of [...this.tree]) {
      if (k !== from && !k.startsWith(from + '/')) continue;
      this.tree.delete(k);
      this.tree.set(to + k.slice(from.length), e);
    }
  }
}
