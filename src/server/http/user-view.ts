/**
 * The user's view (issue 13 item 1, shared folders): ONE tree per user, their home with the root
 * of each shared namespace they mount shown where their mount record says (a folder of the home
 * and a name). Requests that name no namespace address this view: a path is mapped through the
 * mounts to (namespace, path inside it), a node id to the namespace that holds it (when the user
 * mounts it; else the home, where a stranger's node is NOT_FOUND as before), and every revision
 * answered is projected (a mount root gets its place in the user's tree).
 *
 * A user without mounts pays one small read per request and nothing else changes for them.
 */
import type { FastifyRequest } from 'fastify';
import type { MountInfo } from '../../metastore/folder-store.js';
import type { MetadataStore } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import { joinPath, splitPath } from '../../shared/paths.js';
import type { Revision } from '../../shared/protocol.js';
import type { RouteContext } from './route-context.js';

export interface UserView {
  home: number;
  mounts: MountInfo[];
  byRoot: Map<number, MountInfo>;
  byNs: Map<number, MountInfo>;
}

const views = new WeakMap<FastifyRequest, Promise<UserView>>();

/** The caller's view, read once per request. */
export function viewOf(meta: MetadataStore, request: FastifyRequest): Promise<UserView> {
  return views.get(request) ?? freshView(meta, request);
}

/** The caller's view read again (a long-poll woken by a change of the caller's mounts). */
export function freshView(meta: MetadataStore, request: FastifyRequest): Promise<UserView> {
  const p = request.principal;
  const v = meta.mountsOf(p.userId, p.homeNs).then((mounts) => ({
    home: p.homeNs,
    mounts,
    byRoot: new Map(mounts.map((m) => [m.rootId, m])),
    byNs: new Map(mounts.map((m) => [m.ns, m])),
  }));
  views.set(request, v);
  return v;
}

function isPrefix(prefix: readonly string[], of: readonly string[]): boolean {
  return prefix.length <= of.length && prefix.every((p, i) => of[i] === p);
}

/** A path of the user's tree as (namespace, path inside it). */
export function mapPath(view: UserView, path: string): { ns: number; path: string } {
  if (!view.mounts.length) return { ns: view.home, path };
  const parts = splitPath(path);
  for (const m of view.mounts) {
    const at = splitPath(m.path);
    if (isPrefix(at, parts)) return { ns: m.ns, path: joinPath(parts.slice(at.length)) };
  }
  return { ns: view.home, path };
}

/** The namespace of the user's view that holds node `id` (the home when no mount does). */
export async function nsOfId(meta: MetadataStore, view: UserView, id: number): Promise<number> {
  if (!view.mounts.length) return view.home;
  const ns = await meta.nsOfNode(id);
  return ns !== null && view.byNs.has(ns) ? ns : view.home;
}

/** The revision as the user sees it: a mount root at its place in the user's tree. */
export function project(view: UserView, r: Revision): Revision {
  const m = view.byRoot.get(r.id);
  if (!m) return r;
  const role = m.role === 'owner' ? 'owner' : m.role === 'write' ? 'editor' : 'viewer';
  return { ...r, parentId: m.parentId, name: m.name, mount: { role } };
}

interface Addressed {
  ns?: number | string | undefined;
  path?: string | undefined;
  id?: number | undefined;
  parentId?: number | undefined;
}

/**
 * The namespace a request's node or place is in (after the role check) and the request with its
 * path made relative to that namespace. An explicit `ns` is taken as it is.
 */
export async function locate<T extends Addressed>(
  ctx: RouteContext,
  request: FastifyRequest,
  b: T,
  need: 'read' | 'write',
): Promise<{ ns: number; b: T; view: UserView }> {
  const view = await viewOf(ctx.meta, request);
  if (b.ns !== undefined) return { ns: await ctx.namespace(request, b.ns, need), b, view };
  let ns = view.home;
  let out = b;
  if (b.path !== undefined) {
    const m = mapPath(view, b.path);
    ns = m.ns;
    out = { ...b, path: m.path };
  } else if (b.id !== undefined) ns = await nsOfId(ctx.meta, view, Number(b.id));
  else if (b.parentId !== undefined) ns = await nsOfId(ctx.meta, view, b.parentId);
  return { ns: await ctx.namespace(request, ns, need), b: out, view };
}

/** A second place of the same request (a move's target, a restore's copy) must be in `ns`. */
export async function sameNs(
  ctx: RouteContext,
  view: UserView,
  ns: number,
  to: { path?: string | undefined; parentId?: number | undefined },
): Promise<string | undefined> {
  let target = view.home;
  let path = to.path;
  if (to.path !== undefined) ({ ns: target, path } = mapPath(view, to.path));
  else if (to.parentId !== undefined) target = await nsOfId(ctx.meta, view, to.parentId);
  if (target !== ns) throw crossNamespace();
  return path;
}

export function crossNamespace(): LoftError {
  return new LoftError('CROSS_NAMESPACE', 'cannot move between a shared folder and the rest of your tree');
}
