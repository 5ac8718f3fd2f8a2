/**
 * Passthrough (Linux 6.9+, FUSE_PASSTHROUGH): the kernel reads and writes a file's "backing" file
 * itself, without a request to the drive per read or write. The drive gives a new file's staging
 * file (a staging with no base: every byte of the file is in it) as its backing, so unpacking,
 * copying or checking out many files costs the JavaScript thread each file's create and close, not
 * a request per write (issue 17: 30,000 of a `tar x`'s 66,000 requests were writes).
 *
 * Which files (LOFT_PASSTHROUGH):
 * - `burst` (the default): a file created less than BURST_MS after the previous create, while the
 *   file that one made is still small (< BURST_FILE_MAX): a burst of small files (`tar x`, a
 *   checkout, `cp -r`). A file made alone or after a big one (copies of big files) is written
 *   through the drive as before, which follows its writes in order and sends a big file's blocks
 *   while it is still being written (staging/in-order.ts, upload/chunk-ahead.ts): the drive does not
 *   see passthrough writes, so a big file written that way is chunked at close.
 * - `always`: every new file; `off`: none (the binding then does not ask for passthrough at all).
 * Either way only while the disk has room to spare (ExternalWrites.roomy): the kernel's writes get
 * ENOSPC from the disk itself, without the cache giving space back first as it does for the drive's.
 *
 * The kernel's rule: while an inode has a file open in passthrough, every open of it must name the
 * same backing file (otherwise the open fails with EIO), and a passthrough open fails while it has
 * files open through its page cache. A created inode is new, so the create can choose; every later
 * open of it while its passthrough files are open gets the same backing id. The id is given back to
 * the kernel when the last of them is released.
 *
 * Needs CAP_SYS_ADMIN (the backing file ioctl): a mount by another user, or a kernel without
 * passthrough, writes through the drive as before; `loft status --json` says which (`passthrough`).
 * What the kernel wrote is taken in at each getattr, setattr, open and close (external-writes.ts).
 */
import { AHEAD_MIN } from '../upload/chunk-ahead.js';
import type { LowlevelBinding, Session } from './lowlevel-binding.js';

/** A create this soon after the previous one is part of a burst (ms)... */
export const BURST_MS = 1000;
/**
 * ...if the file the previous one made is still smaller than this: the size from which the drive
 * chunks a new file while it is written (upload/chunk-ahead.ts).
 */
export const BURST_FILE_MAX = AHEAD_MIN;

export type PassthroughPolicy = 'off' | 'burst' | 'always';

export function passthroughPolicy(env: string | undefined = process.env.LOFT_PASSTHROUGH): PassthroughPolicy {
  return env === 'off' || env === '0' ? 'off' : env === 'always' ? 'always' : 'burst';
}

/** Vfs.external (vfs/external-writes.ts). */
interface PassthroughVfs {
  fd(fh: number): number | null;
  staging(fh: number): string | null;
  passed(fh: number): void;
  node(fh: number): number;
  size(node: number): number;
  roomy(): boolean;
}

export class Passthrough {
  readonly policy: PassthroughPolicy;
  readonly #b: Pick<LowlevelBinding, 'backingOpen' | 'backingClose'>;
  readonly #vfs: PassthroughVfs;
  readonly #now: () => number;
  /** Kernel node id → its backing id and how many of its open files use it. */
  readonly #byNode = new Map<number, { id: number; files: number; staging: string | null }>();
  /** Handle → kernel node id, for the handles answered with a backing id. */
  readonly #handles = new Map<number, number>();
  #lastCreate = -Infinity;
  /** The node the previous create made (its local key; -1: none yet). */
  #lastNode = -1;
  /** Why passthrough is not used on this mount ('' while it may be). */
  #unavailable = '';
  /** Files opened through passthrough so far. */
  #files = 0;

  constructor(o: {
    binding: Pick<LowlevelBinding, 'backingOpen' | 'backingClose'>;
    vfs: PassthroughVfs;
    now: () => number;
    policy?: PassthroughPolicy;
  }) {
    this.#b = o.binding;
    this.#vfs = o.vfs;
    this.#now = o.now;
    this.policy = o.policy ?? passthroughPolicy();
    if (this.policy === 'off') this.#unavailable = 'off (LOFT_PASSTHROUGH)';
  }

  /** The mount's INIT: whether the kernel took passthrough. */
  negotiated(ok: boolean): void {
    if (!ok && !this.#unavailable) this.#unavailable = 'not offered by the kernel';
  }

  info(): Record<string, number | boolean> {
    return { passthrough: !this.#unavailable, passthroughFiles: this.#files };
  }

  /** Why passthrough is not used on this mount (null: it is). */
  get unavailable(): string | null {
    return this.#unavailable || null;
  }

  /** The backing id to answer a create of node `ino` with (0: none). */
  create(session: Session | null, fh: number, ino: number): number {
    const now = this.#now();
    const soon = now - this.#lastCreate < BURST_MS;
    const burst = soon && this.#lastNode >= 0 && this.#vfs.size(this.#lastNode) < BURST_FILE_MAX;
    this.#lastCreate = now;
    this.#lastNode = this.#vfs.node(fh);
    if (this.#unavailable || !session || (this.policy === 'burst' && !burst) || !this.#vfs.roomy()) return 0;
    const fd = this.#vfs.fd(fh);
    if (fd === null) return 0;
    const id = this.#b.backingOpen(session, fd);
    if (id <= 0) {
      // EPERM: not CAP_SYS_ADMIN; EOPNOTSUPP: not negotiated. Neither changes during the mount.
      this.#unavailable = `backing file refused (errno ${-id})`;
      return 0;
    }
    this.#byNode.set(ino, { id, files: 0, staging: this.#vfs.staging(fh) });
    return this.#use(fh, ino);
  }

  /**
   * The backing id to answer an open of node `ino` with: its passthrough files' (0: none). The
   * push keeps a staging the kernel holds as the node's (external-writes.ts), so the handle's is
   * that one; were it another, the kernel's writes would miss it: the open is then answered without
   * the id, which the kernel refuses with EIO (never a write into a file the drive no longer reads).
   */
  open(fh: number, ino: number): number {
    const b = this.#byNode.get(ino);
    if (!b) return 0;
    const staging = this.#vfs.staging(fh);
    if (staging !== null && staging !== b.staging) return 0;
    return this.#use(fh, ino);
  }

  #use(fh: number, ino: number): number {
    const b = this.#byNode.get(ino)!;
    b.files++;
    this.#files++;
    this.#handles.set(fh, ino);
    this.#vfs.passed(fh);
    return b.id;
  }

  /** Handle `fh` was released: the node's backing id goes with its last passthrough file. */
  released(session: Session | null, fh: number): void {
    const ino = this.#handles.get(fh);
    if (ino === undefined) return;
    this.#handles.delete(fh);
    const b = this.#byNode.get(ino);
    if (!b || --b.files > 0) return;
    this.#byNode.delete(ino);
    if (session) this.#b.backingClose(session, b.id);
  }
}
