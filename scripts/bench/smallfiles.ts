// Everyday bulk writes into the drive (issue 17): Loft vs local ext4 vs rclone mount, same data,
// same run. Usage:
//   node scripts/bench/smallfiles.mjs [--runs 3] [--only ext4,loft,rclone] [--workloads tar,git,cp,big]
//                                     [--git-files 10000] [--cp-files 1000] [--big 1G] [--keep]
//
// Workloads (sources made once per invocation in a temp dir on the local disk, read once so they
// are in the page cache):
//   tar  `tar xf doc.tar` where doc.tar is `/usr/share/doc` of this machine (tar c -C /usr/share doc)
//   git  `git clone -q file://SRC` of a local repository of GIT_FILES small text files (100 per
//        folder, one commit; file:// so git transfers a pack and checks out every file, as from a
//        server)
//   cp   `cp -r` of a folder of CP_FILES (1,000) × 4 KiB random files
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
//           right after a close; a clone rclone never finishes uploading waits for OP_TIMEOUT_MS).
//           Where rclone is not installed its columns say so.
// For each workload: the time for the command to return, and for Loft and rclone the time from the
// command's start until everything is on the server. Medians of the runs, then every run.
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { GiB, MiB, parseFlags, parseSize, UsageError } from './lib/cli.js';
import { loftCommitted, mountLoft, startLoftServer } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { execFileP, installed, timed, type Timed } from './lib/proc.js';
import {
  mountRclone,
  NOT_INSTALLED,
  rcloneCommitted,
  rcloneInstalled,
  rcloneVersion,
  startRcloneServer,
} from './lib/rclone.js';
import { cpuPressure, fixed, machineLoad, median } from './lib/report.js';

const POLL_MS = 10; // commit polling: often enough for ms resolution, rare enough not to load the CPU
const OP_TIMEOUT_MS = 1_800_000; // one command; past it the run fails
const RCLONE_FLAGS = ['--vfs-cache-mode', 'full', '--vfs-write-back', '0s', '--vfs-cache-max-size', '2G'];
const SYSTEMS = ['ext4', 'loft', 'rclone'] as const;
const WORKLOADS = ['tar', 'git', 'cp', 'big'] as const;
type System = (typeof SYSTEMS)[number];
type Workload = (typeof WORKLOADS)[number];
const USAGE =
  'usage: node scripts/bench/smallfiles.mjs [--runs N] [--only ext4,loft,rclone] [--workloads tar,git,cp,big] [--git-files N] [--cp-files N] [--big SIZE] [--keep]';

interface Options {
  runs: number;
  only: System[];
  workloads: Workload[];
  gitFiles: number;
  cpFiles: number;
  big: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o = parseFlags(
    argv,
    {
      runs: 3,
      only: [...SYSTEMS] as string[],
      workloads: [...WORKLOADS] as string[],
      'git-files': 10000,
      'cp-files': 1000,
      big: '1G',
      keep: false,
    },
    USAGE,
    { only: SYSTEMS, workloads: WORKLOADS },
  );
  const big = parseSize(o.big);
  if (!(big >= 1)) throw new UsageError(`${USAGE} (--big: a size such as 1G, not ${o.big})`);
  return {
    runs: o.runs,
    only: o.only as System[],
    workloads: o.workloads as Workload[],
    gitFiles: o['git-files'],
    cpFiles: o['cp-files'],
    big,
    keep: o.keep,
  };
}

