/**
 * MountSim: the randomized multi-device sync test of sync-sim.ts, through real mounts.
 *
 * One real `loft serve` process and N devices (default 3), each a real `loft mount` child process
 * (mount-process.ts) reaching the server through its own FaultProxy. A seeded schedule drives:
 *
 * - syscalls on a random device's mountpoint (node:fs/promises): create+write+close, open(O_TRUNC)
 *   + write + close, pwrite at an offset, append (O_APPEND), truncate(2) by path, rename of files
 *   and folders (replacing targets too), unlink, mkdir, rmdir, a file held open for writing across
 *   later events, and reads. A legitimate POSIX error (ENOENT because a remote change removed the
 *   path, ENOTEMPTY, EEXIST…; EIO on a device that is offline) is recorded and the run goes on;
 * - faults: a device goes offline / online (its proxy resets connections), kill -9 of a mount
 *   process and a restart on the same state dir at once, a clean restart (SIGTERM, exit 0);
 * - sync steps: held handles closed, every device online, then wait until every mount reports
 *   (`loft status`, through its control socket) nothing pending or uploading and its cursor at the
 *   server's head, the same head on SETTLE_ROUNDS polls in a row.
 *
 * What is checked, and when:
 * - through one descriptor: what pwrite, append and a held writer read back through the descriptor
 *   they wrote with is the content they started from with their bytes in place (and fstat's size);
 * - views (after every sync step): every mount's tree (readdir, lstat, content read through a fresh
 *   open) equals the server's tree within VIEW_GRACE_MS. This is where kernel caches live: the
 *   kernel keeps attributes and entries for 10 s, so a size or a name that a remote change altered
 *   shows only because the drive invalidated it (src/client/fuse/kernel-cache.ts);
 * - the solo model: while only one device has changed anything since the last sync step, that
 *   device must show exactly the synced tree with its own ops applied (checked on reads, and right
 *   after a kill -9 and restart: a closed write survives kill -9, its content is staged at close);
 * - at the end: `loft check` exits 0 on every drive; every closed write is in the server's history
 *   (a write is exempt only when the same device replaced or removed it itself before the next sync
 *   step: the outbox coalesces those by design; a kill -9 exempts nothing); every mount stops
 *   cleanly on SIGTERM.
 *
 * Timing is real: a seed repeats its schedule up to the first timing difference (the paths an op
 * picks come from the device's tree as it is then).
 */
import { Api } from './api.js';
import { FaultProxy } from './fault-proxy.js';
import { pseudoRandom } from './fixtures.js';
import { isMounted, MountProcess } from './mount-process.js';
import { checkDrive, status } from './devices.js';
import { diffTrees, join, mountTree, ServerView, short } from './mount-sim-check.js';
import { prng } from './prng.js';
import { ServerProcess } from './server-process.js';
import { cursorSeq, type Tree } from './sync-sim.js';
import { MountOps, type MountDevice } from './mount-sim-ops.js';

const KiB = 1024;
const DIR_NAMES = ['a', 'b', 'c'];
const FILE_NAMES = ['x.txt', 'y.txt', 'z.bin', 'w'];
const MAX_DEPTH = 3;
/** Longest a sync step waits for every mount to settle (push/pull retry at most every 5 s offline). */
const SYNC_TIMEOUT_MS = 120_000;
/** Settle polls: each is one status request per mount and one journal request. */
const SETTLE_POLL_MS = 100;
const SETTLE_ROUNDS = 3;
/**
 * How long after a sync step a mount may still show the old tree. Well below the kernel's 10 s
 * attribute and entry timeouts (fuse-mount.ts), or a missed invalidation would hide behind them.
 */
const VIEW_GRACE_MS = 3_000;
const VIEW_POLL_MS = 200;
/** How long `loft check` may take to agree after a sync step (its pull is a long-poll away). */
const CHECK_WAIT_MS = 20_000;
/** Chance that an event goes to the device of the event before (runs of one device's changes). */
const STICKY = 0.5;

/** Event weights of the random schedule (relative). */
export const MOUNT_WEIGHTS = {
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
  slowWrite: 3,
  read: 6,
  offline: 3,
  online: 4,
  crash: 2,
  restart: 1,
  sync: 6,
} as const;

export type MountEventKind = keyof typeof MOUNT_WEIGHTS;

export interface MountSimOptions {
  seed: number;
  ops?: number;
  devices?: number;
  weights?: Partial<Record<MountEventKind, number>>;
  verbose?: boolean;
}

