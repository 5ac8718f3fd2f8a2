/**
 * A throwaway S3-compatible server for the tests: Ceph's RADOS Gateway from Debian (`ceph-mon
 * ceph-osd radosgw ceph-common`, installed by scripts/setup), one per test file that asks for it,
 * stopped when that file ends (t.teardown, and at process exit whatever happens).
 *
 * What runs, all on 127.0.0.1, all under one temp dir (`<tmp>/loft-s3-<owner pid>-<random>`):
 *   ceph-mon (one monitor, msgr v2) → ceph-osd (memstore: objects in RAM, nothing on disk but
 *   logs) → radosgw (beast frontend on a free port), with an S3 user whose keys are random per
 *   start and given to Loft as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never on a command line.
 *
 * Settings that make it start in seconds (measured ~4 s on a loaded 2-core machine, issue 15):
 *   - auth none, which for msgr v2 needs `ms mon client mode = crc` (the default "secure" needs keys);
 *   - `paxos propose interval = 0.05`: each pool radosgw creates is a map change, 1 s apart by default;
 *   - one replica (`osd pool default size = 1` + `mon allow pool size one`), 8 PGs a pool and a
 *     high `mon max pg per osd`: radosgw makes ~7 pools, 32 PGs each by default, over the limit;
 *   - `osd crush chooseleaf type = 0`: place on OSDs, not hosts (there is one host).
 * And `tcp_nodelay=1` on the beast frontend: without it most authenticated requests on a kept-alive
 * connection wait ~40 ms (Nagle on the server against the client's delayed ACK), whatever the client.
 * Teardown is SIGKILL: radosgw takes more than 5 s to stop on SIGTERM, and the data is throwaway.
 * A test process killed before its teardown leaves daemons behind; the next start sweeps them
 * (dirs whose owner pid is gone: their daemons are killed, checked by /proc cmdline first).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { killDir, s3Base, sweepS3Orphans } from './s3-sweep.js';
import { freePort } from './free-port.js';

const execFileP = promisify(execFile);
// As src/blockstore/s3-block-store.ts does for Loft: no SDK warning about Node 22 on stderr.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Longest wait for radosgw to answer after it was started (a loaded CI machine: generous). */
const READY_WAIT_MS = 60_000;
const POLL_MS = 50;
const REGION = 'us-east-1';

export interface TestS3 {
  /** http://127.0.0.1:PORT of radosgw. */
  endpoint: string;
  region: string;
  /** For Loft (and the AWS SDK): AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string };
  /** Milliseconds from the first command to radosgw answering. */
  startMs: number;
  /** A new empty bucket; returns its name. */
  bucket(): Promise<string>;
  /** `s3://BUCKET[/PREFIX]?endpoint=…&region=…` for `--blocks`. */
  url(bucket: string, prefix?: string): string;
  /** Kills the daemons and removes the dir (idempotent, synchronous). */
  stop(): void;
}

function requireCeph(): void {
  for (const bin of ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph']) {
    if (!existsSync(`/usr/bin/${bin}`)) {
      throw new Error(
        `${bin} is not installed: run scripts/setup, or apt-get install ceph-mon ceph-osd radosgw ceph-common`,
      );
    }
  }
}