async function writeBig(file: string, data: Buffer): Promise<{ start: number; end: number }> {
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

interface Sources {
  tar: string;
  git: string;
  cp: string;
  tarFiles?: number;
  tarBytes?: number;
  big?: Buffer;
}

async function prepare(work: string, o: Options, log: (m: string) => void): Promise<Sources> {
  const src: Sources = {
    tar: path.join(work, 'doc.tar'),
    git: path.join(work, 'repo'),
    cp: path.join(work, 'small'),
  };
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
    if (!(await installed('git'))) throw new Error('git is not installed (the git workload needs it)');
    fs.mkdirSync(src.git);
    for (let i = 0; i < o.gitFiles; i++) {
      const d = path.join(src.git, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
      if (i % 100 === 0) fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, `f${i}.txt`), `file ${i}\n${'x'.repeat(100 + (i % 900))}\n`);
    }
    const git = (...a: string[]) =>
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
    for (let i = 0; i < o.cpFiles; i++) fs.writeFileSync(path.join(src.cp, `f${i}`), randomFillSync(b));
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

interface Measured {
  returns: number;
  onServer: number;
  afterReturn: number;
}
type Result = Partial<Record<Workload, Measured | { failed: string }>>;
type Committed = ((what: Workload) => Promise<number>) | null;

/** Runs every workload in `target`; `committed(what)` → performance.now() once all is on the server. */
async function workloads(
  target: string,
  src: Sources,
  o: Options,
  committed: Committed,
  log: (m: string) => void,
  sys?: System,
): Promise<Result> {
  const r: Result = {};
  const after = async (name: Workload, t: { start: number; end: number }) => {
    const at = committed ? await committed(name) : NaN;
    const x = {
      returns: (t.end - t.start) / 1000,
      onServer: (at - t.start) / 1000,
      afterReturn: (at - t.end) / 1000,
    };
    r[name] = x;
    log(`  ${name}: returns ${x.returns.toFixed(2)} s, on the server ${x.onServer.toFixed(2)} s`);
  };
  if (o.workloads.includes('tar')) {
    fs.mkdirSync(path.join(target, 'tar'));
    // rclone's webdav remote cannot hold symlinks: tar reports each (exit 2) and goes on.
    const t = await timed('tar', ['xf', src.tar, '-C', path.join(target, 'tar')], {
      okCodes: sys === 'rclone' ? [0, 2] : [0],
      timeoutMs: OP_TIMEOUT_MS,
    });
    if (t.code !== 0)
      log(`  tar: ${t.stderr.split('\n').filter(Boolean).length} errors (${t.stderr.split('\n')[0]})`);
    await after('tar', t);
  }
  if (o.workloads.includes('git')) {
    const t = await timed('git', ['clone', '-q', `file://${src.git}`, path.join(target, 'git')], {
      timeoutMs: OP_TIMEOUT_MS,
    }).catch((err: Error): Timed | null => {
      // rclone mount refuses git's lock files ("could not lock config file …: File exists").
      log(`  git: fails: ${err.message}`);
      r.git = { failed: err.message.replace(/^.*?error: /, '').replace(/ \/\S+/g, ' …') };
      return null;
    });
    if (t) await after('git', t);
  }
  if (o.workloads.includes('cp'))
    await after(
      'cp',
      await timed('cp', ['-r', src.cp, path.join(target, 'cp')], { timeoutMs: OP_TIMEOUT_MS }),
    );
  if (o.workloads.includes('big')) await after('big', await writeBig(path.join(target, 'big.bin'), src.big!));
  return r;
}

type Runner = (
  work: string,
  src: Sources,
  o: Options,
  run: number,
  log: (m: string) => void,
) => Promise<Result>;

const runExt4: Runner = async (work, src, o, run, log) => {
  const target = path.join(work, `ext4-${run}`);
  fs.mkdirSync(target);
  try {
    return await workloads(target, src, o, null, log);
  } finally {
    if (!o.keep) fs.rmSync(target, { recursive: true, force: true });
  }
};

const runLoft: Runner = async (work, src, o, run, log) => {
  const dir = path.join(work, `loft-${run}`);
  fs.mkdirSync(dir);
  const srv = await startLoftServer(dir);
  try {
    const m = await mountLoft(srv, dir, 'a');
    try {
      return await workloads(m.mnt, src, o, (what) => loftCommitted(m, what, OP_TIMEOUT_MS, POLL_MS), log);
    } finally {
      await m.stop();
    }
  } finally {
    await srv.stop();
    if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
};

/** Regular-file bytes below `dir` (symlinks and what cannot be read count 0). */
async function treeBytes(dir: string): Promise<number> {
  let n = 0;
  const entries = await fsp.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries)
    if (e.isFile()) n += (await fsp.stat(path.join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  return n;
}

/** rclone's backend holds what the mount shows for a workload (same regular-file bytes). */
function landed(mnt: string, backend: string, what: Workload): () => Promise<boolean> {
  const rel = what === 'big' ? 'big.bin' : what;
  let want: number | null = null;
  return async () => {
    want ??=
      what === 'big' ? (await fsp.stat(path.join(mnt, rel))).size : await treeBytes(path.join(mnt, rel));
    const have =
      what === 'big'
        ? (await fsp.stat(path.join(backend, rel)).catch(() => ({ size: -1 }))).size
        : await treeBytes(path.join(backend, rel));
    return have === want;
  };
}

const runRclone: Runner = async (work, src, o, run, log) => {
  const dir = path.join(work, `rclone-${run}`);
  fs.mkdirSync(dir);
  const srv = await startRcloneServer(dir);
  try {
    const m = await mountRclone(srv, dir, 'a', RCLONE_FLAGS);
    try {
      return await workloads(
        m.mnt,
        src,
        o,
        (what) => rcloneCommitted(m, what, landed(m.mnt, srv.backend, what), OP_TIMEOUT_MS, POLL_MS),
        log,
        'rclone',
      );
    } finally {
      await m.stop();
    }
  } finally {
    await srv.stop();
    if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
};

// ---- report ---------------------------------------------------------------------------------------------

type RunResult = Partial<Record<System, Result>> & { pressure: number };

function report(results: RunResult[], src: Sources, o: Options, rcloneMissing: boolean): string {
  const f = fixed;
  const get = (r: RunResult, sys: System, w: Workload) => r[sys]?.[w];
  const failed = (sys: System, w: Workload): string | undefined => {
    for (const r of results) {
      const x = get(r, sys, w);
      if (x && 'failed' in x) return x.failed;
    }
    return undefined;
  };
  const col = (sys: System, w: Workload, k: keyof Measured): string => {
    if (sys === 'rclone' && rcloneMissing) return NOT_INSTALLED;
    if (failed(sys, w)) return '—';
    return f(
      median(
        results.map((r) => {
          const x = get(r, sys, w);
          return x && !('failed' in x) ? x[k] : NaN;
        }),
      ),
    );
  };
  const name: Record<Workload, string> = {
    tar: `\`tar x\` of /usr/share/doc (${src.tarFiles ?? '?'} files, ${f((src.tarBytes ?? NaN) / 1e6, 0)} MB)`,
    git: `\`git clone\` of a local repository (${o.gitFiles} files)`,
    cp: `\`cp -r\` of ${o.cpFiles.toLocaleString('en-US')} × 4 KiB files`,
    big: `new ${(o.big / GiB).toFixed(o.big % GiB ? 2 : 0)} GiB file: write (open → close) / close → committed`,
  };
  const lines = [
    `| workload (s, median of ${o.runs}) | ext4 | Loft: returns | Loft: all on the server | rclone: returns | rclone: all on the server |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const suffix = (v: string) => (v === NOT_INSTALLED || v === '—' ? v : `${v} after close`);
  for (const w of o.workloads) {
    if (w === 'big') {
      lines.push(
        `| ${name[w]} | ${col('ext4', w, 'returns')} | ${col('loft', w, 'returns')} | ${suffix(col('loft', w, 'afterReturn'))} | ${col('rclone', w, 'returns')} | ${suffix(col('rclone', w, 'afterReturn'))} |`,
      );
    } else {
      const rf = failed('rclone', w);
      lines.push(
        `| ${name[w]} | ${col('ext4', w, 'returns')} | ${col('loft', w, 'returns')} | ${col('loft', w, 'onServer')} | ${rf ? `fails (${rf})` : col('rclone', w, 'returns')} | ${col('rclone', w, 'onServer')} |`,
      );
    }
  }
  lines.push('', 'Every run (returns / on the server, s):');
  results.forEach((r, i) => {
    const parts: string[] = [];
    for (const sys of o.only)
      for (const w of o.workloads) {
        const x = get(r, sys, w);
        if (x && 'failed' in x) parts.push(`${sys} ${w} fails`);
        else if (x)
          parts.push(
            `${sys} ${w} ${f(x.returns)}${sys === 'ext4' ? '' : ` / ${f(w === 'big' ? x.afterReturn : x.onServer)}`}`,
          );
      }
    lines.push(`- run ${i + 1} (cpu pressure before: ${f(r.pressure, 0)}%): ${parts.join('; ')}`);
  });
  return lines.join('\n');
}

runBench('smallfiles', async ({ work, log, keepWork }) => {
  const o = parseArgs(process.argv.slice(2));
  if (o.keep) keepWork();
  const rcloneMissing = o.only.includes('rclone') && !(await rcloneInstalled());
  if (rcloneMissing) log('rclone is not installed: its columns say so');
  const systems = o.only.filter((s) => !(s === 'rclone' && rcloneMissing));
  const src = await prepare(work, o, log);
  const runners: Record<System, Runner> = { ext4: runExt4, loft: runLoft, rclone: runRclone };
  const results: RunResult[] = [];
  for (let run = 1; run <= o.runs; run++) {
    const r: RunResult = { pressure: cpuPressure() };
    for (const sys of systems) {
      log(`run ${run}: ${sys}`);
      r[sys] = await runners[sys](work, src, o, run, log);
    }
    results.push(r);
  }
  process.stdout.write(`${report(results, src, o, rcloneMissing)}\n`);
  const rclone = o.only.includes('rclone') ? `${await rcloneVersion()}; ` : '';
  process.stdout.write(`\n${rclone}${machineLoad()}\n`);
});
