#!/usr/bin/env node
// Everyday bulk writes into the drive (issue 17): Loft vs local ext4 vs rclone mount, same data,
// same run. Usage:
//   node scripts/bench/smallfiles.mjs [--runs 3] [--only ext4,loft,rclone] [--workloads tar,git,cp,big]
//                                     [--git-files 10000] [--big 1G] [--keep]
//
// Workloads (sources made once per invocation in a temp dir on the local disk, read once so they
// are in the page cache):
//   tar  `tar xf doc.tar` where doc.tar is `/usr/share/doc` of this machine (tar c -C /usr/share doc)
//   git  `git clone -q file://SRC` of a local repository of GIT_FILES small text files (100 per
//        folder, one commit; file:// so git transfers a pack and checks out every file, as from a
//        server)
//   cp   `cp -r` of a folder of 1,000 × 4 KiB random files
//   big  a new file of BIG random bytes written with 1 MiB writes (open → close), then the time
//        from close until it is committed on the server
// Systems, fresh for every run:
//   ext4    a new directory on the local disk (the same disk that holds Loft's and rclone's state)
//   loft    `loft serve` (embedded SQLite + local block store) on 127.0.0.1 + `loft mount`
//           (--cache-size 2G); committed = the control socket's /status (what `loft status --json`
//           prints) shows pending 0 and uploading 0, polled every POLL_MS
//   rclone  `rclone serve webdav` on 127.0.0.1 + `rclone mount --vfs-cache-mode full
//           --vfs-write-back 0s` (upload as soon as a file is closed); committed = its remote control's
//           vfs/stats shows no upload queued or in progress
//           and the backend holds the workload's regular-file bytes (the queue is empty for a moment
//           right after a close; a clone rclone never finishes uploading waits for OP_TIMEOUT_MS) (rclone is installed from Debian if missing)
// For each workload: the time for the command to return, and for Loft and rclone the time from the
// command's start until everything is on the server. Medians of the runs, then every run.
// git must be installed (it is installed from Debian if missing, like rclone).
import { execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  aptInstall,
  cpuPressure,
  ensureRclone,
  execFileP,
  loftCommitted,
  median,
  mountLoft,
  mountRclone,
  rcloneCommitted,
  shutdown,
  startLoftServer,
  startRcloneServer,
  stopMount,
  succeeds,
  killChild,
} from './lib/mounts.mjs';

const MiB = 1024 * 1024;
const POLL_MS = 10; // commit polling: often enough for ms resolution, rare enough not to load the CPU
const OP_TIMEOUT_MS = 1_800_000; // one command; past it the run fails
const RCLONE_FLAGS = ['--vfs-cache-mode', 'full', '--vfs-write-back', '0s', '--vfs-cache-max-size', '2G'];
const SYSTEMS = ['ext4', 'loft', 'rclone'];
const WORKLOADS = ['tar', 'git', 'cp', 'big'];

const log = (msg) => process.stderr.write(`smallfiles bench: ${msg}\n`);

