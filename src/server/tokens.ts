/**
 * Device tokens: 256 random bits, shown once, stored only as their SHA-256. A fast hash is right
 * here (unlike passwords): the token has full entropy, so there is nothing to brute-force.
 */
import { randomBytes } from 'node:crypto';
import { sha256hex } from '../shared/hash.js';

const TOKEN_PREFIX = 'loft_';
/** "loft_" + 43 base64url characters (32 bytes). */
export const TOKEN_RE = /^loft_[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return sha256hex(token);
}

/** The token in an `Authorization: Bearer …` header, or null when the header is absent or malformed. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m || !TOKEN_RE.test(m[1]!)) return null;
  return m[1]!;
}
