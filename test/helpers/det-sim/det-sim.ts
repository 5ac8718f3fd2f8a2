/**
 * DetSim: the deterministic multi-device sync simulation (issue 12 item 2). The real sync core of
 * three drives (mirror, Vfs, push and pull loops, uploader, hydrator: `openDriveCore`) and the real
 * server app, in one process, driven by one seeded scheduler (scheduler.ts) on virtual time, so a
 * seed replays exactly. Events come from a schedule (schedule.ts): syscalls through the Vfs as FUSE
 * would make them, faults (a device offline, a lost answer, a clean restart, a crash = the process
 * dies at a quiescent point, the server restarting or down) and sync steps. A drive's staging and
 * cache files are in its MemFs (mem-fs.ts) and its databases in memory, all kept across its
 * restarts and crashes as its state dir would be.
 *
 * Checked at every step: a syscall that ran without waiting on the network must do to the device's
 * tree exactly what the reference model (model.ts) says, errno included. Checked at every sync
 * step and at the end (det-check.ts): every drive in sync with the server (`loft check`'s
 * comparison), the same tree on every device, no closed write missing from the server's history.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { Logger } from '../../../src/shared/log.js';
import { chunkFile } from '../../../src/client/chunk/chunk-file.js';
import { openDriveCore, type DriveCore } from '../../../src/client/client.js';
import { openMirrorDb } from '../../../src/client/mirror/mirror-schema.js';
import { S_IFDIR, S_IFREG } from '../../../src/client/vfs/vfs.js';
import { FsError } from '../../../src/shared/errors.js';
import { pseudoRandom } from '../fixtures.js';
import { prng } from '../prng.js';
import { cursorSeq } from '../sync-sim.js';
import { DbPool } from './db-pool.js';
import { MemFs } from './mem-fs.js';
import { applyModel, diffModel, type ModelTree } from './model.js';
import { SIM_EPOCH, SimScheduler } from './scheduler.js';
import { describe, drawEvent, modelOp, type DetEvent } from './schedule.js';
import { SIM_URL, SimServer } from './sim-server.js';

const S_IFMT = 0o170000;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const READ_PIECE = 128 * 1024;
/** Steps one syscall may take (it waits on the network at most a few round trips). */
const OP_STEP_LIMIT = 5_000;
/** Virtual time and steps a sync step may take before it counts as "did not settle". */
const SYNC_MS_LIMIT = 15 * 60_000;
const SYNC_STEP_LIMIT = 40_000;

export interface DetOptions {
  seed: number;
  /** Events to draw (random mode); ignored with `schedule`. */
  events?: number;
  /** A concrete schedule to replay instead of drawing one. */
  schedule?: DetEvent[];
  devices?: number;
  verbose?: boolean;
  /** Level of the drives' own log lines kept in the trace (default silent; LOFT_DET_DRIVE_LOG). */
  driveLog?: string;
}

export interface DetResult {
  seed: number;
  ok: boolean;
  failures: string[];
  trace: string[];
  schedule: DetEvent[];
  stats: {
    steps: number;
    fsOps: number;
    fsErrors: number;
    closedWrites: number;
    syncs: number;
    virtualMs: number;
  };
}

interface Held {
  fh: number;
  p: string;
  key: number;
  closeAt: number;
}

export interface SimDevice {
  name: string;
  token: string;
  state: string;
  /**
   * The drive's mirror database, in memory: it outlives the drive's crashes and restarts as
   * `<state>/mirror.db` would (a crash falls between two steps, where no transaction is open).
   */
  mirrorDb: Database.Database;
  /**
   * The drive's staging and cache files, and the cache's index, in memory: kept across its crashes
   * and restarts as its state dir would be (mem-fs.ts says what a crash keeps).
   */
  fs: MemFs;
  cacheIndexDb: Database.Database;
  core: DriveCore | null;
  /** Incarnation: tasks and timers of a crashed process belong to an old one. */
  life: number;
  held: Held[];
}

export interface ClosedWrite {
  n: number;
  device: string;
  key: number;
  sha: string | null;
  exempt: string | null;
}

