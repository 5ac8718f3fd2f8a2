/**
 * Composition root of `loft mount`: wires remote, mirror, cache, hydrator, pins, VFS, pull loop,
 * FUSE and the control socket, and tears them down in reverse order.
 *
 * Start-up: a state directory that has synced before mounts at once from its mirror and catches up
 * in the background; a new one pulls the whole tree first (paginated, with progress), because an
 * empty drive that fills in later looks like data loss to a file manager.
 */
import { systemTimers, type Timers } from '../shared/clock.js';
import type { LocalFs } from '../shared/local-fs.js';
import { privateDir } from '../shared/private-dir.js';
import path from 'node:path';
import type { Logger } from '../shared/log.js';
import { Notifier } from '../shared/notifier.js';
import { DiskBlockCache } from './cache/disk-block-cache.js';
import { mirrorSnapshot } from './check/mirror-snapshot.js';
import { ControlServer } from './control/control-server.js';
import { createDriveMount, type FuseChoice } from './fuse/mount-backend.js';
import { HydrationFirewall } from './fuse/hydration-firewall.js';
import { defaultBlockIo, nodeBlockIo, type BlockIo } from './hydrate/block-io.js';
import { Hydrator, READAHEAD, type Connectivity } from './hydrate/hydrator.js';
import { Mirror, type MirrorDatabase } from './mirror/mirror.js';
import { bindServer } from './server-binding.js';
import { PinnedBlocks } from './pins/pinned-blocks.js';
import { Pinner } from './pins/pinner.js';
import { RemoteClient, TOKEN_REFUSED, type Transport } from './remote/remote-client.js';
import type { Chunker } from './upload/uploader.js';
import {
  controlSocketPath,
  lockState,
  preflightMountpoint,
  readMountRecord,
  unlockState,
  type MountRecord,
} from './state-dir.js';
import { ChunkWorkerPool } from './chunk/chunk-worker-pool.js';
import { ChunkAhead } from './upload/chunk-ahead.js';
import { PullLoop } from './sync/pull-loop.js';
import { PushLoop } from './sync/push-loop.js';
import { SyncLock } from './sync/sync-lock.js';
import { UploadScheduler } from './upload/upload-scheduler.js';
import { Uploader } from './upload/uploader.js';
import { HandleTable } from './vfs/handle-table.js';
import type { Vfs } from './vfs/vfs.js';
import { SharedFolderVfs, SharedRoots, type SharedRoot } from './vfs/shared-folder-vfs.js';
import { conflictAuthor } from './mirror/conflict-name.js';
import { isUnmount } from './mirror/mirror-remote.js';

export interface DriveOptions {
  mountpoint: string;
  server: string;
  token: string;
  state: string;
  cacheBytes: number;
  bwlimit?: number;
  clearStale?: boolean;
  log: Logger;
  /** Progress of the first full sync (entries applied so far). */
  onSyncProgress?: (entries: number, done: boolean) => void;
  /** The mount went away from outside (`fusermount -u`): the caller should close the drive. */
  onUnmounted?: () => void;
  /** Which FUSE binding to mount through (fuse/mount-backend.ts); default: auto. */
  fuse?: FuseChoice;
  /** allow_other + default_permissions: other local users may use the drive, modes checked. */
  allowOther?: boolean;
  /** Who may make reads download (fuse/hydration-firewall.ts); default: the default list. */
  firewall?: HydrationFirewall;
  /** PEM of a private CA the server's certificate chains to (besides the system's). */
  ca?: string;
}

