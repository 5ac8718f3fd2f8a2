/**
 * Errors with a stable code, a one-line message and an optional cause.
 *
 * Every layer throws `LoftError`; the HTTP layer maps `code` to a status (see `httpStatus`), the FUSE
 * glue (later) maps it to an errno. Anything that is not a LoftError is a bug and becomes a 500/EIO,
 * logged once.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'BAD_PATH'
  | 'BAD_HASH'
  | 'BAD_CURSOR'
  | 'HASH_MISMATCH'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNAUTHORIZED'
  | 'TOO_MANY_REQUESTS'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'EXISTS'
  | 'NOT_DIR'
  | 'IS_DIR'
  | 'NOT_EMPTY'
  | 'CYCLE'
  | 'BLOCK_UNUSABLE'
  | 'FAILED_DEPENDENCY'
  | 'CORRUPT'
  | 'UNAVAILABLE'
  | 'QUOTA_EXCEEDED'
  /** A move or copy between two namespaces (a shared folder and the rest of a tree): EXDEV. */
  | 'CROSS_NAMESPACE'
  | 'INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  BAD_PATH: 400,
  BAD_HASH: 400,
  BAD_CURSOR: 400,
  HASH_MISMATCH: 400,
  BLOCK_UNUSABLE: 400,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  TOO_MANY_REQUESTS: 429,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  EXISTS: 409,
  NOT_DIR: 409,
  IS_DIR: 409,
  NOT_EMPTY: 409,
  CYCLE: 409,
  FAILED_DEPENDENCY: 424,
  CORRUPT: 500,
  UNAVAILABLE: 503,
  QUOTA_EXCEEDED: 403,
  CROSS_NAMESPACE: 409,
  INTERNAL: 500,
};

export class LoftError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable fields sent to the client (e.g. `currentRev` on a conflict). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LoftError';
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export function isLoftError(err: unknown, code?: ErrorCode): err is LoftError {
  return err instanceof LoftError && (code === undefined || err.code === code);
}

/**
 * The drive cannot talk to the server for now: unreachable (UNAVAILABLE), or its device token
 * refused (UNAUTHORIZED: revoked or expired). Either way it works offline: cached data stays
 * readable, local changes stay queued (never set aside as stuck), and `loft status` says why.
 */
export function isOfflineError(err: unknown): err is LoftError {
  return isLoftError(err, 'UNAVAILABLE') || isLoftError(err, 'UNAUTHORIZED');
}

export function httpStatus(code: ErrorCode): number {
  return STATUS[code];
}

/** The error codes that mean "someone else changed this first": the client must re-read and merge. */
export const CONFLICT_CODES: ReadonlySet<ErrorCode> = new Set([
  'CONFLICT',
  'EXISTS',
  'NOT_DIR',
  'IS_DIR',
  'NOT_EMPTY',
  'CYCLE',
]);

/** POSIX error names the filesystem boundary can answer. */
export type Errno =
  | 'EPERM'
  | 'ENOENT'
  | 'EIO'
  | 'EBADF'
  | 'EACCES'
  | 'EEXIST'
  | 'EXDEV'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EINVAL'
  | 'ENOSPC'
  | 'EROFS'
  | 'ERANGE'
  | 'ENAMETOOLONG'
  | 'ENOTEMPTY'
  | 'ENODATA'
  | 'ENOTSUP'
  | 'ETIMEDOUT'
  | 'EBUSY'
  | 'EFBIG';

/** An error at the filesystem boundary: a LoftError that also names the errno to answer. */
export class FsError extends LoftError {
  readonly errno: Errno;

  constructor(errno: Errno, message: string, options?: { cause?: unknown }) {
    super(ERRNO_CODE[errno], message, options);
    this.name = 'FsError';
    this.errno = errno;
  }
}

const ERRNO_CODE: Record<Errno, ErrorCode> = {
  EPERM: 'FORBIDDEN',
  ENOENT: 'NOT_FOUND',
  EIO: 'UNAVAILABLE',
  EBADF: 'BAD_REQUEST',
  EACCES: 'FORBIDDEN',
  EEXIST: 'EXISTS',
  EXDEV: 'BAD_REQUEST',
  ENOTDIR: 'NOT_DIR',
  EISDIR: 'IS_DIR',
  EINVAL: 'BAD_REQUEST',
  ENOSPC: 'TOO_LARGE',
  EROFS: 'FORBIDDEN',
  ERANGE: 'BAD_REQUEST',
  ENAMETOOLONG: 'BAD_PATH',
  ENOTEMPTY: 'NOT_EMPTY',
  ENODATA: 'NOT_FOUND',
  ENOTSUP: 'BAD_REQUEST',
  ETIMEDOUT: 'UNAVAILABLE',
  EBUSY: 'CONFLICT',
  EFBIG: 'TOO_LARGE',
};

const CODE_ERRNO: Partial<Record<ErrorCode, Errno>> = {
  NOT_FOUND: 'ENOENT',
  EXISTS: 'EEXIST',
  NOT_DIR: 'ENOTDIR',
  IS_DIR: 'EISDIR',
  NOT_EMPTY: 'ENOTEMPTY',
  BAD_PATH: 'EINVAL',
  BAD_REQUEST: 'EINVAL',
  FORBIDDEN: 'EACCES',
  TOO_LARGE: 'ENOSPC',
  CROSS_NAMESPACE: 'EXDEV',
};

/** The errno for any error: FsError's own, a mapped LoftError code, a full disk, else EIO. */
export function errnoOf(err: unknown): Errno {
  if (err instanceof FsError) return err.errno;
  if (err instanceof LoftError) return CODE_ERRNO[err.code] ?? 'EIO';
  // A full local disk stays a full disk for the writer, whichever layer met it.
  if (isDiskFull(err)) return 'ENOSPC';
  return 'EIO';
}

/** A full local disk: ENOSPC or EDQUOT from the file system, or SQLite's "database or disk is full". */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}
