/**
 * DirtyFiles: the files of the drive whose content has local changes, each backed by a StagingFile
 * (copy-on-write over the committed revision, see staging-file.ts), and their in-memory attributes.
 *
 * A node is dirty from the moment it is opened for writing (or created, or truncated) until the push
 * loop commits a version that no later write has changed and no writer holds open. The mirror
 * records the staging file's name on the node (so a restart finds it again); size and mtime change
 * here on every write and reach the mirror on flush/fsync/close, when the change is queued.
 *
 * Invariants:
 * - At most one DirtyFile per node; `gen` grows on every change of content or size, so an upload
 *   that read generation g knows whether what it read is still the newest content.
 * - A staging file is deleted only when no handle references it (`refs` = open handles).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { nodeFs, type LocalFile, type LocalFs } from '../../shared/local-fs.js';
import { hasNoBase, NO_BASE, removeStaging, StagingFile } from '../staging/staging-file.js';

export class DirtyFile {
  /** Open handles that reference this staging (readers and writers). */
  refs = 0;
  writers = 0;
  /** Bumped on every write/truncate. */
  gen = 0;
  /** Changed since the last time the change was queued for upload. */
  modified = false;
  /** The node was removed while handles were open: delete the staging on the last release. */
  orphaned = false;
  /** Found again after a restart: it may hold writes made before it, never closed. */
  reopened = false;
  /** Last write or truncate here (ms; 0: none since the staging was opened): the file's ctime. */
  ctime = 0;
  /**
   * A mode set while the file was being written, not yet recorded: its next commit point records it
   * (vfs/attributes.ts). Undefined: the node's.
   */
  mode: number | undefined = undefined;
  /**
   * Open handles whose reads and writes the kernel makes to the staging file itself (passthrough,
   * fuse/passthrough.ts): while any is open, size and content are what the file says
   * (vfs/external-writes.ts).
   */
  passthrough = 0;

  constructor(
    public id: number,
    readonly name: string,
    readonly file: StagingFile,
    public size: number,
    public mtime: number,
  ) {}
}

/**
 * Empty staging files kept made and open for new files: a create takes one instead of making its
 * file on the JavaScript thread while the kernel waits (issue 17: ~0.3 ms of each create in a
 * `tar x`, most of it the file system's inode allocation). Made again in the thread pool.
 */
const SPARES = 16;

export class DirtyFiles {
  readonly #dir: string;
  readonly #byId = new Map<number, DirtyFile>();
  readonly #spares: { name: string; fh: LocalFile }[] = [];
  #refilling: Promise<void> | null = null;
  #closed = false;
  /** Called when a node gets a staging (its readers read through it from now on). */
  onAttach: (id: number) => void = () => {};
  /** Called with each new staging file (chunk-ahead.ts follows a new file's writes). */
  onCreate: (file: StagingFile) => void = () => {};

  /** `fs`: the file system the staging files live on (the real one but in the simulation). */
  constructor(
    dir: string,
    readonly fs: LocalFs = nodeFs,
  ) {
    this.#dir = dir;
  }

  get dir(): string {
    return this.#dir;
  }

  get(id: number): DirtyFile | undefined {
    return this.#byId.get(id);
  }

  get count(): number {
    return this.#byId.size;
  }

  values(): IterableIterator<DirtyFile> {
    return this.#byId.values();
  }

