/**
 * `POST /v1/batch`: many tree changes (mkdir, commit, move, delete) in one request, one
 * transaction and one long-poll wake-up per namespace (docs/PROTOCOL.md, "Batches").
 *
 * A request goes through four steps:
 * 1. Shape (400/413 for the whole batch, nothing applied): the envelope, each op against its own
 *    schema, exactly one way of naming each node or place, references to earlier ops only, the
 *    inline content within MAX_INLINE_SIZE and matching the op's one block.
 * 2. Access, per op: the caller's role in the op's namespace (FORBIDDEN fails that op alone).
 * 3. Inline bytes, per op: verified against the hash and written to the BlockStore before the
 *    transaction (bytes first, record second, as a PUT does; garbage-collector.ts says why). A
 *    mismatch (HASH_MISMATCH) fails that op alone. Then every block a commit references is made
 *    durable (BlockStore.makeDurable, one group for the whole batch); one the store lost fails its
 *    op alone with BLOCK_UNUSABLE.
 * 4. The MetadataStore's `batch`: each op atomic on its own in one transaction; then each
 *    namespace that changed wakes its long-polls once.
 *
 * The answer is `{results: [...]}`, one per op in order: the single route's success body, or
 * `{error: {code, message, …details}}` as the single route would have answered.
 */
import type { FastifyInstance } from 'fastify';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import type { BatchOp, BatchOutcome, BatchPlace, InlineBlock } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import { MAX_BATCH_BODY, MAX_BATCH_OPS, MAX_INLINE_SIZE } from '../../shared/protocol.js';
import { lostBlocks, unusableError, writeBlockBytes } from './block-routes.js';
import { oneLine } from './request-fields.js';
import { batchNamespaces } from './batch-view.js';
import type { RouteContext } from './route-context.js';
import { project, viewOf } from './user-view.js';
import { BatchBody, BatchCommit, BatchDelete, BatchMkdir, BatchMove } from './schemas.js';

/** Inline blocks written at once (each write is a file; they are synced together in step 3b). */
const INLINE_WRITE_CONCURRENCY = 8;

const CHECKS: Record<string, TypeCheck<TSchema>> = {
  mkdir: TypeCompiler.Compile(BatchMkdir),
  commit: TypeCompiler.Compile(BatchCommit),
  move: TypeCompiler.Compile(BatchMove),
  delete: TypeCompiler.Compile(BatchDelete),
};

type WireOp = BatchMkdir | BatchCommit | BatchMove | BatchDelete;

/** An op after step 1: what the store runs, and the inline bytes to write first. */
interface Parsed {
  op: Exclude<BatchOp, { op: 'failed' }>;
  wireNs: number | undefined;
  inline?: Buffer;
}

