/**
 * Accounts: users (each with a home namespace whose root they own), devices with their token
 * hashes, and namespace roles.
 */
import { LoftError } from '../../shared/errors.js';
import type { Principal, Role, UserRecord } from '../metadata-store.js';
import type { MetaTx } from './meta-tx.js';
import type { Step } from './step.js';

const USER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws BAD_REQUEST for a name no user may have (before any transaction is opened). */
export function checkUserName(name: string): void {
  if (!USER_NAME_RE.test(name)) {
    throw new LoftError(
      'BAD_REQUEST',
      'user name must be 1-64 of A-Z a-z 0-9 . _ - and start with a letter or digit',
    );
  }
}

export function* createUser(tx: MetaTx, name: string, now: number): Step<UserRecord> {
  checkUserName(name);
  if (yield* tx.findUser(name)) throw new LoftError('EXISTS', `user ${name} already exists`);
  const userId = yield* tx.insertUser(name, now);
  const ns = yield* tx.insertNs(userId, now);
  const rootId = yield* tx.insertNode(ns, null, '', 'dir', 0);
  yield* tx.setRoot(rootId, ns);
  yield* tx.insertRevision({
    ns,
    seq: 0,
    nodeId: rootId,
    op: 'mkdir',
    parentId: null,
    name: '',
    kind: 'dir',
    deleted: false,
    size: 0,
    mtime: now,
    mode: 0o755,
    contentSeq: null,
    deviceId: null,
    createdAt: now,
    restoredFrom: null,
  });
  yield* tx.insertMember(ns, userId, 'owner');
  yield* tx.setHome(ns, userId);
  return { id: userId, name, homeNs: ns };
}

export function* findUser(tx: MetaTx, name: string): Step<UserRecord | null> {
  const row = yield* tx.findUser(name);
  return row ? { id: row.id, name: row.name, homeNs: row.home_ns } : null;
}

export function* addDevice(
  tx: MetaTx,
  userId: number,
  name: string,
  tokenHash: string,
  expiresAt: number | null,
  now: number,
): Step<number> {
  return yield* tx.insertDevice(userId, name, tokenHash, now, expiresAt);
}

/**
 * A device's last-seen time is written at most once per this interval: every request
 * authenticates, and a write per request would cost the commit path a second statement.
 */
export const LAST_SEEN_RESOLUTION_MS = 60_000;

export function* authenticate(tx: MetaTx, tokenHash: string, now: number): Step<Principal | null> {
  const row = (yield* tx.auth(tokenHash, now)) as (Principal & { lastSeenAt?: number | null }) | undefined;
  if (!row) return null;
  const { lastSeenAt, ...principal } = row;
  if (lastSeenAt === null || lastSeenAt === undefined || now - lastSeenAt >= LAST_SEEN_RESOLUTION_MS)
    yield* tx.touchDevice(principal.deviceId, now);
  return principal;
}

export function* role(tx: MetaTx, userId: number, ns: number): Step<Role | null> {
  return (yield* tx.role(ns, userId)) ?? null;
}

export function* setPasswordHash(tx: MetaTx, name: string, hash: string | null): Step<void> {
  const user = yield* tx.findUser(name);
  if (!user) throw new LoftError('NOT_FOUND', `no user ${name}`);
  yield* tx.setPasswordHash(user.id, hash);
}

export function* passwordHash(
  tx: MetaTx,
  name: string,
): Step<{ userId: number; hash: string | null } | null> {
  const row = yield* tx.passwordHash(name);
  return row ? { userId: row.id, hash: row.password_hash } : null;
}

export function* revokeDevice(tx: MetaTx, tokenHash: string, now: number): Step<boolean> {
  return yield* tx.revokeDevice(tokenHash, now);
}

export function* installationId(tx: MetaTx): Step<string> {
  return yield* tx.installationId();
}
