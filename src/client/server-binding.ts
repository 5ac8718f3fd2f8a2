/**
 * Which server a state directory belongs to. A mirror is bound, when it is made, to the server URL
 * it was made against and to the id of that server's installation (`GET /v1/whoami` reports it;
 * every server of one installation reports the same one, and `loft migrate` keeps it).
 *
 * Mounted with another `--server` URL, the drive follows it only when the new address serves the
 * same installation: the new server must accept the drive's token, report the recorded
 * installation id, and name the same user, home namespace and root. Then the cursor, the mirror
 * and the outbox stay valid (the installation's ids and journal sequences are the same), the new
 * URL is recorded and one line is logged. Anything else is refused with one line: a state dir
 * never syncs one installation's tree into another's.
 *
 * A state dir made before servers reported their installation learns it at its next mount against
 * its own URL; until then it cannot move (there is nothing to check the new server against).
 */
import { LoftError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { Mirror, MirrorIdentity } from './mirror/mirror.js';
import type { RemoteClient, WhoAmI } from './remote/remote-client.js';

export async function bindServer(
  mirror: Mirror,
  remote: RemoteClient,
  state: string,
  log: Logger,
): Promise<MirrorIdentity> {
  const identity = mirror.identity();
  if (!identity) {
    const me = await remote.whoami().catch((err: unknown) => {
      throw new LoftError(
        'UNAVAILABLE',
        `cannot reach ${remote.url} for the first sync: ${(err as Error).message}`,
      );
    });
    const made = { server: remote.url, user: me.user, ns: me.ns, rootId: me.rootId };
    mirror.initialize(made);
    mirror.setDevice(me.device);
    if (me.installation) mirror.setInstallation(me.installation);
    return made;
  }
  if (identity.server === remote.url) {
    if (mirror.device === null || mirror.installation === null) {
      // A state dir from before the device (or the installation) was recorded: learnt at the
      // first answer; the drive mounts meanwhile, offline if need be.
      void remote.whoami().then(
        (me) => {
          mirror.setDevice(me.device);
          if (me.installation && mirror.installation === null) mirror.setInstallation(me.installation);
        },
        () => {},
      );
    }
    return identity;
  }
  return moveServer(mirror, remote, identity, state, log);
}

async function moveServer(
  mirror: Mirror,
  remote: RemoteClient,
  identity: MirrorIdentity,
  state: string,
  log: Logger,
): Promise<MirrorIdentity> {
  const from = identity.server;
  const to = remote.url;
  const recorded = mirror.installation;
  if (recorded === null) {
    throw new LoftError(
      'BAD_REQUEST',
      `state directory ${state} belongs to ${identity.user} at ${from}, not ${to}, and does not know its installation id yet (mount it once against ${from} with this Loft to move it, or use another --state)`,
    );
  }
  let me: WhoAmI;
  try {
    me = await remote.whoami();
  } catch (err) {
    throw new LoftError(
      'UNAVAILABLE',
      `state directory ${state} belongs to ${from}; cannot check that ${to} serves the same installation: ${(err as Error).message}`,
    );
  }
  if (me.installation !== recorded) {
    throw new LoftError(
      'BAD_REQUEST',
      `state directory ${state} belongs to installation ${recorded} at ${from}; ${to} is ${me.installation ? `another installation (${me.installation})` : 'a server that reports no installation id'}; use another --state`,
    );
  }
  if (me.user !== identity.user || me.ns !== identity.ns || me.rootId !== identity.rootId) {
    throw new LoftError(
      'BAD_REQUEST',
      `state directory ${state} belongs to ${identity.user} (namespace ${identity.ns}); the token is ${me.user}'s (namespace ${me.ns}) at ${to}; use another --state`,
    );
  }
  mirror.setServer(to);
  log.warn(
    { from, to, installation: recorded },
    `server moved: ${from} → ${to} (same installation); cursor and mirror kept`,
  );
  return { ...identity, server: to };
}
