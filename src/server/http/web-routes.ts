/**
 * The web interface's routes: the page and its assets at `/` (no CDN: everything the page loads
 * comes from here), sign-in and sign-out (src/server/web/session.ts explains the cookie and the
 * CSRF token), a file's bytes streamed from its blocks with HTTP ranges (downloads, previews, audio
 * and video that seek), and name search (also `loft search`).
 *
 * Everything else the page does (list, upload blocks, commit, mkdir, move, delete, history,
 * restore, the change journal's long-poll) uses the same /v1 routes as the drive, authenticated
 * by the session cookie.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkSearch } from '../../metastore/engine/search.js';
import { LoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';
import { hashToken, newToken } from '../tokens.js';
import { LoginThrottle } from '../web/login-throttle.js';
import { throttleStateFor } from '../throttle-state.js';
import { verifyPassword } from '../web/passwords.js';
import { clearedCookie, csrfToken, SESSION_DEVICE, SESSION_TTL_MS, sessionCookie } from '../web/session.js';
import { encodeCursor } from '../cursor.js';
import { nodeRef } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import { locate } from './user-view.js';

/** The page's files (web/ at the repository root; this file runs from dist/src/server/http/). */
export const WEB_DIR = fileURLToPath(new URL('../../../../web/', import.meta.url));
const WASM_FILE = createRequire(import.meta.url).resolve('fastcdc-wasm/fastcdc_wasm_bg.wasm');

const PUBLIC_ROUTES = new Set(['/', '/assets/:name', '/v1/web/signin']);
export function isPublicWebRoute(route: string | undefined): boolean {
  return route !== undefined && PUBLIC_ROUTES.has(route);
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.json': 'text/plain; charset=utf-8',
  '.csv': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
};

/** What a user's file may be served as inline: never as HTML or script of this origin. */
const INLINE_OK = /^(image\/(png|jpeg|gif|webp)|application\/pdf|audio\/|video\/|text\/plain)/;

/** The page: strict CSP (no inline script, no other origin), WebAssembly allowed for FastCDC. */
const PAGE_CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob:; media-src 'self'; " +
  "style-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** A user's file: sandboxed even when opened on its own. */
const FILE_CSP = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";

const SigninBody = Type.Object(
  { user: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ maxLength: 4096 }) },
  { additionalProperties: false },
);
type SigninBody = Static<typeof SigninBody>;
const QInt = Type.String({ pattern: '^[0-9]{1,15}$' });
const FileQuery = Type.Object(
  {
    ns: Type.Optional(QInt),
    path: Type.Optional(Type.String({ maxLength: 8192 })),
    id: Type.Optional(QInt),
    rev: Type.Optional(QInt),
    download: Type.Optional(Type.String({ pattern: '^[01]$' })),
  },
  { additionalProperties: false },
);
type FileQuery = Static<typeof FileQuery>;
const SearchQuery = Type.Object(
  { q: Type.String({ maxLength: 1024 }), limit: Type.Optional(QInt) },
  { additionalProperties: false },
);
type SearchQuery = Static<typeof SearchQuery>;

function isTls(request: FastifyRequest): boolean {
  return request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
}

function loadAssets(): Map<string, { body: Buffer; type: string }> {
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(WEB_DIR)) {
    const type = TYPES[path.extname(name)];
    if (type) assets.set(name, { body: readFileSync(path.join(WEB_DIR, name)), type });
  }
  assets.set('fastcdc_wasm_bg.wasm', { body: readFileSync(WASM_FILE), type: 'application/wasm' });
  return assets;
}

