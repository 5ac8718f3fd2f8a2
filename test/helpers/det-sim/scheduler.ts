/**
 * SimScheduler: one seeded scheduler for a whole in-process world (server and drives), in the
 * spirit of Dropbox's CanopyCheck: virtual time, and every point where the real system would race
 * (a timer, a request reaching the server, an answer reaching a drive, a user's next syscall)
 * becomes a task the scheduler picks, one at a time, with its own random stream.
 *
 * A step runs one task and then waits until the process is quiescent: no microtask, no immediate
 * and no file-system request under way (libuv's thread pool). The drives' files and databases are
 * in memory (mem-fs.ts); a real file call left would be waited for too. The next task starts only
 * when every consequence of the last one has landed or is parked on another task. So the same
 * seed gives the same sequence of tasks, and the same trace.
 *
 * Ready tasks are ordered by label before the random pick (not by the order they were posted), so
 * a step in which two chains of the same device post concurrently still offers the same choices.
 */
import { createHook } from 'node:async_hooks';
import { prng } from '../prng.js';
import type { Timers } from '../../../src/shared/clock.js';

/** Virtual time starts here (2026-01-01 UTC): conflicted-copy names carry dates. */
export const SIM_EPOCH = Date.UTC(2026, 0, 1);

interface Task {
  seq: number;
  label: string;
  owner: string;
  run: () => void;
}

interface Timer {
  seq: number;
  at: number;
  owner: string;
  fn: () => void;
}

/**
 * Requests under way outside JavaScript (libuv's thread pool: file-system calls, a FileHandle's
 * close, zlib), tracked from their creation to the run of their callback. Node's list of active
 * resources is not enough: a FileHandle's close request stays listed after it ran.
 */
const IO_TYPES = new Set(['FSREQCALLBACK', 'FSREQPROMISE', 'FILEHANDLECLOSEREQ', 'ZLIB', 'STATWATCHER']);
const inFlight = new Set<number>();
/** Resolved when the last request under way has run its callback (quiescence() waits on it). */
let drained: (() => void) | null = null;
createHook({
  init(id, type) {
    if (IO_TYPES.has(type)) inFlight.add(id);
  },
  // No destroy hook: each of these requests runs its callback once (after), and a destroy hook
  // would make Node track the destruction of every promise (a third of the simulation's time).
  after(id) {
    if (inFlight.delete(id) && inFlight.size === 0 && drained) {
      const wake = drained;
      drained = null;
      wake();
    }
  },
}).enable();

export class SimScheduler {
  #now = SIM_EPOCH;
  #seq = 0;
  readonly #tasks = new Map<number, Task>();
  readonly #timers = new Map<number, Timer>();
  readonly #dead = new Set<string>();
  readonly #rand: () => number;
  /** One line per step (the replay test compares these). */
  readonly trace: string[] = [];
  steps = 0;
  /** Echo each trace line to stderr. */
  verbose = false;

  constructor(seed: number) {
    this.#rand = prng(seed * 7919 + 17);
  }

  now(): number {
    return this.#now;
  }

  random(): number {
    return this.#rand();
  }

  note(line: string): void {
    const l = `${String(this.steps).padStart(5)} ${String(this.#now - SIM_EPOCH).padStart(8)} ${line}`;
    this.trace.push(l);
    if (this.verbose) process.stderr.write(l + '\n');
  }

  /** Timers owned by `owner` (a device's, dropped together when it crashes). */
  timers(owner: string): Timers {
    return {
      now: () => this.#now,
      setTimeout: (fn, ms) => {
        const seq = ++this.#seq;
        if (this.#dead.has(owner)) return seq;
        this.#timers.set(seq, { seq, at: this.#now + Math.max(0, Math.floor(ms)), owner, fn });
        return seq;
      },
      clearTimeout: (h) => {
        this.#timers.delete(h as number);
      },
    };
  }

  /** A task that becomes ready now (delivered when the scheduler picks it). */
  post(owner: string, label: string, run: () => void): void {
    if (this.#dead.has(owner)) return;
    const seq = ++this.#seq;
    this.#tasks.set(seq, { seq, label, owner, run });
  }

  /** Drops every task and timer of `owner`, and any it would make later (its process died). */
  drop(owner: string): void {
    this.#dead.add(owner);
    for (const [k, t] of this.#tasks) if (t.owner === owner) this.#tasks.delete(k);
    for (const [k, t] of this.#timers) if (t.owner === owner) this.#timers.delete(k);
  }

  get readyCount(): number {
    return this.#tasks.size + this.#dueTimers().length;
  }

  get hasTimers(): boolean {
    return this.#timers.size > 0;
  }

  #dueTimers(): Timer[] {
    const out: Timer[] = [];
    for (const t of this.#timers.values()) if (t.at <= this.#now) out.push(t);
    return out;
  }

  /**
   * Runs one ready task or due timer, picked at random (stable order first); with nothing ready,
   * moves time to the next timer and runs it. Returns false when nothing is left at all, or when
   * the next timer lies beyond `until`.
   */
  async step(until = Infinity): Promise<boolean> {
    const tasks = [...this.#tasks.values()].sort((a, b) =>
      a.label < b.label ? -1 : a.label > b.label ? 1 : a.seq - b.seq,
    );
    const due = this.#dueTimers().sort((a, b) =>
      a.at !== b.at ? a.at - b.at : a.owner !== b.owner ? (a.owner < b.owner ? -1 : 1) : a.seq - b.seq,
    );
    const n = tasks.length + due.length;
    if (n > 0) {
      const i = Math.floor(this.#rand() * n);
      if (i < tasks.length) {
        const task = tasks[i]!;
        this.#tasks.delete(task.seq);
        this.steps++;
        this.note(task.label);
        task.run();
      } else {
        const timer = due[i - tasks.length]!;
        this.#timers.delete(timer.seq);
        this.steps++;
        this.note(`${timer.owner} timer`);
        timer.fn();
      }
      await quiescence();
      return true;
    }
    let next: Timer | null = null;
    for (const t of this.#timers.values())
      if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
    if (!next || next.at > until) return false;
    this.#now = next.at;
    return this.step(until);
  }

  /** Moves virtual time forward by `ms` (timers due meanwhile become ready, not run). */
  advance(ms: number): void {
    this.#now += ms;
  }

  /** Runs `fn` as a step of its own (a user's syscall, a fault) and waits for quiescence. */
  async act(label: string, fn: () => void | Promise<unknown>): Promise<void> {
    this.steps++;
    this.note(label);
    const p = fn();
    if (p) p.catch(() => {});
    await quiescence();
  }
}

/**
 * Resolves once nothing is left to run without the scheduler: three turns of the event loop in a
 * row with no file-system request under way (each turn drains microtasks and immediates).
 */
export async function quiescence(): Promise<void> {
  let quiet = 0;
  while (quiet < 3) {
    await new Promise<void>((r) => setImmediate(r));
    if (inFlight.size === 0) quiet++;
    else {
      // Asleep until the thread pool has answered all of them (not turning the loop meanwhile:
      // that cost a few percent of the simulation), then three quiet turns again.
      await new Promise<void>((r) => (drained = r));
      quiet = 0;
    }
  }
}
