/**
 * A throwaway PostgreSQL cluster for the tests: started once per tap run by the first test file
 * that asks for a database, shared by the files of that run (each gets a database of its own, so
 * files run in parallel), stopped by the tap `after` script (test/helpers/postgres-stop.ts).
 *
 * - initdb + pg_ctl from Debian's postgresql (scripts/setup installs it). Not installed: the test
 *   fails with a message saying so; it never skips.
 * - As root (CI), PostgreSQL refuses to run: the cluster is made and run as the `postgres` user
 *   Debian's package creates (runuser), in a temp dir it owns.
 * - Listens on 127.0.0.1 on a free port, unix sockets in its own dir; password auth (scram) for
 *   every connection, the password in PGPASSWORD as Loft's users give it.
 * - Settings for tests only: fsync, synchronous_commit and full_page_writes off.
 *
 * The cluster of a run lives in `<tmpdir>/loft-pg-<runner pid>`: the tap runner's pid (the parent
 * of every test file and of the after script), or this process's own when run without tap (then
 * it stops at exit). The first process to create that dir starts the cluster; the others wait for
 * its `ready.json` (or `error.txt`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface ClusterInfo {
  port: number;
  user: string;
  password: string;
  /** Milliseconds from initdb to accepting connections (measured by the process that started it). */
  startMs: number;
}

export interface TestDatabase {
  /** postgres://USER@127.0.0.1:PORT/DB, no password. */
  url: string;
  /** PGPASSWORD for it. */
  env: { PGPASSWORD: string };
  cluster: ClusterInfo;
}

/** How long a test file waits for another one's cluster start (a loaded machine: generous). */
const START_WAIT_MS = 120_000;
const POLL_MS = 50;

export function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup, or apt-get install postgresql',
    );
  }
  return path.join(root, versions[0]!, 'bin');
}

export function clusterDir(runner: number): string {
  // As root, the cluster runs as `postgres`, which must reach it: /tmp, whatever TMPDIR says.
  return path.join(process.getuid?.() === 0 ? '/tmp' : os.tmpdir(), `loft-pg-${runner}`);
}

function runnerPid(): number {
  return process.env.TAP === '1' ? process.ppid : process.pid;
}

/** Runs a PostgreSQL program as a user PostgreSQL accepts (root: `postgres`). */
export function asPgUser(cmd: string, args: string[]): { status: number | null; output: string } {
  const argv = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(argv[0] as string, argv[1] as string[], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

async function startCluster(dir: string): Promise<ClusterInfo> {
  const started = performance.now();
  const bin = pgBinDir();
  const data = path.join(dir, 'data');
  const sockets = path.join(dir, 'sockets');
  mkdirSync(sockets);
  const password = randomBytes(12).toString('hex');
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const p of [dir, sockets, pwfile]) chownSync(p, uid, gid);
  }
  const init = asPgUser(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'loft',
    '--pwfile',
    pwfile,
    '--auth',
    'scram-sha-256',
    '--no-sync',
    '--no-locale',
    '-E',
    'UTF8',
  ]);
  if (init.status !== 0)
    throw new Error(`initdb failed: ${init.output.trim().split('\n').slice(-3).join(' | ')}`);
  rmSync(pwfile);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const options = [
      `-p ${port}`,
      `-k ${sockets}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=300',
      '-c shared_buffers=64MB',
    ].join(' ');
    const start = asPgUser(path.join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-w',
      '-t',
      '120',
      '-o',
      options,
      'start',
    ]);
    if (start.status === 0)
      return { port, user: 'loft', password, startMs: Math.round(performance.now() - started) };
    // The port may have been taken between freePort and the bind: another one.
    if (attempt >= 2) {
      const log = existsSync(path.join(dir, 'log'))
        ? readFileSync(path.join(dir, 'log'), 'utf8')
        : start.output;
      throw new Error(`pg_ctl start failed: ${log.trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
}

/** Stops the cluster in `dir` (if any) and removes it. */
export function stopCluster(dir: string): void {
  if (existsSync(path.join(dir, 'data', 'postmaster.pid'))) {
    asPgUser(path.join(pgBinDir(), 'pg_ctl'), [
      '-D',
      path.join(dir, 'data'),
      '-m',
      'immediate',
      '-w',
      'stop',
    ]);
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Clusters of runs whose tap runner is gone (interrupted before its after script): stopped and
 * removed, so that an aborted run leaves nothing behind for long.
 */
function sweepOrphans(): void {
  const base = path.dirname(clusterDir(0));
  for (const name of readdirSync(base)) {
    const m = /^loft-pg-(\d+)$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') stopCluster(path.join(base, name));
    }
  }
}

let cluster: Promise<ClusterInfo> | null = null;

/** The run's cluster, started by this process if it is the first to ask. */
export function testCluster(): Promise<ClusterInfo> {
  cluster ??= (async () => {
    const dir = clusterDir(runnerPid());
    const ready = path.join(dir, 'ready.json');
    const failed = path.join(dir, 'error.txt');
    let mine = false;
    try {
      mkdirSync(dir, { mode: 0o755 });
      mine = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (mine) {
      sweepOrphans();
      if (runnerPid() === process.pid) process.on('exit', () => stopCluster(dir));
      try {
        const info = await startCluster(dir);
        writeFileSync(ready + '.tmp', JSON.stringify(info), { mode: 0o600 });
        execFileSync('mv', [ready + '.tmp', ready]);
        return info;
      } catch (err) {
        writeFileSync(failed, (err as Error).message);
        throw err;
      }
    }
    for (let waited = 0; waited < START_WAIT_MS; waited += POLL_MS) {
      if (existsSync(ready)) return JSON.parse(readFileSync(ready, 'utf8')) as ClusterInfo;
      if (existsSync(failed)) throw new Error(readFileSync(failed, 'utf8'));
      await sleep(POLL_MS);
    }
    throw new Error(`the test PostgreSQL cluster in ${dir} did not start within ${START_WAIT_MS} ms`);
  })();
  return cluster;
}

let databases = 0;

/** A new empty database on the run's cluster, for this test file. */
export async function testDatabase(): Promise<TestDatabase> {
  const info = await testCluster();
  const name = `loft_${process.pid}_${databases++}`;
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: info.port,
    user: info.user,
    password: info.password,
    database: 'postgres',
  });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${info.user}@127.0.0.1:${info.port}/${name}`,
    env: { PGPASSWORD: info.password },
    cluster: info,
  };
}
