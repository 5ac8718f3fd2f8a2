/**
 * MemFs: an in-memory LocalFs (src/shared/local-fs.ts) for the deterministic simulation: a drive's
 * staging files and cache block files live here instead of on tmpfs, so a schedule makes no
 * thread-pool call for them (they were a quarter of its time) and an operation's result never
 * depends on the host's disk.
 *
 * Crash model: one MemFs per simulated device, kept across the drive's restarts and crashes as its
 * state dir would be. The simulation's crash is a killed process (det-sim.ts): every write that
 * returned is in the kernel's page cache and survives it, fsynced or not, exactly as on tmpfs
 * before. So everything written here is kept, and `sync`/`fsyncPath` only check their target
 * (a power loss, which would drop what was never fsynced, is not simulated).
 *
 * POSIX points kept: an unlinked or renamed-over file stays readable and writable through the
 * handles open on it; a file grown past its end reads zeros in the gap; opening in a missing folder
 * fails with ENOENT; errors carry node's `code`.
 */
import path from 'node:path';
import type { LocalDirent, LocalFile, LocalFs } from '../../../src/shared/local-fs.js';

interface FileNode {
  kind: 'file';
  data: Buffer;
  size: number;
}

interface DirNode {
  kind: 'dir';
  entries: Map<string, Node>;
}

type Node = FileNode | DirNode;

