/**
 * Shared folders (issue 13 item 1; README "Sharing"): share a folder of your tree with a user,
 * take a member out, leave, list. Paths are in the caller's tree (their home with the shared
 * folders they mount). A change of a user's mounts wakes that user's long-polls, whose next page
 * then brings the folder in (a snapshot) or takes it out (user-view.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ShareInfo } from '../../metastore/folder-store.js';
import type { RouteContext } from './route-context.js';

const strict = { additionalProperties: false } as const;
const Path = Type.String({ minLength: 1, maxLength: 8192 });
const User = Type.String({ minLength: 1, maxLength: 64 });

export const ShareBody = Type.Object(
  {
    path: Path,
    with: User,
    role: Type.Optional(Type.Union([Type.Literal('viewer'), Type.Literal('editor')])),
  },
  strict,
);
export type ShareBody = Static<typeof ShareBody>;

export const UnshareBody = Type.Object({ path: Path, with: User }, strict);
export type UnshareBody = Static<typeof UnshareBody>;

export const LeaveBody = Type.Object({ path: Path }, strict);
export type LeaveBody = Static<typeof LeaveBody>;

/** The wire names of the roles: owner, editor (write), viewer (read). */
export function roleName(role: string): string {
  return role === 'write' ? 'editor' : role === 'read' ? 'viewer' : role;
}

function wire(s: ShareInfo) {
  return {
    ns: s.ns,
    path: s.path,
    role: roleName(s.role),
    owner: s.owner,
    members: s.members.map((m) => ({ user: m.user, role: roleName(m.role) })),
  };
}

export function registerShareRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, actor } = ctx;
  const home = (request: FastifyRequest) => request.principal.homeNs;
  /** Wakes the long-polls of the users whose mounts changed (their next page resyncs the folder). */
  const mountsChanged = async (...users: string[]) => {
    for (const name of users) {
      const u = await meta.findUser(name);
      if (u) ctx.hub.notify(u.homeNs, Number.MAX_SAFE_INTEGER);
    }
  };

  app.post<{ Body: ShareBody }>('/v1/shares', { schema: { body: ShareBody } }, async (request) => {
    const b = request.body;
    const share = await meta.shareFolder(actor(request), home(request), {
      path: b.path,
      withUser: b.with,
      role: b.role === 'viewer' ? 'read' : 'write',
    });
    await mountsChanged(request.principal.userName, b.with);
    return wire(share);
  });

  app.post<{ Body: UnshareBody }>('/v1/shares/remove', { schema: { body: UnshareBody } }, async (request) => {
    const b = request.body;
    const share = await meta.unshareFolder(actor(request), home(request), b.path, b.with);
    await mountsChanged(b.with);
    return wire(share);
  });

  app.post<{ Body: LeaveBody }>('/v1/shares/leave', { schema: { body: LeaveBody } }, async (request) => {
    const left = await meta.leaveFolder(actor(request), home(request), request.body.path);
    await mountsChanged(request.principal.userName);
    return { ns: left.ns, path: left.path, owner: left.owner };
  });

  app.get('/v1/shares', async (request) => ({
    shares: (await meta.listShares(request.principal.userId, home(request))).map(wire),
  }));
}
