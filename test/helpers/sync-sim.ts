/**
 * SyncSim: a randomized multi-device sync simulator in the spirit of Dropbox's Trinity/CanopyCheck.
 *
 * One real `loft serve` process and N devices (default 3), each an in-process `openDriveCore` with its
 * own state dir, reaching the server through its own FaultProxy. A seeded schedule drives:
 *
 * - file-system ops on a random device, issued through the Vfs exactly as FUSE would call it
 *   (create+write+flush+release, open+write at an offset+release, append at the handle's size,
 *   truncate by path, rename of files and dirs incl. replacing a target, unlink, mkdir, rmdir, and
 *   "slow writes" whose handle stays open across later events); a legitimate POSIX error (ENOENT
 *   because a remote change removed the path, ENOTEMPTY, EEXIST…) is recorded and the run goes on;
 * - faults: a device goes offline / online (its proxy resets connections), loses the answer to its
 *   next request, restarts (close + reopen with the same state dir; a "crash" cuts the network first,
 *   see `restartDevice`), the server restarts (SIGTERM or SIGKILL, same data dir and port);
 * - sync steps: everything online, then wait until every device's outbox is empty and its cursor is
 *   the server's head (bounded; a timeout is a failure that dumps every device's status).
 *
 * After the final sync step the checkers (`check`) look for:
 * (a) convergence: every device's tree (walked through the Vfs: path, kind, size, SHA-256 of the
 *     content read through it) equals the server's tree (walked through the HTTP API, blocks fetched);
 * (b) no lost write: the content of every closed write (SHA-256 at release) is in the server's
 *     history (every revision of every node the journal ever named, via GET /v1/revisions) — the final
 *     tree and conflicted copies are part of it. A write is exempt only when the same device replaced
 *     or removed that content itself before the next sync step (the outbox coalesces such writes by
 *     design), or its content could not be read back (an offline read of a cloud-only base);
 * (c) structure: the server's live nodes (from the journal) all hang below the root through live
 *     directories, no cycle, no duplicate name, and the list walk sees exactly them; each device's
 *     mirror database (opened after the core is closed) has no node without a parent, no cycle, no
 *     queued op and no staged content left, and the Vfs walk sees every file the mirror counts.
 *
 * Timing is real (background push/pull loops run while the schedule goes on), so a seed reproduces
 * the same schedule but not always the same interleaving; a failing seed usually fails again.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDriveCore, type DriveCore } from '../../src/client/client.js';
import { S_IFDIR, S_IFREG } from '../../src/client/vfs/vfs.js';
import { FsError } from '../../src/shared/errors.js';
import { pino } from 'pino';
import type { Revision } from '../../src/shared/protocol.js';
import { Api } from './api.js';
import { FaultProxy } from './fault-proxy.js';
import { pseudoRandom } from './fixtures.js';
import { prng } from './prng.js';
import { ServerProcess } from './server-process.js';

const S_IFMT = 0o170000;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const KiB = 1024;

/** Names the schedule draws from: a small pool, so devices collide on names often. */
const DIR_NAMES = ['a', 'b', 'c'];
const FILE_NAMES = ['x.txt', 'y.txt', 'z.bin', 'w'];
/** Deepest directory the schedule makes (root = 0). */
const MAX_DEPTH = 3;
/** Longest a sync step waits for every device to settle (push backoff tops out at 30 s). */
const SYNC_TIMEOUT_MS = 60_000;
/** Interval of the settle check: short, the check is a few SQLite reads and one HTTP request. */
const SETTLE_POLL_MS = 40;
/** The settle condition must hold on this many polls in a row, with the same head. */
const SETTLE_ROUNDS = 3;
/** The VFS reads files in pieces of this size (FUSE hands at most 128 KiB; bigger is only faster). */
const READ_PIECE = 256 * KiB;

export type EventKind =
  | 'create'
  | 'overwrite'
  | 'pwrite'
  | 'append'
  | 'truncate'
  | 'renameFile'
  | 'renameDir'
  | 'unlink'
  | 'mkdir'
  | 'rmdir'
  | 'slowWrite'
  | 'offline'
  | 'online'
  | 'loseAnswer'
  | 'restartDevice'
  | 'crashDevice'
  | 'restartServer'
  | 'serverDown'
  | 'serverUp'
  | 'sync';

/** Event weights of the random schedule (relative). */
export const DEFAULT_WEIGHTS: Readonly<Record<EventKind, number>> = {
  create: 12,
  overwrite: 8,
  pwrite: 8,
  append: 6,
  truncate: 4,
  renameFile: 7,
  renameDir: 4,
  unlink: 5,
  mkdir: 7,
  rmdir: 3,
  slowWrite: 2,
  offline: 4,
  online: 5,
  loseAnswer: 2,
  restartDevice: 2,
  crashDevice: 1,
  restartServer: 1,
  serverDown: 1,
  serverUp: 2,
  sync: 6,
};

export interface SimOptions {
  seed: number;
  /** Events of the random schedule (ops and faults; a final sync step follows). */
  ops?: number;
  devices?: number;
  weights?: Partial<Record<EventKind, number>>;
  /** Longest wait of one sync step (ms). */
  syncTimeoutMs?: number;
  /** Prints each trace line as it happens. */
  verbose?: boolean;
  /** Level of the drives' own log lines kept in the trace (default warn). */
  driveLog?: 'silent' | 'error' | 'warn' | 'info' | 'debug';
  /**
   * Deliberate break, only to prove the checkers can fail (never in committed tests): the queued
   * commit of the first closed write made on an offline device, from this write number on, is
   * removed from that device's outbox, as if the push loop had skipped it (offline: the push cannot
   * have started it yet).
   */
  sabotageDropWrite?: number;
}

export interface SimStats {
  events: number;
  fsOps: number;
  fsErrors: number;
  closedWrites: number;
  exemptWrites: number;
  unverifiedWrites: number;
  /** Closed writes whose content is still in the final tree (the others are in the history only). */
  writesInFinalTree: number;
  syncSteps: number;
  maxSyncMs: number;
  conflictedCopies: number;
  finalFiles: number;
  finalDirs: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failures: string[];
  trace: string[];
  stats: SimStats;
}