function parseArgs(argv) {
  const usage =
    'usage: node scripts/bench/smallfiles.mjs [--runs N] [--only ext4,loft,rclone] [--workloads tar,git,cp,big] [--git-files N] [--big SIZE] [--keep]';
  const opts = {
    runs: 3,
    only: SYSTEMS.join(','),
    workloads: WORKLOADS.join(','),
    'git-files': 10000,
    big: '1G',
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = flag.replace(/^--/, '');
    if (key === 'keep') {
      opts.keep = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || !(key in opts) || value === undefined) throw new Error(usage);
    opts[key] = value;
  }
  const runs = Number(opts.runs);
  const gitFiles = Number(opts['git-files']);
  const m = /^(\d+)([KMG]?)$/i.exec(String(opts.big));
  const only = opts.only.split(',');
  const workloads = opts.workloads.split(',');
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: a positive integer, not ${opts.runs}`);
  if (!Number.isInteger(gitFiles) || gitFiles < 1) throw new Error(`--git-files: a positive integer`);
  if (!m) throw new Error(`--big: a size such as 1G, not ${opts.big}`);
  for (const s of only)
    if (!SYSTEMS.includes(s)) throw new Error(`--only: one of ${SYSTEMS.join(', ')}, not ${s}`);
  for (const w of workloads)
    if (!WORKLOADS.includes(w)) throw new Error(`--workloads: one of ${WORKLOADS.join(', ')}, not ${w}`);
  const big = Number(m[1]) * { '': 1, K: 1024, M: MiB, G: 1024 * MiB }[m[2].toUpperCase()];
  return { runs, only, workloads, gitFiles, big, keep: opts.keep };
}

/** Runs a command; resolves with its duration in ms; rejects with its first stderr line. */
function timed(cmd, args, okCodes = [0]) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), OP_TIMEOUT_MS);
    p.once('error', reject);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      if (okCodes.includes(code)) resolve({ start: t0, end: performance.now(), code, stderr: err });
      else
        reject(new Error(`${cmd} ${args.join(' ')}: ${code ?? signal}: ${err.trim().split('\n')[0] ?? ''}`));
    });
  });
}

async function writeBig(file, data) {
  const t0 = performance.now();
  const fh = await fsp.open(file, 'w');
  try {
    for (let at = 0; at < data.length; at += MiB)
      await fh.write(data, at, Math.min(MiB, data.length - at), at);
  } finally {
    await fh.close();
  }
  return { start: t0, end: performance.now() };
}

// ---- sources ------------------------------------------------------------------------------------------

async function prepare(work, o) {
  const src = { tar: path.join(work, 'doc.tar'), git: path.join(work, 'repo'), cp: path.join(work, 'small') };
  if (o.workloads.includes('tar')) {
    await execFileP('tar', ['cf', src.tar, '-C', '/usr/share', 'doc']);
    const { stdout } = await execFileP('tar', ['tf', src.tar], { maxBuffer: 256 << 20 });
    const entries = stdout.split('\n').filter(Boolean);
    src.tarFiles = entries.filter((e) => !e.endsWith('/')).length;
    src.tarBytes = fs.statSync(src.tar).size;
    log(
      `doc.tar: ${src.tarFiles} files and links, ${entries.length} entries, ${(src.tarBytes / 1e6).toFixed(1)} MB`,
    );
  }
  if (o.workloads.includes('git')) {
    if (!(await succeeds('sh', ['-c', 'command -v git']))) {
      log('git is missing: installing the Debian package (apt-get install -y git)');
      await aptInstall('git');
    }
    fs.mkdirSync(src.git);
    for (let i = 0; i < o.gitFiles; i++) {
      const d = path.join(src.git, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
      if (i % 100 === 0) fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, `f${i}.txt`), `file ${i}\n${'x'.repeat(100 + (i % 900))}\n`);
    }
    const git = (...a) =>
      execFileP('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...a], {
        cwd: src.git,
        maxBuffer: 64 << 20,
      });
    await git('init', '-q');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'many files');
    log(`git repository: ${o.gitFiles} files`);
  }
  if (o.workloads.includes('cp')) {
    fs.mkdirSync(src.cp);
    const b = Buffer.alloc(4096);
    for (let i = 0; i < 1000; i++) fs.writeFileSync(path.join(src.cp, `f${i}`), randomFillSync(b));
  }
  if (o.workloads.includes('big')) src.big = randomFillSync(Buffer.allocUnsafe(o.big));
  // Sources in the page cache: every system reads them the same way.
  await execFileP('sh', [
    '-c',
    `cat ${src.tar} > /dev/null 2>&1; find ${work} -type f -exec cat {} + > /dev/null`,
  ]).catch(() => {});
  return src;
}

// ---- one system, one run ----------------------------------------------------------------------------------

/** Runs every workload in `target`; `committed(what)` → performance.now() once all is on the server. */
async function workloads(target, src, o, committed, sys) {
  const r = {};
  const after = async (name, t) => {
    const at = committed ? await committed(name) : NaN;
    r[name] = {
      returns: (t.end - t.start) / 1000,
      onServer: (at - t.start) / 1000,
      afterReturn: (at - t.end) / 1000,
    };
    log(`  ${name}: returns ${r[name].returns.toFixed(2)} s, on the server ${r[name].onServer.toFixed(2)} s`);
  };
  if (o.workloads.includes('tar')) {
    fs.mkdirSync(path.join(target, 'tar'));
    // rclone's webdav remote cannot hold symlinks: tar reports each (exit 2) and goes on.
    const t = await timed(
      'tar',
      ['xf', src.tar, '-C', path.join(target, 'tar')],
      sys === 'rclone' ? [0, 2] : [0],
    );
    if (t.code !== 0)
      log(`  tar: ${t.stderr.split('\n').filter(Boolean).length} errors (${t.stderr.split('\n')[0]})`);
    await after('tar', t);
  }
  if (o.workloads.includes('git')) {
    const t = await timed('git', ['clone', '-q', `file://${src.git}`, path.join(target, 'git')]).catch(
      (err) => {
        // rclone mount refuses git's lock files ("could not lock config file …: File exists").
        log(`  git: fails: ${err.message}`);
        r.git = { failed: err.message.replace(/^.*?error: /, '').replace(/ \/\S+/g, ' …') };
        return null;
      },
    );
    if (t) await after('git', t);
  }
  if (o.workloads.includes('cp')) {
    await after('cp', await timed('cp', ['-r', src.cp, path.join(target, 'cp')]));
  }
  if (o.workloads.includes('big')) {
    await after('big', await writeBig(path.join(target, 'big.bin'), src.big));
  }
  return r;
}