function fsError(code: string, syscall: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: (simulated) ${syscall} '${p}'`), { code, syscall, path: p });
}

/** Makes room for `size` bytes (doubling), keeping the bytes and zeros past them. */
function reserve(f: FileNode, size: number): void {
  if (size <= f.data.length) return;
  const grown = Buffer.alloc(Math.max(size, f.data.length * 2, 4096));
  f.data.copy(grown, 0, 0, f.size);
  f.data = grown;
}

function resize(f: FileNode, size: number): void {
  if (size < f.size) f.data.fill(0, size, f.size);
  else reserve(f, size);
  f.size = size;
}

class MemFile implements LocalFile {
  #closed = false;

  constructor(
    private readonly node: FileNode,
    private readonly writable: boolean,
    private readonly name: string,
  ) {}

  #check(syscall: string, write = false): FileNode {
    if (this.#closed || (write && !this.writable)) throw fsError('EBADF', syscall, this.name);
    return this.node;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number) {
    const f = this.#check('read');
    const n = Math.max(0, Math.min(length, f.size - position));
    if (n > 0) f.data.copy(buffer, offset, position, position + n);
    return { bytesRead: n };
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number) {
    return { bytesWritten: this.writeSync(buffer, offset, length, position) };
  }

  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.#check('write', true);
    const end = position + length;
    if (end > f.size) resize(f, end);
    f.data.set(buffer.subarray(offset, offset + length), position);
    return length;
  }

  async truncate(length: number): Promise<void> {
    resize(this.#check('ftruncate', true), length);
  }

  async stat(): Promise<{ size: number }> {
    return { size: this.#check('fstat').size };
  }

  async sync(): Promise<void> {
    this.#check('fsync');
  }

  async close(): Promise<void> {
    this.#check('close');
    this.#closed = true;
  }
}

export class MemFs implements LocalFs {
  readonly #root: DirNode = { kind: 'dir', entries: new Map() };

  /** The folder holding `p` and the last name of `p` (ENOENT/ENOTDIR when the folder is missing). */
  #parent(p: string, syscall: string): { dir: DirNode; name: string } {
    const parts = path.resolve(p).split('/').filter(Boolean);
    const name = parts.pop();
    if (name === undefined) throw fsError('EISDIR', syscall, p);
    let dir: DirNode = this.#root;
    for (const part of parts) {
      const next = dir.entries.get(part);
      if (!next) throw fsError('ENOENT', syscall, p);
      if (next.kind !== 'dir') throw fsError('ENOTDIR', syscall, p);
      dir = next;
    }
    return { dir, name };
  }

  #find(p: string): Node | undefined {
    if (path.resolve(p) === '/') return this.#root;
    try {
      const { dir, name } = this.#parent(p, 'stat');
      return dir.entries.get(name);
    } catch {
      return undefined;
    }
  }

  #file(p: string, syscall: string): FileNode {
    const n = this.#find(p);
    if (!n) {
      this.#parent(p, syscall); // ENOTDIR before ENOENT, as the kernel answers
      throw fsError('ENOENT', syscall, p);
    }
    if (n.kind !== 'file') throw fsError('EISDIR', syscall, p);
    return n;
  }

  #create(p: string, syscall: string): FileNode {
    const { dir, name } = this.#parent(p, syscall);
    const have = dir.entries.get(name);
    if (have?.kind === 'dir') throw fsError('EISDIR', syscall, p);
    if (have) {
      resize(have, 0);
      return have;
    }
    const f: FileNode = { kind: 'file', data: Buffer.alloc(0), size: 0 };
    dir.entries.set(name, f);
    return f;
  }

  async open(p: string, flags: 'r' | 'r+' | 'w+'): Promise<LocalFile> {
    return this.openSync(p, flags);
  }

  openSync(p: string, flags: 'r' | 'r+' | 'w+'): LocalFile {
    const f = flags === 'w+' ? this.#create(p, 'open') : this.#file(p, 'open');
    return new MemFile(f, flags !== 'r', p);
  }

  async readFile(p: string): Promise<Buffer> {
    const f = this.#file(p, 'open');
    return Buffer.from(f.data.subarray(0, f.size));
  }

  async writeFile(p: string, data: string | Uint8Array): Promise<void> {
    this.writeFileSync(p, data);
  }

  writeFileSync(p: string, data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const f = this.#create(p, 'open');
    resize(f, bytes.length);
    f.data.set(bytes, 0);
  }

  async rename(from: string, to: string): Promise<void> {
    this.renameSync(from, to);
  }

  renameSync(from: string, to: string): void {
    const src = this.#parent(from, 'rename');
    const node = src.dir.entries.get(src.name);
    if (!node) throw fsError('ENOENT', 'rename', from);
    const dst = this.#parent(to, 'rename');
    const there = dst.dir.entries.get(dst.name);
    if (there === node) return;
    if (there?.kind === 'dir' && node.kind !== 'dir') throw fsError('EISDIR', 'rename', to);
    if (there && there.kind !== 'dir' && node.kind === 'dir') throw fsError('ENOTDIR', 'rename', to);
    if (there?.kind === 'dir' && there.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
  }

  async unlink(p: string): Promise<void> {
    const { dir, name } = this.#parent(p, 'unlink');
    const n = dir.entries.get(name);
    if (!n) throw fsError('ENOENT', 'unlink', p);
    if (n.kind === 'dir') throw fsError('EISDIR', 'unlink', p);
    dir.entries.delete(name);
  }

  async mkdir(p: string, options: { recursive: true }): Promise<unknown> {
    this.mkdirSync(p, options);
    return undefined;
  }

  mkdirSync(p: string, _options: { recursive: true }): void {
    let dir = this.#root;
    for (const part of path.resolve(p).split('/').filter(Boolean)) {
      let next = dir.entries.get(part);
      if (!next) dir.entries.set(part, (next = { kind: 'dir', entries: new Map() }));
      if (next.kind !== 'dir') throw fsError('EEXIST', 'mkdir', p);
      dir = next;
    }
  }

  async fsyncPath(p: string): Promise<void> {
    if (!this.#find(p)) throw fsError('ENOENT', 'open', p);
  }

  existsSync(p: string): boolean {
    return this.#find(p) !== undefined;
  }

  rmSync(p: string, options: { recursive?: boolean; force: true }): void {
    let at: { dir: DirNode; name: string };
    try {
      at = this.#parent(p, 'rm');
    } catch {
      return; // force: a missing folder on the way is no error
    }
    const n = at.dir.entries.get(at.name);
    if (!n) return;
    if (n.kind === 'dir' && !options.recursive && n.entries.size > 0) throw fsError('ENOTEMPTY', 'rm', p);
    at.dir.entries.delete(at.name);
  }

  readdirSync(p: string): string[] {
    return this.readdirTypesSync(p).map((e) => e.name);
  }

  readdirTypesSync(p: string): LocalDirent[] {
    const n = this.#find(p);
    if (!n) throw fsError('ENOENT', 'scandir', p);
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', p);
    return [...n.entries].map(([name, e]) => ({ name, isDirectory: () => e.kind === 'dir' }));
  }

  space(_p: string): { free: number; total: number } {
    return { free: 2 ** 40, total: 2 ** 41 };
  }
}