interface Held {
  fh: number;
  path: string;
  closeAt: number;
}

interface SimDevice {
  name: string;
  token: string;
  state: string;
  proxy: FaultProxy;
  core: DriveCore | null;
  /** What the schedule wants; the proxy is offline while this is false. */
  wantOnline: boolean;
  held: Held[];
}

interface ClosedWrite {
  n: number;
  device: string;
  path: string;
  event: number;
  size: number;
  /** SHA-256 of the content at release; null when it could not be read back (offline, cloud-only base). */
  sha: string | null;
  /** The node's id on the device at release (temporary ids are negative). */
  nodeId: number;
  /** Why this write need not reach the server, or null. */
  exempt: string | null;
}

export interface TreeEntry {
  kind: 'file' | 'dir';
  size: number;
  sha: string;
}

export type Tree = Map<string, TreeEntry>;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const EMPTY_SHA = sha256(Buffer.alloc(0));
const join = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);
const short = (sha: string | null): string => (sha ? sha.slice(0, 8) : '????????');

/** The sequence number inside a journal cursor ("c" + base64url "v1:<ns>:<seq>"), 0 for none. */
export function cursorSeq(cursor: string): number {
  if (!cursor) return 0;
  const m = /^v1:\d+:(\d+)$/.exec(Buffer.from(cursor.slice(1), 'base64url').toString('latin1'));
  return m ? Number(m[1]) : -1;
}

/** The path a conflicted copy made by `device` was made of ("/d/f (conflicted copy from B …).txt" → "/d/f.txt"), else null. */
export function conflictedCopyOf(p: string, device: string): string | null {
  const m = / \(conflicted copy from (\S+) \d{4}-\d{2}-\d{2} \d{6}\)/.exec(p.slice(p.lastIndexOf('/')));
  if (!m || m[1] !== device) return null;
  const at = p.lastIndexOf('/') + m.index;
  return p.slice(0, at) + p.slice(at + m[0].length);
}

export class SyncSim {
  readonly seed: number;
  readonly trace: string[] = [];
  readonly failures: string[] = [];
  readonly devices: SimDevice[] = [];
  readonly #o: SimOptions;
  readonly #rng: () => number;
  readonly #server = new ServerProcess();
  readonly #writes: ClosedWrite[] = [];
  /** Per device: path → the closed write not yet past a sync step (see the file comment, (b)). */
  readonly #pending = new Map<string, Map<string, ClosedWrite>>();
  readonly #blocks = new Map<string, Buffer>();
  #api!: Api;
  #serverUp = false;
  #event = 0;
  /** True while `step()` runs (it numbers its own event); hand-written scenarios number each call. */
  #stepping = false;
  #sabotaged = false;
  #sabotage: { dev: SimDevice; w: ClosedWrite } | null = null;
  readonly stats: SimStats = {
    events: 0,
    fsOps: 0,
    fsErrors: 0,
    closedWrites: 0,
    exemptWrites: 0,
    unverifiedWrites: 0,
    writesInFinalTree: 0,
    syncSteps: 0,
    maxSyncMs: 0,
    conflictedCopies: 0,
    finalFiles: 0,
    finalDirs: 0,
  };

  private constructor(options: SimOptions) {
    this.#o = options;
    this.seed = options.seed;
    this.#rng = prng(options.seed);
  }

  /** Starts the server, creates one user with a device token per device and opens every device. */
  static async start(options: SimOptions): Promise<SyncSim> {
    const sim = new SyncSim(options);
    try {
      await sim.#setup();
    } catch (err) {
      await sim.dispose();
      throw err;
    }
    return sim;
  }

