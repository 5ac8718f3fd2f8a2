/**
 * The syscalls MountSim (mount-sim.ts) makes on a device's mountpoint, and the bookkeeping they
 * feed: closed writes (what must reach the server, and which are exempt), the solo model (the tree
 * the only device that changed anything since the last sync step must show) and held handles.
 *
 * Every op runs through `#fs`: a legitimate POSIX error is an answer (recorded, the run goes on);
 * anything else is a failure. What a writer reads back through its own descriptor is checked at
 * once: it must be the content it started from with its bytes in place.
 */
import { constants as C } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import type { FaultProxy } from './fault-proxy.js';
import type { MountProcess } from './mount-process.js';
import { diffTrees, join, mountTree, sha256, short, TreeModel } from './mount-sim-check.js';
import { conflictedCopyOf, type Tree } from './sync-sim.js';

/** Errors a syscall may legitimately answer in a random schedule (EIO too, on a device offline). */
const LEGIT = new Set(['ENOENT', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR', 'EINVAL']);
/** Errors that mean the mount itself is gone. */
const FATAL = new Set(['ENOTCONN', 'ECONNABORTED']);
/** Reads go in pieces of this size (FUSE splits them further). */
const READ_PIECE = 256 * 1024;

export interface Held {
  fh: FileHandle;
  /** Where the file is now on its device (follows the device's own renames). */
  path: string;
  closeAt: number;
  /**
   * What the descriptor must read back: the content at open with the held write in place; null
   * once this device wrote the file otherwise (every descriptor of a file shows every write).
   */
  want: Buffer | null;
  /** Unlinked or replaced by its own device meanwhile: its close is no write to keep. */
  gone: boolean;
}

export interface MountDevice {
  name: string;
  proxy: FaultProxy;
  mount: MountProcess;
  /** What the schedule wants; the proxy is offline while this is false. */
  wantOnline: boolean;
  held: Held[];
  /** stderr of the mount's earlier runs. */
  earlier: string;
}

export interface ClosedWrite {
  n: number;
  device: string;
  path: string;
  event: number;
  size: number;
  sha: string;
  /** Why this write need not reach the server, or null. */
  exempt: string | null;
}

export interface OpsHooks {
  log(line: string): void;
  fail(msg: string): void;
  event(): number;
  stats: { fsOps: number; fsErrors: number; closedWrites: number; modelChecks: number };
}

async function readAll(fh: FileHandle): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; ;) {
    const buf = Buffer.alloc(READ_PIECE);
    const { bytesRead } = await fh.read(buf, 0, READ_PIECE, at);
    if (!bytesRead) return Buffer.concat(parts);
    parts.push(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
}

/** Writes all of `data` at `pos` (null: at the descriptor's position, the end with O_APPEND). */
async function writeAll(fh: FileHandle, data: Buffer, pos: number | null): Promise<void> {
  for (let done = 0; done < data.length;) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, pos === null ? null : pos + done);
    done += bytesWritten;
  }
}

/** `base` with `data` written at `off` (zero-filled past the end). */
function splice(base: Buffer, data: Buffer, off: number): Buffer {
  const out = Buffer.alloc(Math.max(base.length, off + data.length));
  base.copy(out);
  data.copy(out, off);
  return out;
}

/** `base` cut or zero-extended to `size` bytes (what truncate(2) makes of it). */
const cut = (base: Buffer, size: number): Buffer =>
  Buffer.concat([base.subarray(0, size), Buffer.alloc(Math.max(0, size - base.length))]);

/** "3000B 1a2b3c4d, first difference at 2048" for a failure message. */
function differs(got: Buffer, want: Buffer): string {
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  return `read ${got.length}B ${short(sha256(got))}, expected ${want.length}B ${short(sha256(want))}, first difference at byte ${i}`;
}

export class MountOps {
  readonly writes: ClosedWrite[] = [];
  /** Set when an op met an error that means the mount is gone (the caller checks the process). */
  lastErrorWasFatal = false;
  readonly #h: OpsHooks;
  /** Per device: path → its closed write not yet past a sync step. */
  readonly #pending = new Map<string, Map<string, ClosedWrite>>();
  /** The solo model: `device` null while nobody changed anything since the last sync step. */
  #model: { device: string | null; tree: TreeModel } | null = null;

  constructor(hooks: OpsHooks) {
    this.#h = hooks;
  }

  addDevice(dev: MountDevice): void {
    this.#pending.set(dev.name, new Map());
  }

