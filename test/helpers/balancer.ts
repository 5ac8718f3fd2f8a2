/**
 * A real load balancer in front of several `loft serve` processes: HAProxy from Debian (installed by
 * scripts/setup), started per test file (or bench run) on a free loopback port with a config
 * written to a temp dir, stopped by `stop()` (and at process exit whatever happens).
 *
 * What the config says, and why:
 * - `balance roundrobin`, per request (HAProxy balances every request of a kept-alive client
 *   connection, not connections): a device's requests land on every server, as the issue's
 *   "a device may hit any server on any request" asks.
 * - Health checks (`GET /v1/health` every CHECK_MS, down after 2 failures, up after 1 success):
 *   a killed server is taken out within ~2 × CHECK_MS; meanwhile a request sent to it finds its
 *   port closed and is redispatched (below).
 * - `retries 3` + `option redispatch`: a request that could not be sent (connection refused to a
 *   server that is dead but not yet marked down) is sent to another server. Only connection
 *   failures are retried by HAProxy (its default `retry-on conn-failure`): a request that reached
 *   a server which then died is answered 502 and retried by the drive itself (it treats 5xx and
 *   broken connections as "offline, retry"), never replayed blind by the balancer.
 * - `timeout server` above the longest long-poll (MAX_WAIT_S) so that long-polls are not cut.
 * - `option forwardfor`: servers started with `--trust-proxy 127.0.0.1` see the client's address.
 * - Every answer carries `x-loft-backend: <server name>` (s1, s2, …): tests see who answered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';

export const HAPROXY = '/usr/sbin/haproxy';
/** Health check interval. */
const CHECK_MS = 500;
/**
 * How long a health check may take. Without `timeout check` HAProxy allows `inter` only: on a
 * saturated machine a 100 ms interval took both servers out at once (every request a 503).
 */
const CHECK_TIMEOUT_S = 5;
/** Above the server's MAX_WAIT_S (300 s). */
const SERVER_TIMEOUT_S = 330;
const READY_WAIT_MS = 20_000;

export interface Balancer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The HAProxy server names, in the order of the backends given (s1, s2, …). */
  names: string[];
  stderr(): string;
  stop(): Promise<void>;
}

export function haproxyConfig(port: number, backends: readonly string[]): string {
  const servers = backends.map((b, i) => {
    const u = new URL(b);
    return `  server s${i + 1} ${u.hostname}:${u.port}`;
  });
  return `global
  maxconn 2000

defaults
  mode http
  timeout connect 2s
  timeout client ${SERVER_TIMEOUT_S}s
  timeout server ${SERVER_TIMEOUT_S}s
  timeout http-keep-alive 60s
  timeout check ${CHECK_TIMEOUT_S}s
  retries 3
  option redispatch 1
  option forwardfor

frontend loft
  bind 127.0.0.1:${port}
  default_backend servers

backend servers
  balance roundrobin
  option httpchk GET /v1/health
  http-response set-header x-loft-backend %s
  default-server check inter ${CHECK_MS}ms fall 2 rise 1
${servers.join('\n')}
`;
}

/** Answers of GET /v1/health through the balancer until every backend answered once. */
async function waitAllUp(url: string, names: readonly string[], proc: ChildProcess, err: () => string) {
  const seen = new Set<string>();
  const end = Date.now() + READY_WAIT_MS;
  while (seen.size < names.length) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited (${proc.exitCode}): ${err()}`);
    if (Date.now() > end)
      throw new Error(`haproxy: not every backend up after ${READY_WAIT_MS} ms (${[...seen].join(',')})`);
    try {
      const res = await fetch(`${url}/v1/health`);
      await res.arrayBuffer();
      const who = res.headers.get('x-loft-backend');
      if (res.status === 200 && who) seen.add(who);
    } catch {
      // not listening yet
    }
    if (seen.size < names.length) await sleep(20);
  }
}

/** Starts HAProxy before `backends` (URLs of running servers); resolves once each has answered. */
export async function startBalancer(backends: readonly string[]): Promise<Balancer> {
  if (!existsSync(HAPROXY))
    throw new Error(`${HAPROXY} is not installed: run scripts/setup, or apt-get install haproxy`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-lb-'));
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, backends));
  const proc = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const onExit = () => proc.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const names = backends.map((_, i) => `s${i + 1}`);
  try {
    await waitAllUp(url, names, proc, () => out);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, names, stderr: () => out, stop };
}