async function runExt4(work, src, o, run) {
  const target = path.join(work, `ext4-${run}`);
  fs.mkdirSync(target);
  try {
    return await workloads(target, src, o, null);
  } finally {
    if (!o.keep) fs.rmSync(target, { recursive: true, force: true });
  }
}

async function runLoft(work, src, o, run) {
  const dir = path.join(work, `loft-${run}`);
  fs.mkdirSync(dir);
  const srv = await startLoftServer(dir);
  const m = await mountLoft(srv, dir, 'a');
  try {
    return await workloads(m.mnt, src, o, (what) => loftCommitted(m, what, OP_TIMEOUT_MS, POLL_MS));
  } finally {
    await stopMount(m);
    await killChild(srv.server);
    if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Regular-file bytes below `dir` (symlinks and what cannot be read count 0). */
async function treeBytes(dir) {
  let n = 0;
  const entries = await fsp.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries)
    if (e.isFile())
      n += (await fsp.stat(path.join(e.parentPath ?? e.path, e.name)).catch(() => ({ size: 0 }))).size;
  return n;
}

/** rclone's backend holds what the mount shows for a workload (same regular-file bytes). */
function landed(mnt, backend, what) {
  const rel = what === 'big' ? 'big.bin' : what;
  let want = null;
  return async () => {
    want ??= await treeBytes(path.join(mnt, rel)).then(async (n) =>
      what === 'big' ? (await fsp.stat(path.join(mnt, rel))).size : n,
    );
    const have =
      what === 'big'
        ? (await fsp.stat(path.join(backend, rel)).catch(() => ({ size: -1 }))).size
        : await treeBytes(path.join(backend, rel));
    return have === want;
  };
}

async function runRclone(work, src, o, run) {
  const dir = path.join(work, `rclone-${run}`);
  fs.mkdirSync(dir);
  const srv = await startRcloneServer(dir);
  const m = await mountRclone(srv, dir, 'a', RCLONE_FLAGS);
  try {
    return await workloads(
      m.mnt,
      src,
      o,
      (what) => rcloneCommitted(m, what, landed(m.mnt, srv.backend, what), OP_TIMEOUT_MS, POLL_MS),
      'rclone',
    );
  } finally {
    await stopMount(m);
    await killChild(srv.server);
    if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- report ---------------------------------------------------------------------------------------------

function report(results, src, o) {
  const f = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '—');
  const col = (sys, w, k) =>
    results.some((r) => r[sys]?.[w]?.failed) ? NaN : median(results.map((r) => r[sys]?.[w]?.[k]));
  const failed = (sys, w) => results.find((r) => r[sys]?.[w]?.failed)?.[sys][w].failed;
  const name = {
    tar: `\`tar x\` of /usr/share/doc (${src.tarFiles ?? '?'} files, ${f((src.tarBytes ?? NaN) / 1e6, 0)} MB)`,
    git: `\`git clone\` of a local repository (${o.gitFiles} files)`,
    cp: '`cp -r` of 1,000 × 4 KiB files',
    big: `new ${(o.big / (1024 * MiB)).toFixed(o.big % (1024 * MiB) ? 2 : 0)} GiB file: write (open → close) / close → committed`,
  };
  const lines = [
    `| workload (s, median of ${o.runs}) | ext4 | Loft: returns | Loft: all on the server | rclone: returns | rclone: all on the server |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const w of o.workloads) {
    if (w === 'big') {
      lines.push(
        `| ${name[w]} | ${f(col('ext4', w, 'returns'))} | ${f(col('loft', w, 'returns'))} | ${f(col('loft', w, 'afterReturn'))} after close | ${f(col('rclone', w, 'returns'))} | ${f(col('rclone', w, 'afterReturn'))} after close |`,
      );
    } else {
      lines.push(
        `| ${name[w]} | ${f(col('ext4', w, 'returns'))} | ${f(col('loft', w, 'returns'))} | ${f(col('loft', w, 'onServer'))} | ${failed('rclone', w) ? `fails (${failed('rclone', w)})` : f(col('rclone', w, 'returns'))} | ${f(col('rclone', w, 'onServer'))} |`,
      );
    }
  }
  lines.push('', 'Every run (returns / on the server, s):');
  results.forEach((r, i) => {
    const parts = [];
    for (const sys of o.only)
      for (const w of o.workloads) {
        const x = r[sys]?.[w];
        if (x?.failed) parts.push(`${sys} ${w} fails`);
        else if (x)
          parts.push(
            `${sys} ${w} ${f(x.returns)}${sys === 'ext4' ? '' : ` / ${f(w === 'big' ? x.afterReturn : x.onServer)}`}`,
          );
      }
    lines.push(`- run ${i + 1} (cpu pressure before: ${f(r.pressure, 0)}%): ${parts.join('; ')}`);
  });
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.only.includes('rclone')) await ensureRclone(log);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-bench-smallfiles-'));
  const stop = async () => {
    await shutdown();
    if (!o.keep) fs.rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    log(`work dir ${work}`);
    const src = await prepare(work, o);
    const results = [];
    for (let run = 1; run <= o.runs; run++) {
      const r = { pressure: cpuPressure() };
      for (const sys of o.only) {
        log(`run ${run}: ${sys}`);
        r[sys] = await { ext4: runExt4, loft: runLoft, rclone: runRclone }[sys](work, src, o, run);
      }
      results.push(r);
    }
    const { stdout: rcloneVersion } = o.only.includes('rclone')
      ? await execFileP('rclone', ['version'])
      : { stdout: '' };
    process.stdout.write(`${report(results, src, o)}\n`);
    if (rcloneVersion)
      process.stdout.write(
        `\n${rcloneVersion.split('\n')[0]}; node ${process.version}; ${os.cpus().length} cores\n`,
      );
  } finally {
    await stop();
  }
}

main().catch((err) => {
  process.stderr.write(`smallfiles bench: ${err.message}\n`);
  process.exitCode = 1;
});
