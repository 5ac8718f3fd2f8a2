/**
 * Web sessions. A sign-in registers a device named "web session" with an expiry (the same
 * devices table as the drive's tokens, so authentication, expiry and revocation are one code
 * path); its token travels only in the session cookie (HttpOnly: page scripts never see it;
 * SameSite=Strict: other sites' pages do not send it; Secure when the request came over TLS).
 *
 * CSRF: every state-changing request made with the cookie must carry `X-Loft-CSRF`, an HMAC of
 * the session token that the page gets from the sign-in answer or `GET /v1/web/session` (a JSON
 * answer another origin cannot read). Requests with a bearer token need none: a browser never
 * adds that header by itself.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LoftError } from '../../shared/errors.js';
import { TOKEN_RE } from '../tokens.js';

export const SESSION_COOKIE = 'loft_session';
export const CSRF_HEADER = 'x-loft-csrf';
export const SESSION_DEVICE = 'web session';
/** A week: a phone stays signed in across days; sign-out revokes at once. */
export const SESSION_TTL_MS = 7 * 24 * 3600_000;

/** The session token in a Cookie header, or null. */
export function sessionToken(cookieHeader: string | undefined): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return TOKEN_RE.test(value) ? value : null;
  }
  return null;
}

export function csrfToken(session: string): string {
  return createHmac('sha256', session).update('loft csrf v1').digest('base64url');
}

export function checkCsrf(session: string, header: string | string[] | undefined): void {
  const got = Buffer.from(typeof header === 'string' ? header : '');
  const want = Buffer.from(csrfToken(session));
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new LoftError('FORBIDDEN', `missing or wrong ${CSRF_HEADER} header (reload the page)`);
}

export function sessionCookie(token: string, secure: boolean, maxAgeMs: number): string {
  return (
    `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}` +
    (secure ? '; Secure' : '')
  );
}

export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` + (secure ? '; Secure' : '');
}