export interface MountSimStats {
  events: number;
  fsOps: number;
  fsErrors: number;
  closedWrites: number;
  exemptWrites: number;
  crashes: number;
  syncSteps: number;
  maxSyncMs: number;
  /** Sync steps after which a mount needed more than one look to show the server's tree. */
  lateViews: number;
  maxViewLagMs: number;
  modelChecks: number;
  conflictedCopies: number;
  finalFiles: number;
  finalDirs: number;
}

export interface MountSimResult {
  seed: number;
  ops: number;
  ok: boolean;
  failures: string[];
  trace: string[];
  stats: MountSimStats;
  /** Each mount's stderr (every run), for a failure report. */
  stderr: Record<string, string>;
}

export class MountSim {
  readonly trace: string[] = [];
  readonly failures: string[] = [];
  readonly devices: MountDevice[] = [];
  readonly stats: MountSimStats = {
    events: 0,
    fsOps: 0,
    fsErrors: 0,
    closedWrites: 0,
    exemptWrites: 0,
    crashes: 0,
    syncSteps: 0,
    maxSyncMs: 0,
    lateViews: 0,
    maxViewLagMs: 0,
    modelChecks: 0,
    conflictedCopies: 0,
    finalFiles: 0,
    finalDirs: 0,
  };
  readonly #o: MountSimOptions;
  readonly #rng: () => number;
  readonly #server = new ServerProcess();
  #view!: ServerView;
  #event = 0;
  #headCursor = '';
  #last: MountDevice | null = null;
  readonly ops: MountOps;

  private constructor(options: MountSimOptions) {
    this.#o = options;
    this.#rng = prng(options.seed);
    this.ops = new MountOps({
      log: (l) => this.#log(l),
      fail: (m) => this.#fail(m),
      event: () => this.#event,
      stats: this.stats,
    });
  }

  static async start(options: MountSimOptions): Promise<MountSim> {
    const sim = new MountSim(options);
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
    const port = Number(new URL(this.#server.url).port);
    const names = ['A', 'B', 'C', 'D', 'E'].slice(0, this.#o.devices ?? 3);
    const first = await this.#server.addUser('msim', ['--device', names[0]!]);
    const checker = await this.#server.addToken('msim', ['--device', 'checker']);
    this.#view = new ServerView(new Api(this.#server.url, checker));
    for (const [i, name] of names.entries()) {
      const token = i === 0 ? first : await this.#server.addToken('msim', ['--device', name]);
      const proxy = new FaultProxy(port);
      await proxy.start();
      const mount = new MountProcess(proxy.url, token, { cacheSize: '256M' });
      const dev: MountDevice = { name, proxy, mount, wantOnline: true, held: [], earlier: '' };
      this.devices.push(dev);
      this.ops.addDevice(dev);
    }
    await Promise.all(this.devices.map((d) => d.mount.start()));
    this.ops.synced(new Map());
  }

  #log(line: string): void {
    const l = `#${this.#event} ${line}`;
    this.trace.push(l);
    if (this.#o.verbose) console.error(`[mount seed ${this.#o.seed}] ${l}`);
  }

  #fail(msg: string): void {
    this.failures.push(msg);
    this.#log(`FAIL ${msg}`);
  }

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

  // ---- faults ------------------------------------------------------------------------------------

  setOnline(dev: MountDevice, online: boolean): void {
    dev.wantOnline = online;
    if (online) dev.proxy.online();
    else dev.proxy.offline();
    this.#log(`${dev.name} ${online ? 'online' : 'offline'}`);
  }

  /** kill -9 of the mount process, then a new one on the same state dir (it clears the stale mount). */
  async crash(dev: MountDevice): Promise<void> {
    await dev.mount.crash();
    this.stats.crashes++;
    // The held descriptors are on a dead connection: their close fails, their data is not a closed write.
    for (const h of dev.held) {
      await h.fh.close().catch(() => undefined);
      this.ops.model(dev)?.unknown(h.path);
    }
    dev.held = [];
    await this.#startAgain(dev, '--- kill -9 ---');
    this.#log(`${dev.name} kill -9 + restart${dev.wantOnline ? '' : ' (offline)'}`);
    await this.ops.checkModel(dev, 'after kill -9 and restart');
  }

  /** SIGTERM (held handles closed first: a busy mount cannot unmount), exit 0, then start again. */
  async restart(dev: MountDevice): Promise<void> {
    for (const h of [...dev.held]) await this.ops.closeHeld(dev, h);
    const code = await dev.mount.stop();
    if (code !== 0) this.#fail(`${dev.name}: loft mount exited with ${code} on SIGTERM`);
    if (isMounted(dev.mount.mountpoint)) this.#fail(`${dev.name}: still mounted after a clean stop`);
    await this.#startAgain(dev, '--- SIGTERM ---');
    this.#log(`${dev.name} clean restart`);
    await this.ops.checkModel(dev, 'after a clean restart');
  }

  async #startAgain(dev: MountDevice, mark: string): Promise<void> {
    dev.earlier += dev.mount.stderr + mark + '\n';
    await dev.mount.start();
  }

  /** A mount that died by itself is a failure; it is started again so the run can go on. */
  async #revive(dev: MountDevice): Promise<void> {
    const pid = dev.mount.pid;
    let alive = false;
    try {
      alive = pid !== undefined && process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) return;
    this.#fail(`${dev.name}: the loft mount process died (stderr: ${dev.mount.stderr.slice(-500)})`);
    for (const h of dev.held) await h.fh.close().catch(() => undefined);
    dev.held = [];
    await this.#startAgain(dev, '--- died; started again ---');
  }

