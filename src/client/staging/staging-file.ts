/**
 * StagingFile: the local, copy-on-write content of a file being changed, until it is uploaded.
 *
 * Layout: `<dir>/<name>` holds the bytes (sparse: only what was written or fetched is there) and
 * `<name>.json` records {size, baseLimit, present} (format version 1), written atomically (temp +
 * rename) by `persist()`, which callers run at the durability points (close, fsync).
 *
 * A staging with no base (a new file, or one over an empty revision: its name starts with NO_BASE)
 * has no metadata file: every byte below its size is staged or zero, so its size says it all, and
 * the size is the one the mirror records with the commit queued at each durability point (passed
 * back to open()). That is a file write, a rename and an fsync less per small file (issue 17: a
 * `tar x` made three files and two fsyncs per file it unpacked). Names without the prefix (a staging
 * over a base, or made before this) keep the metadata file.
 *
 * A byte at offset o < size is, in order:
 *   - the staged byte, when o is in `present` (written locally, or already fetched);
 *   - the base revision's byte, when o < baseLimit (never truncated away);
 *   - zero otherwise (the file was extended by truncate or by a write past its end).
 * `baseLimit` only shrinks: truncating to n hides base bytes from n on, even if the file grows again.
 *
 * Writing into a cloud-only file therefore fetches nothing; `fill()` fetches exactly the holes
 * below baseLimit before an upload, and never overwrites present (locally written) bytes.
 */
import { fstatSync } from 'node:fs';
import path from 'node:path';
import { ByteRanges, type Range } from '../../shared/byte-ranges.js';
import { LoftError } from '../../shared/errors.js';
import { nodeFs, type LocalFile, type LocalFs } from '../../shared/local-fs.js';
import { InOrder } from './in-order.js';

/** Reads bytes of the base revision (the hydrator, in the drive). */
export interface BaseReader {
  read(offset: number, out: Buffer): Promise<number>;
}

interface Meta {
  version: 1;
  size: number;
  baseLimit: number;
  present: Range[];
}

/** Writes up to this size are made synchronously (page cache only; see write()). */
const SYNC_WRITE_MAX = 64 * 1024;

/** Holes are fetched from the base in pieces of at most this many bytes. */
const FILL_PIECE = 4 * 1024 * 1024;

/** The name prefix of a staging with no base and no metadata file (see the top of this file). */
export const NO_BASE = 'n-';

/** Whether a staging file (path or name) has no base, so no metadata file (NO_BASE). */
export const hasNoBase = (file: string): boolean => path.basename(file).startsWith(NO_BASE);

export class StagingFile {
  readonly path: string;
  readonly #meta: string;
  readonly #fh: LocalFile;
  readonly #fs: LocalFs;
  #size: number;
  #baseLimit: number;
  readonly #present: ByteRanges;
  /** The metadata file exists (a staging over a base, or one opened from it). */
  #metaOnDisk: boolean;
  /** Named NO_BASE: its size is its whole metadata (see the top of this file). */
  readonly #noBase: boolean;
  /** A new file's bytes written in order from its start (chunk-ahead.ts); null over a base or reopened. */
  readonly inOrder: InOrder | null;

  private constructor(
    file: string,
    fh: LocalFile,
    meta: Omit<Meta, 'version'>,
    fs: LocalFs,
    metaOnDisk: boolean,
    inOrder = false,
  ) {
    this.inOrder = inOrder ? new InOrder() : null;
    this.#fs = fs;
    this.path = file;
    this.#metaOnDisk = metaOnDisk;
    this.#noBase = hasNoBase(file);
    this.#meta = file + '.json';
    this.#fh = fh;
    this.#size = meta.size;
    this.#baseLimit = meta.baseLimit;
    this.#present = new ByteRanges(meta.present);
  }

