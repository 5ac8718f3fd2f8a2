/**
 * HydrationFirewall: which processes may make the drive download (issue 14 item 3).
 *
 * File managers' thumbnailers and desktop indexers open every file in a folder; on a drive of
 * cloud-only files that is a full download. The libfuse 3 binding knows each request's caller pid,
 * so a read that needs blocks the drive does not have is checked here first: the caller's process
 * name (`/proc/PID/comm`) and its ancestors' (`/proc/PID/stat`'s ppid, up to MAX_DEPTH) are compared
 * with the policy.
 *
 * - `noDownloadFor`: names whose reads never download (DEFAULT_NO_DOWNLOAD unless given). A name
 *   matches a process whose comm is the name cut at 15 bytes (the kernel's TASK_COMM_LEN), the
 *   process itself or any ancestor (a thumbnailer runs under a sandbox launched by the file manager).
 * - `budgets`: name → bytes such processes may make the drive download in all (then refused).
 *
 * A refused read answers EIO at once, as an uncached read does while offline: the program treats
 * the file as unreadable now and moves on. (EAGAIN was the other candidate; on a blocking read of
 * a regular file it invites retry loops in programs written for sockets and pipes, which would spin.)
 * Reads of cached blocks (whatever the caller), listings and stat are never refused. Refusals are
 * counted per name for `loft status` (at most MAX_REFUSALS names kept).
 *
 * Names are looked up for reads that would download, and kept per process for NAME_TTL_MS. The FUSE
 * glue also asks for them (prime) right after it answers an open: the walk up /proc (one file per
 * ancestor, ~0.3 ms on the benchmark machine with the code still cold) then happens while the
 * opener's read is on its way, not ahead of that read's download.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Indexers and thumbnailers of the common Linux desktops (comm names, cut at 15 bytes): GNOME's
 * tracker miners and extractor, KDE's baloo, and the thumbnailers GNOME and KDE start.
 */
export const DEFAULT_NO_DOWNLOAD = [
  'tracker-miner-fs-3',
  'tracker-miner-fs',
  'tracker-extract-3',
  'tracker-extract',
  'localsearch-3',
  'baloo_file',
  'baloo_file_extractor',
  'gdk-pixbuf-thumbnailer',
  'totem-video-thumbnailer',
  'ffmpegthumbnailer',
  'evince-thumbnailer',
  'gnome-thumbnail-font',
  'thumbnail.so',
  'kioworker',
  'kioslave5',
  'tumblerd',
];

/** The kernel keeps this many bytes of a process name (TASK_COMM_LEN 16, less the NUL). */
const COMM_LEN = 15;
/** Ancestors looked at above the caller (init is reached long before). */
const MAX_DEPTH = 16;
/** How long a pid's names are trusted (a pid may be reused by another program). */
const NAME_TTL_MS = 2000;
/** Pids whose names are kept at once. */
const NAME_CACHE_MAX = 1024;
/** Process names whose refusals `loft status` lists. */
const MAX_REFUSALS = 100;

export interface Refusal {
  name: string;
  /** The last refused caller: its pid, the file it read. */
  pid: number;
  path: string;
  count: number;
  /** Bytes the refused reads would have downloaded. */
  bytes: number;
  /** When the last refusal was (ms). */
  at: number;
}

export interface FirewallOptions {
  noDownloadFor?: readonly string[];
  budgets?: ReadonlyMap<string, number>;
  now?: () => number;
  /** Where the process table is (tests may point elsewhere). */
  proc?: string;
}

export class HydrationFirewall {
  readonly #blocked: Map<string, string>;
  readonly #budgets: Map<string, { name: string; bytes: number; used: number }>;
  readonly #now: () => number;
  readonly #proc: string;
  readonly #names = new Map<number, { comm: string; ppid: number; at: number }>();
  readonly #refusals = new Map<string, Refusal>();