  // ---- sync steps --------------------------------------------------------------------------------

  async #headSeq(): Promise<number> {
    for (;;) {
      const c = encodeURIComponent(this.#headCursor);
      const r = await this.#view.api.get(`/v1/changes?limit=10000&cursor=${c}`);
      if (r.status !== 200) throw new Error(`GET /v1/changes: ${r.status} ${r.raw.toString()}`);
      this.#headCursor = r.body.cursor;
      if (!r.body.hasMore) return cursorSeq(this.#headCursor);
    }
  }

  /** Waits until every mount has nothing pending or uploading and its cursor at the server's head. */
  async #settle(label: string): Promise<boolean> {
    const t0 = Date.now();
    let rounds = 0;
    let lastHead = -1;
    let last: string[] = [];
    while (Date.now() - t0 < SYNC_TIMEOUT_MS) {
      const head = await this.#headSeq();
      const all = await Promise.all(this.devices.map((d) => status(d.mount).catch(() => null)));
      last = all.map((s, i) =>
        s
          ? `${this.devices[i]!.name}: online ${s.online}, pending ${s.pending}, uploading ${s.uploading}, cursor ${cursorSeq(s.cursor)}/${head}, stuck ${JSON.stringify((s as { stuck?: unknown }).stuck ?? null)}, queue ${JSON.stringify(s.queue.slice(0, 5))}`
          : `${this.devices[i]!.name}: no status`,
      );
      const ok = all.every((s) => s && s.pending === 0 && s.uploading === 0 && cursorSeq(s.cursor) === head);
      rounds = ok && head === lastHead ? rounds + 1 : ok ? 1 : 0;
      lastHead = head;
      if (rounds >= SETTLE_ROUNDS) {
        const ms = Date.now() - t0;
        this.stats.syncSteps++;
        this.stats.maxSyncMs = Math.max(this.stats.maxSyncMs, ms);
        this.#log(`${label}: settled at head ${head} in ${ms} ms`);
        return true;
      }
      await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    }
    this.#fail(`${label}: mounts did not settle within ${SYNC_TIMEOUT_MS} ms:\n    ${last.join('\n    ')}`);
    return false;
  }

