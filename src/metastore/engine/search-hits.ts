/**
 * Search hits from node rows (name and content search): each node's path, size and time. A search
 * answers up to MAX_SEARCH_LIMIT hits, often in few folders, and on PostgreSQL every lookup is a
 * round trip, so the hits' sizes and times come in one query per namespace, and folders' paths
 * are looked up once per search (memo).
 */
import { LoftError } from '../../shared/errors.js';
import type { MetaTx, NodeRow } from './meta-tx.js';
import type { SearchHit } from './search.js';
import type { Step } from './step.js';
import { nodeById } from './tree-paths.js';

export function* hitsOf(tx: MetaTx, rows: readonly NodeRow[]): Step<SearchHit[]> {
  const folders = new Map<string, string[]>();
  function* folderPath(ns: number, id: number): Step<string[]> {
    const key = `${ns}:${id}`;
    let parts = folders.get(key);
    if (!parts) {
      const dir = yield* nodeById(tx, ns, id);
      parts = dir.parent_id === null ? [] : [...(yield* folderPath(ns, Number(dir.parent_id))), dir.name];
      folders.set(key, parts);
    }
    return parts;
  }
  const revs = new Map<string, { size: number; mtime: number }>();
  const byNs = new Map<number, number[]>();
  for (const node of rows) {
    const seqs = byNs.get(Number(node.ns_id)) ?? [];
    seqs.push(Number(node.rev));
    byNs.set(Number(node.ns_id), seqs);
  }
  for (const [ns, seqs] of byNs)
    for (const r of yield* tx.contentTx.hitRevisions(ns, seqs))
      revs.set(`${ns}:${r.seq}`, { size: Number(r.size), mtime: Number(r.mtime) });
  const hits: SearchHit[] = [];
  for (const node of rows) {
    const ns = Number(node.ns_id);
    const r = revs.get(`${ns}:${node.rev}`);
    if (!r) throw new LoftError('INTERNAL', `revision ${node.rev} of namespace ${ns} is missing`);
    const parts =
      node.parent_id === null ? [] : [...(yield* folderPath(ns, Number(node.parent_id))), node.name];
    hits.push({
      ns,
      id: Number(node.id),
      path: '/' + parts.join('/'),
      name: node.name,
      kind: node.kind,
      size: r.size,
      mtime: r.mtime,
      rev: Number(node.rev),
    });
  }
  return hits;
}