export interface DriveStatus {
  mountpoint: string;
  /** The FUSE binding serving the mount and why it was chosen (fuse/mount-backend.ts). */
  fuse: { backend: string; why: string; allowOther: boolean } & Record<string, number | boolean | string>;
  server: string;
  user: string;
  online: boolean;
  offlineReason: string | null;
  synced: boolean;
  cursor: string;
  files: number;
  openFiles: number;
  /** Local changes not yet committed on the server (queued ops, including the one under way). */
  pending: number;
  /** 1 while a file's content is being uploaded, else 0. */
  uploading: number;
  /** Block payload bytes sent since the mount started. */
  uploadedBytes: number;
  /**
   * New files chunked while they were written (chunk-ahead.ts), how many uploads used that, and the
   * block bytes sent ahead of a close (also counted in uploadedBytes).
   */
  chunkedAhead: { started: number; used: number; sentBytes: number };
  /** The upload under way: path, size, payload bytes the server asked for and sent so far. */
  uploads: { path: string; size: number; toSend: number; sent: number }[];
  /** The queued changes, oldest first (at most STATUS_QUEUE_MAX). */
  queue: { op: string; path: string; attempts: number; error: string | null }[];
  /** Why the last push attempt failed (it is retried), or null. */
  pushError: string | null;
  /**
   * Changes set aside after failing again and again (retried at start, after a resync and every
   * minute; later changes go on meanwhile). `since`: ms since the epoch.
   */
  stuck: { op: string; path: string; error: string | null; since: number; attempts: number }[];
  /** Changes are queued but none can run now (each waits for a writer, or is stuck). */
  blocked: boolean;
  /** The queued changes are held while a burst of them runs (up to 10 s; sync/linger.ts). */
  holding: boolean;
  /** Files with local changes (staged content). */
  dirtyFiles: number;
  downloadedBytes: number;
  downloads: { blocks: number; bytes: number };
  /** Where demanded blocks came from: memory, disk cache, a fetch already under way, a new fetch. */
  served: { memory: number; disk: number; inFlight: number; fetched: number; ranged: number };
  cache: { usedBytes: number; capBytes: number; blocks: number; writing: number };
  pins: ReturnType<Pinner['progress']>;
  conflicts: string[];
  /** The hydration firewall: its rules and what it refused to whom (libfuse 3 binding only). */
  firewall: ReturnType<HydrationFirewall['status']> & { active: boolean };
}

/** Queued changes listed by `loft status` (the count is always exact). */
const STATUS_QUEUE_MAX = 50;
/** Cache space given back when the push loop finds the local disk full. */
const DISK_FULL_GIVE_BACK = 64 * 1024 * 1024;
/**
 * How long a mount waits for its warm-up (Hydrator.warmUp: one round trip to the server, a few ms)
 * before the kernel mount appears: bounded, so an unreachable server does not hold up mounting.
 */
const WARM_UP_WAIT_MS = 250;

/** Resolves when `p` settles or after `ms`, whichever comes first (never rejects). */
function settled(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    p.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    );
  });
}

export interface Drive {
  status(): DriveStatus;
  close(): Promise<void>;
}

class OnlineState implements Connectivity {
  online = true;
  reason: string | null = null;
  constructor(
    private readonly log: Logger,
    private readonly onChange: (online: boolean) => void,
  ) {}
  setOnline(online: boolean, reason?: string): void {
    if (online === this.online) return;
    this.online = online;
    this.reason = online ? null : (reason ?? 'unreachable');
    // One line per transition, not per failed request.
    if (online) this.log.warn('server reachable again; back online');
    else
      this.log.warn(
        { reason: this.reason },
        this.reason === TOKEN_REFUSED
          ? 'device token refused: offline (cached data stays readable, local changes are kept)'
          : 'server unreachable: offline (cached data stays readable; uncached reads fail with EIO)',
      );
    this.onChange(online);
  }
}

/** A cleanup stack: steps run in reverse order, each failure logged, never thrown. */
class Cleanups {
  readonly #steps: (() => Promise<void> | void)[] = [];
  constructor(private readonly log: Logger) {}
  push(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    while (this.#steps.length) {
      try {
        await this.#steps.pop()!();
      } catch (err) {
        this.log.error({ err }, 'cleanup step failed');
      }
    }
  }
}