  constructor(options: FirewallOptions = {}) {
    const key = (n: string) => Buffer.from(n).subarray(0, COMM_LEN).toString();
    this.#blocked = new Map((options.noDownloadFor ?? DEFAULT_NO_DOWNLOAD).map((n) => [key(n), n]));
    this.#budgets = new Map(
      [...(options.budgets ?? new Map<string, number>())].map(([n, bytes]) => [
        key(n),
        { name: n, bytes, used: 0 },
      ]),
    );
    this.#now = options.now ?? Date.now;
    this.#proc = options.proc ?? '/proc';
  }

  /** True when no rule is set (every read allowed without looking at the caller). */
  get open(): boolean {
    return this.#blocked.size === 0 && this.#budgets.size === 0;
  }

  /**
   * Whether a read by `pid` that would download `bytes` may go on; when it may not, the refusal is
   * recorded. Budgets are charged for allowed reads.
   */
  allow(pid: number, bytes: number, file: string): boolean {
    if (bytes <= 0 || this.open || pid <= 0) return true;
    const names = this.#namesOf(pid);
    for (const n of names) {
      const rule = this.#blocked.get(n);
      if (rule !== undefined) return this.#refuse(rule, pid, file, bytes);
    }
    for (const n of names) {
      const b = this.#budgets.get(n);
      if (!b) continue;
      if (b.used + bytes > b.bytes) return this.#refuse(b.name, pid, file, bytes);
      b.used += bytes;
    }
    return true;
  }

  /**
   * Looks up the names of `pid` and its ancestors now, if no read did lately: called when the
   * process opens a file, so that its first read finds them known.
   */
  prime(pid: number): void {
    if (!this.open && pid > 0) this.#namesOf(pid);
  }

  /** prime(pid) once the current turn of the event loop is over (after the open's answer is sent). */
  primeSoon(pid: number): void {
    if (!this.open && pid > 0) setImmediate(() => this.prime(pid));
  }

  /**
   * Whether a read by `pid` must be refused: `need` tells what it would download (asked only when
   * rules are set), `file` names it for `loft status`. See allow.
   */
  refuses(pid: number, need: () => number, file: () => string): boolean {
    return !this.open && !this.allow(pid, need(), file());
  }

  status(): {
    noDownloadFor: string[];
    budgets: { name: string; bytes: number; used: number }[];
    refusals: Refusal[];
  } {
    return {
      noDownloadFor: [...this.#blocked.values()],
      budgets: [...this.#budgets.values()].map((b) => ({ ...b })),
      refusals: [...this.#refusals.values()].map((r) => ({ ...r })),
    };
  }

  #refuse(name: string, pid: number, file: string, bytes: number): false {
    let r = this.#refusals.get(name);
    if (!r) {
      if (this.#refusals.size >= MAX_REFUSALS) return false;
      this.#refusals.set(name, (r = { name, pid, path: file, count: 0, bytes: 0, at: 0 }));
    }
    r.pid = pid;
    r.path = file;
    r.count++;
    r.bytes += bytes;
    r.at = this.#now();
    return false;
  }

  /** The comm names of `pid` and its ancestors (what /proc still shows of them). */
  #namesOf(pid: number): string[] {
    const now = this.#now();
    const names: string[] = [];
    for (let p = pid, depth = 0; p > 1 && depth <= MAX_DEPTH; depth++) {
      const stat = this.#procOf(p, now);
      if (!stat) break;
      names.push(stat.comm);
      p = stat.ppid;
    }
    return names;
  }

  /**
   * One process's name and parent, kept per pid (each ancestor on its own: a new process, or
   * another thread of one seen already, costs one /proc read, its ancestors are known). FUSE
   * names the calling thread, not its process: a multi-threaded program opens in one thread and
   * reads in another (node's file system calls run on its thread pool).
   */
  #procOf(pid: number, now: number): { comm: string; ppid: number } | null {
    const hit = this.#names.get(pid);
    if (hit && now - hit.at < NAME_TTL_MS) return hit;
    const stat = this.#stat(pid);
    if (!stat) return null;
    if (this.#names.size >= NAME_CACHE_MAX) this.#names.clear();
    this.#names.set(pid, { ...stat, at: now });
    return stat;
  }

  /** comm and ppid from /proc/PID/stat ("pid (comm) state ppid …"; comm may hold spaces and ')'). */
  #stat(pid: number): { comm: string; ppid: number } | null {
    let text: string;
    try {
      text = readFileSync(path.join(this.#proc, String(pid), 'stat'), 'utf8');
    } catch {
      return null; // gone already
    }
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    if (open < 0 || close < open) return null;
    const rest = text.slice(close + 2).split(' ');
    return { comm: text.slice(open + 1, close), ppid: Number(rest[1]) };
  }
}

/** `NAME=SIZE` budget arguments → a map; throws a one-line error on a bad one. */
export function parseBudgets(args: readonly string[], parseSize: (s: string) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of args) {
    const eq = a.lastIndexOf('=');
    if (eq <= 0) throw new Error(`--download-budget wants NAME=SIZE, got "${a}"`);
    out.set(a.slice(0, eq), parseSize(a.slice(eq + 1)));
  }
  return out;
}
