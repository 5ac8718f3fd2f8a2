/**
 * The signed-in side of share links (docs/PROTOCOL.md, "Share links"): make one, list yours,
 * revoke one. The public side, which serves a link to anyone holding its URL, is
 * public-link-routes.ts.
 *
 * A link can be made only for a node of a namespace the caller can read (checked as every route
 * checks it), so a link to another user's file is impossible: their namespace is FORBIDDEN, and a
 * node id of theirs is NOT_FOUND in the caller's namespace.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import {
  hashLinkSecret,
  hashPassword,
  LINK_SECRET_RE,
  MAX_PASSWORD_LENGTH,
  newLinkSecret,
} from '../link-secrets.js';
import { nodeRef } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import { locate } from './user-view.js';

/** The longest a link may live (10 years); longer is a typo. */
const MAX_LINK_TTL_MS = 10 * 365 * 86_400_000;

const strict = { additionalProperties: false } as const;

export const LinkBody = Type.Object(
  {
    ns: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
    id: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    expiresInMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LINK_TTL_MS })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH })),
  },
  strict,
);
export type LinkBody = Static<typeof LinkBody>;

export const RevokeLinkBody = Type.Object(
  {
    id: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    secret: Type.Optional(Type.String({ maxLength: 128 })),
  },
  strict,
);
export type RevokeLinkBody = Static<typeof RevokeLinkBody>;

export function registerLinkRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, clock } = ctx;

  app.post<{ Body: LinkBody }>('/v1/links', { schema: { body: LinkBody } }, async (request) => {
    // In the caller's tree (user-view.ts): a file of a shared folder by the path they see it at.
    const { ns, b } = await locate(ctx, request, request.body, 'read');
    const node = await meta.getNode(ns, nodeRef(b));
    if (!node || node.deleted)
      throw new LoftError('NOT_FOUND', `${b.path ?? `node ${b.id}`}: no such file or folder`);
    const now = clock.now();
    const secret = newLinkSecret();
    const id = await meta.createLink(
      {
        userId: request.principal.userId,
        ns,
        nodeId: node.id,
        secretHash: hashLinkSecret(secret),
        expiresAt: b.expiresInMs === undefined ? null : now + b.expiresInMs,
        password: b.password === undefined ? null : await hashPassword(b.password),
      },
      now,
    );
    return {
      id,
      // Shown once: the server keeps only its hash.
      secret,
      path: `/s/${secret}`,
      kind: node.kind,
      expiresAt: b.expiresInMs === undefined ? null : now + b.expiresInMs,
    };
  });

  app.get('/v1/links', async (request) => {
    const now = clock.now();
    const links = await meta.listLinks(request.principal.userId);
    return {
      links: links.map((l) => ({
        ...l,
        live: l.revokedAt === null && (l.expiresAt === null || l.expiresAt > now) && l.path !== null,
      })),
    };
  });

  app.post<{ Body: RevokeLinkBody }>(
    '/v1/links/revoke',
    { schema: { body: RevokeLinkBody } },
    async (request) => {
      const b = request.body;
      if ((b.id === undefined) === (b.secret === undefined))
        throw new LoftError('BAD_REQUEST', 'give exactly one of "id" and "secret"');
      const userId = request.principal.userId;
      const now = clock.now();
      let id = b.id;
      if (b.secret !== undefined) {
        const link = LINK_SECRET_RE.test(b.secret)
          ? await meta.findLink(hashLinkSecret(b.secret), now)
          : null;
        id = link && link.userId === userId ? link.id : undefined;
      }
      // Another user's link and no link at all: the same answer.
      if (id === undefined || !(await meta.revokeLink(userId, id, now)))
        throw new LoftError('NOT_FOUND', 'no such live link of yours');
      return { revoked: id };
    },
  );
}
