/**
 * Web passwords: scrypt from node:crypto (memory-hard, no native dependency), stored as
 * `scrypt$N$r$p$salt$hash` (base64url) so the cost can rise later without breaking old hashes.
 *
 * N = 2^15, r = 8: 32 MiB and ~50-100 ms per hash here, OWASP's scrypt floor (2^17 with r=8 is
 * their first choice; 2^15 keeps a sign-in burst from holding 128 MiB per attempt on a small
 * server, and failures are throttled: login-throttle.ts).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { LoftError } from '../../shared/errors.js';

const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Longest password accepted: scrypt takes any length, but a megabyte "password" is an attack. */
export const MAX_PASSWORD_BYTES = 1024;
export const MIN_PASSWORD_CHARS = 8;

function scrypt(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export function checkNewPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD_CHARS)
    throw new LoftError('BAD_REQUEST', `password must have at least ${MIN_PASSWORD_CHARS} characters`);
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES)
    throw new LoftError('BAD_REQUEST', `password longer than ${MAX_PASSWORD_BYTES} bytes`);
}

export async function hashPassword(password: string): Promise<string> {
  checkNewPassword(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** A hash of nothing, verified when the user does not exist so timing does not tell who does. */
let dummy: Promise<string> | null = null;

/** True when `password` matches `stored`; null `stored` (no such user, no password) costs the same. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
  const target = stored ?? (await (dummy ??= hashPassword('not a real password')));
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(target);
  if (!m) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (n > 1 << 20 || r > 32 || p > 16) return false;
  const want = Buffer.from(m[5]!, 'base64url');
  const got = await scrypt(password, Buffer.from(m[4]!, 'base64url'), n, r, p);
  return stored !== null && got.length === want.length && timingSafeEqual(got, want);
}