/**
 * A crash leaves the dead drive's open FileHandles to the garbage collector (a killed process's
 * files close with it); Node warns about each. Those warnings are dropped, every other is printed.
 */
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code === 'DEP0137' || /^Closing file descriptor \d+ on garbage collection/.test(w.message)) return;
  for (const l of printWarning) l(w);
});

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const join = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

export class DetSim {
  readonly sched: SimScheduler;
  readonly server: SimServer;
  readonly devices: SimDevice[] = [];
  readonly failures: string[] = [];
  readonly writes: ClosedWrite[] = [];
  /** Per device: closed writes not yet through a sync step, by node key. */
  readonly #pending = new Map<string, Map<number, ClosedWrite>>();
  readonly schedule: DetEvent[] = [];
  /** "device:key" of files this device unlinked or replaced itself (a handle held open may outlive them). */
  readonly #removedHere = new Set<string>();
  readonly stats = { steps: 0, fsOps: 0, fsErrors: 0, closedWrites: 0, syncs: 0, virtualMs: 0 };
  readonly #dir: string;
  readonly #rand: () => number;
  #event = 0;
  /** Set by det-check.ts (kept apart so this file stays about running). */
  checkAll: (label: string) => Promise<void> = async () => {};

  constructor(readonly options: DetOptions) {
    this.sched = new SimScheduler(options.seed);
    this.sched.verbose = !!options.verbose;
    this.#rand = prng(options.seed * 2654435761 + 1);
    this.#dir = mkdtempSync(path.join(simTmp(), 'loft-det-'));
    this.server = new SimServer(this.sched);
  }

  fail(msg: string): void {
    this.failures.push(`event ${this.#event}: ${msg}`);
    this.sched.note(`FAIL ${msg.split('\n')[0]}`);
  }

  async setup(): Promise<void> {
    const names = ['A', 'B', 'C', 'D', 'E'].slice(0, this.options.devices ?? 3);
    const tokens = await this.server.addUser('sim', names);
    await this.server.start();
    for (const name of names) {
      const dev: SimDevice = {
        name,
        token: tokens.get(name)!,
        state: path.join(this.#dir, name),
        mirrorDb: mirrorPool.take(),
        fs: new MemFs(),
        cacheIndexDb: cachePool.take(),
        core: null,
        life: 0,
        held: [],
      };
      this.devices.push(dev);
      this.#pending.set(name, new Map());
      await this.open(dev);
    }
  }

  owner(dev: SimDevice): string {
    return `${dev.name}${dev.life}`;
  }

  /** Opens the device's drive (the first time: the first sync over the scheduler). */
  async open(dev: SimDevice): Promise<void> {
    dev.life++;
    const owner = this.owner(dev);
    const core = await this.#await(`${dev.name} open`, () =>
      openDriveCore({
        server: SIM_URL,
        token: dev.token,
        state: dev.state,
        cacheBytes: 256 * 1024 * 1024,
        log: this.#logger(dev),
        timers: this.sched.timers(owner),
        transport: this.server.transport(dev.name, owner),
        chunker: { chunk: (p) => chunkFile(p, undefined, undefined, dev.fs) },
        mirrorDb: dev.mirrorDb,
        fs: dev.fs,
        cacheIndexDb: dev.cacheIndexDb,
      }),
    );
    if (core) dev.core = core;
  }