function config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public network = 127.0.0.1/32
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
paxos propose interval = 0.05
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
run dir = ${dir}/run
crash dir = ${dir}/crash
log file = ${dir}/$name.log
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
keyring = ${dir}/keyring
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw
rgw thread pool size = 32
`;
}

/** Starts radosgw and what it needs; throws with the tail of the failing daemon's log. */
export async function startS3(): Promise<TestS3> {
  requireCeph();
  sweepS3Orphans();
  const started = performance.now();
  const dir = mkdtempSync(path.join(s3Base(), `loft-s3-${process.pid}-`));
  const children: ChildProcess[] = [];
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const c of children) c.kill('SIGKILL');
    killDir(dir);
  };
  process.on('exit', stop);
  // Killed by a signal (tap's timeout, Ctrl-C): stop the daemons, then die of the same signal.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stop();
      process.kill(process.pid, signal);
    });
  }
  try {
    mkdirSync(path.join(dir, 'run'));
    mkdirSync(path.join(dir, 'mon'));
    mkdirSync(path.join(dir, 'osd'));
    const conf = path.join(dir, 'ceph.conf');
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    const fsid = randomUUID();
    writeFileSync(conf, config(dir, fsid, monPort, rgwPort));
    const run = async (cmd: string, args: string[]) => {
      try {
        return (await execFileP(cmd, ['-c', conf, ...args], { timeout: READY_WAIT_MS })).stdout;
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(
          `${cmd} ${args[0]} failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' | ')}`,
        );
      }
    };
    const daemon = (cmd: string, args: string[]) => {
      const child = spawn(cmd, ['-c', conf, ...args, '-f'], { stdio: 'ignore' });
      children.push(child);
      writeFileSync(path.join(dir, 'pids'), children.map((c) => c.pid).join('\n') + '\n');
      return child;
    };

    await execFileP('monmaptool', [
      '--create',
      '--addv',
      'a',
      `[v2:127.0.0.1:${monPort}]`,
      '--fsid',
      fsid,
      path.join(dir, 'monmap'),
    ]);
    await run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')]);
    daemon('ceph-mon', ['-i', 'a']);
    const osdUuid = randomUUID();
    // The OSD's id is 0 in a new cluster: its mkfs (local) runs beside its registration (mon).
    const [id] = await Promise.all([
      run('ceph', ['osd', 'new', osdUuid]),
      run('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]),
    ]);
    if (id.trim() !== '0') throw new Error(`ceph osd new gave id ${id.trim()}, expected 0`);
    daemon('ceph-osd', ['-i', '0']);
    const access = randomBytes(10).toString('hex').toUpperCase();
    const secret = randomBytes(20).toString('hex');
    // radosgw-admin reads the secret from its command line: a throwaway key of a throwaway
    // server on loopback, never one of Loft's. Loft itself takes it from the environment.
    await run('radosgw-admin', [
      'user',
      'create',
      '--uid=loft',
      '--display-name=loft',
      `--access-key=${access}`,
      `--secret=${secret}`,
    ]);
    daemon('radosgw', ['-n', 'client.rgw']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    for (let waited = 0; ; waited += POLL_MS) {
      const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead) throw new Error(`${dead.spawnfile} exited: ${logTail(dir)}`);
      try {
        const res = await fetch(endpoint);
        await res.arrayBuffer();
        break;
      } catch {
        if (waited > READY_WAIT_MS)
          throw new Error(`radosgw did not answer within ${READY_WAIT_MS} ms: ${logTail(dir)}`);
        await sleep(POLL_MS);
      }
    }
    const env = { AWS_ACCESS_KEY_ID: access, AWS_SECRET_ACCESS_KEY: secret };
    let buckets = 0;
    return {
      endpoint,
      region: REGION,
      env,
      startMs: Math.round(performance.now() - started),
      async bucket() {
        const name = `loft-test-${buckets++}`;
        const client = new S3Client({
          endpoint,
          region: REGION,
          forcePathStyle: true,
          credentials: { accessKeyId: access, secretAccessKey: secret },
        });
        try {
          await client.send(new CreateBucketCommand({ Bucket: name }));
        } finally {
          client.destroy();
        }
        return name;
      },
      url(bucket, prefix) {
        return `s3://${bucket}${prefix ? '/' + prefix : ''}?endpoint=${encodeURIComponent(endpoint)}&region=${REGION}`;
      },
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}

function logTail(dir: string): string {
  const out: string[] = [];
  for (const name of ['mon.a.log', 'osd.0.log', 'client.rgw.log']) {
    const file = path.join(dir, name);
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    out.push(`${name}: ${lines.slice(-2).join(' | ')}`);
  }
  return out.join('; ') || 'no log';
}