  /**
   * A new staging file over a base revision of `baseSize` bytes (0 for a new file). `made`: the
   * file, already made empty and opened read-write (a spare made ahead: DirtyFiles).
   */
  static async create(
    dir: string,
    name: string,
    baseSize: number,
    fs: LocalFs = nodeFs,
    made?: LocalFile,
  ): Promise<StagingFile> {
    const file = path.join(dir, name);
    if (baseSize > 0 && hasNoBase(file))
      throw new LoftError(
        'INTERNAL',
        `staging ${name} is for a file without a base, not one of ${baseSize} bytes`,
      );
    // Opened on this thread (LocalFs.openSync says why). The folder is made when missing, not
    // before every file.
    let fh: LocalFile;
    try {
      fh = made ?? fs.openSync(file, 'w+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(dir, { recursive: true });
      fh = fs.openSync(file, 'w+');
    }
    const s = new StagingFile(
      file,
      fh,
      { size: baseSize, baseLimit: baseSize, present: [] },
      fs,
      false,
      baseSize === 0,
    );
    // A new file's first metadata is its first commit point's (close, fsync): without one, open()
    // finds none and the file is empty, as this one would say. One file write and rename less per
    // created file (a `tar x` makes thousands). Over a base, baseLimit must be on disk first.
    if (baseSize > 0) await s.persist();
    return s;
  }

  /**
   * Reopens a staging file after a restart; null when there is none. `newFile`: it belongs to a
   * file made here and never uploaded, whose data file may have no metadata yet (see create): it
   * then reopens empty, as a crash before the first close or fsync leaves a new file on ext4.
   * `size`: the size the mirror recorded with the last commit queued for it, which is a staging
   * without a base's metadata (NO_BASE; 0 before its first close or fsync: it reopens empty).
   */
  static async open(
    dir: string,
    name: string,
    newFile = false,
    fs: LocalFs = nodeFs,
    size = 0,
  ): Promise<StagingFile | null> {
    const file = path.join(dir, name);
    let meta: Meta;
    const metaOnDisk = fs.existsSync(file + '.json');
    if (metaOnDisk) meta = JSON.parse((await fs.readFile(file + '.json')).toString()) as Meta;
    else if (hasNoBase(file) && fs.existsSync(file))
      meta = { version: 1, size, baseLimit: 0, present: size > 0 ? [[0, size]] : [] };
    else if (newFile && fs.existsSync(file)) meta = { version: 1, size: 0, baseLimit: 0, present: [] };
    else return null;
    if (meta.version !== 1)
      throw new LoftError('CORRUPT', `staging metadata ${file}.json has unknown version`);
    const fh = await fs.open(file, 'r+');
    // Writes after the last persist (a crash before close or fsync) may have grown the data file
    // past the size its metadata records: they are dropped, as unsynced writes may be. The file's
    // length is then its size again (the upload chunks the data file as it is on disk).
    const length = (await fh.stat()).size;
    if (length > meta.size) await fh.truncate(meta.size);
    const staging = new StagingFile(file, fh, meta, fs, metaOnDisk);
    if (length < meta.size) {
      // A power loss after the metadata reached the disk and before the data did (a write-back
      // order the group commit does not control between its batches): the bytes past `length` are
      // lost, as on ext4. They read as the base revision's (below baseLimit) or as zeros from now
      // on, and the file keeps its size: nothing uploads bytes that were never on the disk, and the
      // upload does not fail for ever on a data file shorter than its size.
      staging.lostBytes = staging.#lose(length);
      await fh.truncate(meta.size);
    }
    return staging;
  }

  /** Bytes written here that a crash kept from the disk (found by open; 0: none). */
  lostBytes = 0;

  /** Forgets what was written at or past `length`; returns how many bytes that was. */
  #lose(length: number): number {
    const before = this.#present.ranges.reduce((n, [s, e]) => n + e - s, 0);
    this.#present.truncate(length);
    return before - this.#present.ranges.reduce((n, [s, e]) => n + e - s, 0);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * The data file's descriptor, for the kernel to read and write it itself (passthrough: see
   * fuse/passthrough.ts); null over a base (whose missing bytes are not in the file) or when it is
   * not a real file.
   */
  get fd(): number | null {
    const fd = this.#fh.fd;
    return this.#noBase && fd !== undefined ? fd : null;
  }

  /** The data file's mtime (ms, with its fraction) when adoptExternal last looked; -1: never. */
  #externalMtime = -1;

