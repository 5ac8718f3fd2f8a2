/**
 * Block routes: which blocks the caller must send, upload (verified against the hash, stored once
 * globally, possession recorded per user) and download (only blocks the caller may read; one byte
 * range with the hashes of the pieces it covers).
 */
import type { FastifyInstance } from 'fastify';
import { BlockBody, SlabPool, type BlockHasher } from '../../blockstore/block-body.js';
import { putBody } from '../../blockstore/block-store.js';
import type { BlockState } from '../../metastore/metadata-store.js';
import { isLoftError, LoftError } from '../../shared/errors.js';
import { assertHash } from '../../shared/hash.js';
import { MAX_BLOCK_SIZE, PIECE_HASHES_HEADER } from '../../shared/protocol.js';
import type { RouteContext } from './route-context.js';
import { HashParams, MissingBody } from './schemas.js';

/**
 * A PUT that meets its block being garbage-collected waits and starts over (see
 * garbage-collector.ts, (d)); deleting one block takes milliseconds, so a few short waits suffice
 * before answering 503 (the client retries with backoff).
 */
const PUT_ATTEMPTS = 5;
const PUT_RETRY_MS = 50;

export function registerBlockRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, blocks, namespace } = ctx;
  app.post<{ Body: MissingBody }>(
    '/v1/blocks/missing',
    { schema: { body: MissingBody } },
    async (request) => {
      if (request.body.ns !== undefined) await namespace(request, request.body.ns, 'write');
      return { missing: await meta.missingBlocks(request.principal.userId, request.body.hashes) };
    },
  );

  app.put<{ Params: HashParams; Body: BlockBody }>(
    '/v1/blocks/:hash',
    { schema: { params: HashParams }, bodyLimit: MAX_BLOCK_SIZE },
    async (request, reply) => {
      const { hash } = request.params;
      const body = request.body;
      try {
        assertHash(hash);
        if (!(body instanceof BlockBody) || !isOctetStream(request.headers['content-type'])) {
          throw new LoftError(
            'UNSUPPORTED_MEDIA_TYPE',
            'send the block as Content-Type: application/octet-stream',
          );
        }
        const { created } = await storeBlock(ctx, request.principal.userId, hash, body);
        return reply.code(created ? 201 : 200).send({ hash, size: body.size, created });
      } finally {
        // The block is written (or refused): its slabs go back to the pool.
        if (body instanceof BlockBody) body.release();
      }
    },
  );

  app.get<{ Params: HashParams }>(
    '/v1/blocks/:hash',
    { schema: { params: HashParams } },
    async (request, reply) => {
      const { hash } = request.params;
      assertHash(hash);
      // "Not readable by you" and "absent" are the same 404: a hash alone reveals nothing.
      const notFound = () => new LoftError('NOT_FOUND', `no block ${hash} readable by you`);
      if (!(await meta.canReadBlock(request.principal.userId, hash))) throw notFound();
      reply
        .header('etag', `"${hash}"`)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .header('accept-ranges', 'bytes');
      const range = parseRange(request.headers.range);
      if (!range) {
        const data = await blocks.get(hash);
        if (!data) throw notFound();
        return reply.header('content-type', 'application/octet-stream').send(data);
      }
      const got = await blocks.getRange(hash, range.start, range.end);
      if (!got) throw notFound();
      if (got.data.length === 0) {
        return reply
          .code(416)
          .header('content-range', `bytes */${got.size}`)
          .send({ error: { code: 'BAD_REQUEST', message: `range outside the block's ${got.size} bytes` } });
      }
      if (got.pieces) reply.header(PIECE_HASHES_HEADER, got.pieces.join(','));
      return reply
        .code(206)
        .header('content-type', 'application/octet-stream')
        .header('content-range', `bytes ${range.start}-${range.start + got.data.length - 1}/${got.size}`)
        .send(got.data);
    },
  );
}

/**
 * Stores an uploaded block and records that `userId` holds it. Bytes first, record second; the
 * state read first tells recordUpload whether the bytes were already there (garbage-collector.ts
 * explains why this keeps uploads safe from collection). `created` is about this user: whether
 * someone else stored the bytes first is not revealed.
 */
async function storeBlock(
  ctx: RouteContext,
  userId: number,
  hash: string,
  body: BlockBody,
): Promise<{ created: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const { seen, storedSize } = await writeBlockBytes(ctx, hash, body);
    try {
      const created = await ctx.meta.recordUpload(userId, hash, body.size, storedSize, ctx.clock.now(), seen);
      return { created };
    } catch (err) {
      if (!isLoftError(err, 'UNAVAILABLE') || attempt >= PUT_ATTEMPTS) throw err;
    }
    await new Promise((r) => setTimeout(r, PUT_RETRY_MS * attempt));
  }
}

/**
 * Writes a block's bytes (verified against the hash by the BlockStore) once garbage collection is
 * not deleting it, and tells what the caller must pass to `recordUpload`: the state seen before the
 * write and the stored size. Bytes first, record second (garbage-collector.ts explains why).
 */