  async #setup(): Promise<void> {
    await this.#server.start();
    this.#serverUp = true;
    const port = Number(new URL(this.#server.url).port);
    const names = ['A', 'B', 'C', 'D', 'E', 'F'].slice(0, this.#o.devices ?? 3);
    const first = await this.#server.addUser('sim', ['--device', names[0]!]);
    const checker = await this.#server.addToken('sim', ['--device', 'checker']);
    this.#api = new Api(this.#server.url, checker);
    for (const [i, name] of names.entries()) {
      const token = i === 0 ? first : await this.#server.addToken('sim', ['--device', name]);
      const proxy = new FaultProxy(port);
      await proxy.start();
      const state = mkdtempSync(path.join(os.tmpdir(), `loft-sim-${name}-`));
      const dev: SimDevice = { name, token, state, proxy, core: null, wantOnline: true, held: [] };
      this.devices.push(dev);
      this.#pending.set(name, new Map());
      await this.#open(dev);
    }
  }

  async #open(dev: SimDevice): Promise<void> {
    dev.core = await openDriveCore({
      server: dev.proxy.url,
      token: dev.token,
      state: dev.state,
      cacheBytes: 64 * 1024 * 1024,
      log: this.#driveLogger(dev),
    });
  }

  /** The drive's own warnings (conflicts, retries, offline) go into the trace, repeats folded. */
  #driveLogger(dev: SimDevice) {
    let last = '';
    let repeats = 0;
    const stream = {
      write: (line: string) => {
        let text = line.trim();
        try {
          const {
            msg,
            level: _l,
            time: _t,
            pid: _p,
            hostname: _h,
            ...fields
          } = JSON.parse(line) as Record<string, unknown>;
          const rest = Object.entries(fields)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          text = `${String(msg)}${rest ? ' ' + rest : ''}`;
        } catch {
          // not JSON: keep the line as it is
        }
        if (text === last) {
          repeats++;
          return;
        }
        if (repeats) this.#log(`${dev.name} drive: (last line repeated ${repeats} times)`);
        last = text;
        repeats = 0;
        this.#log(`${dev.name} drive: ${text.slice(0, 300)}`);
      },
    };
    return pino({ level: this.#o.driveLog ?? 'warn', base: null }, stream);
  }

  device(name: string): SimDevice {
    const d = this.devices.find((x) => x.name === name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  }

  #core(dev: SimDevice): DriveCore {
    if (!dev.core) throw new Error(`device ${dev.name} is not open`);
    return dev.core;
  }

  #tick(): void {
    if (!this.#stepping) this.#event++;
  }

  #log(line: string): void {
    const l = `#${this.#event} ${line}`;
    this.trace.push(l);
    if (this.#o.verbose) console.error(`[seed ${this.seed}] ${l}`);
  }

  #fail(msg: string): void {
    this.failures.push(msg);
    this.#log(`FAIL ${msg}`);
  }

  // ---- random helpers -----------------------------------------------------------------------------

  #int(lo: number, hi: number): number {
    return lo + Math.floor(this.#rng() * (hi - lo + 1));
  }

  #pickOf<T>(xs: readonly T[]): T | undefined {
    return xs.length ? xs[Math.floor(this.#rng() * xs.length)] : undefined;
  }

  #data(): Buffer {
    const r = this.#rng();
    const size =
      r < 0.6
        ? this.#int(0, 2 * KiB)
        : r < 0.94
          ? this.#int(2 * KiB, 64 * KiB)
          : this.#int(300 * KiB, 1300 * KiB);
    return pseudoRandom(size, this.#int(1, 0x7fffffff));
  }

  // ---- file-system ops (as FUSE calls them) ------------------------------------------------------

  /** Runs one Vfs op; a POSIX error is a legitimate answer (recorded), anything else a failure. */
  async #fs(dev: SimDevice, desc: string, fn: (core: DriveCore) => Promise<string | void>): Promise<boolean> {
    this.#tick();
    this.stats.fsOps++;
    try {
      const note = await fn(this.#core(dev));
      await this.#sabotageNow();
      this.#log(`${dev.name} ${desc}${note ? ' ' + note : ''}`);
      return true;
    } catch (err) {
      if (err instanceof FsError) {
        this.stats.fsErrors++;
        this.#log(`${dev.name} ${desc} -> ${err.errno}`);
        return false;
      }
      this.#fail(`${dev.name} ${desc}: unexpected error ${(err as Error)?.stack ?? String(err)}`);
      return false;
    }
  }

  async #readAll(core: DriveCore, fh: number, size: number): Promise<Buffer | null> {
    const out = Buffer.alloc(size);
    let at = 0;
    try {
      while (at < size) {
        const n = await core.vfs.read(fh, out.subarray(at, Math.min(size, at + READ_PIECE)), at);
        if (n === 0) break;
        at += n;
      }
    } catch (err) {
      if (err instanceof FsError && err.errno === 'EIO') return null; // offline, cloud-only base
      throw err;
    }
    return out.subarray(0, at);
  }

  /** Records a closed write (flush + release answered) and what it supersedes on its device. */
  #closed(dev: SimDevice, p: string, content: Buffer | null, size: number, victims: ClosedWrite[]): string {
    const core = this.#core(dev);
    const w: ClosedWrite = {
      n: this.#writes.length + 1,
      device: dev.name,
      path: p,
      event: this.#event,
      size,
      sha: content ? sha256(content) : null,
      nodeId: core.mirror.lookup(p)?.id ?? 0,
      exempt: null,
    };
    if (!content) w.exempt = 'content unknown (offline read of a cloud-only base)';
    this.#exempt(victims, `overwritten on ${dev.name} by write ${w.n} before a sync step`);
    this.#writes.push(w);
    if (!w.exempt) this.#pending.get(dev.name)!.set(p, w);
    this.stats.closedWrites++;
    this.#maybeSabotage(dev, w);
    return `w${w.n}=${short(w.sha)}/${size}B`;
  }