export function registerBatchRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, namespace, actor, changed } = ctx;

  app.post<{ Body: BatchBody }>(
    '/v1/batch',
    { schema: { body: BatchBody }, bodyLimit: MAX_BATCH_BODY },
    async (request) => {
      const wire = request.body.ops;
      if (wire.length > MAX_BATCH_OPS)
        throw new LoftError('TOO_LARGE', `a batch holds at most ${MAX_BATCH_OPS} ops, not ${wire.length}`);
      const now = actor(request).now;
      const parsed = wire.map((op, i) => parse(op, i, now));

      // 2. Access, once per namespace named (or, naming none, the one its node is in: batch-view.ts).
      const where = await batchNamespaces(ctx, await viewOf(meta, request), parsed);
      const access = new Map<number | undefined, Promise<number>>();
      const ops: BatchOp[] = await Promise.all(
        parsed.map(async (p, i): Promise<BatchOp> => {
          const ns = where[i];
          if (ns instanceof LoftError) return { op: 'failed', ns: 0, error: ns };
          let check = access.get(ns);
          if (!check) {
            check = namespace(request, ns, 'write');
            check.catch(() => {}); // awaited below, by every op of that namespace
            access.set(ns, check);
          }
          try {
            return { ...p.op, ns: await check } as BatchOp;
          } catch (err) {
            if (!(err instanceof LoftError)) throw err;
            return { op: 'failed', ns: 0, error: err };
          }
        }),
      );

      // 2b. Quotas: commits that would go over their namespace owner's quota fail alone.
      await ctx.quota.admitBatch(ops);

      // 3. Inline bytes (the same content twice is written once).
      const written = new Map<string, { data: Buffer; done: Promise<InlineBlock> }>();
      const pending = parsed.flatMap((p, i) => (p.inline && ops[i]!.op === 'commit' ? [i] : []));
      const write = async (i: number): Promise<void> => {
        const op = ops[i] as Extract<BatchOp, { op: 'commit' }>;
        const data = parsed[i]!.inline!;
        const { hash, size } = op.blocks[0]!;
        let w = written.get(hash);
        if (!w || !w.data.equals(data)) {
          const done = writeBlockBytes(ctx, hash, data).then(({ seen, storedSize }) => ({
            hash,
            size,
            storedSize,
            seen,
          }));
          done.catch(() => {}); // awaited below, by every op with these bytes
          w = { data, done };
          if (!written.has(hash)) written.set(hash, w);
        }
        try {
          ops[i] = { ...op, inline: await w.done };
        } catch (err) {
          if (!(err instanceof LoftError)) throw err;
          ops[i] = { op: 'failed', ns: op.ns, error: err };
        }
      };
      const workers = Array.from({ length: Math.min(INLINE_WRITE_CONCURRENCY, pending.length) }, async () => {
        for (let i = pending.shift(); i !== undefined; i = pending.shift()) await write(i);
      });
      await Promise.all(workers);

      // 3b. Every block a commit references durable first; one the store lost fails its op alone.
      const refs = ops.flatMap((op) => (op.op === 'commit' ? op.blocks.map((b) => b.hash) : []));
      const lost = await lostBlocks(ctx, refs);
      if (lost.size) {
        for (let i = 0; i < ops.length; i++) {
          const op = ops[i]!;
          if (op.op !== 'commit' || !op.blocks.some((b) => lost.has(b.hash))) continue;
          // The store's own refusal (block-routes.ts, durableBlocks says why).
          const hashes = op.blocks.map((b) => b.hash);
          ops[i] = {
            op: 'failed',
            ns: op.ns,
            error: await unusableError(ctx, request.principal.userId, hashes, lost),
          };
        }
      }

      // 4. One transaction; each namespace that changed wakes its long-polls once.
      const outcomes = await meta.batch(actor(request), ops);
      const touched = new Set<number>();
      outcomes.forEach((o, i) => {
        if (o.ok && (o.deleted === undefined || o.deleted.length > 0)) touched.add(ops[i]!.ns);
      });
      for (const ns of touched) await changed(ns);
      const view = await viewOf(meta, request);
      return {
        results: outcomes.map((o, i) =>
          answer(o.ok && !('deleted' in o && o.deleted) ? { ...o, node: project(view, o.node) } : o, ops[i]!),
        ),
      };
    },
  );
}

/** The single route's answer for one outcome. */
function answer(o: BatchOutcome, op: BatchOp): unknown {
  if (!o.ok) return { error: { ...o.error.details, code: o.error.code, message: oneLine(o.error.message) } };
  if (op.op !== 'delete') return { rev: o.node.rev, node: o.node };
  const deleted = o.deleted ?? [];
  const rev = deleted[deleted.length - 1]?.rev ?? o.node.rev;
  return o.kept ? { rev, deleted, kept: o.kept } : { rev, deleted };
}

