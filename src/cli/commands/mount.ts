import path from 'node:path';
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import { parseSize } from '../../shared/size.js';
import { DEFAULT_NO_DOWNLOAD } from '../../client/fuse/hydration-firewall.js';

interface MountOptions {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  state?: string;
  cacheSize: string;
  bwlimit?: string;
  clearStale?: boolean;
  logLevel?: string;
  fuse?: string;
  allowOther?: boolean;
  /** --no-download-for NAMES (commander names a "--no-" option after what follows it). */
  downloadFor?: string | boolean;
  downloadBudget: string[];
}

export const DEFAULT_CACHE_SIZE = '10G';

export function registerMount(program: Command): void {
  program
    .command('mount <mountpoint>')
    .description('mount the drive (foreground; Ctrl-C or SIGTERM unmounts cleanly)')
    .option('--server <url>', 'server URL (env LOFT_SERVER; remembered in the state dir)')
    .option('--token <token>', 'device token (visible in ps: prefer --token-file or LOFT_TOKEN)')
    .option('--token-file <file>', 'read the device token from FILE (env LOFT_TOKEN_FILE; remembered)')
    .option('--ca <file>', 'PEM of a private CA to trust for an https server (env LOFT_CA; remembered)')
    .option('--state <dir>', 'state directory: mirror, cache, settings (env LOFT_STATE)')
    .option('--cache-size <size>', 'hard cap of the block cache (bytes or 512M, 10G…)', DEFAULT_CACHE_SIZE)
    .option('--bwlimit <rate>', 'cap uploads at RATE bytes per second (5M = 5 MiB/s; default: none)')
    .option('--clear-stale', 'clear a stale mount left at the mountpoint by a crashed run')
    .option('--log-level <level>', 'fatal|error|warn|info|debug (env LOFT_LOG)')
    .option(
      '--fuse <backend>',
      "FUSE binding: lowlevel (libfuse 3, Loft's own), fuse-native (libfuse 2) or auto (env LOFT_FUSE_BACKEND; default auto: lowlevel where it loads)",
    )
    .option('--allow-other', 'let other local users use the drive (allow_other), the kernel checking modes')
    .option(
      '--no-download-for <names>',
      `comma-separated process names whose reads never download (EIO instead; "" for none; default: ${DEFAULT_NO_DOWNLOAD.join(',')})`,
    )
    .option(
      '--download-budget <name=size>',
      'bytes processes of this name may make the drive download (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .action(async (mountpoint: string, opts: MountOptions) => {
      (await import('../../shared/heap-growth.js')).setHeapGrowth();
      const { defaultStateDir, readConfig, writeConfig } = await import('../../client/state-dir.js');
      const { startDrive } = await import('../../client/client.js');
      const { createLogger } = await import('../../shared/log.js');
      const { checkFuseChoice, fuseChoice } = await import('../../client/fuse/mount-backend.js');
      const fuse = fuseChoice(opts.fuse);
      await checkFuseChoice(fuse);
      const state = path.resolve(opts.state ?? process.env.LOFT_STATE ?? defaultStateDir());
      const saved = readConfig(state);
      const server = opts.server ?? process.env.LOFT_SERVER ?? saved?.server;
      const { caFrom, readCa, tokenFrom } = await import('../credentials.js');
      const token = tokenFrom(opts) ?? saved?.token;
      const caFile = caFrom(opts, saved?.ca);
      const ca = caFile === undefined ? undefined : readCa(caFile);
      if (!server) throw new LoftError('BAD_REQUEST', 'no server: give --server URL (or LOFT_SERVER)');
      if (!token)
        throw new LoftError(
          'BAD_REQUEST',
          'no device token: give --token T (or LOFT_TOKEN); "loft user add" prints one',
        );
      const cacheBytes = parseSize(opts.cacheSize);
      const { HydrationFirewall, parseBudgets } = await import('../../client/fuse/hydration-firewall.js');
      let budgets: Map<string, number>;
      try {
        budgets = parseBudgets(opts.downloadBudget, parseSize);
      } catch (err) {
        throw new LoftError('BAD_REQUEST', (err as Error).message);
      }
      const firewall = new HydrationFirewall({
        ...(typeof opts.downloadFor === 'string'
          ? { noDownloadFor: opts.downloadFor.split(',').filter(Boolean) }
          : {}),
        budgets,
      });
      const bwlimit = opts.bwlimit === undefined ? 0 : parseSize(opts.bwlimit);
      const log = createLogger(opts.logLevel);
      // The drive serves every program that has a file open in it: a bug in one background task
      // must not take the mount down (all those programs would get ENOTCONN). Log it loudly instead.
      process.on('unhandledRejection', (err) => log.error({ err }, 'internal error in a background task'));
      const { mkdirSync } = await import('node:fs');
      mkdirSync(state, { recursive: true, mode: 0o700 });
      const config = { server, token, ...(caFile ? { ca: path.resolve(caFile) } : {}) };
      // A new server for an existing state dir is remembered once the drive accepted it (the
      // same installation: client/server-binding.ts); a refused one leaves the config as it was.
      const moving = saved !== null && saved.server !== server;
      if (!moving) writeConfig(state, config);
      const tty = process.stderr.isTTY;
      let stop: (why: string) => void = () => {};
      const drive = await startDrive({
        mountpoint,
        server,
        token,
        state,
        cacheBytes,
        bwlimit,
        clearStale: opts.clearStale ?? false,
        fuse,
        allowOther: opts.allowOther ?? false,
        firewall,
        ...(ca ? { ca } : {}),
        log,
        onSyncProgress: (n, done) => {
          if (done) process.stderr.write(`${tty ? '\r' : ''}loft: first sync done: ${n} entries\n`);
          else if (tty) process.stderr.write(`\rloft: first sync: ${n} entries…`);
        },
        onUnmounted: () => stop('unmounted from outside'),
      });
      if (moving) writeConfig(state, config);
      process.stdout.write(
        `loft: mounted at ${path.resolve(mountpoint)} (state ${state}; fuse ${drive.status().fuse.backend}); Ctrl-C unmounts\n`,
      );
      let stopping = false;
      stop = (why: string) => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`loft: ${why}, stopping\n`);
        drive.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`loft: unmount failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGHUP', () => stop('SIGHUP'));
    });
}