export interface CoreOptions {
  server: string;
  token: string;
  state: string;
  cacheBytes: number;
  /** Upload payload cap in bytes per second (0: none). */
  bwlimit?: number;
  log: Logger;
  onSyncProgress?: (entries: number, done: boolean) => void;
  /** Time and timers of the sync core (mirror, push and pull loops, Vfs); system ones by default. */
  timers?: Timers;
  /** How requests reach the server (default: HTTP with undici). */
  transport?: Transport;
  /** PEM of a private CA the server's certificate chains to (besides the system's). */
  ca?: string;
  /**
   * Hashing of downloaded blocks and cache-file writes (hydrate/block-io.ts). Default: node's, or
   * the binding's thread-pool jobs with LOFT_NATIVE_BLOCK_IO=1, but never with simulated timers (a
   * thread-pool job would finish at a moment the simulation's schedule does not decide).
   */
  blockIo?: BlockIo;
  /** Chunks files for upload (default: a worker thread; the simulation chunks in-thread). */
  chunker?: Chunker & { close?(): Promise<void> };
  /**
   * The mirror's database, opened and kept by the caller, instead of `<state>/mirror.db`: the
   * simulation's in-memory one, which outlives the drive as the file would (see Mirror).
   */
  mirrorDb?: MirrorDatabase;
  /**
   * The file system of the staging files and the cache's block files (default: the real one), and
   * the cache's index database kept by the caller: the simulation's, in memory (see LocalFs).
   */
  fs?: LocalFs;
  cacheIndexDb?: MirrorDatabase;
}

/** Everything of the drive but FUSE: the VFS and what it stands on (also used in-process by tests). */
export interface DriveCore {
  vfs: Vfs;
  mirror: Mirror;
  cache: DiskBlockCache;
  hydrator: Hydrator;
  pinner: Pinner;
  pull: PullLoop;
  push: PushLoop;
  uploader: Uploader;
  /** New files chunked while written (absent in the simulation). */
  chunkAhead?: ChunkAhead;
  scheduler: UploadScheduler;
  online: Connectivity & { reason: string | null };
  close(): Promise<void>;
}

