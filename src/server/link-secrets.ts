/**
 * Share link secrets and passwords.
 *
 * - A link's secret is 256 random bits (base64url) in its URL; the server stores only its SHA-256
 *   (like device tokens: full entropy, so a fast hash is right). A guessed secret is a 404.
 * - A link's password is stored as scrypt (N=2^14, r=8, p=1, 16-byte salt): passwords are chosen
 *   by people, so they get a slow hash.
 * - Wrong passwords are throttled per link (PasswordThrottle): FREE_ATTEMPTS wrong ones are free,
 *   then each further one locks the link's password check for twice as long as the last
 *   (1 s, 2 s, 4 s … at most MAX_LOCK_MS); while locked every attempt, right or wrong, is 429.
 *   A right password resets the count. The counts are in a ThrottleState (throttle-state.ts): in
 *   memory with one server (a restart forgets them; bounded), in the store that several share.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { MemoryThrottleState, type ThrottleState } from './throttle-state.js';

/** 43 base64url characters: 32 random bytes. */
export const LINK_SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

export function newLinkSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashLinkSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

const SCRYPT = { N: 16384, r: 8, p: 1 };
const KEY_LEN = 32;
/** Longest password accepted (scrypt's cost does not depend on it, but a body should stay small). */
export const MAX_PASSWORD_LENGTH = 1024;

function scryptAsync(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_LEN, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$<salt b64>$<key b64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const want = Buffer.from(key, 'base64');
  const got = await scryptAsync(password, Buffer.from(salt, 'base64'));
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Wrong passwords allowed before the throttle starts locking. */
export const FREE_ATTEMPTS = 5;
/** The first lock; each further wrong password doubles it. */
export const FIRST_LOCK_MS = 1_000;
/** The longest lock (an attacker gets at most one guess per this, per link). */
export const MAX_LOCK_MS = 15 * 60_000;
/** The lock after the n-th wrong password in a row. */
function lockFor(count: number): number {
  return count > FREE_ATTEMPTS ? Math.min(FIRST_LOCK_MS * 2 ** (count - FREE_ATTEMPTS - 1), MAX_LOCK_MS) : 0;
}

export class PasswordThrottle {
  readonly #clock: Clock;
  readonly #state: ThrottleState;

  /** `state`: where the counts live (default: this process's memory; throttle-state.ts). */
  constructor(clock: Clock, state: ThrottleState = new MemoryThrottleState()) {
    this.#clock = clock;
    this.#state = state;
  }

  /** Milliseconds until the link's password may be tried again (0: now). */
  async waitMs(linkId: number): Promise<number> {
    return Math.max(0, (await this.#state.until([key(linkId)])) - this.#clock.now());
  }

  async failed(linkId: number): Promise<void> {
    await this.#state.fail(key(linkId), this.#clock.now(), lockFor);
  }

  async succeeded(linkId: number): Promise<void> {
    await this.#state.clear([key(linkId)]);
  }
}

function key(linkId: number): string {
  return `link:${linkId}`;
}