  /**
   * A new staging file over a base of `baseSize` bytes, for node `id`; with id null it belongs to a
   * node not made yet (`attach` it once it is).
   */
  async create(id: number | null, baseSize: number, mtime: number, name?: string): Promise<DirtyFile> {
    const fresh = baseSize === 0 && name === undefined; // a spare fits
    const spare = fresh ? this.#spares.pop() : undefined;
    const made = spare?.name ?? name ?? this.newName(baseSize === 0);
    const file = await StagingFile.create(this.#dir, made, baseSize, this.fs, spare?.fh);
    if (fresh) this.#refill(); // once the folder is there (the first create makes it)
    this.onCreate(file);
    const d = new DirtyFile(id ?? 0, made, file, baseSize, mtime);
    if (id !== null) this.attach(d, id);
    return d;
  }

  /**
   * A fresh staging file name (recorded on a node before the file is made, see Vfs); `noBase`: for
   * a file with no base revision bytes (a new or empty one), which needs no metadata file.
   */
  newName(noBase: boolean): string {
    return noBase ? NO_BASE + randomUUID() : randomUUID();
  }

  attach(d: DirtyFile, id: number): void {
    d.id = id;
    this.onAttach(id);
    this.#byId.set(id, d);
  }

  /**
   * Reopens the staging file a node records (after a restart); null when it is gone. `size`: the
   * node's size in the mirror (a staging without a base has no other record of it).
   */
  async reopen(
    id: number,
    name: string,
    mtime: number,
    newFile: boolean,
    size: number,
  ): Promise<DirtyFile | null> {
    const file = await StagingFile.open(this.#dir, name, newFile, this.fs, size);
    if (!file) return null;
    const d = new DirtyFile(id, name, file, file.size, mtime);
    d.reopened = true;
    this.onAttach(id);
    this.#byId.set(id, d);
    return d;
  }

  /**
   * Forgets the node's staging and deletes its files now, or on the last release if still open.
   * `keep`: offered the data file first when it is not open (StagingFile.remove).
   */
  async drop(id: number, keep?: (file: string) => Promise<boolean>): Promise<void> {
    const d = this.#byId.get(id);
    if (!d) return;
    this.#byId.delete(id);
    if (d.refs > 0) {
      d.orphaned = true;
      return;
    }
    await d.file.remove(keep);
  }

  /** Deletes staging files by name (nodes removed from the tree while not open). */
  async removeFiles(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const open = [...this.#byId.values()].find((d) => d.name === name);
      if (open) {
        await this.drop(open.id);
        continue;
      }
      // Not open here: its files are only unlinked (a staging without a base has no metadata file).
      await removeStaging(this.path(name), this.fs, !hasNoBase(name)).catch(() => {});
    }
  }

  /** Called when the last handle of a dropped staging closes. */
  async closeOrphan(d: DirtyFile): Promise<void> {
    if (d.orphaned && d.refs === 0) await d.file.remove();
  }

  path(name: string): string {
    return path.join(this.#dir, name);
  }

  /**
   * Makes spare staging files for new files, up to SPARES, one at a time in the thread pool; a
   * failure stops it (creates then make their own files, as without spares).
   */
  #refill(): void {
    if (this.#refilling || this.#closed || this.#spares.length >= SPARES) return;
    this.#refilling = (async () => {
      try {
        while (!this.#closed && this.#spares.length < SPARES) {
          const name = this.newName(true);
          const fh = await this.fs.open(this.path(name), 'w+');
          this.#spares.push({ name, fh });
        }
      } catch {
        // No spare this time (a full disk, the folder gone): the next create tries again.
      } finally {
        this.#refilling = null;
      }
    })();
  }

  /**
   * Deletes the staging files no node records and nothing here holds: what a crash left (spares,
   * the file of a commit recorded just before it). Run at start, once the recorded ones are open
   * again (WritePath.recover), before anything is created. Returns how many files went.
   */
  sweep(recorded: ReadonlySet<string>): number {
    let names: string[];
    try {
      names = this.fs.readdirSync(this.#dir);
    } catch {
      return 0; // no folder yet
    }
    const held = new Set([...this.#byId.values()].map((d) => d.name));
    for (const s of this.#spares) held.add(s.name);
    let n = 0;
    for (const entry of names) {
      const name = entry.replace(/(\.json)?(\.tmp)?$/, '');
      if (recorded.has(name) || held.has(name)) continue;
      this.fs.rmSync(this.path(entry), { force: true });
      n++;
    }
    return n;
  }

  async closeAll(): Promise<void> {
    this.#closed = true;
    await this.#refilling;
    for (const d of this.#byId.values()) await d.file.close().catch(() => {});
    this.#byId.clear();
    for (const s of this.#spares.splice(0)) {
      await s.fh.close().catch(() => {});
      this.fs.rmSync(this.path(s.name), { force: true });
    }
  }
}
