/**
 * Schedules of the deterministic simulation: a list of concrete events (paths, sizes, devices
 * spelled out), so that a schedule found by the random generator can be replayed, shrunk and kept
 * as a test. The generator draws each event from the state the world is in when it is drawn (it
 * picks existing paths often, so devices collide), which is deterministic because the world is.
 */
import type { ModelOp } from './model.js';

export type DetEvent =
  | { k: 'create' | 'overwrite' | 'append'; d: string; p: string; size: number; fill: number }
  | { k: 'pwrite'; d: string; p: string; at: number; size: number; fill: number }
  | { k: 'truncate'; d: string; p: string; size: number }
  | { k: 'rename'; d: string; from: string; to: string }
  | { k: 'unlink' | 'mkdir' | 'rmdir' | 'read'; d: string; p: string }
  /** open O_RDWR + write at the end; the handle stays open for `for` more events, then closes. */
  | { k: 'hold'; d: string; p: string; size: number; fill: number; for: number }
  | { k: 'offline' | 'online' | 'loseAnswer' | 'restart' | 'crash'; d: string }
  | { k: 'serverRestart' | 'serverDown' | 'serverUp' | 'sync' }
  /** Lets the world take up to `n` steps (requests, answers, timers) before the next event. */
  | { k: 'run'; n: number };

export type EventKind = DetEvent['k'];

export const DET_WEIGHTS: Readonly<Record<EventKind, number>> = {
  create: 12,
  overwrite: 7,
  pwrite: 6,
  append: 5,
  truncate: 3,
  rename: 9,
  unlink: 5,
  mkdir: 7,
  rmdir: 3,
  read: 3,
  hold: 2,
  offline: 4,
  online: 5,
  loseAnswer: 2,
  restart: 2,
  crash: 2,
  serverRestart: 1,
  serverDown: 1,
  serverUp: 2,
  sync: 4,
  run: 14,
};

const DIR_NAMES = ['a', 'b', 'c'];
const FILE_NAMES = ['x.txt', 'y.txt', 'z.bin', 'w'];
const MAX_DEPTH = 3;

export interface WorldView {
  devices: readonly string[];
  /** Directories ('/' included) and files a device shows now. */
  tree(device: string): { dirs: string[]; files: string[] };
}

const join = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);

/** Draws the next event from `rand` and the world as it is. */
export function drawEvent(rand: () => number, world: WorldView): DetEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let total = 0;
  for (const w of Object.values(DET_WEIGHTS)) total += w;
  let r = rand() * total;
  let kind: EventKind = 'run';
  for (const [k, w] of Object.entries(DET_WEIGHTS) as [EventKind, number][]) {
    if ((r -= w) < 0) {
      kind = k;
      break;
    }
  }
  const d = pick(world.devices);
  const { dirs, files } = world.tree(d);
  const size = () => (rand() < 0.1 ? Math.floor(rand() * 300_000) : Math.floor(rand() * 6000));
  const fill = () => Math.floor(rand() * 1e9) + 1;
  const newPath = (names: readonly string[]) => {
    const shallow = dirs.filter((x) => depth(x) < MAX_DEPTH);
    return join(pick(shallow.length ? shallow : ['/']), pick(names));
  };
  const file = () => (files.length && rand() < 0.8 ? pick(files) : newPath(FILE_NAMES));
  const dir = () => {
    const real = dirs.filter((x) => x !== '/');
    return real.length && rand() < 0.8 ? pick(real) : newPath(DIR_NAMES);
  };
  switch (kind) {
    case 'create':
      return { k: kind, d, p: rand() < 0.7 ? newPath(FILE_NAMES) : file(), size: size(), fill: fill() };
    case 'overwrite':
    case 'append':
      return { k: kind, d, p: file(), size: size(), fill: fill() };
    case 'pwrite':
      return { k: kind, d, p: file(), at: Math.floor(rand() * 4) / 4, size: size(), fill: fill() };
    case 'truncate':
      return { k: kind, d, p: file(), size: Math.floor(rand() * 8000) };
    case 'rename': {
      const isDir = rand() < 0.35;
      const from = isDir ? dir() : file();
      const to = isDir ? newPath(DIR_NAMES) : rand() < 0.3 ? file() : newPath(FILE_NAMES);
      return { k: kind, d, from, to };
    }
    case 'unlink':
    case 'read':
      return { k: kind, d, p: file() };
    case 'mkdir':
      return { k: kind, d, p: newPath(DIR_NAMES) };
    case 'rmdir':
      return { k: kind, d, p: dir() };
    case 'hold':
      return { k: kind, d, p: file(), size: size(), fill: fill(), for: 1 + Math.floor(rand() * 6) };
    case 'offline':
    case 'online':
    case 'loseAnswer':
    case 'restart':
    case 'crash':
      return { k: kind, d };
    case 'serverRestart':
    case 'serverDown':
    case 'serverUp':
    case 'sync':
      return { k: kind };
    case 'run':
      return { k: kind, n: 1 + Math.floor(rand() * 12) };
  }
}

/** The model's view of a file-system event (null for faults and steps). */
export function modelOp(e: DetEvent): ModelOp | null {
  switch (e.k) {
    case 'create':
    case 'overwrite':
    case 'append':
    case 'truncate':
      return { k: e.k, p: e.p, size: e.size };
    case 'pwrite':
      return { k: e.k, p: e.p, at: e.at, size: e.size };
    case 'rename':
      return { k: e.k, from: e.from, to: e.to };
    case 'unlink':
    case 'mkdir':
    case 'rmdir':
    case 'read':
      return { k: e.k, p: e.p };
    default:
      return null;
  }
}

export function describe(e: DetEvent): string {
  switch (e.k) {
    case 'create':
    case 'overwrite':
    case 'append':
    case 'hold':
      return `${e.d} ${e.k} ${e.p} ${e.size}B`;
    case 'pwrite':
      return `${e.d} pwrite ${e.p} @${e.at} ${e.size}B`;
    case 'truncate':
      return `${e.d} truncate ${e.p} ${e.size}`;
    case 'rename':
      return `${e.d} rename ${e.from} -> ${e.to}`;
    case 'unlink':
    case 'mkdir':
    case 'rmdir':
    case 'read':
      return `${e.d} ${e.k} ${e.p}`;
    case 'offline':
    case 'online':
    case 'loseAnswer':
    case 'restart':
    case 'crash':
      return `${e.d} ${e.k}`;
    case 'run':
      return `run ${e.n}`;
    default:
      return e.k;
  }
}
