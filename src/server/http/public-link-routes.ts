/**
 * Share links, served without an account (docs/PROTOCOL.md, "Share links"):
 *
 *   GET /s/SECRET            the linked file (ranges: 206), or the linked folder's HTML listing
 *   GET /s/SECRET/a/b.txt    a file (or folder listing) below a linked folder
 *   GET /s/SECRET/?zip=1     a folder (and everything below it) as one zip stream
 *
 * Every failure that could tell something about a link (unknown or guessed secret, revoked,
 * expired, its node deleted, a path below it that is not there, its owner no longer a member of
 * the namespace) is the same 404. A link with a password asks for it with HTTP Basic auth (any user
 * name; `curl -u :PASSWORD`); wrong ones are throttled per link (link-secrets.ts).
 *
 * Files are streamed block by block from the BlockStore (never whole in memory), the bytes of the
 * revision current when the request came. Zips are store-only (no compression): most large files
 * are compressed already, and two cores are better spent serving; see README, "Share links".
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BlockStore } from '../../blockstore/block-store.js';
import type { LinkRecord } from '../../metastore/sharing-store.js';
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import { blockBytes, disposition, sendFolderZip } from './folder-zip.js';
import { hashLinkSecret, LINK_SECRET_RE, type PasswordThrottle, verifyPassword } from '../link-secrets.js';
import type { RouteContext } from './route-context.js';

interface LinkParams {
  secret: string;
  '*'?: string;
}

const notFound = (): LoftError => new LoftError('NOT_FOUND', 'no such link');

export function registerPublicLinkRoutes(
  app: FastifyInstance,
  ctx: RouteContext,
  throttle: PasswordThrottle,
): void {
  const { meta, clock } = ctx;

  async function serve(
    request: FastifyRequest<{ Params: LinkParams; Querystring: { zip?: string } }>,
    reply: FastifyReply,
  ) {
    const { secret } = request.params;
    if (!LINK_SECRET_RE.test(secret)) throw notFound();
    const link = await meta.findLink(hashLinkSecret(secret), clock.now());
    if (!link || !(await meta.role(link.userId, link.ns))) throw notFound();
    if (link.password !== null && !(await passwordOk(request, reply, link))) return reply;

    let node = await meta.getNode(link.ns, { id: link.nodeId });
    if (!node || node.deleted) throw notFound();
    const sub = (request.params['*'] ?? '').split('/').filter((p) => p !== '');
    for (const name of sub) {
      if (name === '.' || name === '..' || node.kind !== 'dir') throw notFound();
      const next: Revision | undefined = (await meta.listChildren(link.ns, node.id)).find(
        (c) => c.name === name,
      );
      if (!next) throw notFound();
      node = next;
    }
    noLeaks(reply);
    if (node.kind === 'file') return sendFile(request, reply, ctx.blocks, node);
    if (request.query.zip !== undefined) return sendFolderZip(reply, meta, ctx.blocks, link.ns, node);
    const children = await meta.listChildren(link.ns, node.id);
    const folderUrl = (parts: readonly string[]) =>
      `/s/${secret}/` + parts.map((p) => encodeURIComponent(p) + '/').join('');
    const base = folderUrl(sub);
    const up = sub.length > 0 ? folderUrl(sub.slice(0, -1)) : null;
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(listing(sub.length ? sub[sub.length - 1]! : node.name || 'Loft', base, up, children));
  }

  app.get('/s/:secret', serve);
  app.get('/s/:secret/*', serve);

  async function passwordOk(
    request: FastifyRequest,
    reply: FastifyReply,
    link: LinkRecord,
  ): Promise<boolean> {
    const wait = await throttle.waitMs(link.id);
    if (wait > 0) {
      void reply
        .code(429)
        .header('retry-after', String(Math.ceil(wait / 1000)))
        .send({ error: { code: 'TOO_MANY_REQUESTS', message: 'too many wrong passwords; try again later' } });
      return false;
    }
    const given = basicPassword(request.headers.authorization);
    if (given !== null && (await verifyPassword(given, link.password!))) {
      await throttle.succeeded(link.id);
      return true;
    }
    if (given !== null) await throttle.failed(link.id);
    void reply
      .code(401)
      .header('www-authenticate', 'Basic realm="Loft link", charset="UTF-8"')
      .send({
        error: {
          code: 'UNAUTHORIZED',
          message: given === null ? 'this link needs a password' : 'wrong password',
        },
      });
    return false;
  }
}

/** Hardening headers of every answer to a link: no caching by others, no Referer with the secret. */
function noLeaks(reply: FastifyReply): void {
  void reply
    .header('cache-control', 'private, no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff');
}

function sendFile(request: FastifyRequest, reply: FastifyReply, blocks: BlockStore, node: Revision) {
  const size = node.size;
  void reply
    .header('accept-ranges', 'bytes')
    .header('etag', `"${node.id}-${node.rev}"`)
    .header('last-modified', new Date(node.mtime).toUTCString())
    // Always a download: content shared by a user is never rendered on the server's origin.
    .header('content-disposition', disposition(node.name))
    .type('application/octet-stream');
  const range = byteRange(request.headers.range, size);
  if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${size}`).send();
  const { start, end } = range ?? { start: 0, end: size };
  if (range) void reply.code(206).header('content-range', `bytes ${start}-${end - 1}/${size}`);
  void reply.header('content-length', String(end - start));
  // An empty stream: fastify's HEAD route keeps the content-length set above for a stream (for a
  // string or nothing it sets the payload's length), and this one reads no block.
  if (request.method === 'HEAD') return reply.send(Readable.from([]));
  return reply.send(Readable.from(blockBytes(blocks, node.blocks ?? [], start, end)));
}

/**
 * The single range of a `Range` header within a file of `size` bytes: `bytes=A-B`, `bytes=A-` or a
 * suffix `bytes=-N`. null: send everything (no header, a malformed one, several ranges — RFC 9110
 * lets a server ignore those). 'unsatisfiable': it starts at or past the end (416).
 */
export function byteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'unsatisfiable' {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) return null;
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last)) return null;
  if (start >= size) return 'unsatisfiable';
  if (last < start) return null;
  return { start, end: Math.min(last + 1, size) };
}

/** The password of an `Authorization: Basic …` header (the user name is ignored), or null. */
function basicPassword(header: string | undefined): string | null {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

function listing(title: string, base: string, up: string | null, children: readonly Revision[]): string {
  const rows = [...children]
    .sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : 1) : a.kind === 'dir' ? -1 : 1))
    .map((c) => {
      const href = escapeHtml(base + encodeURIComponent(c.name) + (c.kind === 'dir' ? '/' : ''));
      const size = c.kind === 'dir' ? '' : String(c.size);
      return `<tr><td><a href="${href}">${escapeHtml(c.name)}${c.kind === 'dir' ? '/' : ''}</a></td><td>${size}</td><td>${new Date(c.mtime).toISOString()}</td></tr>`;
    });
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:2em}td{padding:0 1em 0 0}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p><a href="${escapeHtml(base)}?zip=1">Download all (zip)</a>${up !== null ? ` · <a href="${escapeHtml(up)}">Up</a>` : ''}</p>
<table><tr><th>Name</th><th>Bytes</th><th>Modified</th></tr>
${rows.join('\n')}
</table></body></html>
`;
}
