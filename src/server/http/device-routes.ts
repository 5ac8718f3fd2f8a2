/**
 * A user's devices (docs/PROTOCOL.md, "Devices"): list them with when each was made and last seen,
 * and revoke one by name. A revoked device's token is refused (401) from its next request on.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import type { RouteContext } from './route-context.js';

export const RevokeDeviceBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
export type RevokeDeviceBody = Static<typeof RevokeDeviceBody>;

export function registerDeviceRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, clock } = ctx;

  app.get('/v1/devices', async (request) => {
    const now = clock.now();
    const devices = await meta.listDevices(request.principal.userId);
    return {
      devices: devices.map((d) => ({
        name: d.name,
        createdAt: d.createdAt,
        lastSeenAt: d.lastSeenAt,
        expiresAt: d.expiresAt,
        revokedAt: d.revokedAt,
        live: d.revokedAt === null && (d.expiresAt === null || d.expiresAt > now),
        current: d.id === request.principal.deviceId,
      })),
    };
  });

  app.post<{ Body: RevokeDeviceBody }>(
    '/v1/devices/revoke',
    { schema: { body: RevokeDeviceBody } },
    async (request) => {
      const { name } = request.body;
      const revoked = await meta.revokeDevices(request.principal.userId, name, clock.now());
      if (revoked === 0) throw new LoftError('NOT_FOUND', `no live device named ${name}`);
      return { revoked };
    },
  );
}