  /** After a sync step: every device shows `tree`, no write is pending. */
  synced(tree: Tree): void {
    this.#model = { device: null, tree: new TreeModel(new Map([...tree].map(([k, v]) => [k, { ...v }]))) };
    for (const p of this.#pending.values()) p.clear();
  }

  /** The tree `dev` must show now, or null when other devices' changes may be on their way. */
  model(dev: MountDevice): TreeModel | null {
    const m = this.#model;
    return m && (m.device === null || m.device === dev.name) ? m.tree : null;
  }

  #touch(dev: MountDevice): void {
    const m = this.#model;
    if (!m) return;
    if (m.device === null || m.device === dev.name) m.device = dev.name;
    else this.#model = null;
  }

  /** Compares what `dev` shows with the solo model, when there is one for it. */
  async checkModel(dev: MountDevice, why: string): Promise<void> {
    const m = this.model(dev);
    if (!m) return;
    this.#h.stats.modelChecks++;
    const unreadable: string[] = [];
    let diff: string[];
    try {
      diff = diffTrees(await mountTree(dev.mount.mountpoint, unreadable), m.tree, dev.name, 'model');
    } catch (err) {
      diff = [`walk failed: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`];
    }
    if (dev.wantOnline) diff.push(...unreadable.map((p) => `${p}: EIO on ${dev.name} (online)`));
    else if (unreadable.length) this.#h.log(`${dev.name} (offline) could not read ${unreadable.join(', ')}`);
    if (!diff.length) return;
    const who =
      this.#model?.device === null ? 'no device changed anything' : `only ${dev.name} changed things`;
    this.#h.fail(
      `solo model: ${dev.name} ${why} (${who} since the last sync step) differs from the synced tree with its own ops applied:\n    ` +
        diff.slice(0, 30).join('\n    '),
    );
    this.#model = null; // one report, not one per later look
  }

  /** Runs one syscall op; a legitimate POSIX error is an answer (recorded), anything else a failure. */
  async #fs(
    dev: MountDevice,
    desc: string,
    touched: string | null,
    fn: () => Promise<string | void>,
  ): Promise<boolean> {
    this.#h.stats.fsOps++;
    if (touched !== null) this.#touch(dev);
    try {
      const note = await fn();
      this.#h.log(`${dev.name} ${desc}${note ? ' ' + note : ''}`);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (touched !== null) this.model(dev)?.unknown(touched); // it may have happened in part
      if (LEGIT.has(code) || (code === 'EIO' && !dev.wantOnline)) {
        this.#h.stats.fsErrors++;
        this.#h.log(`${dev.name} ${desc} -> ${code}`);
        return false;
      }
      this.#h.fail(`${dev.name} ${desc}: unexpected ${code || 'error'}: ${(err as Error).message}`);
      if (touched !== null) this.#model = null;
      if (FATAL.has(code)) this.lastErrorWasFatal = true;
      return false;
    }
  }

  /** Records a closed write (close(2) answered) and what it supersedes on its device. */
  #closed(dev: MountDevice, p: string, content: Buffer, victims: ClosedWrite[]): string {
    const w: ClosedWrite = {
      n: this.writes.length + 1,
      device: dev.name,
      path: p,
      event: this.#h.event(),
      size: content.length,
      sha: sha256(content),
      exempt: null,
    };
    this.#exempt(victims, `superseded on ${dev.name} by w${w.n} before a sync step`);
    this.writes.push(w);
    this.#pending.get(dev.name)!.set(p, w);
    this.#h.stats.closedWrites++;
    return `w${w.n}=${short(w.sha)}/${w.size}B`;
  }

  /**
   * Pending writes of this device whose content sits at `p` now: written at `p` (or below it, for a
   * folder replaced by a rename), or (`p` being a conflicted copy this device made) at the path the
   * copy was made of. Renames made elsewhere are not followed (a mount shows no stable node id).
   */
  #victims(dev: MountDevice, p: string, prefix = false): ClosedWrite[] {
    const copyOf = conflictedCopyOf(p, dev.name);
    return [...this.#pending.get(dev.name)!.values()].filter(
      (w) => w.path === p || w.path === copyOf || (prefix && w.path.startsWith(p + '/')),
    );
  }

  #exempt(ws: ClosedWrite[], why: string): void {
    for (const w of ws) {
      w.exempt = why;
      const pending = this.#pending.get(w.device)!;
      if (pending.get(w.path) === w) pending.delete(w.path);
    }
  }

  /** This device writes `p` otherwise: its held descriptors of `p` show that write too. */
  #sharedWith(dev: MountDevice, p: string): void {
    for (const h of dev.held) if (h.path === p) h.want = null;
  }

  // ---- the ops -----------------------------------------------------------------------------------

  /** open(O_CREAT|O_TRUNC) + write + close. */
  create(dev: MountDevice, p: string, data: Buffer): Promise<boolean> {
    return this.#whole(dev, 'create', p, 'w', data);
  }

  /** open(O_WRONLY|O_TRUNC) of an existing file + write + close. */
  overwrite(dev: MountDevice, p: string, data: Buffer): Promise<boolean> {
    return this.#whole(dev, 'overwrite', p, C.O_WRONLY | C.O_TRUNC, data);
  }

  #whole(dev: MountDevice, what: string, p: string, flags: string | number, data: Buffer): Promise<boolean> {
    return this.#fs(dev, `${what} ${p}`, p, async () => {
      const victims = this.#victims(dev, p);
      this.#sharedWith(dev, p);
      const fh = await fs.open(dev.mount.p(p), flags, 0o644);
      try {
        await writeAll(fh, data, 0);
      } finally {
        await fh.close();
      }
      this.model(dev)?.write(p, data);
      return this.#closed(dev, p, data, victims);
    });
  }

  /**
   * open(O_RDWR) + read everything + pwrite at `at` × the size (or write with O_APPEND) + read
   * everything again through the same descriptor (it must hold the write) + fstat + close.
   */
  pwrite(dev: MountDevice, p: string, at: number | 'append', data: Buffer): Promise<boolean> {
    const what = at === 'append' ? 'append' : 'pwrite';
    return this.#fs(dev, `${what} ${p} +${data.length}B`, p, async () => {
      const victims = this.#victims(dev, p);
      this.#sharedWith(dev, p);
      const fh = await fs.open(dev.mount.p(p), at === 'append' ? C.O_RDWR | C.O_APPEND : C.O_RDWR);
      let content: Buffer;
      let off: number;
      try {
        const before = await readAll(fh);
        off = at === 'append' ? before.length : Math.floor(at * before.length);
        await writeAll(fh, data, at === 'append' ? null : off);
        const want = splice(before, data, off);
        content = await readAll(fh);
        const st = await fh.stat();
        if (!content.equals(want))
          this.#h.fail(
            `one descriptor: ${dev.name} ${what} of ${data.length}B at ${off} onto ${before.length}B of ${p}: ${differs(content, want)}`,
          );
        if (st.size !== content.length)
          this.#h.fail(
            `one descriptor: ${dev.name} ${what} ${p}: fstat says ${st.size}B, read ${content.length}B`,
          );
      } finally {
        await fh.close();
      }
      this.model(dev)?.write(p, content);
      return `@${off} ` + this.#closed(dev, p, content, victims);
    });
  }

  /**
   * truncate(2) by path, with the content read before and after. A remote change may come between
   * the reads: the content after is what is recorded, and it must be the cut one only while this
   * device is the only one that changed anything since the last sync step.
   */
  truncate(dev: MountDevice, p: string, size: number): Promise<boolean> {
    return this.#fs(dev, `truncate ${p} ${size}`, p, async () => {
      const victims = this.#victims(dev, p);
      this.#sharedWith(dev, p);
      const full = dev.mount.p(p);
      const before = await fs.readFile(full);
      await fs.truncate(full, size);
      const want = cut(before, size);
      let after: Buffer | null = null;
      try {
        after = await fs.readFile(full);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      let note = '';
      if (!after) note = ' (gone right after truncate answered)';
      else if (!after.equals(want)) {
        if (this.model(dev))
          this.#h.fail(`solo model: ${dev.name} truncate ${p} ${size}: ${differs(after, want)}`);
        note = ` (not the cut content: ${differs(after, want)})`;
      }
      const content = after ?? want;
      this.model(dev)?.write(p, content);
      return this.#closed(dev, p, content, victims) + note;
    });
  }

  async rename(dev: MountDevice, from: string, to: string): Promise<boolean> {
    const victims = this.#victims(dev, to, true);
    const ok = await this.#fs(dev, `rename ${from} -> ${to}`, to, async () => {
      await fs.rename(dev.mount.p(from), dev.mount.p(to));
      this.model(dev)?.rename(from, to);
    });
    if (!ok || from === to) return ok;
    this.#exempt(victims, `replaced on ${dev.name} by a rename before a sync step`);
    const pending = this.#pending.get(dev.name)!;
    for (const [p, w] of [...pending]) {
      if (p !== from && !p.startsWith(from + '/')) continue;
      pending.delete(p);
      w.path = to + p.slice(from.length);
      pending.set(w.path, w);
    }
    for (const h of dev.held) {
      if (h.path === to || h.path.startsWith(to + '/')) h.gone = true;
      else if (h.path === from || h.path.startsWith(from + '/')) h.path = to + h.path.slice(from.length);
    }
    return ok;
  }

  async unlink(dev: MountDevice, p: string): Promise<boolean> {
    const victims = this.#victims(dev, p);
    const ok = await this.#fs(dev, `unlink ${p}`, p, async () => {
      await fs.unlink(dev.mount.p(p));
      this.model(dev)?.remove(p);
    });
    if (ok) {
      this.#exempt(victims, `unlinked on ${dev.name} before a sync step`);
      for (const h of dev.held) if (h.path === p) h.gone = true;
    }
    return ok;
  }

  mkdir(dev: MountDevice, p: string): Promise<boolean> {
    return this.#fs(dev, `mkdir ${p}`, p, async () => {
      await fs.mkdir(dev.mount.p(p), 0o755);
      this.model(dev)?.mkdir(p);
    });
  }

  rmdir(dev: MountDevice, p: string): Promise<boolean> {
    return this.#fs(dev, `rmdir ${p}`, p, async () => {
      await fs.rmdir(dev.mount.p(p));
      this.model(dev)?.remove(p);
    });
  }

  /** open(O_RDWR) + write at the end; the descriptor stays open until event `closeAt`. */
  slowWrite(dev: MountDevice, p: string, data: Buffer, closeAt: number): Promise<boolean> {
    return this.#fs(dev, `slow-open ${p} until #${closeAt}`, p, async () => {
      this.#sharedWith(dev, p);
      const fh = await fs.open(dev.mount.p(p), C.O_RDWR);
      let before: Buffer;
      try {
        before = await readAll(fh);
        await writeAll(fh, data, before.length);
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw err;
      }
      const want = Buffer.concat([before, data]);
      dev.held.push({ fh, path: p, closeAt, want, gone: false });
      this.model(dev)?.write(p, want);
      return `+${data.length}B @${before.length}`;
    });
  }

  /** Reads a held descriptor back (it must hold its write) and closes it: a closed write. */
  async closeHeld(dev: MountDevice, h: Held): Promise<void> {
    dev.held = dev.held.filter((x) => x !== h);
    await this.#fs(dev, `slow-close ${h.path}`, h.path, async () => {
      let content: Buffer;
      try {
        content = await readAll(h.fh);
        if (h.want && !content.equals(h.want))
          this.#h.fail(`one descriptor: ${dev.name} held ${h.path}: ${differs(content, h.want)}`);
      } finally {
        await h.fh.close();
      }
      if (h.gone) return '(unlinked or replaced meanwhile: nothing to keep)';
      this.model(dev)?.write(h.path, content);
      return this.#closed(dev, h.path, content, this.#victims(dev, h.path));
    });
  }

  /** Closes every held descriptor whose time has come (`all`: every one). */
  async closeDue(devices: MountDevice[], all = false): Promise<void> {
    for (const dev of devices)
      for (const h of [...dev.held]) if (all || h.closeAt <= this.#h.event()) await this.closeHeld(dev, h);
  }

  /** open + fstat + read everything + close; then the device's whole tree against the solo model. */
  async read(dev: MountDevice, p: string): Promise<void> {
    await this.#fs(dev, `read ${p}`, null, async () => {
      const fh = await fs.open(dev.mount.p(p), 'r');
      try {
        const st = await fh.stat();
        const data = await readAll(fh);
        return `${short(sha256(data))}/${data.length}B${st.size === data.length ? '' : ` (fstat ${st.size}B)`}`;
      } finally {
        await fh.close();
      }
    });
    await this.checkModel(dev, `at a read of ${p}`);
  }

  /** The device's tree as it shows it now, names only (readdir; dirs include '/'). */
  async localTree(dev: MountDevice): Promise<{ dirs: string[]; files: string[] }> {
    const dirs: string[] = [];
    const files: string[] = [];
    const walk = async (dir: string) => {
      let entries;
      try {
        entries = await fs.readdir(dev.mount.p(dir), { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (dir !== '/' && (code === 'ENOENT' || code === 'ENOTDIR')) return; // changed meanwhile
        this.#h.fail(`${dev.name}: readdir ${dir}: ${code} ${(err as Error).message}`);
        if (FATAL.has(code)) this.lastErrorWasFatal = true;
        return;
      }
      dirs.push(dir);
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else files.push(p);
      }
    };
    await walk('/');
    if (!dirs.includes('/')) dirs.unshift('/');
    return { dirs, files };
  }
}
