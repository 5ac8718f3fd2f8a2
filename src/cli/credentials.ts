/**
 * Tokens and certificate authorities for the client commands, kept off command lines (issue 13,
 * items 4 and 5): `ps` shows every process's arguments to every local user, so a token is taken
 * from a file (`--token-file`, LOFT_TOKEN_FILE), the environment (LOFT_TOKEN) or a drive's state
 * directory, never required on argv. `--ca FILE` (LOFT_CA) names a PEM bundle of private CAs the
 * server's certificate may chain to, besides the system's.
 */
import { readFileSync } from 'node:fs';
import { LoftError } from '../shared/errors.js';
import { TOKEN_RE } from '../server/tokens.js';

/** The token in FILE: its first line, trimmed (as `loft user add … | tail -n1 > FILE` writes it). */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LoftError('BAD_REQUEST', `cannot read the token file ${file}: ${(err as Error).message}`);
  }
  const token = text.split('\n')[0]!.trim();
  // Never echo the content: it may be a token with a typo.
  if (!TOKEN_RE.test(token))
    throw new LoftError('BAD_REQUEST', `${file} does not hold a Loft device token on its first line`);
  return token;
}

/** The token from --token, --token-file, LOFT_TOKEN_FILE or LOFT_TOKEN, in that order (undefined: none). */
export function tokenFrom(opts: {
  token?: string | undefined;
  tokenFile?: string | undefined;
}): string | undefined {
  const env = (name: string) => process.env[name] || undefined;
  if (opts.token) return opts.token;
  const file = opts.tokenFile ?? env('LOFT_TOKEN_FILE');
  if (file) return readTokenFile(file);
  return env('LOFT_TOKEN');
}

/** The PEM text of a CA file (--ca, LOFT_CA), checked to hold a certificate. */
export function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LoftError('BAD_REQUEST', `cannot read the CA file ${file}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new LoftError('BAD_REQUEST', `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return pem;
}

/** The CA file to trust: --ca, else LOFT_CA, else the one remembered (undefined: the system's only). */
export function caFrom(opts: { ca?: string | undefined }, remembered?: string): string | undefined {
  return opts.ca ?? (process.env.LOFT_CA || undefined) ?? remembered;
}
