/**
 * A folder and everything below it as one zip stream, and a file's bytes from its blocks: what a
 * share link (`/s/SECRET/?zip=1`, public-link-routes.ts) and the web page (`/v1/web/zip`,
 * web-folder-routes.ts) send.
 *
 * Zips are store-only (no compression): most large files are compressed already, and two cores
 * are better spent serving; see README, "Share links". The listing is read first (a folder too big
 * is refused before a byte is sent), then each file is streamed block by block from the
 * BlockStore, never whole in memory.
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import yazl from 'yazl';
import type { BlockStore } from '../../blockstore/block-store.js';
import type { MetadataStore } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';

/** Files and folders one zip may hold: a bigger folder is refused (413) rather than half-listed. */
export const MAX_ZIP_ENTRIES = 100_000;

export async function sendFolderZip(
  reply: FastifyReply,
  meta: MetadataStore,
  blocks: BlockStore,
  ns: number,
  dir: Revision,
) {
  const entries: { path: string; node: Revision }[] = [];
  const walk = async (id: number, prefix: string): Promise<void> => {
    for (const c of await meta.listChildren(ns, id)) {
      if (entries.length >= MAX_ZIP_ENTRIES)
        throw new LoftError('TOO_LARGE', `folder holds more than ${MAX_ZIP_ENTRIES} entries to zip`);
      entries.push({ path: prefix + c.name, node: c });
      if (c.kind === 'dir') await walk(c.id, prefix + c.name + '/');
    }
  };
  await walk(dir.id, '');
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    const mtime = new Date(e.node.mtime);
    if (e.node.kind === 'dir') zip.addEmptyDirectory(e.path, { mtime });
    else
      zip.addReadStream(Readable.from(blockBytes(blocks, e.node.blocks ?? [], 0, e.node.size)), e.path, {
        compress: false,
        mtime,
        mode: (e.node.mode & 0o777) | 0o100000,
        size: e.node.size,
      });
  }
  zip.end();
  return reply
    .type('application/zip')
    .header('content-disposition', disposition(`${dir.name || 'Loft'}.zip`))
    .send(zip.outputStream);
}

/** Bytes [start, end) of a file whose content is `refs`, one block (or part of one) at a time. */
export async function* blockBytes(
  blocks: BlockStore,
  refs: readonly BlockRef[],
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  let at = 0;
  for (const ref of refs) {
    const from = Math.max(start, at);
    const to = Math.min(end, at + ref.size);
    if (from < to) {
      const whole = from === at && to === at + ref.size;
      const bytes = whole
        ? await blocks.get(ref.hash)
        : ((await blocks.getRange(ref.hash, from - at, to - at))?.data ?? null);
      if (!bytes || bytes.length !== to - from)
        throw new LoftError('CORRUPT', `block ${ref.hash} of a shared file is missing or short`);
      yield bytes;
    }
    at += ref.size;
    if (at >= end) break;
  }
}

/** `attachment` with the name as plain ASCII (quotes and controls replaced) and as RFC 5987 UTF-8. */
export function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
