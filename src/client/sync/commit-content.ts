/**
 * The content a commit uploads: a dirty file's (its staging, chunked whole in a worker when it is
 * all local, else re-chunked around the edits over the committed blocks), or the committed blocks
 * as they are (a metadata-only commit: chmod, utimens).
 */
import { LoftError } from '../../shared/errors.js';
import { rechunk } from '../chunk/rechunk.js';
import { feedChunks } from '../upload/block-feed.js';
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import type { UploadContent } from '../upload/uploader.js';
import type { PushLoopOptions } from './push-loop.js';

/**
 * Files at least this large that are all local are sent while they are chunked (BlockFeed): above
 * one chunker window (16 MiB) the first blocks are on their way before the file is read through.
 * A new file written in order was chunked while it was written (ChunkAhead, same size).
 * Smaller ones (and every file push-batch.ts sends, CHUNKED_MAX = 4 MiB) are chunked first.
 */
const STREAM_MIN = 16 * 1024 * 1024;

/** The content of a dirty file: chunked whole in a worker when it is all local, else around the edits. */
export async function dirtyContent(
  o: Pick<PushLoopOptions, 'mirror' | 'vfs' | 'chunkFile' | 'chunkAhead'>,
  node: MirrorNode,
  stagingPath: string,
  size: number,
): Promise<UploadContent> {
  const { mirror, vfs } = o;
  const fs = vfs.dirty.fs;
  const d = vfs.dirty.get(node.id)!;
  const read = async (offset: number, n: number) => {
    const buf = Buffer.allocUnsafe(n);
    const got = await vfs.readDirty(node.id, offset, buf);
    if (got !== n) throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
    return buf;
  };
  if (d.file.complete && size >= STREAM_MIN) {
    const fh = await fs.open(stagingPath, 'r');
    // Chunked (and partly sent) while it was written, when it was written in order (chunk-ahead.ts);
    // the sends ahead end before the upload asks the server what it lacks.
    const ahead = o.chunkAhead?.take(d.file, size);
    if (ahead) await ahead.sent;
    const { feed, stop } = ahead ?? feedChunks(o.chunkFile, stagingPath, size);
    return {
      get blocks() {
        if (!feed.complete)
          throw new LoftError('INTERNAL', `${node.name}: blocks read before chunking ended`);
        return feed.all;
      },
      size,
      read: async (offset, n) => {
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await fh.read(buf, 0, n, offset);
        if (bytesRead !== n) throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
        return buf;
      },
      chunks: feed,
      ready: feed.done,
      close: async () => {
        stop();
        await feed.done.catch(() => {});
        await fh.close();
      },
    };
  }
  if (d.file.complete) {
    const chunked = await o.chunkFile(stagingPath);
    if (chunked.size !== size) throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
    let at = 0;
    const blocks = chunked.blocks.map((b) => {
      const placed = { ...b, offset: at };
      at += b.size;
      return placed;
    });
    const fh = await fs.open(stagingPath, 'r');
    return {
      blocks,
      size,
      read: async (offset, n) => {
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await fh.read(buf, 0, n, offset);
        if (bytesRead !== n) throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
        return buf;
      },
      close: () => fh.close(),
    };
  }
  const base = mirror.blocks(node.id);
  const edits = [...d.file.written];
  if (d.file.baseLimit < size) edits.push([d.file.baseLimit, size]);
  const { blocks } = await rechunk({
    size,
    base,
    edits,
    read: (offset, out) => vfs.readDirty(node.id, offset, out),
  });
  return { blocks, size, read };
}

/** A metadata-only commit (chmod, utimens): the committed blocks as they are. */
export function committedContent(mirror: Pick<Mirror, 'blocks'>, node: MirrorNode): UploadContent {
  const blocks = mirror.blocks(node.id);
  return {
    blocks,
    size: blocks.reduce((n, b) => n + b.size, 0),
    metadataOnly: true,
    read: () => Promise.reject(new LoftError('INTERNAL', 'server asked for a block of an unchanged file')),
  };
}
