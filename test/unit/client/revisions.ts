/** Journal revisions as the server sends them, for mirror tests (a rising revision per call). */
import type { BlockRef, Revision, RevisionOp } from '../../../src/shared/protocol.js';

let rev = 100;

export function revision(
  op: RevisionOp,
  id: number,
  parentId: number,
  name: string,
  extra: { blocks?: BlockRef[]; kind?: 'file' | 'dir'; deleted?: boolean; mode?: number } = {},
): Revision {
  const kind = extra.kind ?? (op === 'mkdir' ? 'dir' : 'file');
  const blocks = extra.blocks;
  return {
    rev: ++rev,
    id,
    op,
    parentId,
    name,
    kind,
    deleted: extra.deleted ?? op === 'delete',
    size: blocks ? blocks.reduce((a, b) => a + b.size, 0) : 0,
    mtime: 1_700_000_000_000 + rev,
    mode: extra.mode ?? (kind === 'dir' ? 0o755 : 0o644),
    ...(blocks ? { blocks } : {}),
    device: 'laptop',
    time: 1_700_000_000_000 + rev,
  };
}
