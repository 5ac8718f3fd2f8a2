#!/usr/bin/env node
// `loft check` at size: how long the whole check takes on a drive of --files files, answered by a
// running mount (control socket snapshot) and by a stopped drive (a copy of its mirror), and how
// long the mount's snapshot holds its event loop.
// Usage: node scripts/bench/check.mjs [--files 100000] [--per-folder 1000] [--runs 3]
// Needs a build (npx tsc -p tsconfig.json). The namespace is written straight into a fresh meta.db
// by scripts/bench/gc-populate.mjs (one revision per file); the drive's first sync pulls it. The token
// stays in this process and the mount's environment (LOFT_TOKEN), never on a command line.
// Everything started is stopped and the work dir under /tmp removed. Progress → stderr, table → stdout.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { populate } from './gc-populate.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const LOFT = path.resolve(here, '../../bin/loft.js');
const execFileP = promisify(execFile);

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const files = opt('files', 100_000);
const perFolder = opt('per-folder', 1000);
const runs = opt('runs', 3);
const log = (m) => process.stderr.write(`check-bench: ${m}\n`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-check-bench-'));
const data = path.join(work, 'data');
const state = path.join(work, 'state');
const mnt = path.join(work, 'mnt');
fs.mkdirSync(mnt);
const children = [];

function start(argv, env, ready) {
  const child = spawn(process.execPath, [LOFT, ...argv], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve({ child, match: m });
    });
    child.once('exit', (code) => reject(new Error(`loft ${argv[0]} exited ${code}: ${err}`)));
  });
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

async function check() {
  const t0 = performance.now();
  let out;
  try {
    out = (
      await execFileP(process.execPath, [LOFT, 'check', '--state', state, '--json'], { maxBuffer: 1 << 30 })
    ).stdout;
  } catch (e) {
    if (e.code !== 1) throw e;
    out = e.stdout;
  }
  const ms = performance.now() - t0;
  return { ms, report: JSON.parse(out) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const { stdout } = await execFileP(process.execPath, [LOFT, 'user', 'add', 'bench', '--data', data]);
  const token = stdout.trim().split('\n').pop();
  log(`populating ${files} files…`);
  await populate(data, { userName: 'bench', files, revs: 1, perFolder, blockFiles: false, log });
  const { child: server, match } = await start(
    ['serve', '--data', data, '--listen', '127.0.0.1:0', '--gc-interval', '0'],
    {},
    /listening on (http:\/\/\S+)/,
  );
  const url = match[1];
  log('first sync of the drive…');
  let t0 = performance.now();
  const { child: mount } = await start(
    ['mount', mnt, '--server', url, '--state', state],
    { LOFT_TOKEN: token },
    /mounted at/,
  );
  const syncMs = performance.now() - t0;
  const running = [];
  for (let i = 0; i < runs; i++) {
    running.push(await check());
    log(`running mount: ${running.at(-1).ms.toFixed(0)} ms: ${running.at(-1).report.summary}`);
  }
  // How long one snapshot holds the mount (its control answer, nothing else).
  const snap = [];
  for (let i = 0; i < runs; i++) {
    t0 = performance.now();
    const { socket } = JSON.parse(fs.readFileSync(path.join(state, 'mount.json'), 'utf8'));
    await execFileP('curl', ['-s', '-o', '/dev/null', '--unix-socket', socket, 'http://loft/snapshot']);
    snap.push(performance.now() - t0);
  }
  await stop(mount);
  const stopped = [];
  for (let i = 0; i < runs; i++) {
    stopped.push(await check());
    log(`stopped drive: ${stopped.at(-1).ms.toFixed(0)} ms: ${stopped.at(-1).report.summary}`);
  }
  await stop(server);
  const r = running[0].report;
  process.stdout.write(
    [
      `loft check, ${files.toLocaleString('en-US')} files in folders of ${perFolder} (${r.serverNodes.toLocaleString('en-US')} nodes), medians of ${runs}`,
      `| what | ms |`,
      `| --- | ---: |`,
      `| first sync of the drive (for scale) | ${syncMs.toFixed(0)} |`,
      `| loft check, running mount | ${median(running.map((x) => x.ms)).toFixed(0)} |`,
      `| GET /snapshot from the mount (curl) | ${median(snap).toFixed(0)} |`,
      `| loft check, stopped drive | ${median(stopped.map((x) => x.ms)).toFixed(0)} |`,
      `every run: running ${running.map((x) => x.ms.toFixed(0)).join(', ')}; snapshot ${snap.map((x) => x.toFixed(0)).join(', ')}; stopped ${stopped.map((x) => x.ms.toFixed(0)).join(', ')}`,
      `in sync: ${running.every((x) => x.report.inSync) && stopped.every((x) => x.report.inSync)}`,
      '',
    ].join('\n'),
  );
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  try {
    await execFileP('fusermount', ['-uz', mnt]);
  } catch {
    // not mounted
  }
  fs.rmSync(work, { recursive: true, force: true });
}