export async function openDriveCore(options: CoreOptions): Promise<DriveCore> {
  const { log } = options;
  const timers = options.timers ?? systemTimers;
  const state = path.resolve(options.state);
  privateDir(state);
  const cleanups = new Cleanups(log);
  try {
    const remote = new RemoteClient({
      url: options.server,
      token: options.token,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
    });
    cleanups.push(() => remote.close());
    const mirror = new Mirror(options.mirrorDb ?? path.join(state, 'mirror.db'), timers);
    cleanups.push(() => mirror.close());

    await bindServer(mirror, remote, state, log);

    // What the cache must keep (pinned files' blocks; open files' blocks last) exists before it:
    // its first shrink, at start, already keeps them.
    const pinned = new PinnedBlocks(mirror);
    const handles = new HandleTable(mirror);
    const io = options.blockIo ?? (options.timers ? nodeBlockIo : defaultBlockIo());
    const cache = new DiskBlockCache({
      // Block files go where the cache reads them: through `options.fs` when one is given (the
      // simulation's in-memory files), unless a BlockIo was asked for by name.
      ...(options.fs && !options.blockIo ? {} : { writeFile: io.writeFile }),
      dir: path.join(state, 'cache'),
      capBytes: options.cacheBytes,
      isPinned: pinned.has,
      isHeld: (h) => handles.isHeld(h),
      ...(options.timers ? { timers: options.timers } : {}),
      ...(options.fs ? { fs: options.fs } : {}),
      ...(options.cacheIndexDb ? { indexDb: options.cacheIndexDb } : {}),
      onCorrupt: (hash, reason) =>
        log.warn({ hash, reason }, 'cache block damaged; it will be downloaded again'),
    });
    cleanups.push(() => cache.close());
    // Events between parts that each need to hear of the other; listeners subscribe below.
    /** The server is reachable again: whichever part found it, the others stop their backoff. */
    const serverBack = new Notifier();
    /** The outbox has something new for the push loop (a change queued, a writer closed). */
    const outboxChanged = new Notifier();
    const online = new OnlineState(log, (up) => {
      if (up) serverBack.fire();
    });
    const hydrator = new Hydrator({
      source: remote,
      cache,
      connectivity: online,
      timers,
      io,
      log: (msg, fields) => log.warn(fields ?? {}, msg),
    });
    cleanups.push(() => hydrator.close());
    const pins = new Pinner({
      mirror,
      cache,
      hydrator,
      pinned,
      log: (msg, fields) => log.info(fields ?? {}, msg),
    });
    cleanups.push(() => pins.close());
    serverBack.on(() => pins.refresh());
    const released = (hashes: string[]) => {
      for (const h of hashes) {
        cache.demote(h);
        hydrator.forget(h);
      }
    };
    const uploading: { id: number | null } = { id: null };
    // Shared folders: a viewer's changes and renames across a folder's edge refused at once.
    const shared = new SharedRoots((msg) => log.warn({}, `refused: ${msg}`));
    const refreshShared = () =>
      void remote
        .call<{ shares: SharedRoot[] }>('GET', '/v1/shares')
        .then((r) => shared.set(r.shares.map((x) => ({ path: x.path, role: x.role }))))
        .catch((err: unknown) => log.warn({ error: (err as Error).message }, 'shared folders not read'));
    if (mirror.cursor().startsWith('v')) refreshShared();
    const vfs = new SharedFolderVfs(
      {
        uploading,
        now: () => timers.now(),
        ...(options.timers ? { timers: options.timers } : {}),
        mirror,
        hydrator,
        cache,
        pinner: pins,
        handles,
        stagingDir: path.join(state, 'staging'),
        ...(options.fs ? { fs: options.fs } : {}),
        onQueued: () => outboxChanged.fire(),
        onReleased: released,
      },
      shared,
    );
    cleanups.push(() => vfs.dirty.closeAll());
    // Before the staging files close: the last group of changes made durable.
    cleanups.push(() => vfs.durable());
    const lock = new SyncLock();
    const chunkPool = options.chunker ?? new ChunkWorkerPool(1);
    cleanups.push(() => chunkPool.close?.());
    const scheduler = new UploadScheduler({
      timers,
      bwlimit: options.bwlimit ?? 0,
      readsActive: () => hydrator.demandActive,
    });
    const uploader = new Uploader(remote, chunkPool, scheduler);
    // New files written in order are chunked while written, on a worker of their own, and their
    // blocks sent ahead (not in the simulation, whose chunker runs in its own time: options.chunker).
    let chunkAhead: ChunkAhead | undefined;
    if (!options.chunker) {
      // Its worker starts with the first big file (a mount that never writes one pays nothing).
      let aheadPool: ChunkWorkerPool | null = null;
      const ahead = (chunkAhead = new ChunkAhead(
        (p, o) => (aheadPool ??= new ChunkWorkerPool(1)).chunk(p, undefined, o),
        {
          send: (blocks, read, signal) =>
            uploader.presend(
              blocks,
              read,
              signal,
              (hash, data) => void cache.put(hash, data).catch(() => {}),
            ),
        },
      ));
      vfs.dirty.onCreate = (file) => ahead.watch(file);
      cleanups.push(() => aheadPool?.close());
      cleanups.push(() => ahead.close());
    }
    const pull = new PullLoop({
      timers,
      lock,
      source: remote,
      mirror,
      connectivity: online,
      log: (msg, fields) => log.warn(fields ?? {}, msg),
      onApplied: (entries, hashes) => {
        if (log.isLevelEnabled('debug'))
          for (const e of entries)
            log.debug({ op: e.op, id: e.id, rev: e.rev, parentId: e.parentId, name: e.name }, 'applied');
        released(hashes);
        pins.refresh();
        // A shared folder came in or went (a mount root, or the tombstone of one).
        if (entries.some((e) => e.mount || isUnmount(e))) refreshShared();
        for (const k of mirror.takeKept()) {
          log.warn(
            { from: k.from, copy: k.to },
            `shared folder ${k.from} left this drive; the changes made here not yet sent are kept in ${k.to}`,
          );
          outboxChanged.fire();
        }
        // Entries skipped for now (their folder unknown here, or local changes pending) are fetched
        // again by the push loop's resync; an idle loop must hear of them (seed 187).
        if (mirror.resyncIds().length > 0) outboxChanged.fire();
      },
    });
    let me: Promise<{ user: string; device: string }> | null = null;
    const whoami = () =>
      (me ??= remote.whoami()).catch((err: unknown) => {
        me = null;
        throw err;
      });
    const push = new PushLoop({
      uploading,
      timers,
      remote,
      mirror,
      vfs,
      uploader,
      chunkFile: (p, o) => chunkPool.chunk(p, undefined, o),
      chunkAhead,
      lock,
      connectivity: online,
      device: async () => (await whoami()).device,
      // In a shared folder other users see the copy: it names the user too.
      conflictAuthor: async (p) => {
        const w = await whoami();
        return shared.rootOf(p) ? conflictAuthor(w.user, w.device) : w.device;
      },
      onBlockSent: (hash, data) => void cache.put(hash, data).catch(() => {}),
      adoptBlock: (hash, size, file) => cache.adopt(hash, size, file),
      onReleased: released,
      onDiskFull: () => void cache.shrink(DISK_FULL_GIVE_BACK),
      readBlock: (hash, size) => hydrator.block(hash, size, READAHEAD),
      whenPulled: () => pull.whenCurrent(),
      log: (msg, fields) => log.warn(fields ?? {}, msg),
      trace: log.isLevelEnabled('debug') ? (msg, fields) => log.debug(fields ?? {}, msg) : undefined,
    });
    cleanups.push(() => push.close());
    // Closed before the push loop (cleanups run in reverse): it releases a push waiting for it.
    cleanups.push(() => pull.close());
    outboxChanged.on(() => push.wake());
    serverBack.on(() => push.retryNow());
    serverBack.on(() => pull.retryNow());

    if (!mirror.synced) {
      await pull.catchUp((n) => options.onSyncProgress?.(n, false));
      options.onSyncProgress?.(pull.applied, true);
    }
    pull.start();
    for (const { path, bytes } of (await vfs.recover()).lost)
      log.warn(
        { path, bytes },
        'the last writes to this file did not reach the disk before a crash; they are lost',
      );
    push.start();
    return {
      vfs,
      mirror,
      cache,
      hydrator,
      pinner: pins,
      pull,
      push,
      uploader,
      chunkAhead,
      scheduler,
      online,
      close: () => cleanups.run(),
    };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}

export async function startDrive(options: DriveOptions): Promise<Drive> {
  const { log } = options;
  const mountpoint = path.resolve(options.mountpoint);
  const state = path.resolve(options.state);
  privateDir(state);
  const prev = readMountRecord(state);
  const record: MountRecord = { pid: process.pid, mountpoint, socket: controlSocketPath(state), state };
  // Claim the state directory first: "in use by another mount" explains more than any mountpoint check.
  lockState(state, record);
  const cleanups = new Cleanups(log);
  cleanups.push(() => unlockState(state, record));
  try {
    for (const note of preflightMountpoint(mountpoint, {
      clearStale: options.clearStale ?? false,
      ownStale: prev?.mountpoint === mountpoint,
    })) {
      log.warn(note);
    }
    const core = await openDriveCore(options);
    cleanups.push(() => core.close());
    const { vfs, mirror, cache, hydrator, pinner, online, push, uploader, chunkAhead } = core;
    // The first cold read's path readied before the kernel can send one (Hydrator.warmUp): a warm-up
    // still in flight when the first read comes would hold the connection that read wants.
    const warm = hydrator.warmUp();

    const firewall = options.firewall ?? new HydrationFirewall();
    const { mount: fuse, why: fuseWhy } = await createDriveMount(options.fuse ?? 'auto', {
      mountpoint,
      vfs,
      firewall,
      allowOther: options.allowOther ?? false,
      onError: (op, p, err) => log.error({ op, path: p, err }, 'unexpected filesystem error (answered EIO)'),
      onFsError: (op, p, err) =>
        log.debug({ op, path: p, errno: err.errno, reason: err.message }, 'fs error'),
      onGone: () => {
        log.warn({ mountpoint }, 'the drive was unmounted from outside (fusermount -u); stopping');
        options.onUnmounted?.();
      },
    });
    await settled(warm, WARM_UP_WAIT_MS);
    await fuse.mount();
    cleanups.push(() => fuse.unmount());
    // The firewall needs each read's caller; fuse-native does not say who calls.
    const firewallActive = fuse.backend === 'lowlevel' && !firewall.open;
    if (!firewall.open && !firewallActive)
      log.warn(
        'the hydration firewall (--no-download-for, --download-budget) needs the libfuse 3 binding: off',
      );
    log.info(
      { mountpoint, fuse: fuse.backend, why: fuseWhy },
      `mounted through ${fuse.backend} (${fuseWhy})`,
    );
    // Remote changes drop what the kernel cached about their paths (fuse/kernel-cache.ts).
    cleanups.push(mirror.watch({ remotePath: (p) => fuse.invalidate(p) }));

    const status = (): DriveStatus => {
      const id = mirror.identity()!;
      return {
        mountpoint,
        fuse: {
          backend: fuse.backend,
          why: fuseWhy,
          allowOther: options.allowOther ?? false,
          ...fuse.info(),
        },
        server: id.server,
        user: id.user,
        online: online.online,
        offlineReason: online.reason,
        synced: mirror.synced,
        cursor: mirror.cursor(),
        files: mirror.stats().files,
        openFiles: vfs.openHandles,
        pending: mirror.pendingOps,
        uploading: push.status.current ? 1 : 0,
        uploadedBytes: uploader.sentBytes,
        chunkedAhead: { ...(chunkAhead?.stats ?? { started: 0, used: 0, sentBytes: 0 }) },
        uploads: push.status.current ? [{ ...push.status.current }] : [],
        // The head of the queue only: a status poll costs the same with 5 or 50,000 ops queued.
        queue: mirror.opsFrom(0, STATUS_QUEUE_MAX).map((o) => ({
          op: o.kind,
          path: o.kind === 'move' ? `${o.path} -> ${o.toPath}` : o.path,
          attempts: o.attempts,
          error: o.lastError,
        })),
        pushError: push.status.lastError,
        stuck: mirror.stuckOps().map((o) => ({
          op: o.kind,
          path: o.kind === 'move' ? `${o.path} -> ${o.toPath}` : o.path,
          error: o.lastError,
          since: o.stuckSince ?? 0,
          attempts: o.attempts,
        })),
        blocked: push.status.blocked,
        holding: push.status.holding && mirror.pendingOps > 0,
        dirtyFiles: vfs.dirty.count,
        downloadedBytes: hydrator.downloadedBytes,
        downloads: hydrator.pending,
        served: { ...hydrator.served },
        cache: cache.usage(),
        pins: pinner.progress(),
        conflicts: mirror.conflicts(),
        firewall: { active: firewallActive, ...firewall.status() },
      };
    };
    const toMountPaths = (paths: string[]) => paths.map((p) => (p.startsWith('/') ? p : '/' + p));
    const control = new ControlServer(record.socket, {
      status,
      snapshot: () => mirrorSnapshot(mirror),
      pin: (paths) => vfs.pin(toMountPaths(paths)),
      unpin: (paths) => vfs.unpin(toMountPaths(paths)),
    });
    await control.listen();
    cleanups.push(() => control.close());

    let closing: Promise<void> | null = null;
    return { status, close: () => (closing ??= cleanups.run()) };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}
