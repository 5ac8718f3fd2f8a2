/**
 * The drive's side of shared folders (issue 13 item 1): the Vfs with the two rules the server
 * would otherwise only answer after the change was queued, checked at once, by path:
 *
 * - a folder shared with this user as a **viewer** is read-only here: every change in it (create,
 *   write open, truncate, mkdir, unlink, rmdir, rename, chmod, utimens, chown, symlink) fails with
 *   EACCES and one log line, and nothing is queued that could never be sent;
 * - a rename between a shared folder and anything outside it (another shared folder, the rest of
 *   the home), or of a shared folder's root into a shared folder, fails with EXDEV (the server
 *   keeps a shared folder's nodes in their own namespace; `mv` then copies, as across file
 *   systems). The root itself moves anywhere else in the user's tree, whatever their role: the
 *   server moves their mount record only (src/server/http/mount-move.ts).
 *
 * Which folders are shared comes from the server (`GET /v1/shares`, paths in this user's tree):
 * `SharedRoots.set` is called at start and whenever the journal brings a mount root in or out.
 * Until the first answer nothing is refused here (the server still refuses a viewer's change).
 */
import { FsError } from '../../shared/errors.js';
import { Vfs, type VfsOptions } from './vfs.js';
import type { OwnerCaller } from './owners.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;

export interface SharedRoot {
  /** The folder's path in this user's tree ("/team"). */
  path: string;
  role: 'owner' | 'editor' | 'viewer';
}

export class SharedRoots {
  #roots: SharedRoot[] = [];
  constructor(private readonly onRefused: (msg: string) => void = () => {}) {}

  set(roots: readonly SharedRoot[]): void {
    this.#roots = [...roots];
  }

  get roots(): readonly SharedRoot[] {
    return this.#roots;
  }

  /** The shared folder holding `path` (its root included), or null: the home. */
  rootOf(path: string): SharedRoot | null {
    return this.#roots.find((r) => path === r.path || path.startsWith(r.path + '/')) ?? null;
  }

  /** A rename from `from` to `to` went through: the shared folders at or below it moved with it. */
  moved(from: string, to: string): void {
    this.#roots = this.#roots.map((r) =>
      r.path === from || r.path.startsWith(from + '/') ? { ...r, path: to + r.path.slice(from.length) } : r,
    );
  }

  checkWrite(path: string): void {
    const root = this.rootOf(path);
    if (root?.role !== 'viewer') return;
    const msg = `${path}: read-only (you are a viewer of the shared folder ${root.path})`;
    this.onRefused(msg);
    throw new FsError('EACCES', msg);
  }

  checkRename(from: string, to: string): void {
    const a = this.rootOf(from);
    const b = this.rootOf(to);
    // A shared folder itself moves within this user's tree (their placement: any role), but not
    // into another shared folder or its own.
    if (a && from === a.path && !b) return;
    this.checkWrite(from);
    this.checkWrite(to);
    if (a?.path !== b?.path || (a && from === a.path)) {
      const msg = `${from} → ${to}: crosses the edge of the shared folder ${(a ?? b)!.path}`;
      this.onRefused(msg);
      throw new FsError('EXDEV', msg);
    }
  }
}

export class SharedFolderVfs extends Vfs {
  constructor(
    options: VfsOptions,
    readonly shared: SharedRoots,
  ) {
    super(options);
  }

  override async open(path: string, flags: number): Promise<number> {
    if ((flags & O_ACCMODE) !== O_RDONLY || flags & O_TRUNC) this.shared.checkWrite(path);
    return super.open(path, flags);
  }
  override async create(path: string, mode: number, caller?: OwnerCaller): Promise<number> {
    this.shared.checkWrite(path);
    return super.create(path, mode, caller);
  }
  override async truncate(path: string, size: number): Promise<void> {
    this.shared.checkWrite(path);
    return super.truncate(path, size);
  }
  override async mkdir(path: string, mode: number, caller?: OwnerCaller): Promise<void> {
    this.shared.checkWrite(path);
    return super.mkdir(path, mode, caller);
  }
  override async unlink(path: string): Promise<void> {
    this.shared.checkWrite(path);
    return super.unlink(path);
  }
  override async rmdir(path: string): Promise<void> {
    this.shared.checkWrite(path);
    return super.rmdir(path);
  }
  override async rename(from: string, to: string): Promise<void> {
    this.shared.checkRename(from, to);
    await super.rename(from, to);
    this.shared.moved(from, to);
  }
  override async chmod(path: string, mode: number): Promise<void> {
    this.shared.checkWrite(path);
    return super.chmod(path, mode);
  }
  override async utimens(path: string, atime: number | null, mtime: number | null): Promise<void> {
    this.shared.checkWrite(path);
    return super.utimens(path, atime, mtime);
  }
  override async chown(path: string, uid: number, gid: number, caller?: OwnerCaller): Promise<void> {
    this.shared.checkWrite(path);
    return super.chown(path, uid, gid, caller);
  }
  override async symlink(target: string, path: string, caller?: OwnerCaller): Promise<void> {
    this.shared.checkWrite(path);
    return super.symlink(target, path, caller);
  }
}
