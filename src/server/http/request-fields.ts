/**
 * Turning request fields into the store's addresses: a node by path or id, a place for a new node
 * (a path, or a name inside a folder by id), and one-line error messages.
 */
import type { NodeRef, Place } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import type { NodeQuery } from './schemas.js';

/** Error messages are one line: control characters (a newline in a hostile path) are escaped. */
export function oneLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export function nodeRef(b: { path?: string | undefined; id?: number | undefined }): NodeRef {
  if ((b.path === undefined) === (b.id === undefined))
    throw new LoftError('BAD_REQUEST', 'give exactly one of "path" and "id"');
  return b.path !== undefined ? { path: b.path } : { id: b.id! };
}

/** Where a new node goes: `path`, or `name` inside the folder `parentId` (follows its moves). */
export function place(
  b: {
    path?: string | undefined;
    id?: number | undefined;
    parentId?: number | undefined;
    name?: string | undefined;
  },
  fields = '"path" and "parentId" with "name"',
): Place {
  const byParent = b.parentId !== undefined && b.name !== undefined;
  const half = (b.parentId === undefined) !== (b.name === undefined);
  if (b.id !== undefined || half || byParent === (b.path !== undefined))
    throw new LoftError('BAD_REQUEST', `give exactly one of ${fields}`);
  return byParent ? { parentId: b.parentId!, name: b.name! } : { path: b.path! };
}

export function toPlace(b: {
  toPath?: string | undefined;
  toParentId?: number | undefined;
  toName?: string | undefined;
}): { toPath: string } | { toParentId: number; toName: string } {
  const p = place(
    { path: b.toPath, parentId: b.toParentId, name: b.toName },
    '"toPath" and "toParentId" with "toName"',
  );
  return 'path' in p ? { toPath: p.path } : { toParentId: p.parentId, toName: p.name };
}

export function queryRef(q: NodeQuery): NodeRef {
  return nodeRef({ path: q.path, id: q.id === undefined ? undefined : Number(q.id) });
}
