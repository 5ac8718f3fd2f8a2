/**
 * Moving a shared folder inside one's own tree (issue 13 item 1; docs/SHARING.md): a move whose
 * node is the root of a namespace the caller mounts changes the caller's mount record only (where
 * the folder shows in their tree). The folder, its other members and the owner see no change, so
 * any member may do it (a viewer too: nothing in the folder changes). The target must be in the
 * caller's home (not inside a shared folder: `CROSS_NAMESPACE`), its name free there.
 *
 * The answer is the move's usual `{rev, node}`: the root at its new place (its revision is the
 * namespace's, unchanged). The caller's long-polls wake: their other devices' next page carries
 * the root at its new place (view-journal.ts).
 */
import type { FastifyRequest } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import { toPlace } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import type { MoveBody } from './schemas.js';
import { mapPath, project, sameNs, viewOf } from './user-view.js';

/** Null when the move is not of a mount root (the ordinary move applies). */
export async function mountMoved(
  ctx: RouteContext,
  request: FastifyRequest,
  b: MoveBody,
): Promise<{ rev: number; node: Revision } | null> {
  const view = await viewOf(ctx.meta, request);
  if (!view.mounts.length) return null;
  let mount;
  if (b.id !== undefined) mount = view.byRoot.get(b.id);
  else if (b.path !== undefined) {
    const at = mapPath(view, b.path);
    if (at.path === '/') mount = view.byNs.get(at.ns);
  }
  if (!mount) return null;
  const toPath = await sameNs(ctx, view, view.home, { path: b.toPath, parentId: b.toParentId });
  const to = toPlace({ ...b, toPath });
  const moved = await ctx.meta.moveMount(
    ctx.actor(request),
    view.home,
    mount.ns,
    'toPath' in to ? { path: to.toPath } : { parentId: to.toParentId, name: to.toName },
  );
  if (moved.parentId !== mount.parentId || moved.name !== mount.name) {
    // Only this user's view changed: their long-polls (the home's waiters) resync the folder.
    ctx.hub.notify(view.home, Number.MAX_SAFE_INTEGER);
  }
  const root = await ctx.meta.getNode(mount.ns, { id: mount.rootId });
  if (!root) throw new LoftError('NOT_FOUND', `${b.path ?? `node ${b.id}`} does not exist`);
  const node = project({ ...view, byRoot: new Map([[moved.rootId, moved]]) }, root);
  return { rev: node.rev, node };
}
