/**
 * Request schemas (JSON Schema via TypeBox), checked by fastify's Ajv before a handler runs.
 * Ajv is configured without type coercion and without removing unknown fields, so a wrongly typed
 * or unknown field is a 400, never silently "fixed". Query strings are strings, checked by pattern.
 */
import { Type, type Static } from '@sinclair/typebox';
import { MAX_BATCH_OPS, MAX_DELETE_EXPECT, MAX_HASHES_PER_REQUEST } from '../../shared/protocol.js';

const Hash = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Ns = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const NodeId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const Rev = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Size = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
// Path syntax (components, lengths) is checked by splitPath with precise messages; this only bounds it.
const Path = Type.String({ minLength: 1, maxLength: 8192 });
// One path component (checked by validateName); with a parentId it places a node inside that folder.
const Name = Type.String({ minLength: 1, maxLength: 1024 });
const Mtime = Type.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });
// Permission bits, optionally with S_IFLNK (0o120000): the drive stores a symlink as a file whose
// content is the target. Other file-type bits are refused.
const Mode = Type.Union([
  Type.Integer({ minimum: 0, maximum: 0o7777 }),
  Type.Integer({ minimum: 0o120000, maximum: 0o127777 }),
]);
const strict = { additionalProperties: false } as const;

export const MissingBody = Type.Object(
  { ns: Type.Optional(Ns), hashes: Type.Array(Hash, { maxItems: MAX_HASHES_PER_REQUEST }) },
  strict,
);
export type MissingBody = Static<typeof MissingBody>;

export const HashParams = Type.Object({ hash: Type.String() }, strict);
export type HashParams = Static<typeof HashParams>;

export const BlockRefSchema = Type.Object({ hash: Hash, size: Size }, strict);

export const CommitBody = Type.Object(
  {
    ns: Type.Optional(Ns),
    path: Type.Optional(Path),
    id: Type.Optional(NodeId),
    parentId: Type.Optional(NodeId),
    name: Type.Optional(Name),
    parentRev: Type.Union([Rev, Type.Null()]),
    blocks: Type.Array(BlockRefSchema),
    size: Size,
    mtime: Mtime,
    mode: Type.Optional(Mode),
  },
  strict,
);
export type CommitBody = Static<typeof CommitBody>;

