/**
 * LocalFs: the few file-system operations a drive makes on its own files (staging files and their
 * metadata, the disk cache's block files, chunking a staging file), behind one object chosen in the
 * composition root. Production uses `nodeFs` (the real file system, node:fs); the deterministic
 * simulation (test/helpers/det-sim) uses an in-memory one, so that a schedule spends no time in the
 * thread pool and its files outlive a simulated crash exactly as the kernel's page cache outlives a
 * killed process.
 *
 * The operations keep node's names, arguments and errors (an Error with `code`: ENOENT, EEXIST,
 * ENOTDIR, ENOTEMPTY…), so code written against node:fs moves onto this seam unchanged. Both
 * implementations pass one contract suite (test/unit/local-fs.test.ts).
 */
import {
  close as closeFd,
  existsSync,
  fstat,
  fsync,
  ftruncate,
  openSync,
  read,
  write,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import fs from 'node:fs/promises';
import { fsyncPath } from './fsync-path.js';

/** An open file (node's FileHandle, plus a synchronous positional write). */
export interface LocalFile {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  /** write(2) on this thread (a small write: page cache only, no thread-pool turn). */
  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  /** fsync(2). */
  sync(): Promise<void>;
  close(): Promise<void>;
  /** The open descriptor (undefined: closed, or not a real file, as in the simulation). */
  readonly fd?: number;
}

/** An entry of a folder (readdir with file types). */
export interface LocalDirent {
  name: string;
  isDirectory(): boolean;
}

export interface LocalFs {
  /** 'r': read; 'r+': read and write; 'w+': read and write, created or emptied. */
  open(path: string, flags: 'r' | 'r+' | 'w+'): Promise<LocalFile>;
  /**
   * open() on this thread: for a file about to be made (a staging file at create), which takes
   * microseconds, where an async open waits its turn in the thread pool behind the group commit's
   * fsyncs (p50 215 µs of a create's 263 in a `tar x`: issue 17).
   */
  openSync(path: string, flags: 'r' | 'r+' | 'w+'): LocalFile;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  /** fsync(2) of a file or a folder by path (a folder: the entries made, renamed or removed in it). */
  fsyncPath(path: string): Promise<void>;
  existsSync(path: string): boolean;
  writeFileSync(path: string, data: string | Uint8Array): void;
  renameSync(from: string, to: string): void;
  mkdirSync(path: string, options: { recursive: true }): void;
  rmSync(path: string, options: { recursive?: boolean; force: true }): void;
  readdirSync(path: string): string[];
  readdirTypesSync(path: string): LocalDirent[];
  /** Free and total bytes of the file system holding `path`. */
  space(path: string): { free: number; total: number };
}

class NodeFile implements LocalFile {
  constructor(private readonly fh: fs.FileHandle) {}
  get fd(): number | undefined {
    return this.fh.fd >= 0 ? this.fh.fd : undefined;
  }
  read(buffer: Uint8Array, offset: number, length: number, position: number) {
    return this.fh.read(buffer, offset, length, position);
  }
  write(buffer: Uint8Array, offset: number, length: number, position: number) {
    return this.fh.write(buffer, offset, length, position);
  }
  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return writeSync(this.fh.fd, buffer, offset, length, position);
  }
  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }
  stat(): Promise<{ size: number }> {
    return this.fh.stat();
  }
  sync(): Promise<void> {
    return this.fh.sync();
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

const badFd = (syscall: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`EBADF: bad file descriptor, ${syscall}`), { code: 'EBADF', syscall });

/**
 * A file opened by openSync: a descriptor, with what node's FileHandle adds to one. Every call after
 * close() is EBADF (never a call on a number the process has given to another file since), and
 * close() waits for the calls in flight in the thread pool before it closes the descriptor.
 */
class FdFile implements LocalFile {
  readonly #fd: number;
  #closed = false;
  #busy = 0;
  #idle: (() => void) | null = null;

  constructor(fd: number) {
    this.#fd = fd;
  }

  get fd(): number | undefined {
    return this.#closed ? undefined : this.#fd;
  }

  #run<T>(syscall: string, call: (fd: number, done: (err: Error | null, v?: T) => void) => void): Promise<T> {
    if (this.#closed) return Promise.reject(badFd(syscall));
    this.#busy++;
    return new Promise<T>((resolve, reject) =>
      call(this.#fd, (err, v) => {
        if (--this.#busy === 0) this.#idle?.();
        if (err) reject(err);
        else resolve(v as T);
      }),
    );
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number) {
    return this.#run<{ bytesRead: number }>('read', (fd, done) =>
      read(fd, buffer, offset, length, position, (err, bytesRead) => done(err, { bytesRead })),
    );
  }
  write(buffer: Uint8Array, offset: number, length: number, position: number) {
    return this.#run<{ bytesWritten: number }>('write', (fd, done) =>
      write(fd, buffer, offset, length, position, (err, bytesWritten) => done(err, { bytesWritten })),
    );
  }
  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    if (this.#closed) throw badFd('write');
    return writeSync(this.#fd, buffer, offset, length, position);
  }
  truncate(length: number): Promise<void> {
    return this.#run<void>('ftruncate', (fd, done) => ftruncate(fd, length, (err) => done(err)));
  }
  stat(): Promise<{ size: number }> {
    return this.#run<{ size: number }>('fstat', (fd, done) =>
      fstat(fd, (err, st) => done(err, err ? undefined : { size: st.size })),
    );
  }
  sync(): Promise<void> {
    return this.#run<void>('fsync', (fd, done) => fsync(fd, (err) => done(err)));
  }
  async close(): Promise<void> {
    if (this.#closed) throw badFd('close');
    this.#closed = true;
    if (this.#busy > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    await new Promise<void>((resolve, reject) => closeFd(this.#fd, (err) => (err ? reject(err) : resolve())));
  }
}

/** The real file system. */
export const nodeFs: LocalFs = {
  open: async (p, flags) => new NodeFile(await fs.open(p, flags)),
  openSync: (p, flags) => new FdFile(openSync(p, flags)),
  readFile: (p) => fs.readFile(p),
  writeFile: (p, data) => fs.writeFile(p, data),
  rename: (from, to) => fs.rename(from, to),
  unlink: (p) => fs.unlink(p),
  mkdir: (p, options) => fs.mkdir(p, options),
  fsyncPath,
  existsSync: (p) => existsSync(p),
  writeFileSync: (p, data) => writeFileSync(p, data),
  renameSync: (from, to) => renameSync(from, to),
  mkdirSync: (p, options) => void mkdirSync(p, options),
  rmSync: (p, options) => rmSync(p, options),
  readdirSync: (p) => readdirSync(p),
  readdirTypesSync: (p) => readdirSync(p, { withFileTypes: true }),
  space: (p) => {
    const s = statfsSync(p);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  },
};