export async function writeBlockBytes(
  ctx: RouteContext,
  hash: string,
  data: Buffer | BlockBody,
): Promise<{ seen: BlockState; storedSize: number }> {
  for (let attempt = 1; ; attempt++) {
    const seen = await ctx.meta.blockState(hash);
    if (seen !== 'collecting') {
      const put = data instanceof BlockBody ? putBody(ctx.blocks, hash, data) : ctx.blocks.put(hash, data);
      return { seen, storedSize: (await put).storedSize };
    }
    if (attempt >= PUT_ATTEMPTS)
      throw new LoftError('UNAVAILABLE', `block ${hash} is being garbage-collected; send it again`);
    await new Promise((r) => setTimeout(r, PUT_RETRY_MS * attempt));
  }
}

/**
 * The durability barrier of a commit: waits until every block it references is durable (the
 * server's PUTs answer before that: block-flusher.ts) and throws BLOCK_UNUSABLE, as a commit of an
 * unknown block does, for those the store lost (written before a crash and never synced), so the
 * client sends them again. Called before the commit's metadata transaction: a committed revision
 * never references a block that a power loss could lose.
 *
 * The refusal is the metadata store's own (block-ledger.ts `checkBlocks`): same message, and
 * `missing` lists every block the caller cannot use, not only the lost ones. Otherwise a hash
 * unknown to the server (absent: "lost") and one another user stored (present, not the caller's)
 * would get different answers, and the answer would tell that someone has that content.
 */
export async function durableBlocks(
  ctx: Pick<RouteContext, 'blocks' | 'meta'>,
  userId: number,
  hashes: readonly string[],
): Promise<void> {
  const lost = await lostBlocks(ctx, hashes);
  if (lost.size) throw await unusableError(ctx, userId, hashes, lost);
}

/** BLOCK_UNUSABLE for the `hashes` (a commit's, in order) that are lost or not the user's to use. */
export async function unusableError(
  ctx: Pick<RouteContext, 'meta'>,
  userId: number,
  hashes: readonly string[],
  lost: ReadonlySet<string>,
): Promise<LoftError> {
  const notUsable = new Set(await ctx.meta.missingBlocks(userId, hashes));
  const missing = hashes.filter((h) => lost.has(h) || notUsable.has(h));
  return new LoftError('BLOCK_UNUSABLE', `${missing.length} block(s) must be uploaded before this commit`, {
    details: { missing: [...new Set(missing)] },
  });
}

/** Of `hashes`, those the block store does not hold durably (see durableBlocks). */
export async function lostBlocks(
  ctx: Pick<RouteContext, 'blocks'>,
  hashes: readonly string[],
): Promise<Set<string>> {
  return new Set(hashes.length ? await ctx.blocks.makeDurable(hashes) : []);
}

/**
 * Parses `application/octet-stream` bodies (block PUTs) into a BlockBody: each chunk is copied into
 * pooled slabs, so the block is never held in fresh memory, and hashed (whole block and 64 KiB
 * pieces): by `hasher` on libuv's thread pool once the body has arrived (block-body.ts says why;
 * app.ts picks it), else as each chunk arrives. Over `limit` bytes: 413 TOO_LARGE, without reading
 * the rest. The route releases the body once the block is written.
 */
export function registerBlockBodyParser(
  app: FastifyInstance,
  limit: number,
  hasher: BlockHasher | null = null,
): void {
  const pool = new SlabPool();
  app.addContentTypeParser('application/octet-stream', (request, payload, done) => {
    const declared = Number(request.headers['content-length']);
    const tooLarge = () =>
      Object.assign(new Error(`request body is larger than ${limit} bytes`), { statusCode: 413 });
    if (declared > limit) return void done(tooLarge(), undefined);
    const body = new BlockBody(pool, hasher);
    let failed = false;
    const onData = (chunk: Buffer | string) => {
      const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (body.size + c.length > limit) {
        stop();
        failed = true;
        body.release();
        return void done(tooLarge(), undefined);
      }
      body.push(c);
    };
    const onEnd = (err?: Error & { statusCode?: number }) => {
      stop();
      if (failed) return;
      if (err) {
        body.release();
        if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
        return void done(err, undefined);
      }
      if (!Number.isNaN(declared) && body.size !== declared) {
        body.release();
        const short = new Error('request body size did not match Content-Length');
        return void done(Object.assign(short, { statusCode: 400 }), undefined);
      }
      void body.finish().then(
        (b) => done(null, b),
        (err: Error) => done(err, undefined),
      );
    };
    const stop = () => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onEnd);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  });
}

function isOctetStream(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/octet-stream';
}

/**
 * The one byte range [start, end) a `Range: bytes=A-B` or `bytes=A-` header asks for (end may lie
 * past the block), or null to send the whole block: no header, a malformed one, a suffix range or
 * several ranges, which RFC 9110 lets a server ignore.
 */
export function parseRange(header: string | undefined): { start: number; end: number } | null {
  const m = header ? /^bytes=(\d+)-(\d*)$/.exec(header.trim()) : null;
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]) + 1;
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && end > start ? { start, end } : null;
}