  #logger(dev: SimDevice): Logger {
    const level = this.options.driveLog ?? process.env.LOFT_DET_DRIVE_LOG ?? 'silent';
    // Nothing to keep: one logger for every drive of the process (making one costs as much as a step).
    if (level === 'silent') return (silent ??= pino({ level: 'silent' }));
    const stream = {
      write: (line: string) => {
        const {
          level: _l,
          time: _t,
          pid: _p,
          hostname: _h,
          msg,
          ...rest
        } = JSON.parse(line) as Record<string, unknown>;
        this.sched.note(`${dev.name} log: ${String(msg)} ${JSON.stringify(rest)}`);
      },
    };
    return pino({ level, base: null, timestamp: false }, stream);
  }

  /** Runs `fn` as a step, then steps the world until it settles; null (and a failure) if it throws or hangs. */
  async #await<T>(label: string, fn: () => Promise<T>): Promise<T | null> {
    let done = false;
    let value: T | null = null;
    let error: unknown = null;
    await this.sched.act(label, () =>
      fn().then(
        (v) => ((value = v), (done = true)),
        (e: unknown) => ((error = e), (done = true)),
      ),
    );
    for (let i = 0; !done && i < OP_STEP_LIMIT; i++) if (!(await this.sched.step())) break;
    if (!done) this.fail(`${label}: never finished`);
    else if (error) this.fail(`${label}: ${(error as Error)?.stack ?? String(error)}`);
    return value;
  }

  // ---- the device's tree -------------------------------------------------------------------------

  /** What the device shows now, through the Vfs: path → kind and size. */
  vfsTree(dev: SimDevice): ModelTree {
    const vfs = dev.core!.vfs;
    const out: ModelTree = new Map([['/', { kind: 'dir', size: 0 }]]);
    const walk = (dir: string) => {
      const { names, stats } = vfs.readdir(dir);
      names.forEach((name, i) => {
        if (name === '.' || name === '..') return;
        const p = join(dir, name);
        const isDir = (stats[i]!.mode & S_IFMT) === S_IFDIR;
        out.set(p, { kind: isDir ? 'dir' : 'file', size: isDir ? 0 : stats[i]!.size });
        if (isDir) walk(p);
      });
    };
    walk('/');
    return out;
  }

  #view() {
    return {
      devices: this.devices.filter((d) => d.core).map((d) => d.name),
      tree: (name: string) => {
        const t = this.vfsTree(this.device(name));
        const dirs: string[] = [];
        const files: string[] = [];
        for (const [p, e] of t) (e.kind === 'dir' ? dirs : files).push(p);
        return { dirs, files };
      },
    };
  }

  device(name: string): SimDevice {
    return this.devices.find((d) => d.name === name)!;
  }

  // ---- running ------------------------------------------------------------------------------------

  async run(): Promise<void> {
    const replay = this.options.schedule;
    const count = replay ? replay.length : (this.options.events ?? 40);
    for (this.#event = 1; this.#event <= count && this.failures.length === 0; this.#event++) {
      let e: DetEvent;
      if (replay) e = replay[this.#event - 1]!;
      else {
        const view = this.#view();
        e = view.devices.length ? drawEvent(this.#rand, view) : { k: 'sync' };
        // A device that is down (crashed, not yet restarted) takes no syscalls: the event restarts it.
        if ('d' in e && !this.device(e.d).core && !['restart', 'crash'].includes(e.k))
          e = { k: 'restart', d: e.d };
      }
      this.schedule.push(e);
      await this.#closeHeld(false);
      await this.do(e);
    }
    if (this.failures.length === 0) {
      this.#event = count + 1;
      await this.do({ k: 'sync' });
    }
    await this.#closeHeld(true);
    this.stats.steps = this.sched.steps;
  }

  async do(e: DetEvent): Promise<void> {
    switch (e.k) {
      case 'run':
        for (let i = 0; i < e.n; i++) if (!(await this.sched.step(this.sched.now() + 30_000))) break;
        return;
      case 'sync':
        return this.syncStep();
      case 'offline':
      case 'online':
        return this.sched.act(describe(e), () => this.server.setOnline(e.d, e.k === 'online'));
      case 'loseAnswer':
        return this.sched.act(describe(e), () => this.server.loseNextAnswer(e.d));
      case 'restart':
        return this.restart(this.device(e.d), false);
      case 'crash':
        return this.restart(this.device(e.d), true);
      case 'serverDown':
        return this.sched.act('server down', () => this.server.stop());
      case 'serverUp':
        return this.sched.act('server up', () => this.server.start());
      case 'serverRestart':
        return this.sched.act('server restart', async () => {
          await this.server.stop();
          await this.server.start();
        });
      default:
        return this.#syscall(e);
    }
  }

  /** Every device online and open, the server up; steps until every drive is settled. */
  async syncStep(): Promise<void> {
    await this.#closeHeld(true);
    if (!this.server.up) await this.sched.act('server up', () => this.server.start());
    for (const d of this.devices) {
      if (!this.server.isOnline(d.name))
        await this.sched.act(`${d.name} online`, () => this.server.setOnline(d.name, true));
      if (!d.core) await this.open(d);
    }
    this.sched.note('sync');
    const t0 = this.sched.now();
    for (let i = 0; ; i++) {
      if (this.#settled()) break;
      if (i > SYNC_STEP_LIMIT || this.sched.now() - t0 > SYNC_MS_LIMIT || !(await this.sched.step())) {
        this.fail(
          `sync: the drives did not settle\n    ${this.devices.map((d) => this.#status(d)).join('\n    ')}`,
        );
        return;
      }
    }
    this.stats.syncs++;
    this.sched.note(`synced at head ${this.#head()} after ${this.sched.now() - t0} ms`);
    await this.checkAll('sync');
    for (const p of this.#pending.values()) p.clear();
  }

  #head(): number {
    return this.server.headSeq();
  }

  #settled(): boolean {
    if (this.sched.readyCount > 0) return false;
    const head = this.#head();
    return this.devices.every((d) => {
      const c = d.core;
      return (
        c &&
        c.mirror.pendingOps === 0 &&
        c.vfs.dirty.count === 0 &&
        c.mirror.resyncIds().length === 0 &&
        cursorSeq(c.mirror.cursor()) === head
      );
    });
  }

  #status(d: SimDevice): string {
    const c = d.core;
    if (!c) return `${d.name}: closed`;
    const ops = c.mirror.ops().slice(0, 5);
    return (
      `${d.name}: ${this.server.isOnline(d.name) ? 'up' : 'down'}, cursor ${cursorSeq(c.mirror.cursor())}/${this.#head()}, ` +
      `pending ${c.mirror.pendingOps}, dirty ${c.vfs.dirty.count}, resync [${c.mirror.resyncIds().join(', ')}], ` +
      `last error ${c.push.status.lastError}` +
      ops
        .map(
          (o) =>
            `\n      ${o.kind} ${o.path}${o.toPath ? ' -> ' + o.toPath : ''} (tries ${o.attempts}, ${o.lastError})`,
        )
        .join('')
    );
  }

  /** A clean restart (close, open) or a crash: the process dies between two steps. */
  async restart(dev: SimDevice, crash: boolean): Promise<void> {
    const core = dev.core;
    if (core && !crash) {
      // A clean stop closes what its user holds open first, as a process exiting does: those are
      // closed writes, which supersede the earlier ones of their files (seed 78768).
      await this.#closeHeld(true, dev);
      dev.held = [];
      await this.#await(`${dev.name} close`, () => core.close());
      this.sched.drop(this.owner(dev));
    } else if (core) {
      await this.sched.act(`${dev.name} crash`, async () => {
        try {
          this.sched.drop(this.owner(dev));
          dev.held = [];
          // What the kernel does for a killed process: its files and database handles close.
          await core.vfs.dirty.closeAll();
          core.mirror.close();
          await core.cache.close();
        } catch (err) {
          this.fail(`${dev.name} crash: ${(err as Error)?.stack ?? String(err)}`);
        }
      });
    }
    dev.core = null;
    await this.open(dev);
  }

  // ---- syscalls -----------------------------------------------------------------------------------

  async #syscall(e: DetEvent): Promise<void> {
    if (!('d' in e)) return;
    const dev = this.device(e.d);
    const core = dev.core;
    if (!core) return;
    this.stats.fsOps++;
    const op = modelOp(e);
    const before = op ? this.vfsTree(dev) : null;
    let done = false;
    let result: string | null = null;
    let errno: string | null = null;
    const label = describe(e);
    await this.sched.act(label, () =>
      this.#perform(dev, core, e).then(
        (note) => ((result = note ?? ''), (done = true)),
        (err: unknown) => {
          done = true;
          if (err instanceof FsError) errno = err.errno;
          else this.fail(`${label}: unexpected error ${(err as Error)?.stack ?? String(err)}`);
        },
      ),
    );
    const quick = done;
    for (let i = 0; !done && i < OP_STEP_LIMIT; i++) if (!(await this.sched.step())) break;
    if (!done) return this.fail(`${label}: the syscall never returned`);
    if (errno) this.stats.fsErrors++;
    this.sched.note(`${label} -> ${errno ?? 'ok'}${result ? ' ' + result : ''}`);
    // The reference model: only for a syscall that ran within its own step (no remote change could
    // land meanwhile) on a device whose tree was readable.
    if (op && before && quick && dev.core === core) {
      const want = applyModel(before, op);
      if ((want.errno ?? 'ok') !== (errno ?? 'ok'))
        this.fail(`${label}: answered ${errno ?? 'ok'}, the model says ${want.errno ?? 'ok'}`);
      else {
        const diff = diffModel(want.tree, this.vfsTree(dev));
        if (diff.length) this.fail(`${label}: the tree differs from the model:\n    ${diff.join('\n    ')}`);
      }
    }
  }

  async #perform(dev: SimDevice, core: DriveCore, e: DetEvent): Promise<string | void> {
    const vfs = core.vfs;
    switch (e.k) {
      case 'create': {
        const data = pseudoRandom(e.size, e.fill);
        const fh = await vfs.create(e.p, S_IFREG | 0o644);
        const key = vfs.handleNode(fh);
        try {
          await vfs.write(fh, data, 0);
          await vfs.flush(fh);
        } finally {
          await vfs.release(fh);
        }
        return this.#closedKey(dev, key, data);
      }
      case 'overwrite': {
        const data = pseudoRandom(e.size, e.fill);
        const fh = await vfs.open(e.p, O_WRONLY | O_TRUNC);
        const key = vfs.handleNode(fh);
        try {
          await vfs.write(fh, data, 0);
          await vfs.flush(fh);
        } finally {
          await vfs.release(fh);
        }
        return this.#closedKey(dev, key, data);
      }
      case 'pwrite':
      case 'append': {
        const data = pseudoRandom(e.size, e.fill);
        const fh = await vfs.open(e.p, e.k === 'append' ? O_WRONLY | O_APPEND : O_RDWR);
        const key = vfs.handleNode(fh);
        let content: Buffer | null;
        try {
          const size = vfs.handleSize(fh);
          await vfs.write(fh, data, e.k === 'pwrite' ? Math.floor(e.at * size) : size);
          content = await this.#readAll(core, fh);
          await vfs.flush(fh);
        } finally {
          await vfs.release(fh);
        }
        return this.#closedKey(dev, key, content);
      }
      case 'truncate': {
        // The node is known by its key: a remote move may land while truncate or the read-back waits.
        const before = core.mirror.lookup(e.p)?.id ?? -1;
        await vfs.truncate(e.p, e.size);
        const fh = await vfs.open(e.p, O_RDONLY).catch(() => null);
        if (fh === null) return this.#closedKey(dev, before, null);
        try {
          // Another node at the path by now (a remote rename): what this truncate left is unknown.
          const same = vfs.handleNode(fh) === before;
          return this.#closedKey(dev, before, same ? await this.#readAll(core, fh) : null);
        } finally {
          await vfs.release(fh);
        }
      }
      case 'read': {
        const fh = await vfs.open(e.p, O_RDONLY);
        try {
          const data = await this.#readAll(core, fh);
          return data ? `${sha256(data).slice(0, 8)}/${data.length}B` : '(EIO)';
        } finally {
          await vfs.release(fh);
        }
      }
      case 'rename': {
        const replaced = e.from !== e.to ? core.mirror.lookup(e.to)?.id : undefined;
        await vfs.rename(e.from, e.to);
        if (replaced !== undefined) this.#exempt(dev, replaced, 'replaced by a rename');
        return;
      }
      case 'unlink': {
        const key = core.mirror.lookup(e.p)?.id;
        await vfs.unlink(e.p);
        if (key !== undefined) this.#exempt(dev, key, 'unlinked');
        return;
      }
      case 'mkdir':
        return vfs.mkdir(e.p, S_IFDIR | 0o755);
      case 'rmdir':
        return vfs.rmdir(e.p);
      case 'hold': {
        const fh = await vfs.open(e.p, O_RDWR);
        try {
          await vfs.write(fh, pseudoRandom(e.size, e.fill), vfs.handleSize(fh));
        } catch (err) {
          await vfs.release(fh);
          throw err;
        }
        dev.held.push({ fh, p: e.p, key: vfs.handleNode(fh), closeAt: this.#event + e.for });
        return `until event ${this.#event + e.for}`;
      }
      default:
        return;
    }
  }

  async #readAll(core: DriveCore, fh: number): Promise<Buffer | null> {
    const size = core.vfs.handleSize(fh);
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

  /**
   * Closes held handles that are due (all of them with `all`; of device `only` when given): a
   * closed write of what they hold.
   */
  async #closeHeld(all: boolean, only?: SimDevice): Promise<void> {
    for (const dev of only ? [only] : this.devices) {
      const core = dev.core;
      if (!core) continue;
      for (const h of [...dev.held]) {
        if (!all && h.closeAt > this.#event) continue;
        dev.held.splice(dev.held.indexOf(h), 1);
        await this.#await(`${dev.name} close held ${h.p}`, async () => {
          let content: Buffer | null = null;
          try {
            content = await this.#readAll(core, h.fh);
            await core.vfs.flush(h.fh);
          } finally {
            await core.vfs.release(h.fh);
          }
          // POSIX: what is written to a file after its unlink goes when the last handle closes.
          const gone = this.#removedHere.has(`${dev.name}:${h.key}`) && !core.mirror.node(h.key);
          this.sched.note(
            `${dev.name} closed held ${h.p} ${gone ? '(unlinked here: discarded)' : this.#closedKey(dev, h.key, content)}`,
          );
        });
      }
    }
  }

  /** Records a closed write; it supersedes the device's earlier pending write of the same node. */
  #closedKey(dev: SimDevice, key: number, content: Buffer | null): string {
    const w: ClosedWrite = {
      n: this.writes.length + 1,
      device: dev.name,
      key,
      sha: content ? sha256(content) : null,
      exempt: content ? null : 'content unknown (offline read of a cloud-only base)',
    };
    this.#exempt(dev, key, `superseded by write ${w.n}`);
    this.writes.push(w);
    this.stats.closedWrites++;
    if (!w.exempt && key !== -1) this.#pending.get(dev.name)!.set(key, w);
    return `w${w.n}=${w.sha?.slice(0, 8) ?? '?'}/${content?.length ?? '?'}B`;
  }

  #exempt(dev: SimDevice, key: number, why: string): void {
    if (why === 'unlinked' || why === 'replaced by a rename') this.#removedHere.add(`${dev.name}:${key}`);
    const p = this.#pending.get(dev.name)!;
    const w = p.get(key);
    if (w) {
      w.exempt = `${why} on ${dev.name} before a sync step`;
      p.delete(key);
    }
  }

  async dispose(): Promise<void> {
    for (const d of this.devices) {
      const core = d.core;
      d.core = null;
      this.sched.drop(this.owner(d));
      if (core) {
        await core.vfs.dirty.closeAll().catch(() => {});
        core.mirror.close();
        await core.cache.close().catch(() => {});
      }
      mirrorPool.give(d.mirrorDb);
      cachePool.give(d.cacheIndexDb);
    }
    await this.server.dispose().catch(() => {});
    rmSync(this.#dir, { recursive: true, force: true });
  }

  result(): DetResult {
    this.stats.virtualMs = this.sched.now() - SIM_EPOCH;
    return {
      seed: this.options.seed,
      ok: this.failures.length === 0,
      failures: this.failures,
      trace: this.sched.trace,
      schedule: this.schedule,
      stats: { ...this.stats },
    };
  }
}

let silent: Logger | null = null;

/** An empty mirror database, migrated (made once per process; each drive opens a copy in memory). */
let mirrorImage: Buffer | null = null;
function mirrorTemplate(): Buffer {
  if (!mirrorImage) {
    const db = openMirrorDb(new Database(':memory:'));
    mirrorImage = db.serialize();
    db.close();
  }
  return mirrorImage;
}

/** The drives' databases, reused by the next run in this process (db-pool.ts). */
const mirrorPool = new DbPool(() => new Database(mirrorTemplate()));
const cachePool = new DbPool(() => new Database(':memory:'));

/**
 * Where runs keep their state dirs: LOFT_SIM_TMP, else tmpfs when it has room, else the system's
 * temp dir. They hold nothing but their folders: the drives' staging and cache files are in their
 * MemFs, their databases in memory.
 */
function simTmp(): string {
  if (process.env.LOFT_SIM_TMP) return process.env.LOFT_SIM_TMP;
  try {
    const s = statfsSync('/dev/shm');
    if (s.bavail * s.bsize > 512 * 1024 * 1024) return '/dev/shm';
  } catch {
    // no tmpfs here
  }
  return os.tmpdir();
}