export const MkdirBody = Type.Object(
  {
    ns: Type.Optional(Ns),
    path: Type.Optional(Path),
    parentId: Type.Optional(NodeId),
    name: Type.Optional(Name),
    mtime: Type.Optional(Mtime),
    mode: Type.Optional(Mode),
    parents: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type MkdirBody = Static<typeof MkdirBody>;

export const MoveBody = Type.Object(
  {
    ns: Type.Optional(Ns),
    path: Type.Optional(Path),
    id: Type.Optional(NodeId),
    parentRev: Rev,
    toPath: Type.Optional(Path),
    toParentId: Type.Optional(NodeId),
    toName: Type.Optional(Name),
    overwrite: Type.Optional(Type.Boolean()),
    targetRev: Type.Optional(Rev),
  },
  strict,
);
export type MoveBody = Static<typeof MoveBody>;

export const DeleteBody = Type.Object(
  {
    ns: Type.Optional(Ns),
    path: Type.Optional(Path),
    id: Type.Optional(NodeId),
    parentRev: Rev,
    recursive: Type.Optional(Type.Boolean()),
    /** With recursive: [id, rev] of each node below that the caller deletes (see RemoveOp.expect). */
    expect: Type.Optional(Type.Array(Type.Tuple([NodeId, Rev]), { maxItems: MAX_DELETE_EXPECT })),
  },
  strict,
);
export type DeleteBody = Static<typeof DeleteBody>;

export const RestoreBody = Type.Object(
  {
    ns: Type.Optional(Ns),
    path: Type.Optional(Path),
    id: Type.Optional(NodeId),
    /** The revision whose content comes back. */
    rev: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** Restore as a new file there instead (a copy). */
    toPath: Type.Optional(Path),
    /** For a live file: its current rev, or CONFLICT. */
    parentRev: Type.Optional(Rev),
  },
  strict,
);
export type RestoreBody = Static<typeof RestoreBody>;

const QInt = Type.String({ pattern: '^[0-9]{1,15}$' });
const QNs = Type.Optional(QInt);

export const NodeQuery = Type.Object(
  { ns: QNs, path: Type.Optional(Type.String({ maxLength: 8192 })), id: Type.Optional(QInt) },
  strict,
);
export type NodeQuery = Static<typeof NodeQuery>;

export const ChangesQuery = Type.Object(
  {
    ns: QNs,
    cursor: Type.Optional(Type.String({ maxLength: 8192 })),
    limit: Type.Optional(QInt),
  },
  strict,
);
export type ChangesQuery = Static<typeof ChangesQuery>;

export const WaitQuery = Type.Object(
  {
    ns: QNs,
    cursor: Type.Optional(Type.String({ maxLength: 8192 })),
    limit: Type.Optional(QInt),
    /** Seconds, fractions allowed. */
    timeout: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}(\\.[0-9]{1,3})?$' })),
  },
  strict,
);
export type WaitQuery = Static<typeof WaitQuery>;

export const DeletedQuery = Type.Object(
  {
    ns: QNs,
    path: Type.Optional(Type.String({ maxLength: 8192 })),
    id: Type.Optional(QInt),
    limit: Type.Optional(QInt),
  },
  strict,
);
export type DeletedQuery = Static<typeof DeletedQuery>;

export const TreeQuery = Type.Object(
  { ns: QNs, after: Type.Optional(QInt), limit: Type.Optional(QInt) },
  strict,
);
export type TreeQuery = Static<typeof TreeQuery>;

// ---- batch (POST /v1/batch) --------------------------------------------------------------------------
// The envelope is checked by fastify; each op by its own schema in batch-routes.ts, so that an error
// names the op (`ops[3].parentRev: …`) instead of "must match a schema in anyOf".

/** An earlier op of the same batch, by index. */
const OpRef = Type.Integer({ minimum: 0, maximum: MAX_BATCH_OPS });
/**
 * Standard base64 with padding, checked by the handler (decoded, then encoded again: the same
 * string or 400) and its decoded length against MAX_INLINE_SIZE (413). Not by a pattern here: a
 * regular expression over 87 KB took ~1.6 ms per op, more than the rest of the op's checks.
 */
const Base64 = Type.String();

export const BatchBody = Type.Object(
  // The count is checked by the handler (413 TOO_LARGE, not a schema 400).
  { ops: Type.Array(Type.Object({ op: Type.String({ maxLength: 32 }) })) },
  strict,
);
export type BatchBody = Static<typeof BatchBody>;

export const BatchMkdir = Type.Object(
  { ...MkdirBody.properties, op: Type.Literal('mkdir'), parentRef: Type.Optional(OpRef) },
  strict,
);
export type BatchMkdir = Static<typeof BatchMkdir>;

export const BatchCommit = Type.Object(
  {
    ...CommitBody.properties,
    op: Type.Literal('commit'),
    parentRev: Type.Optional(Type.Union([Rev, Type.Null()])),
    ref: Type.Optional(OpRef),
    parentRef: Type.Optional(OpRef),
    inline: Type.Optional(Base64),
  },
  strict,
);
export type BatchCommit = Static<typeof BatchCommit>;

export const BatchMove = Type.Object(
  {
    ...MoveBody.properties,
    op: Type.Literal('move'),
    parentRev: Type.Optional(Rev),
    ref: Type.Optional(OpRef),
    toParentRef: Type.Optional(OpRef),
  },
  strict,
);
export type BatchMove = Static<typeof BatchMove>;

export const BatchDelete = Type.Object(
  {
    ...DeleteBody.properties,
    op: Type.Literal('delete'),
    parentRev: Type.Optional(Rev),
    ref: Type.Optional(OpRef),
  },
  strict,
);
export type BatchDelete = Static<typeof BatchDelete>;
