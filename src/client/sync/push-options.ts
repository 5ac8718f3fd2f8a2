/** What the push loop is given (its remote, the mirror, the Vfs, …) and what it reports. */
import type { ChunkAhead } from '../upload/chunk-ahead.js';
import type { Timers } from '../../shared/clock.js';
import type { Revision } from '../../shared/protocol.js';
import type { ChunkedFile, ChunkOptions } from '../chunk/chunk-file.js';
import type { Connectivity } from '../hydrate/hydrator.js';
import type { Mirror } from '../mirror/mirror.js';
import type {
  BatchOpRequest,
  BatchOpResult,
  DeleteRequest,
  MkdirRequest,
  MoveRequest,
} from '../remote/remote-client.js';
import type { UploadTarget, Uploader } from '../upload/uploader.js';
import type { Vfs } from '../vfs/vfs.js';
import type { SyncLock } from './sync-lock.js';

export interface PushRemote extends UploadTarget {
  mkdir(req: MkdirRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
  move(req: MoveRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
  delete(
    req: DeleteRequest,
    signal?: AbortSignal,
  ): Promise<{ rev: number; deleted: Revision[]; kept?: Revision[] }>;
  node(path: string, signal?: AbortSignal): Promise<Revision>;
  nodeById(id: number, signal?: AbortSignal): Promise<Revision>;
  list(id: number, signal?: AbortSignal): Promise<Revision[]>;
  /** Many tree changes in one request (POST /v1/batch); without it every op goes alone. */
  batch?(ops: readonly BatchOpRequest[], signal?: AbortSignal): Promise<BatchOpResult[]>;
}

export interface PushLoopOptions {
  remote: PushRemote;
  mirror: Mirror;
  vfs: Vfs;
  uploader: Uploader;
  /** Chunks a complete local file off this thread (telling `options.onBlocks` as it goes). */
  chunkFile: (path: string, options?: ChunkOptions) => Promise<ChunkedFile>;
  /** New files chunked while they are written (none: every file is chunked when it is sent). */
  chunkAhead?: ChunkAhead;
  lock: SyncLock;
  connectivity: Connectivity;
  /** This device's name, for conflicted copies. */
  device: () => Promise<string>;
  /**
   * Who the conflicted copy of the file at `path` names (mirror/conflict-name.ts): `device()` when
   * absent. The drive names the user too (`alice on laptop`) inside a shared folder, where other
   * users see the copy.
   */
  conflictAuthor?: (path: string) => Promise<string>;
  /** Sees the bytes of every block sent (the drive caches them). */
  onBlockSent?: (hash: string, data: Buffer) => void;
  /**
   * Offered the staging file of a committed new file that went up as one block, instead of its
   * deletion (the drive's cache moves it in: DiskBlockCache.adopt). Null: not taken, delete it;
   * else it resolves true once taken, false if the move failed (then deleted).
   */
  adoptBlock?: (hash: string, size: number, file: string) => Promise<boolean> | null;
  /** Block hashes no file references any more. */
  onReleased?: (hashes: string[]) => void;
  /** The verified bytes of a committed block (the hydrator): for three-way merges of text files. */
  readBlock?: (hash: string, size: number) => Promise<Buffer>;
  /**
   * Null when the mirror is caught up with the server's journal, else a promise of it
   * (PullLoop.whenCurrent).
   */
  whenPulled?: () => Promise<void> | null;
  /** The local disk is full (recording a commit failed): give space back (the cache shrinks). */
  onDiskFull?: () => void;
  /** Where the push loop says which node it is uploading now (the Vfs reads it: file states). */
  uploading?: { id: number | null };
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Each op pushed and how it ended (debug level; undefined when off). */
  trace?: ((msg: string, fields?: Record<string, unknown>) => void) | undefined;
  /** Clock of conflicted-copy names (default: the timers' clock). */
  now?: () => Date;
  /** Backoffs, retries of ops set aside, the pull wait (system ones by default; a simulation passes its own). */
  timers?: Timers;
}

export interface PushStatus {
  /** The upload under way: path, content size, and exact payload bytes to send / sent. */
  current: { path: string; size: number; toSend: number; sent: number } | null;
  lastError: string | null;
  /**
   * Changes are queued but none can run now: each waits for a writer to close its file or was set
   * aside (stuck) until its next retry.
   */
  blocked: boolean;
  /** The queued changes are held while a burst of them runs (linger.ts; read with pending > 0). */
  holding: boolean;
}