/** Step 1 for op #i: its schema, one way of naming each node and place, refs backwards, inline. */
function parse(raw: { op: string }, i: number, now: number): Parsed {
  const at = `ops[${i}]`;
  const check = Object.hasOwn(CHECKS, raw.op) ? CHECKS[raw.op] : undefined;
  if (!check)
    throw new LoftError('BAD_REQUEST', `${at}: unknown op "${raw.op}" (mkdir, commit, move, delete)`);
  if (!check.Check(raw)) {
    const e = check.Errors(raw).First()!;
    throw new LoftError('BAD_REQUEST', `${at}${e.path.replace(/\//g, '.')}: ${e.message}`);
  }
  const w = raw as WireOp;
  for (const key of ['ref', 'parentRef', 'toParentRef'] as const) {
    const ref = (w as { [k in typeof key]?: number })[key];
    if (ref !== undefined && ref >= i)
      throw new LoftError('BAD_REQUEST', `${at}.${key}: ${ref} is not an earlier op of this batch`);
  }
  const ns = 0; // set in step 2
  switch (w.op) {
    case 'mkdir':
      return {
        wireNs: w.ns,
        op: {
          op: 'mkdir',
          ns,
          place: placeOf(
            at,
            w.path,
            w.parentId,
            w.parentRef,
            w.name,
            '"path", "parentId" with "name", "parentRef" with "name"',
          ),
          mtime: w.mtime ?? now,
          mode: w.mode ?? 0o755,
          parents: w.parents ?? false,
        },
      };
    case 'commit': {
      const node =
        w.id !== undefined || w.ref !== undefined
          ? oneOf(at, {
              path: w.path,
              id: w.id,
              ref: w.ref,
              parentId: w.parentId,
              parentRef: w.parentRef,
              name: w.name,
            })
          : placeOf(at, w.path, w.parentId, w.parentRef, w.name, COMMIT_FORMS);
      if (w.parentRev === undefined && w.ref === undefined)
        throw new LoftError('BAD_REQUEST', `${at}: "parentRev" is required (null to create)`);
      let inline: Buffer | undefined;
      if (w.inline !== undefined) {
        // The size first (from the string's length), so an oversized one is not decoded at all.
        const bytes = Buffer.byteLength(w.inline, 'base64');
        if (bytes > MAX_INLINE_SIZE)
          throw new LoftError(
            'TOO_LARGE',
            `${at}.inline: ${bytes} bytes; at most ${MAX_INLINE_SIZE} inline (send it as a block)`,
          );
        inline = Buffer.from(w.inline, 'base64');
        // Buffer.from skips what is not base64: encoding back tells a clean string from one that is not.
        if (inline.toString('base64') !== w.inline)
          throw new LoftError('BAD_REQUEST', `${at}.inline: not base64 (standard alphabet, padded)`);
        if (w.blocks.length !== 1 || w.blocks[0]!.size !== inline.length)
          throw new LoftError(
            'BAD_REQUEST',
            `${at}.inline: must be the content of the op's one block (blocks: [{hash, size}])`,
          );
      }
      return {
        wireNs: w.ns,
        ...(inline ? { inline } : {}),
        op: {
          op: 'commit',
          ns,
          node,
          ...(w.parentRev !== undefined ? { parentRev: w.parentRev } : {}),
          blocks: w.blocks,
          size: w.size,
          mtime: w.mtime,
          mode: w.mode ?? 0o644,
        },
      };
    }
    case 'move':
      return {
        wireNs: w.ns,
        op: {
          op: 'move',
          ns,
          node: nodeOf(at, w),
          ...(w.parentRev !== undefined ? { parentRev: w.parentRev } : {}),
          to: placeOf(
            at,
            w.toPath,
            w.toParentId,
            w.toParentRef,
            w.toName,
            '"toPath", "toParentId" with "toName", "toParentRef" with "toName"',
          ),
          overwrite: w.overwrite ?? false,
          targetRev: w.targetRev,
        },
      };
    case 'delete':
      return {
        wireNs: w.ns,
        op: {
          op: 'delete',
          ns,
          node: nodeOf(at, w),
          ...(w.parentRev !== undefined ? { parentRev: w.parentRev } : {}),
          recursive: w.recursive ?? false,
          expect: w.expect,
        },
      };
  }
}

const COMMIT_FORMS = '"path", "id", "ref", "parentId" with "name", "parentRef" with "name"';

/** A node to change: exactly one of path, id, ref; parentRev then required unless by ref. */
function nodeOf(at: string, w: { path?: string; id?: number; ref?: number; parentRev?: number }) {
  const node = oneOf(at, { path: w.path, id: w.id, ref: w.ref });
  if (w.parentRev === undefined && w.ref === undefined)
    throw new LoftError('BAD_REQUEST', `${at}: "parentRev" is required`);
  return node;
}

function oneOf(
  at: string,
  f: { path?: string; id?: number; ref?: number; parentId?: number; parentRef?: number; name?: string },
): { path: string } | { id: number } | { ref: number } {
  const given = Object.entries(f).filter(([, v]) => v !== undefined);
  const one = given.length === 1 ? given[0]! : undefined;
  if (!one || (one[0] !== 'path' && one[0] !== 'id' && one[0] !== 'ref'))
    throw new LoftError('BAD_REQUEST', `${at}: give exactly one of ${COMMIT_FORMS}`);
  return { [one[0]]: one[1] } as { path: string } | { id: number } | { ref: number };
}

/** Where a new node goes (or a move's target): exactly one of a path, a folder id or an earlier op's folder. */
function placeOf(
  at: string,
  path: string | undefined,
  parentId: number | undefined,
  parentRef: number | undefined,
  name: string | undefined,
  forms: string,
): BatchPlace {
  const byId = parentId !== undefined;
  const byRef = parentRef !== undefined;
  const count = Number(path !== undefined) + Number(byId) + Number(byRef);
  if (count !== 1 || (byId || byRef) !== (name !== undefined))
    throw new LoftError('BAD_REQUEST', `${at}: give exactly one of ${forms}`);
  if (byId) return { parentId, name: name! };
  if (byRef) return { parentRef, name: name! };
  return { path: path! };
}
