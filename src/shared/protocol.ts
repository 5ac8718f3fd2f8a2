/**
 * Types shared by the server and the client: what travels over the HTTP API (see docs/PROTOCOL.md).
 *
 * Revisions are numbered per namespace: every change (commit, mkdir, move, delete) takes the next
 * sequence number of its namespace, and a node's `rev` is the number of its latest change. The
 * journal is the list of revisions in that order, so "changes since cursor C" and "has node N changed
 * since I read it" are the same question.
 */
export type NodeKind = 'file' | 'dir';
export type RevisionOp = 'create' | 'commit' | 'mkdir' | 'move' | 'delete';

/**
 * Response header of a ranged block GET: the comma-separated hex SHA-256 of each whole piece
 * (shared/hash.ts PIECE_SIZE) the range covers; present when the range is piece-aligned.
 */
export const PIECE_HASHES_HEADER = 'loft-piece-hashes';

/** A ranged block GET as a client sees it: the bytes, the piece hashes sent, or the whole block. */
export interface BlockRangeAnswer {
  data: Buffer;
  /** Hex SHA-256 of each piece the bytes cover; null when the server sent none. */
  pieces: string[] | null;
  /** The server ignored the range and sent the whole block. */
  whole: boolean;
}

export interface BlockRef {
  hash: string;
  size: number;
}

/** One revision of a node: the node's full state after the change (a tombstone when `deleted`). */
export interface Revision {
  /** Namespace sequence number of this change; the node's revision. */
  rev: number;
  /** Stable node id: renames and moves keep it. */
  id: number;
  op: RevisionOp;
  /** Parent directory's node id; null only for the namespace root. */
  parentId: number | null;
  name: string;
  kind: NodeKind;
  deleted: boolean;
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtime: number;
  /** Permission bits (e.g. 0o644); the file type is `kind`. */
  mode: number;
  /** Ordered block list of a file's content; absent for directories and tombstones. */
  blocks?: BlockRef[];
  /** Name of the device that made the change (null for server-side changes). */
  device: string | null;
  /** Server time of the change, milliseconds since the epoch. */
  time: number;
  /** Set on a revision made by `POST /v1/restore`: the revision whose content it restored. */
  restoredFrom?: number;
  /** Set on the root of a shared folder as the caller's view shows it: the caller's role there. */
  mount?: { role: 'owner' | 'editor' | 'viewer' };
}

/** A deleted node whose history is still kept (`GET /v1/deleted`). */
export interface DeletedEntry {
  id: number;
  /** Its path when it was deleted. */
  path: string;
  kind: NodeKind;
  /** Size of its last content. */
  size: number;
  /** The delete revision (the node's current rev). */
  rev: number;
  /** Server time of the delete (ms). */
  deletedAt: number;
  /** Device that deleted it. */
  device: string | null;
  /** The last revision before the delete: what a restore brings back by default. */
  lastRev: number | null;
}

export interface ChangesPage {
  entries: Revision[];
  /** Opaque; pass it back to get what follows. */
  cursor: string;
  hasMore: boolean;
}

export interface ErrorBody {
  error: { code: string; message: string } & Record<string, unknown>;
}

/** Largest block the server accepts (the client's chunker caps chunks at 4 MiB; this leaves room). */
export const MAX_BLOCK_SIZE = 8 * 1024 * 1024;
/** Most hashes one "which blocks are missing" request may ask about. */
export const MAX_HASHES_PER_REQUEST = 100_000;
/**
 * Most nodes one recursive delete may list in `expect` (a device folds the queued deletes of what
 * lay in a folder into the folder's delete up to this many; ~20 bytes each as JSON).
 */
export const MAX_DELETE_EXPECT = 50_000;
/**
 * Most ops in one `POST /v1/batch`. A batch is one transaction that holds the namespace's write
 * lock (and, on SQLite, the server's event loop) while it runs. Measured here on SQLite with the
 * 2 cores busy with other work (load ~11): 100 commits in 55–150 ms, 1,000 in ~0.5 s, against
 * ~1.5 s for 1,000 single commits. So the cap bounds a stall at about half a second on a busy
 * machine; clients should send ~100 ops per batch, which already amortises the request and the
 * commit (scripts/bench/batch.mjs).
 */
export const MAX_BATCH_OPS = 1000;
/**
 * Largest content a batch's commit may carry inline (instead of a block PUT): 64 KiB. Below it a
 * separate PUT costs more in round trips and per-request work than base64 costs in bytes (+33%).
 */
export const MAX_INLINE_SIZE = 64 * 1024;
/** Largest batch body: room for MAX_BATCH_OPS ops, or about 190 inline files of 64 KiB in base64. */
export const MAX_BATCH_BODY = 16 * 1024 * 1024;
/** Largest journal page. */
export const MAX_CHANGES_LIMIT = 10_000;

/** One page of `GET /v1/tree`: live nodes by id (see docs/PROTOCOL.md). */
export interface TreePageBody {
  entries: Revision[];
  /** Pass as `after` for the next page; null on the last page. */
  next: number | null;
}

/** Largest `GET /v1/tree` page, in nodes. */
export const MAX_TREE_LIMIT = 10_000;
/**
 * A `GET /v1/tree` page also ends once its block lists hold this many block refs (~80 bytes each
 * as JSON): a page of huge files stays a few MiB.
 */
export const MAX_TREE_PAGE_BLOCKS = 50_000;