  /** Every mount must show the server's tree (bounded poll, see VIEW_GRACE_MS). */
  async #checkViews(label: string, server: Tree): Promise<void> {
    for (const dev of this.devices) {
      const t0 = Date.now();
      let first: string[] | null = null;
      for (let look = 1; ; look++) {
        const unreadable: string[] = [];
        let diff: string[];
        try {
          const tree = await mountTree(dev.mount.mountpoint, unreadable);
          diff = diffTrees(tree, server, dev.name, 'server').concat(
            unreadable.map((p) => `${p}: EIO on ${dev.name} (online)`),
          );
        } catch (err) {
          diff = [`walk failed: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`];
        }
        first ??= diff;
        const ms = Date.now() - t0;
        if (!diff.length) {
          if (look > 1) {
            this.stats.lateViews++;
            this.stats.maxViewLagMs = Math.max(this.stats.maxViewLagMs, ms);
            this.#log(
              `${label}: ${dev.name} showed the server's tree after ${look} looks (${ms} ms); first: ${first.slice(0, 5).join('; ')}`,
            );
          }
          break;
        }
        if (ms > VIEW_GRACE_MS) {
          this.#fail(
            `view: ${dev.name} does not show the server's tree ${ms} ms after ${label}:\n    ` +
              diff.slice(0, 30).join('\n    ') +
              (first.join() === diff.join() ? '' : `\n    (first look: ${first.slice(0, 10).join('; ')})`),
          );
          break;
        }
        await new Promise((r) => setTimeout(r, VIEW_POLL_MS));
      }
    }
  }

  /** Closes held handles, brings every device online, settles, compares every mount with the server. */
  async syncStep(label = 'sync'): Promise<boolean> {
    for (const dev of this.devices) for (const h of [...dev.held]) await this.ops.closeHeld(dev, h);
    for (const dev of this.devices) {
      if (!dev.wantOnline) this.setOnline(dev, true);
      await this.#revive(dev);
    }
    if (!(await this.#settle(label))) return false;
    const server = await this.#view.tree();
    await this.#checkViews(label, server);
    this.ops.synced(server);
    return true;
  }

  // ---- the random schedule ------------------------------------------------------------------------

  #pickEvent(): MountEventKind {
    const entries = Object.entries({ ...MOUNT_WEIGHTS, ...this.#o.weights }) as [MountEventKind, number][];
    let r = this.#rng() * entries.reduce((n, [, w]) => n + w, 0);
    for (const [k, w] of entries) if ((r -= w) < 0) return k;
    return 'sync';
  }

  async step(): Promise<void> {
    this.#event++;
    this.stats.events++;
    await this.ops.closeDue(this.devices);
    const kind = this.#pickEvent();
    // Often the device of the event before: a device alone at work for a while keeps the solo model.
    const dev = this.#last && this.#rng() < STICKY ? this.#last : this.#pickOf(this.devices)!;
    this.#last = dev;
    const { dirs, files } = await this.ops.localTree(dev);
    const fileName = () => this.#pickOf(FILE_NAMES)!;
    const dirName = () => this.#pickOf(DIR_NAMES)!;
    const someDir = () => this.#pickOf(dirs)!;
    const shallow = () => this.#pickOf(dirs.filter((d) => depthOf(d) < MAX_DEPTH))!;
    const newFilePath = () => {
      for (let i = 0; i < 3; i++) {
        const p = join(someDir(), fileName());
        if (!files.includes(p) && !dirs.includes(p)) return p;
      }
      return join(someDir(), fileName());
    };
    const file = kind === 'create' || kind === 'mkdir' ? undefined : this.#pickOf(files);
    const ops = this.ops;
    const logged = this.trace.length;
    switch (kind) {
      case 'create':
        await ops.create(dev, newFilePath(), this.#data());
        break;
      case 'overwrite':
        if (file) await ops.overwrite(dev, file, this.#data());
        else await ops.create(dev, newFilePath(), this.#data());
        break;
      case 'pwrite':
      case 'append': {
        const data = pseudoRandom(
          this.#int(1, this.#rng() < 0.8 ? 4 * KiB : 128 * KiB),
          this.#int(1, 2 ** 31 - 1),
        );
        if (!file) await ops.create(dev, newFilePath(), data);
        else await ops.pwrite(dev, file, kind === 'append' ? 'append' : this.#rng(), data);
        break;
      }
      case 'truncate':
        if (file)
          await ops.truncate(dev, file, this.#rng() < 0.7 ? this.#int(0, 3000) : this.#int(0, 70 * KiB));
        break;
      case 'renameFile':
        if (file)
          await ops.rename(
            dev,
            file,
            this.#rng() < 0.4 && files.length > 1 ? this.#pickOf(files)! : join(someDir(), fileName()),
          );
        break;
      case 'renameDir': {
        const from = this.#pickOf(dirs.filter((d) => d !== '/'));
        if (from) await ops.rename(dev, from, join(shallow(), dirName()));
        break;
      }
      case 'unlink':
        if (file) await ops.unlink(dev, file);
        break;
      case 'mkdir':
        await ops.mkdir(dev, join(shallow(), dirName()));
        break;
      case 'rmdir': {
        const empty = dirs.filter((d) => d !== '/' && !dirs.concat(files).some((x) => x.startsWith(d + '/')));
        const d = this.#rng() < 0.7 ? this.#pickOf(empty) : this.#pickOf(dirs.filter((x) => x !== '/'));
        if (d) await ops.rmdir(dev, d);
        break;
      }
      case 'slowWrite':
        if (file)
          await ops.slowWrite(
            dev,
            file,
            pseudoRandom(this.#int(1, 2 * KiB), this.#int(1, 2 ** 31 - 1)),
            this.#event + this.#int(1, 4),
          );
        break;
      case 'read':
        if (file) await ops.read(dev, file);
        break;
      case 'offline':
        if (dev.wantOnline) this.setOnline(dev, false);
        break;
      case 'online': {
        const off = this.#pickOf(this.devices.filter((d) => !d.wantOnline));
        if (off) this.setOnline(off, true);
        break;
      }
      case 'crash':
        await this.crash(dev);
        break;
      case 'restart':
        await this.restart(dev);
        break;
      case 'sync':
        await this.syncStep();
        break;
    }
    if (this.trace.length === logged) this.#log(`${dev.name} ${kind}: nothing to do`);
    if (ops.lastErrorWasFatal) {
      ops.lastErrorWasFatal = false;
      await this.#revive(dev);
    }
  }

  /** The final sync step, `loft check` on every drive, the history of closed writes, clean stops. */
  async finish(): Promise<void> {
    this.#event++;
    if (!(await this.syncStep('final sync'))) return;
    const checkOne = async (dev: MountDevice) => {
      let last: Awaited<ReturnType<typeof checkDrive>> | null = null;
      const t0 = Date.now();
      for (let look = 1; Date.now() - t0 < CHECK_WAIT_MS; look++) {
        last = await checkDrive(dev.mount);
        if (last.code === 0) {
          if (look > 1) this.#log(`loft check on ${dev.name}: in sync at look ${look}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      if (last?.code !== 0)
        this.#fail(
          `loft check on ${dev.name} exits ${last?.code}: ${last?.report?.summary ?? last?.stderr}\n    ` +
            JSON.stringify(last?.report?.differences.slice(0, 10) ?? []),
        );
    };
    await Promise.all(this.devices.map(checkOne));
    const server = await this.#view.tree();
    this.stats.finalFiles = [...server.values()].filter((e) => e.kind === 'file').length;
    this.stats.finalDirs = server.size - this.stats.finalFiles;
    this.stats.conflictedCopies = [...server.keys()].filter((p) =>
      p.includes('(conflicted copy from '),
    ).length;
    const problems: string[] = [];
    const history = await this.#view.history(problems);
    for (const p of problems) this.#fail(p);
    for (const w of this.ops.writes) {
      if (w.exempt) {
        this.stats.exemptWrites++;
        continue;
      }
      if (!history.has(w.sha))
        this.#fail(
          `lost write: w${w.n} (${w.device} #${w.event} ${w.path}, ${w.size}B ${short(w.sha)}) is in no revision on the server`,
        );
    }
    for (const dev of this.devices) {
      const code = await dev.mount.stop();
      if (code !== 0) this.#fail(`${dev.name}: loft mount exited with ${code} on SIGTERM at the end`);
      if (isMounted(dev.mount.mountpoint)) this.#fail(`${dev.name}: still mounted after SIGTERM`);
    }
  }

  result(): MountSimResult {
    const stderr: Record<string, string> = {};
    for (const d of this.devices) stderr[d.name] = d.earlier + d.mount.stderr;
    return {
      seed: this.#o.seed,
      ops: this.#o.ops ?? 30,
      ok: this.failures.length === 0,
      failures: [...this.failures],
      trace: [...this.trace],
      stats: { ...this.stats },
      stderr,
    };
  }

  async dispose(): Promise<void> {
    for (const dev of this.devices) {
      for (const h of dev.held) await h.fh.close().catch(() => undefined);
      dev.held = [];
      await dev.mount.dispose().catch(() => undefined);
      await dev.proxy.close().catch(() => undefined);
    }
    await this.#server.dispose();
  }
}

const depthOf = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);

/** Runs one seed end to end: schedule, final sync, checkers; never throws for a finding. */
export async function runMountSeed(options: MountSimOptions): Promise<MountSimResult> {
  const sim = await MountSim.start(options);
  try {
    for (let i = 0; i < (options.ops ?? 30); i++) await sim.step();
    await sim.finish();
  } catch (err) {
    sim.failures.push(`simulator error: ${(err as Error)?.stack ?? String(err)}`);
  } finally {
    await sim.dispose();
  }
  return sim.result();
}

/** A failure report: the seed, how to run it again, what failed, the schedule, the mounts' stderr. */
export function formatMountFailure(r: MountSimResult, testFile: string, maxTrace = 400): string {
  const trace = r.trace.length > maxTrace ? ['…', ...r.trace.slice(-maxTrace)] : r.trace;
  return [
    `mount seed ${r.seed} × ${r.ops}: ${r.failures.length} failure(s); again: ` +
      `LOFT_MOUNT_SEEDS=${r.seed} LOFT_MOUNT_OPS=${r.ops} npx tap --disable-coverage --timeout=600 ${testFile}`,
    ...r.failures.map((f) => '  ' + f),
    '  schedule:',
    ...trace.map((l) => '    ' + l),
    ...Object.entries(r.stderr).map(([n, s]) => `  stderr of ${n} (last 3000 chars):\n${s.slice(-3000)}`),
  ].join('\n');
}

export type { MountDevice };
