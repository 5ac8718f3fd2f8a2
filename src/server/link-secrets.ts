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
 *   A right password resets the count. The state is in memory (a restart forgets it) and bounded.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../shared/clock.js';

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
/** Links whose wrong-password counts are remembered; the oldest is forgotten past this. */
const MAX_TRACKED = 10_000;

interface Failures {
  count: number;
  lockedUntil: number;
}

export class PasswordThrottle {
  readonly #clock: Clock;
  readonly #byLink = new Map<number, Failures>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Milliseconds until the link's password may be tried again (0: now). */
  waitMs(linkId: number): number {
    const f = this.#byLink.get(linkId);
    return f ? Math.max(0, f.lockedUntil - this.#clock.now()) : 0;
  }

  failed(linkId: number): void {
    const f = this.#byLink.get(linkId) ?? { count: 0, lockedUntil: 0 };
    this.#byLink.delete(linkId); // re-inserted last: the map's order is by last failure
    f.count++;
    if (f.count > FREE_ATTEMPTS) {
      const lock = Math.min(FIRST_LOCK_MS * 2 ** (f.count - FREE_ATTEMPTS - 1), MAX_LOCK_MS);
      f.lockedUntil = this.#clock.now() + lock;
    }
    this.#byLink.set(linkId, f);
    if (this.#byLink.size > MAX_TRACKED) this.#byLink.delete(this.#byLink.keys().next().value!);
  }

  succeeded(linkId: number): void {
    this.#byLink.delete(linkId);
  }
}
