/**
 * `loft serve --trust-proxy ADDR[,ADDR…]`: the load balancers (addresses or CIDR ranges) whose
 * X-Forwarded-For header is believed. Behind a balancer every request comes from the balancer's
 * address; without this the per-address sign-in throttle (web/login-throttle.ts) would count every
 * client's failures under that one address, and one guesser would hold everyone's sign-in. Only
 * the listed peers are believed (fastify's trustProxy walks the header from the right, skipping
 * trusted hops): a client cannot pose as another address by sending the header itself.
 */
import net from 'node:net';
import { LoftError } from '../shared/errors.js';

/** The list, checked: each entry an IPv4/IPv6 address, optionally with a /prefix. */
export function parseTrustProxy(value: string): string[] {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0)
    throw new LoftError('BAD_REQUEST', '--trust-proxy needs addresses: 10.0.0.5,10.0.1.0/24');
  for (const e of entries) {
    const [addr, prefix, extra] = e.split('/');
    const kind = net.isIP(addr ?? '');
    const max = kind === 4 ? 32 : 128;
    const okPrefix =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max && extra === undefined);
    if (!kind || !okPrefix)
      throw new LoftError('BAD_REQUEST', `--trust-proxy: not an address or CIDR range: ${e}`);
  }
  return entries;
}