  /**
   * Takes the data file as the kernel left it after writing it itself (passthrough; a staging with
   * no base only): its length is the size, and every byte below it is staged (holes read as zeros,
   * as they would anyway). Returns whether its size or mtime changed since the last call: a write
   * within the file system's timestamp granularity of the last look may change neither.
   */
  adoptExternal(): boolean {
    const fd = this.fd;
    if (fd === null) return false;
    const st = fstatSync(fd); // not bigint: a tenth of a microsecond is fine enough here, and cheaper
    const size = st.size;
    if (size === this.#size && st.mtimeMs === this.#externalMtime) return false;
    this.#externalMtime = st.mtimeMs;
    this.inOrder?.break(); // its writes were never seen here
    this.#present.truncate(0);
    if (size > 0) this.#present.add(0, size);
    this.#size = size;
    return true;
  }

  /** Bytes from this offset on never come from the base (truncated away). */
  get baseLimit(): number {
    return this.#baseLimit;
  }

  /** Byte ranges written locally (or fetched by fill), sorted and merged. */
  get written(): readonly Range[] {
    return this.#present.ranges;
  }

  /** True when every byte is in the staging file itself (nothing comes from the base). */
  get complete(): boolean {
    return this.missingBytes === 0;
  }

  /** Bytes that must come from the base revision before the file is complete. */
  get missingBytes(): number {
    return this.#present
      .missing(0, Math.min(this.#size, this.#baseLimit))
      .reduce((n, [s, e]) => n + e - s, 0);
  }

  async write(offset: number, data: Buffer): Promise<number> {
    if (data.length === 0) return 0;
    const ended = this.inOrder?.begin(offset, data.length);
    let done = 0;
    try {
      while (done < data.length) {
        // A small write goes into the page cache on this thread (microseconds) rather than waiting
        // for a thread-pool turn behind fsyncs (see #persist); a large one stays off this thread.
        done +=
          data.length <= SYNC_WRITE_MAX
            ? this.#fh.writeSync(data, done, data.length - done, offset + done)
            : (await this.#fh.write(data, done, data.length - done, offset + done)).bytesWritten;
      }
    } catch (err) {
      this.inOrder?.break(); // some of its bytes may be there
      throw err;
    }
    ended?.();
    this.#present.add(offset, offset + data.length);
    this.#size = Math.max(this.#size, offset + data.length);
    return data.length;
  }

  async truncate(size: number): Promise<void> {
    this.inOrder?.truncated(size);
    await this.#fh.truncate(size);
    this.#present.truncate(size);
    this.#baseLimit = Math.min(this.#baseLimit, size);
    this.#size = size;
  }

  /** Reads [offset, offset + out.length) as the file now is; returns the bytes copied. */
  async read(offset: number, out: Buffer, base: BaseReader): Promise<number> {
    const end = Math.min(offset + out.length, this.#size);
    if (offset >= end) return 0;
    out.fill(0, 0, end - offset); // zeros wherever neither staging nor base has bytes
    for (const [s, e] of this.#present.ranges) {
      const a = Math.max(s, offset);
      const b = Math.min(e, end);
      if (a < b) await this.#readFully(out.subarray(a - offset, b - offset), a);
    }
    for (const [a, b] of this.#present.missing(offset, Math.min(end, this.#baseLimit))) {
      const got = await base.read(a, out.subarray(a - offset, b - offset));
      if (got !== b - a) throw new LoftError('CORRUPT', `base revision ended early at ${a + got}`);
    }
    return end - offset;
  }

  /** Fetches every hole below baseLimit into the staging file (never touching present bytes). */
  async fill(base: BaseReader): Promise<void> {
    const limit = Math.min(this.#size, this.#baseLimit);
    for (const [s, e] of this.#present.missing(0, limit)) {
      for (let at = s; at < e; at += FILL_PIECE) {
        const piece = Buffer.alloc(Math.min(FILL_PIECE, e - at));
        const got = await base.read(at, piece);
        if (got !== piece.length) throw new LoftError('CORRUPT', `base revision ended early at ${at + got}`);
        this.inOrder?.break();
        await this.#fh.write(piece, 0, piece.length, at);
        this.#present.add(at, at + piece.length);
      }
    }
    // Past the base limit, absent bytes are zeros: the sparse file already reads them as zeros.
    this.#present.add(limit, this.#size);
  }

  /**
   * Writes the metadata atomically; with `durable`, fsyncs the data first. One at a time, each
   * taking its snapshot when its turn comes: two at once shared the temp file (one renamed it away
   * under the other, and close(2) answered EIO: mount seed 3 × 30), and an older snapshot could
   * land last.
   */
  persist(durable = false): Promise<void> {
    // No base: nothing to write (its size goes to the mirror with the commit queued; durable()
    // then fsyncs the data with the group: GroupSync).
    if (!this.#metaOnDisk && this.#noBase) return durable ? this.sync() : Promise.resolve();
    const run = this.#persisted.then(() => this.#persist(durable));
    this.#persisted = run.catch(() => undefined);
    return run;
  }

  #persisted: Promise<void> = Promise.resolve();
  #removed = false;

  /**
   * Makes what the last persist() wrote durable: the data and the metadata file (if any) fsynced
   * (their folder is the caller's: GroupSync fsyncs it once for a whole batch). In turn with
   * persists.
   */
  sync(): Promise<void> {
    const run = this.#persisted.then(async () => {
      if (this.#removed) return;
      await this.#fh.sync();
      if (this.#metaOnDisk) await this.#fs.fsyncPath(this.#meta);
    });
    this.#persisted = run.catch(() => undefined);
    return run;
  }

  async #persist(durable: boolean): Promise<void> {
    if (durable) await this.#fh.sync();
    const meta: Meta = {
      version: 1,
      size: this.#size,
      baseLimit: this.#baseLimit,
      present: this.#present.toJSON(),
    };
    const tmp = this.#meta + '.tmp';
    if (!durable) {
      // A few hundred bytes into the page cache, then a rename: done on this thread, as that takes
      // microseconds, while each async call waits its turn in the thread pool, behind the fsyncs of
      // the batches being made durable (a create of a small file took 5-40 ms that way: issue 17).
      this.#fs.writeFileSync(tmp, JSON.stringify(meta));
      this.#fs.renameSync(tmp, this.#meta);
      this.#metaOnDisk = true;
      return;
    }
    await this.#fs.writeFile(tmp, JSON.stringify(meta));
    if (durable) await this.#fs.fsyncPath(tmp);
    await this.#fs.rename(tmp, this.#meta);
    this.#metaOnDisk = true;
    // The rename (and the data file's own entry, for a new file) must survive a power loss too.
    if (durable) await this.#fs.fsyncPath(path.dirname(this.#meta));
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }

  /**
   * Deletes the staging file and its metadata (after a successful upload). `keep`: offered the data
   * file first, when it is the whole file with no metadata beside it (a staging without a base),
   * synchronously, before anything is awaited; it resolves true when it took the file (moved it
   * away: the block cache adopts a file that went up as one block), false to have it deleted.
   */
  async remove(keep?: (file: string) => Promise<boolean>): Promise<void> {
    this.#removed = true;
    this.inOrder?.break();
    const kept = keep && this.#noBase && !this.#metaOnDisk ? keep(this.path) : null;
    await this.#fh.close().catch(() => {});
    if (kept && (await kept.catch(() => false))) return;
    await removeStaging(this.path, this.#fs, this.#metaOnDisk || !this.#noBase);
  }

  async #readFully(out: Buffer, offset: number): Promise<void> {
    let got = 0;
    while (got < out.length) {
      const { bytesRead } = await this.#fh.read(out, got, out.length - got, offset + got);
      if (bytesRead === 0) break; // a sparse tail reads as zeros (already filled)
      got += bytesRead;
    }
  }
}

/**
 * Deletes a staging data file and its metadata, whichever exist (one unlink each, no stat);
 * `meta` false: there is no metadata file to delete (a staging without a base that never had one).
 */
export async function removeStaging(file: string, fs: LocalFs = nodeFs, meta = true): Promise<void> {
  const gone = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  };
  await fs.unlink(file).catch(gone);
  if (meta) await fs.unlink(file + '.json').catch(gone);
}
