/**
 * The namespaces of a batch's ops in the caller's view (user-view.ts): an op that names no `ns`
 * goes to the namespace its node or place is in — a path through the caller's mounts (the path
 * rewritten inside that namespace), an id to the namespace holding it, a `ref` to the namespace
 * of that earlier op. A move whose target is in another namespace fails alone (CROSS_NAMESPACE).
 */
import type { BatchOp } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import type { RouteContext } from './route-context.js';
import { crossNamespace, mapPath, nsOfId, type UserView } from './user-view.js';

type Op = Exclude<BatchOp, { op: 'failed' }>;
type Where =
  { path: string } | { id: number } | { ref: number } | { parentId: number } | { parentRef: number };

/** Each op's namespace (undefined: the op names its own `ns`), or the error that fails it. */
export async function batchNamespaces(
  ctx: RouteContext,
  view: UserView,
  parsed: readonly { op: Op; wireNs: number | undefined }[],
): Promise<(number | LoftError | undefined)[]> {
  const out: (number | LoftError | undefined)[] = [];
  const nsOf = async (w: Where, i: number): Promise<number> => {
    if ('path' in w) {
      const m = mapPath(view, w.path);
      w.path = m.path;
      return m.ns;
    }
    if ('ref' in w || 'parentRef' in w) {
      const earlier = out['ref' in w ? w.ref : w.parentRef];
      if (typeof earlier === 'number') return earlier;
      throw new LoftError('FAILED_DEPENDENCY', `ops[${i}]: the op it refers to failed`);
    }
    return nsOfId(ctx.meta, view, 'id' in w ? w.id : w.parentId);
  };
  for (const [i, p] of parsed.entries()) {
    if (p.wireNs !== undefined || !view.mounts.length) {
      out.push(p.wireNs ?? (view.mounts.length ? undefined : view.home));
      continue;
    }
    try {
      const op = p.op;
      const where = (op.op === 'mkdir' ? op.place : op.node) as Where;
      const ns = await nsOf(where, i);
      if (op.op === 'move' && (await nsOf(op.to as Where, i)) !== ns) throw crossNamespace();
      out.push(ns);
    } catch (err) {
      if (!(err instanceof LoftError)) throw err;
      out.push(err);
    }
  }
  return out;
}