  /** Pending writes of this device at `p` (by path, or by the node now at `p`). */
  /**
   * Pending writes of this device whose content sits at `p` now: written at `p`, or to the node now
   * at `p`, or (`p` being a conflicted copy this device made) to the path the copy was made of: the
   * drive moves a conflicting local version, open writers included, into the copy.
   */
  #victims(dev: SimDevice, p: string, prefix = false): ClosedWrite[] {
    const id = dev.core?.mirror.lookup(p)?.id;
    const copyOf = conflictedCopyOf(p, dev.name);
    const out: ClosedWrite[] = [];
    for (const w of this.#pending.get(dev.name)!.values()) {
      if (
        w.path === p ||
        w.path === copyOf ||
        (prefix && w.path.startsWith(p + '/')) ||
        (id !== undefined && w.nodeId === id)
      )
        out.push(w);
    }
    return out;
  }

  #exempt(ws: ClosedWrite[], why: string): void {
    const pending = this.#pending.get(ws[0]?.device ?? '');
    for (const w of ws) {
      w.exempt = why;
      if (pending?.get(w.path) === w) pending.delete(w.path);
    }
  }

  #maybeSabotage(dev: SimDevice, w: ClosedWrite): void {
    const from = this.#o.sabotageDropWrite;
    if (from === undefined || this.#sabotaged || w.n < from || dev.wantOnline) return;
    this.#sabotage = { dev, w };
  }

  /** Runs after the op that chose its victim: waits out an attempt under way (offline, it fails fast). */
  async #sabotageNow(): Promise<void> {
    const target = this.#sabotage;
    this.#sabotage = null;
    if (!target) return;
    const { dev, w } = target;
    const mirror = this.#core(dev).mirror;
    for (let i = 0; i < 1000; i++) {
      const op = mirror
        .ops()
        .reverse()
        .find((o) => o.kind === 'commit' && mirror.pathOf(o.nodeId) === w.path);
      if (!op) return;
      // Offline, an op marked as under way is only sleeping out its backoff (the push loop keeps
      // `pushing` set while it sleeps), so it can go; online, wait for the attempt to end.
      if (mirror.pushing !== op.seq || !dev.proxy.isOnline) {
        mirror.opDone(op.seq);
        this.#sabotaged = true;
        this.#log(`SABOTAGE dropped the queued commit of w${w.n} on ${dev.name}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#log(`SABOTAGE of w${w.n} on ${dev.name} gave up: its commit stayed under way`);
  }

  async createFile(dev: SimDevice, p: string, data: Buffer): Promise<boolean> {
    return this.#fs(dev, `create ${p}`, async (core) => {
      const victims = this.#victims(dev, p);
      const fh = await core.vfs.create(p, S_IFREG | 0o644);
      try {
        await core.vfs.write(fh, data, 0);
        await core.vfs.flush(fh);
      } finally {
        await core.vfs.release(fh);
      }
      return this.#closed(dev, p, data, data.length, victims);
    });
  }

  /** open(O_TRUNC) + write the whole new content + close. */
  async overwrite(dev: SimDevice, p: string, data: Buffer): Promise<boolean> {
    return this.#fs(dev, `overwrite ${p}`, async (core) => {
      const victims = this.#victims(dev, p);
      const fh = await core.vfs.open(p, O_WRONLY | O_TRUNC);
      try {
        await core.vfs.write(fh, data, 0);
        await core.vfs.flush(fh);
      } finally {
        await core.vfs.release(fh);
      }
      return this.#closed(dev, p, data, data.length, victims);
    });
  }

  /** open(O_RDWR) + write at an offset (`at` is a fraction of the size) + close; `append` writes at the end. */
  async pwrite(dev: SimDevice, p: string, at: number | 'append', data: Buffer): Promise<boolean> {
    const what = at === 'append' ? 'append' : 'pwrite';
    return this.#fs(dev, `${what} ${p} +${data.length}B`, async (core) => {
      const victims = this.#victims(dev, p);
      const fh = await core.vfs.open(p, at === 'append' ? O_WRONLY | O_APPEND : O_RDWR);
      let content: Buffer | null;
      let size: number;
      let off = 0;
      try {
        const before = core.vfs.handleSize(fh);
        off = at === 'append' ? before : Math.floor(at * before);
        await core.vfs.write(fh, data, off);
        size = core.vfs.handleSize(fh);
        content = await this.#readAll(core, fh, size);
        await core.vfs.flush(fh);
      } finally {
        await core.vfs.release(fh);
      }
      return `@${off} ` + this.#closed(dev, p, content, size, victims);
    });
  }

  /**
   * truncate(2) by path. The content is read back after the call; when the file is gone by then (a
   * remote delete applied meanwhile), the expected content is the one read just before, cut or
   * zero-extended: truncate answered success, so that content must reach the server.
   */
  async truncate(dev: SimDevice, p: string, size: number): Promise<boolean> {
    return this.#fs(dev, `truncate ${p} ${size}`, async (core) => {
      const victims = this.#victims(dev, p);
      const readNow = async (): Promise<Buffer | null | 'gone'> => {
        let fh: number;
        try {
          fh = await core.vfs.open(p, O_RDONLY);
        } catch (err) {
          if (err instanceof FsError && err.errno === 'ENOENT') return 'gone';
          throw err;
        }
        try {
          return await this.#readAll(core, fh, core.vfs.handleSize(fh));
        } finally {
          await core.vfs.release(fh);
        }
      };
      const before = await readNow();
      if (before === 'gone') throw new FsError('ENOENT', `${p} does not exist`);
      await core.vfs.truncate(p, size);
      let content = await readNow();
      let note = '';
      if (content === 'gone') {
        note = ' (gone right after truncate answered)';
        content =
          before &&
          Buffer.concat([before.subarray(0, size), Buffer.alloc(Math.max(0, size - before.length))]);
      }
      return this.#closed(dev, p, content, size, victims) + note;
    });
  }

  /** open + read everything + release (hydrates a cloud-only file into the cache). */
  async readFile(dev: SimDevice, p: string): Promise<boolean> {
    return this.#fs(dev, `read ${p}`, async (core) => {
      const fh = await core.vfs.open(p, O_RDONLY);
      try {
        const data = await this.#readAll(core, fh, core.vfs.handleSize(fh));
        return data ? `${short(sha256(data))}/${data.length}B` : '(EIO)';
      } finally {
        await core.vfs.release(fh);
      }
    });
  }

  async rename(dev: SimDevice, from: string, to: string): Promise<boolean> {
    const victims = this.#victims(dev, to, true);
    const ok = await this.#fs(dev, `rename ${from} -> ${to}`, async (core) => {
      await core.vfs.rename(from, to);
    });
    if (ok) {
      if (from !== to) this.#exempt(victims, `replaced on ${dev.name} by a rename before a sync step`);
      const pending = this.#pending.get(dev.name)!;
      for (const [p, w] of [...pending]) {
        if (p !== from && !p.startsWith(from + '/')) continue;
        pending.delete(p);
        w.path = to + p.slice(from.length);
        pending.set(w.path, w);
      }
    }
    return ok;
  }

  async unlink(dev: SimDevice, p: string): Promise<boolean> {
    const victims = this.#victims(dev, p);
    const ok = await this.#fs(dev, `unlink ${p}`, (core) => core.vfs.unlink(p));
    if (ok) this.#exempt(victims, `unlinked on ${dev.name} before a sync step`);
    return ok;
  }

  mkdir(dev: SimDevice, p: string): Promise<boolean> {
    return this.#fs(dev, `mkdir ${p}`, (core) => core.vfs.mkdir(p, S_IFDIR | 0o755));
  }

  rmdir(dev: SimDevice, p: string): Promise<boolean> {
    return this.#fs(dev, `rmdir ${p}`, (core) => core.vfs.rmdir(p));
  }

  /** Opens a file for writing and writes; the handle stays open until `closeAt` (an event number). */
  async slowWrite(dev: SimDevice, p: string, data: Buffer, closeAt: number): Promise<boolean> {
    return this.#fs(dev, `slow-open ${p} until #${closeAt}`, async (core) => {
      const fh = await core.vfs.open(p, O_RDWR);
      try {
        await core.vfs.write(fh, data, core.vfs.handleSize(fh));
      } catch (err) {
        await core.vfs.release(fh);
        throw err;
      }
      dev.held.push({ fh, path: p, closeAt });
    });
  }

  /** Closes a held handle (flush + release): a closed write of whatever the file holds now. */
  async #closeHeld(dev: SimDevice, h: Held): Promise<void> {
    dev.held = dev.held.filter((x) => x !== h);
    await this.#fs(dev, `slow-close ${h.path}`, async (core) => {
      // The handle's file may have been renamed meanwhile: record it under its path now.
      let content: Buffer | null;
      let size: number;
      let p = h.path;
      try {
        size = core.vfs.handleSize(h.fh);
        content = await this.#readAll(core, h.fh, size);
        await core.vfs.flush(h.fh);
      } finally {
        await core.vfs.release(h.fh);
      }
      const id = core.mirror.lookup(h.path)?.id;
      if (id === undefined) return '(file gone)';
      p = core.mirror.pathOf(id) ?? h.path;
      return this.#closed(dev, p, content, size, this.#victims(dev, p));
    });
  }

  async #closeDueHandles(all = false): Promise<void> {
    for (const dev of this.devices) {
      for (const h of [...dev.held]) if (all || h.closeAt <= this.#event) await this.#closeHeld(dev, h);
    }
  }

  // ---- faults ------------------------------------------------------------------------------------

  setOnline(dev: SimDevice, online: boolean): void {
    this.#tick();
    dev.wantOnline = online;
    if (online) dev.proxy.online();
    else dev.proxy.offline();
    this.#log(`${dev.name} ${online ? 'online' : 'offline'}`);
  }

  loseAnswer(dev: SimDevice): void {
    this.#tick();
    dev.proxy.loseNextAnswers(1);
    this.#log(`${dev.name} loses the answer to its next request`);
  }

  /**
   * Restarts a device: close the core and open it again with the same state dir. A "crash" cuts the
   * device's network first (in-flight requests die as with kill -9: a commit may have reached the
   * server without the answer reaching the device) and drops open handles without closing them.
   * In-process, `close()` still runs (the mirror's SQLite is opened in exclusive mode and cannot be
   * opened again while the old connection lives), but it writes nothing a crash would not: every
   * local change was already committed to SQLite / fsynced staging before its call returned.
   */
  async restartDevice(dev: SimDevice, crash: boolean): Promise<void> {
    this.#tick();
    const core = this.#core(dev);
    if (crash) {
      dev.proxy.offline();
      dev.held = [];
    } else {
      await this.#closeDueHandles(true);
    }
    const t0 = Date.now();
    dev.core = null;
    await core.close();
    if (dev.wantOnline) dev.proxy.online();
    await this.#open(dev);
    this.#log(`${dev.name} ${crash ? 'crash+restart' : 'restart'} (${Date.now() - t0} ms)`);
  }

  async serverDown(kill: boolean): Promise<void> {
    this.#tick();
    if (!this.#serverUp) return;
    if (kill) await this.#server.kill();
    else await this.#server.stop();
    this.#serverUp = false;
    this.#log(`server ${kill ? 'SIGKILL' : 'SIGTERM'}`);
  }

  async serverUp(): Promise<void> {
    this.#tick();
    if (this.#serverUp) return;
    await this.#server.start();
    this.#serverUp = true;
    this.#log('server up');
  }

  async restartServer(kill: boolean): Promise<void> {
    await this.serverDown(kill);
    await this.serverUp();
  }

  // ---- sync steps --------------------------------------------------------------------------------

  /** The server's journal head (sequence number). */
  async #headSeq(): Promise<number> {
    let cursor = '';
    for (;;) {
      const r = await this.#api.get(`/v1/changes?limit=10000&cursor=${encodeURIComponent(cursor)}`);
      if (r.status !== 200) throw new Error(`GET /v1/changes: ${r.status} ${r.raw.toString()}`);
      cursor = r.body.cursor;
      if (!r.body.hasMore) return cursorSeq(cursor);
    }
  }

  #deviceStatus(dev: SimDevice, head: number): string {
    const core = dev.core;
    if (!core) return `${dev.name}: closed`;
    const ops = core.mirror.ops();
    const opList = ops
      .slice(0, 6)
      .map(
        (o) =>
          `${o.kind} ${o.path}${o.toPath ? ' -> ' + o.toPath : ''} (node ${o.nodeId}, tries ${o.attempts}${o.lastError ? ', ' + o.lastError : ''})`,
      );
    return [
      `${dev.name}: proxy ${dev.proxy.isOnline ? 'up' : 'down'}, drive ${core.online.online ? 'online' : 'offline: ' + core.online.reason}`,
      `cursor ${cursorSeq(core.mirror.cursor())}/${head}, pending ${ops.length}, dirty ${core.vfs.dirty.count}, open ${core.vfs.openHandles}`,
      `push ${core.push.status.current ? 'uploading ' + core.push.status.current.path : 'idle'}, last error ${core.push.status.lastError}`,
      ...opList.map((l) => '  ' + l),
    ].join('\n    ');
  }

  /** Everything online; waits until every outbox is empty and every cursor is the server's head. */
  async syncStep(label = 'sync'): Promise<boolean> {
    await this.#closeDueHandles(true);
    await this.serverUp();
    for (const dev of this.devices) {
      if (!dev.wantOnline) this.setOnline(dev, true);
      if (!dev.core) await this.#open(dev);
    }
    return this.settle(this.devices, label);
  }

  /**
   * Waits until these devices (online, server up) have empty outboxes and cursors at the server's
   * head; the others are left as they are (a partial sync, for hand-written scenarios).
   */
  async settle(devices: SimDevice[], label = 'settle'): Promise<boolean> {
    this.#tick();
    const t0 = Date.now();
    const limit = this.#o.syncTimeoutMs ?? SYNC_TIMEOUT_MS;
    let rounds = 0;
    let lastHead = -1;
    let head = 0;
    // One wake per step: a push loop in a network backoff sleeps on (it cannot be woken early).
    for (const dev of devices) this.#core(dev).push.wake();
    while (Date.now() - t0 < limit) {
      head = await this.#headSeq();
      const settled = devices.every(
        (d) => d.core!.mirror.pendingOps === 0 && cursorSeq(d.core!.mirror.cursor()) === head,
      );
      rounds = settled && head === lastHead ? rounds + 1 : settled ? 1 : 0;
      lastHead = head;
      if (rounds >= SETTLE_ROUNDS) {
        const ms = Date.now() - t0;
        this.stats.syncSteps++;
        this.stats.maxSyncMs = Math.max(this.stats.maxSyncMs, ms);
        this.#log(
          `${label}${devices.length < this.devices.length ? ' ' + devices.map((d) => d.name).join('') : ''}: settled at head ${head} in ${ms} ms`,
        );
        for (const d of devices) this.#pending.get(d.name)!.clear();
        return true;
      }
      await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    }
    this.#fail(
      `${label}: devices did not settle within ${limit} ms (head ${head}):\n    ` +
        this.devices.map((d) => this.#deviceStatus(d, head)).join('\n    '),
    );
    return false;
  }

  /** The final sync step and every checker (for hand-written scenarios). */
  async finish(): Promise<void> {
    this.#event++;
    if (await this.syncStep('final sync')) await this.check();
    await this.checkMirrors();
  }

  // ---- the random schedule ------------------------------------------------------------------------

  /** The device's tree as it sees it now (dirs include '/'). */
  #localTree(dev: SimDevice): { dirs: string[]; files: string[] } {
    const vfs = this.#core(dev).vfs;
    const dirs: string[] = [];
    const files: string[] = [];
    const walk = (dir: string) => {
      dirs.push(dir);
      const { names, stats } = vfs.readdir(dir);
      names.forEach((name, i) => {
        if (name === '.' || name === '..') return;
        const p = join(dir, name);
        if ((stats[i]!.mode & S_IFMT) === S_IFDIR) walk(p);
        else files.push(p);
      });
    };
    walk('/');
    return { dirs, files };
  }

  #pickEvent(): EventKind {
    const weights = { ...DEFAULT_WEIGHTS, ...this.#o.weights };
    const entries = Object.entries(weights) as [EventKind, number][];
    const total = entries.reduce((n, [, w]) => n + w, 0);
    let r = this.#rng() * total;
    for (const [k, w] of entries) {
      if ((r -= w) < 0) return k;
    }
    return 'sync';
  }

  /** Runs one random event. */
  async step(): Promise<void> {
    this.#event++;
    this.stats.events++;
    this.#stepping = true;
    try {
      await this.#step();
    } finally {
      this.#stepping = false;
    }
  }

  async #step(): Promise<void> {
    await this.#closeDueHandles();
    const kind = this.#pickEvent();
    const dev = this.#pickOf(this.devices)!;
    const { dirs, files } = this.#localTree(dev);
    const fileName = () => this.#pickOf(FILE_NAMES)!;
    const dirName = () => this.#pickOf(DIR_NAMES)!;
    const someDir = () => this.#pickOf(dirs)!;
    const someFile = () => this.#pickOf(files);
    const newFilePath = () => {
      for (let i = 0; i < 3; i++) {
        const p = join(someDir(), fileName());
        if (!files.includes(p) && !dirs.includes(p)) return p;
      }
      return join(someDir(), fileName());
    };
    const file = kind === 'create' || kind === 'mkdir' ? undefined : someFile();
    switch (kind) {
      case 'create':
        await this.createFile(dev, newFilePath(), this.#data());
        return;
      case 'overwrite':
        if (file) await this.overwrite(dev, file, this.#data());
        else await this.createFile(dev, newFilePath(), this.#data());
        return;
      case 'pwrite':
      case 'append': {
        const data = pseudoRandom(
          this.#int(1, this.#rng() < 0.8 ? 4 * KiB : 128 * KiB),
          this.#int(1, 2 ** 31 - 1),
        );
        if (file) await this.pwrite(dev, file, kind === 'append' ? 'append' : this.#rng(), data);
        else await this.createFile(dev, newFilePath(), data);
        return;
      }
      case 'truncate':
        if (file)
          await this.truncate(dev, file, this.#rng() < 0.7 ? this.#int(0, 3000) : this.#int(0, 70 * KiB));
        return;
      case 'renameFile': {
        if (!file) return;
        // Often onto an existing file (replace), sometimes into another directory.
        const to = this.#rng() < 0.4 && files.length > 1 ? this.#pickOf(files)! : join(someDir(), fileName());
        await this.rename(dev, file, to);
        return;
      }
      case 'renameDir': {
        const from = this.#pickOf(dirs.filter((d) => d !== '/'));
        if (!from) return;
        const parent = this.#pickOf(dirs.filter((d) => depth(d) < MAX_DEPTH))!;
        await this.rename(dev, from, join(parent, dirName()));
        return;
      }
      case 'unlink':
        if (file) await this.unlink(dev, file);
        return;
      case 'mkdir': {
        const parent = this.#pickOf(dirs.filter((d) => depth(d) < MAX_DEPTH))!;
        await this.mkdir(dev, join(parent, dirName()));
        return;
      }
      case 'rmdir': {
        // Prefer empty directories, else any (ENOTEMPTY is a fine answer too).
        const empty = dirs.filter((d) => d !== '/' && !dirs.concat(files).some((x) => x.startsWith(d + '/')));
        const d = this.#rng() < 0.7 ? this.#pickOf(empty) : this.#pickOf(dirs.filter((x) => x !== '/'));
        if (d) await this.rmdir(dev, d);
        return;
      }
      case 'slowWrite':
        if (file)
          await this.slowWrite(
            dev,
            file,
            pseudoRandom(this.#int(1, 2 * KiB), this.#int(1, 2 ** 31 - 1)),
            this.#event + this.#int(1, 4),
          );
        return;
      case 'offline':
        if (dev.wantOnline) this.setOnline(dev, false);
        return;
      case 'online': {
        const off = this.#pickOf(this.devices.filter((d) => !d.wantOnline));
        if (off) this.setOnline(off, true);
        return;
      }
      case 'loseAnswer':
        this.loseAnswer(dev);
        return;
      case 'restartDevice':
      case 'crashDevice':
        await this.restartDevice(dev, kind === 'crashDevice');
        return;
      case 'restartServer':
        await this.restartServer(this.#rng() < 0.5);
        return;
      case 'serverDown':
        await this.serverDown(this.#rng() < 0.5);
        return;
      case 'serverUp':
        await this.serverUp();
        return;
      case 'sync':
        await this.syncStep();
        return;
    }
  }

  /** The random schedule, a final sync step and the checkers. */
  async runRandom(events: number): Promise<void> {
    for (let i = 0; i < events; i++) await this.step();
    await this.finish();
  }

  // ---- checkers ------------------------------------------------------------------------------------

  async #block(hash: string): Promise<Buffer> {
    const hit = this.#blocks.get(hash);
    if (hit) return hit;
    const r = await this.#api.get(`/v1/blocks/${hash}`);
    if (r.status !== 200) throw new Error(`GET /v1/blocks/${hash}: ${r.status}`);
    if (sha256(r.raw) !== hash) throw new Error(`block ${hash} does not match its hash`);
    this.#blocks.set(hash, r.raw);
    return r.raw;
  }

  /** SHA-256 of a revision's content: its blocks' bytes in order. */
  async #contentSha(blocks: readonly { hash: string; size: number }[]): Promise<string> {
    if (blocks.length === 0) return EMPTY_SHA;
    if (blocks.length === 1) return blocks[0]!.hash; // blocks are verified against their hash
    const h = createHash('sha256');
    for (const b of blocks) h.update(await this.#block(b.hash));
    return h.digest('hex');
  }

  /** The server's tree, walked through GET /v1/list from the root. */
  async serverTree(): Promise<Tree> {
    const tree: Tree = new Map();
    const who = await this.#api.get('/v1/whoami');
    const walk = async (id: number, dir: string) => {
      const r = await this.#api.get(`/v1/list?id=${id}`);
      if (r.status !== 200) throw new Error(`GET /v1/list?id=${id}: ${r.status}`);
      for (const e of r.body.entries as Revision[]) {
        const p = join(dir, e.name);
        if (e.kind === 'dir') {
          tree.set(p, { kind: 'dir', size: 0, sha: '' });
          await walk(e.id, p);
        } else {
          tree.set(p, { kind: 'file', size: e.size, sha: await this.#contentSha(e.blocks ?? []) });
        }
      }
    };
    await walk(who.body.rootId as number, '/');
    return tree;
  }

  /** A device's tree, walked through its Vfs (contents read through it, hydrating cloud-only files). */
  async deviceTree(dev: SimDevice): Promise<Tree> {
    const vfs = this.#core(dev).vfs;
    const tree: Tree = new Map();
    const walk = async (dir: string) => {
      const { names, stats } = vfs.readdir(dir);
      for (const [i, name] of names.entries()) {
        if (name === '.' || name === '..') continue;
        const p = join(dir, name);
        const st = stats[i]!;
        if ((st.mode & S_IFMT) === S_IFDIR) {
          tree.set(p, { kind: 'dir', size: 0, sha: '' });
          await walk(p);
          continue;
        }
        const fh = await vfs.open(p, O_RDONLY);
        try {
          const data = await this.#readAll(this.#core(dev), fh, st.size);
          if (!data) throw new Error(`${dev.name}: cannot read ${p} (EIO)`);
          tree.set(p, { kind: 'file', size: st.size, sha: sha256(data) });
        } finally {
          await vfs.release(fh);
        }
      }
    };
    await walk('/');
    return tree;
  }

  static diffTrees(a: Tree, b: Tree, aName: string, bName: string): string[] {
    const out: string[] = [];
    for (const [p, x] of a) {
      const y = b.get(p);
      if (!y) out.push(`${p}: only on ${aName} (${x.kind} ${x.size}B ${short(x.sha)})`);
      else if (x.kind !== y.kind || x.size !== y.size || x.sha !== y.sha)
        out.push(
          `${p}: ${aName} ${x.kind} ${x.size}B ${short(x.sha)} vs ${bName} ${y.kind} ${y.size}B ${short(y.sha)}`,
        );
    }
    for (const [p, y] of b)
      if (!a.has(p)) out.push(`${p}: only on ${bName} (${y.kind} ${y.size}B ${short(y.sha)})`);
    return out.sort();
  }

  /** Every journal entry, oldest first. */
  async #journal(): Promise<Revision[]> {
    const all: Revision[] = [];
    let cursor = '';
    for (;;) {
      const r = await this.#api.get(`/v1/changes?limit=10000&cursor=${encodeURIComponent(cursor)}`);
      if (r.status !== 200) throw new Error(`GET /v1/changes: ${r.status}`);
      all.push(...(r.body.entries as Revision[]));
      cursor = r.body.cursor;
      if (!r.body.hasMore) return all;
    }
  }

  /** Runs the checkers (a), (b), (c) of the file comment; findings go to `failures`. */
  async check(): Promise<void> {
    this.#event++;
    // (a) convergence
    const server = await this.serverTree();
    for (const dev of this.devices) {
      const tree = await this.deviceTree(dev);
      const diff = SyncSim.diffTrees(tree, server, dev.name, 'server');
      if (diff.length)
        this.#fail(
          `convergence: ${dev.name} differs from the server:\n    ${diff.slice(0, 30).join('\n    ')}`,
        );
      const files = [...tree.values()].filter((e) => e.kind === 'file').length;
      const counted = this.#core(dev).mirror.stats().files;
      if (counted !== files)
        this.#fail(
          `structure: ${dev.name}'s mirror holds ${counted} files but only ${files} hang below the root`,
        );
      const core = this.#core(dev);
      if (core.vfs.dirty.count) {
        const left = [...core.vfs.dirty.values()].map((d) => {
          const n = core.mirror.node(d.id);
          const where = n ? (core.mirror.pathOf(d.id) ?? '(detached)') : '(not in the mirror)';
          return `node ${d.id} ${where} size ${d.size} gen ${d.gen} refs ${d.refs} mirror staging ${n?.staging ?? null}`;
        });
        this.#fail(
          `${dev.name}: ${left.length} files still have staged content after the final sync: ${left.join('; ')}`,
        );
      }
    }
    this.stats.finalFiles = [...server.values()].filter((e) => e.kind === 'file').length;
    this.stats.finalDirs = server.size - this.stats.finalFiles;
    this.stats.conflictedCopies = [...server.keys()].filter((p) =>
      p.includes('(conflicted copy from '),
    ).length;

    // (c) server structure: the journal's latest revision per node
    const journal = await this.#journal();
    const who = await this.#api.get('/v1/whoami');
    const rootId = who.body.rootId as number;
    const latest = new Map<number, Revision>();
    for (const e of journal) latest.set(e.id, e);
    const live = [...latest.values()].filter((e) => !e.deleted && e.id !== rootId);
    const liveById = new Map(live.map((e) => [e.id, e]));
    const names = new Set<string>();
    const livePaths = new Set<string>();
    for (const e of live) {
      const key = `${e.parentId}/${e.name}`;
      if (names.has(key))
        this.#fail(`structure: server has two live nodes named ${e.name} in node ${e.parentId}`);
      names.add(key);
      const parts: string[] = [];
      let n: Revision | undefined = e;
      let hops = 0;
      while (n && n.id !== rootId && hops++ <= liveById.size) {
        parts.unshift(n.name);
        if (n.parentId === rootId) break;
        const parent = liveById.get(n.parentId!);
        if (!parent || parent.kind !== 'dir') {
          this.#fail(
            `structure: server node ${n.id} (${n.name}) has no live parent directory (${n.parentId})`,
          );
          n = undefined;
          break;
        }
        n = parent;
      }
      if (hops > liveById.size) this.#fail(`structure: server node ${e.id} (${e.name}) is in a cycle`);
      else if (n) livePaths.add('/' + parts.join('/'));
    }
    const listed = new Set(server.keys());
    for (const p of livePaths)
      if (!listed.has(p)) this.#fail(`structure: journal says ${p} is live but the list walk misses it`);
    for (const p of listed)
      if (!livePaths.has(p)) this.#fail(`structure: the list walk shows ${p} but the journal does not`);

    // (b) every closed write is in the history
    const history = new Set<string>();
    for (const id of new Set(journal.filter((e) => e.kind === 'file').map((e) => e.id))) {
      const r = await this.#api.get(`/v1/revisions?id=${id}`);
      if (r.status !== 200) {
        this.#fail(`history: GET /v1/revisions?id=${id}: ${r.status}`);
        continue;
      }
      const revs = r.body.revisions as Revision[];
      const seen = new Set(revs.map((x) => x.rev));
      for (const e of journal)
        if (e.id === id && !seen.has(e.rev)) this.#fail(`history: node ${id} lacks rev ${e.rev}`);
      for (const x of revs) if (!x.deleted && x.blocks) history.add(await this.#contentSha(x.blocks));
    }
    const finalShas = new Set([...server.values()].map((e) => e.sha));
    for (const w of this.#writes) {
      if (w.exempt) {
        this.stats.exemptWrites++;
        if (w.sha === null) this.stats.unverifiedWrites++;
        continue;
      }
      if (!history.has(w.sha!))
        this.#fail(
          `lost write: w${w.n} (${w.device} #${w.event} ${w.path}, ${w.size}B ${short(w.sha)}) is neither in the final tree nor in any revision`,
        );
      else if (finalShas.has(w.sha!)) this.stats.writesInFinalTree++;
    }
  }

  /** After the checkers: closes every device and checks its mirror database (no orphan, no cycle, empty outbox). */
  async checkMirrors(): Promise<void> {
    for (const dev of this.devices) {
      const core = dev.core;
      dev.core = null;
      if (!core) continue;
      await core.close();
      const db = new Database(path.join(dev.state, 'mirror.db'), { fileMustExist: true });
      try {
        const rootId = Number(
          (db.prepare("SELECT value FROM meta WHERE key = 'rootId'").get() as { value: string }).value,
        );
        const rows = db.prepare('SELECT id, server_id, parent_id, name, kind, staging FROM nodes').all() as {
          id: number;
          server_id: number | null;
          parent_id: number | null;
          name: string;
          kind: string;
          staging: string | null;
        }[];
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const r of rows) {
          if (r.id === rootId) continue;
          if (r.server_id === null)
            this.#fail(`mirror ${dev.name}: node ${r.id} (${r.name}) never got its server id`);
          if (r.staging) this.#fail(`mirror ${dev.name}: node ${r.id} (${r.name}) still has staged content`);
          let n: typeof r | undefined = r;
          let hops = 0;
          while (n && n.id !== rootId && hops++ <= rows.length)
            n = n.parent_id === null ? undefined : byId.get(n.parent_id);
          if (!n) this.#fail(`mirror ${dev.name}: node ${r.id} (${r.name}) has no parent chain to the root`);
          else if (hops > rows.length)
            this.#fail(`mirror ${dev.name}: node ${r.id} (${r.name}) is in a cycle`);
        }
        const ops = (db.prepare('SELECT count(*) AS n FROM ops').get() as { n: number }).n;
        if (ops) this.#fail(`mirror ${dev.name}: ${ops} ops still queued after the final sync`);
      } finally {
        db.close();
      }
    }
  }

  result(): SimResult {
    return {
      seed: this.seed,
      ok: this.failures.length === 0,
      failures: [...this.failures],
      trace: [...this.trace],
      stats: { ...this.stats },
    };
  }

  async dispose(): Promise<void> {
    for (const dev of this.devices) {
      const core = dev.core;
      dev.core = null;
      await core?.close().catch(() => {});
      await dev.proxy.close().catch(() => {});
      rmSync(dev.state, { recursive: true, force: true });
    }
    await this.#server.dispose();
  }
}

/** Runs one seed end to end: schedule, final sync, checkers; never throws for a finding. */
export async function runSeed(options: SimOptions): Promise<SimResult> {
  const sim = await SyncSim.start(options);
  try {
    await sim.runRandom(options.ops ?? 60);
  } catch (err) {
    sim.failures.push(`simulator error: ${(err as Error)?.stack ?? String(err)}`);
  } finally {
    await sim.dispose();
  }
  return sim.result();
}

/** A failure report: the seed, what failed and the schedule (compact). */
export function formatFailure(r: SimResult, maxTrace = 400): string {
  const trace = r.trace.length > maxTrace ? ['…', ...r.trace.slice(-maxTrace)] : r.trace;
  return [
    `seed ${r.seed}: ${r.failures.length} failure(s)`,
    ...r.failures.map((f) => '  ' + f),
    '  trace:',
    ...trace.map((l) => '    ' + l),
  ].join('\n');
}
