/**
 * The reference model of one device's tree for local operations: what POSIX (and the drive's
 * documented answers, docs/SEMANTICS) says a syscall does to the tree it starts from. The
 * simulation snapshots a device's tree (as the Vfs shows it), applies an op to the model and to the
 * drive, and compares the errno and the tree after it when nothing else could have changed the tree
 * in between (the op ran without waiting on the network).
 */

export interface ModelEntry {
  kind: 'file' | 'dir';
  size: number;
}

/** Path → entry; '/' is always there. */
export type ModelTree = Map<string, ModelEntry>;

export type ModelOp =
  | { k: 'create'; p: string; size: number }
  | { k: 'overwrite'; p: string; size: number }
  | { k: 'pwrite'; p: string; at: number; size: number }
  | { k: 'append'; p: string; size: number }
  | { k: 'truncate'; p: string; size: number }
  | { k: 'rename'; from: string; to: string }
  | { k: 'unlink'; p: string }
  | { k: 'mkdir'; p: string }
  | { k: 'rmdir'; p: string }
  | { k: 'read'; p: string };

const parentOf = (p: string): string => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));

class ModelError extends Error {
  constructor(readonly errno: string) {
    super(errno);
  }
}

/** Resolves a path like the Vfs: ENOTDIR when a component is a file, ENOENT when missing. */
function lookup(tree: ModelTree, p: string): ModelEntry | null {
  if (p === '/') return tree.get('/')!;
  const parts = p.split('/').slice(1);
  let at = '';
  for (let i = 0; i < parts.length; i++) {
    at += '/' + parts[i];
    const e = tree.get(at);
    if (!e) return null;
    if (e.kind !== 'dir' && i < parts.length - 1) throw new ModelError('ENOTDIR');
  }
  return tree.get(p)!;
}

function must(tree: ModelTree, p: string): ModelEntry {
  const e = lookup(tree, p);
  if (!e) throw new ModelError('ENOENT');
  return e;
}

function parentDir(tree: ModelTree, p: string): void {
  const dir = lookup(tree, parentOf(p));
  if (!dir) throw new ModelError('ENOENT');
  if (dir.kind !== 'dir') throw new ModelError('ENOTDIR');
}

function hasChildren(tree: ModelTree, p: string): boolean {
  const prefix = p === '/' ? '/' : p + '/';
  for (const k of tree.keys()) if (k !== p && k.startsWith(prefix)) return true;
  return false;
}

/** Applies `op` to a copy of `tree`: the tree after it and the errno (null: success). */
export function applyModel(tree: ModelTree, op: ModelOp): { tree: ModelTree; errno: string | null } {
  const t: ModelTree = new Map(tree);
  try {
    switch (op.k) {
      case 'create':
        parentDir(t, op.p);
        if (lookup(t, op.p)) throw new ModelError('EEXIST');
        t.set(op.p, { kind: 'file', size: op.size });
        break;
      case 'overwrite': {
        const e = must(t, op.p);
        if (e.kind === 'dir') throw new ModelError('EISDIR');
        t.set(op.p, { kind: 'file', size: op.size });
        break;
      }
      case 'pwrite': {
        const e = must(t, op.p);
        if (e.kind === 'dir') throw new ModelError('EISDIR');
        const off = Math.floor(op.at * e.size);
        t.set(op.p, { kind: 'file', size: Math.max(e.size, off + op.size) });
        break;
      }
      case 'append': {
        const e = must(t, op.p);
        if (e.kind === 'dir') throw new ModelError('EISDIR');
        t.set(op.p, { kind: 'file', size: e.size + op.size });
        break;
      }
      case 'truncate': {
        const e = must(t, op.p);
        if (e.kind === 'dir') throw new ModelError('EISDIR');
        t.set(op.p, { kind: 'file', size: op.size });
        break;
      }
      case 'read': {
        const e = must(t, op.p);
        if (e.kind === 'dir') throw new ModelError('EISDIR');
        break;
      }
      case 'unlink': {
        const e = must(t, op.p);
        if (e.kind === 'dir') throw new ModelError('EISDIR');
        t.delete(op.p);
        break;
      }
      case 'mkdir':
        parentDir(t, op.p);
        if (lookup(t, op.p)) throw new ModelError('EEXIST');
        t.set(op.p, { kind: 'dir', size: 0 });
        break;
      case 'rmdir': {
        const e = must(t, op.p);
        if (e.kind !== 'dir') throw new ModelError('ENOTDIR');
        if (op.p === '/') throw new ModelError('EBUSY');
        if (hasChildren(t, op.p)) throw new ModelError('ENOTEMPTY');
        t.delete(op.p);
        break;
      }
      case 'rename': {
        const src = must(t, op.from);
        if (op.from === '/') throw new ModelError('EBUSY');
        parentDir(t, op.to);
        if (op.to === op.from) break;
        if (op.to.startsWith(op.from + '/')) throw new ModelError('EINVAL');
        const dst = lookup(t, op.to);
        if (dst) {
          if (src.kind === 'dir' && dst.kind !== 'dir') throw new ModelError('ENOTDIR');
          if (src.kind !== 'dir' && dst.kind === 'dir') throw new ModelError('EISDIR');
          if (dst.kind === 'dir' && hasChildren(t, op.to)) throw new ModelError('ENOTEMPTY');
          t.delete(op.to);
        }
        for (const [k, v] of [...t]) {
          if (k !== op.from && !k.startsWith(op.from + '/')) continue;
          t.delete(k);
          t.set(op.to + k.slice(op.from.length), v);
        }
        break;
      }
    }
    return { tree: t, errno: null };
  } catch (err) {
    if (err instanceof ModelError) return { tree, errno: err.errno };
    throw err;
  }
}

/** Differences between two trees, one line each (empty when equal). */
export function diffModel(expected: ModelTree, actual: ModelTree): string[] {
  const out: string[] = [];
  for (const [p, e] of expected) {
    const a = actual.get(p);
    if (!a) out.push(`${p}: expected ${e.kind} ${e.size}, missing`);
    else if (a.kind !== e.kind || (e.kind === 'file' && a.size !== e.size))
      out.push(`${p}: expected ${e.kind} ${e.size}, is ${a.kind} ${a.size}`);
  }
  for (const [p, a] of actual) if (!expected.has(p)) out.push(`${p}: unexpected ${a.kind} ${a.size}`);
  return out.sort();
}
