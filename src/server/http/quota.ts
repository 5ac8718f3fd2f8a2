/**
 * Quotas (issue 13, item 7): the live files of the namespaces a user owns may hold at most their
 * quota (`loft user quota NAME 10G`). A commit that would grow them past it is refused with
 * QUOTA_EXCEEDED (403, details: quotaBytes, usedBytes, neededBytes); one that shrinks or keeps the
 * size always passes, so an over-quota user can still edit down and delete. Shared folders count
 * against the namespace's owner (`quotaOf` looks the owner up).
 *
 * Soft by design: the check reads the usage before the commit's own transaction, so commits racing
 * each other may overshoot by what they add together. Only live files count (not old revisions,
 * not blocks sent but never committed, which garbage collection removes after its grace period).
 */
import type { BatchOp, MetadataStore, NodeRef } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';

/** Bytes a commit of `size` bytes at `node` adds: the size less that of the live file it replaces. */
export async function growthOf(
  meta: MetadataStore,
  ns: number,
  node: NodeRef | { parentId: number; name: string } | { ref: number },
  size: number,
): Promise<number> {
  if ('id' in node || 'path' in node) {
    const current = await meta.getNode(ns, node).catch(() => null);
    if (current && !current.deleted && current.kind === 'file') return size - current.size;
  }
  return size;
}

/** Throws QUOTA_EXCEEDED when `growth` more bytes would put the namespace's owner over quota. */
export async function checkQuota(meta: MetadataStore, ns: number, growth: number): Promise<void> {
  if (growth <= 0) return;
  const q = await meta.quotaOf(ns);
  if (!q || q.quotaBytes === null) return;
  if (q.usedBytes + growth > q.quotaBytes) throw quotaError(q.quotaBytes, q.usedBytes, growth);
}

function quotaError(quotaBytes: number, usedBytes: number, neededBytes: number): LoftError {
  return new LoftError(
    'QUOTA_EXCEEDED',
    `over quota: ${usedBytes} of ${quotaBytes} bytes used, this change needs ${neededBytes} more`,
    { details: { quotaBytes, usedBytes, neededBytes } },
  );
}

/**
 * The batch's commits that would go over quota become failed ops (in order: the first ones that
 * fit pass, each counted before the next is checked).
 */
export async function applyBatchQuota(meta: MetadataStore, ops: BatchOp[]): Promise<void> {
  const state = new Map<number, { quota: number | null; used: number }>();
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.op !== 'commit') continue;
    let s = state.get(op.ns);
    if (!s) {
      const q = await meta.quotaOf(op.ns);
      s = { quota: q?.quotaBytes ?? null, used: q?.usedBytes ?? 0 };
      state.set(op.ns, s);
    }
    if (s.quota === null) continue;
    const growth = await growthOf(meta, op.ns, op.node as NodeRef, op.size);
    if (growth > 0 && s.used + growth > s.quota)
      ops[i] = { op: 'failed', ns: op.ns, error: quotaError(s.quota, s.used, growth) };
    else s.used += growth;
  }
}