export function registerWebRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, blocks, clock } = ctx;
  const assets = loadAssets();
  const throttle = new LoginThrottle(clock, throttleStateFor(meta));

  const page = (reply: FastifyReply, name: string) => {
    const a = assets.get(name);
    if (!a) throw new LoftError('NOT_FOUND', `no asset ${name}`);
    return reply
      .header('content-type', a.type)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', PAGE_CSP)
      .header('referrer-policy', 'no-referrer')
      .send(a.body);
  };
  app.get('/', async (_request, reply) => page(reply, 'index.html'));
  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) =>
    page(reply, request.params.name),
  );

  app.post<{ Body: SigninBody }>(
    '/v1/web/signin',
    { schema: { body: SigninBody } },
    async (request, reply) => {
      const { user, password } = request.body;
      const keys = [`user:${user}`, `ip:${request.ip}`];
      await throttle.check(keys);
      const found = await meta.passwordHash(user);
      if (!found || !(await verifyPassword(password, found.hash))) {
        await throttle.failed(keys);
        // One answer for "no such user", "no web password" and "wrong password".
        throw new LoftError('UNAUTHORIZED', 'wrong user name or password');
      }
      await throttle.succeeded(keys);
      const token = newToken();
      const now = clock.now();
      await meta.addDevice(found.userId, SESSION_DEVICE, hashToken(token), now + SESSION_TTL_MS, now);
      const principal = (await meta.authenticate(hashToken(token), now))!;
      const root = await meta.getNode(principal.homeNs, { path: '/' });
      return reply
        .header('set-cookie', sessionCookie(token, isTls(request), SESSION_TTL_MS))
        .header('cache-control', 'no-store')
        .send({ user: principal.userName, ns: principal.homeNs, rootId: root?.id, csrf: csrfToken(token) });
    },
  );

  app.post('/v1/web/signout', async (request, reply) => {
    if (request.session) await meta.revokeDevice(hashToken(request.session), clock.now());
    return reply.header('set-cookie', clearedCookie(isTls(request))).send({ ok: true });
  });

  app.get('/v1/web/session', async (request, reply) => {
    const p = request.principal;
    const root = await meta.getNode(p.homeNs, { path: '/' });
    return reply.header('cache-control', 'no-store').send({
      user: p.userName,
      ns: p.homeNs,
      rootId: root?.id,
      csrf: request.session ? csrfToken(request.session) : null,
      // The journal's head: the page follows changes from here (live updates) without reading history.
      cursor: encodeCursor(p.homeNs, await meta.headSeq(p.homeNs)),
    });
  });

  app.get<{ Querystring: SearchQuery }>(
    '/v1/search',
    { schema: { querystring: SearchQuery } },
    async (request) => {
      const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
      checkSearch(request.query.q, limit);
      return meta.searchNames(request.principal.userId, request.query.q, limit);
    },
  );

  app.get<{ Querystring: FileQuery }>(
    '/v1/web/file',
    { schema: { querystring: FileQuery } },
    async (request, reply) => {
      const q = request.query;
      // In the caller's tree: a file of a shared folder by the path the caller sees it at.
      const id = q.id === undefined ? undefined : Number(q.id);
      const { ns, b } = await locate(ctx, request, { ns: q.ns, path: q.path, id }, 'read');
      const node = await meta.getNode(ns, nodeRef(b));
      if (!node || node.deleted)
        throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
      if (node.kind !== 'file') throw new LoftError('IS_DIR', `${node.name} is a folder`);
      let rev: Revision = node;
      if (q.rev !== undefined && Number(q.rev) !== node.rev) {
        const found = (await meta.listRevisions(ns, node.id)).find((r) => r.rev === Number(q.rev));
        if (!found || !found.blocks) throw new LoftError('NOT_FOUND', `no revision ${q.rev} with content`);
        rev = found;
      }
      const type = TYPES[path.extname(node.name).toLowerCase()] ?? 'application/octet-stream';
      const inline = q.download !== '1' && INLINE_OK.test(type);
      reply
        .header('content-type', inline ? type : 'application/octet-stream')
        .header(
          'content-disposition',
          `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(node.name)}`,
        )
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', FILE_CSP)
        .header('cache-control', 'private, no-cache')
        .header('etag', `"${node.id}-${rev.rev}"`)
        .header('accept-ranges', 'bytes');
      const size = rev.size;
      const range = fileRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        return reply
          .code(416)
          .header('content-range', `bytes */${size}`)
          .send({ error: { code: 'BAD_REQUEST', message: `range outside the file's ${size} bytes` } });
      }
      const [start, end] = range ?? [0, size];
      if (range) reply.code(206).header('content-range', `bytes ${start}-${end - 1}/${size}`);
      reply.header('content-length', String(end - start));
      if (request.method === 'HEAD' || end === start) return reply.send('');
      return reply.send(Readable.from(streamBlocks(rev.blocks ?? [], start, end)));
    },
  );

  /** The bytes [start, end) of a block list, block by block (memory: one block). */
  async function* streamBlocks(
    list: readonly BlockRef[],
    start: number,
    end: number,
  ): AsyncGenerator<Buffer> {
    let at = 0;
    for (const b of list) {
      const bStart = at;
      at += b.size;
      if (at <= start) continue;
      if (bStart >= end) return;
      const from = Math.max(start, bStart) - bStart;
      const to = Math.min(end, at) - bStart;
      if (from === 0 && to === b.size) {
        const data = await blocks.get(b.hash);
        if (!data) throw new LoftError('CORRUPT', `block ${b.hash} is missing from the store`);
        yield data;
      } else {
        const got = await blocks.getRange(b.hash, from, to);
        if (!got) throw new LoftError('CORRUPT', `block ${b.hash} is missing from the store`);
        yield got.data;
      }
    }
  }
}

/**
 * The one range [start, end) a Range header asks of a `size`-byte file: `bytes=A-B`, `bytes=A-`
 * or a suffix `bytes=-N`; null for the whole file (no header, or several ranges, which RFC 9110
 * lets a server answer whole); 'unsatisfiable' when it starts past the end.
 */
export function fileRange(
  header: string | undefined,
  size: number,
): [number, number] | null | 'unsatisfiable' {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (end <= start) return null;
  return [start, end];
}
