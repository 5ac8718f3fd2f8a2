/**
 * A committed new file that is one block: its staging file becomes that block's cache file
 * (DiskBlockCache.adopt) instead of being deleted while the same bytes are written to the cache
 * as a new file. holdingOneBlock keeps the block's bytes out of the cache during the upload;
 * retireStaging offers the staging file to the cache when the commit is recorded.
 */
import type { BlockRef, Revision } from '../../shared/protocol.js';
import { hasNoBase } from '../staging/staging-file.js';
import type { UploadContent } from '../upload/uploader.js';
import type { DirtyFile } from '../vfs/dirty-files.js';
import type { PushLoopOptions } from './push-options.js';

/**
 * What records a commit (PushLoop): the mirror takes revision `rev` of node `id`, of `blocks` and
 * `size`, read at staging generation `gen`. `inline`: the bytes of the file's one block, sent (in
 * the commit, or held by holdingOneBlock) but not seen by onBlockSent.
 */
export type RecordCommit = (
  id: number,
  rev: Revision,
  blocks: BlockRef[],
  size: number,
  gen: number,
  inline?: Buffer,
) => void;

/**
 * The onBlockSent of the upload of `d`'s content, whose staging file the cache may take at the
 * commit when it has no base (a new file's; retireStaging): when the file is one block, its bytes
 * are held for the commit's record, which caches them only if the staging file is not taken,
 * instead of being written to the cache now and again by the move. Any other block goes to
 * `onBlockSent` as it is sent.
 */
export function holdingOneBlock(
  onBlockSent: PushLoopOptions['onBlockSent'],
  content: UploadContent,
  d: DirtyFile | undefined,
): { onBlockSent: PushLoopOptions['onBlockSent']; held: () => Buffer | undefined } {
  let held: Buffer | undefined;
  const adoptable = !!d && hasNoBase(d.name);
  // Content still being chunked (a big file, chunk-ahead.ts) has no `blocks` to look at yet.
  const one = () =>
    !content.chunks && content.blocks.length === 1 && content.blocks[0]!.size === content.size;
  return {
    onBlockSent: (hash, data) => {
      if (adoptable && one()) held = data;
      else onBlockSent?.(hash, data);
    },
    held: () => held,
  };
}

/**
 * After the commit of node `id` is recorded: its staging goes when the commit is `clean` (nothing
 * changed it since). When the file is one block, the staging file is offered to the cache first;
 * `inline` (the block's bytes, sent but not seen by onBlockSent) are cached from memory only when
 * it is not taken, or its move failed.
 */
export function retireStaging(
  o: Pick<PushLoopOptions, 'vfs' | 'adoptBlock' | 'onBlockSent'>,
  id: number,
  clean: boolean,
  blocks: readonly BlockRef[],
  size: number,
  inline?: Buffer,
): void {
  const { vfs, adoptBlock, onBlockSent } = o;
  const d = vfs.dirty.get(id);
  const one = blocks.length === 1 && blocks[0]!.size === size ? blocks[0]! : null;
  let adopting = false;
  const keep =
    one && adoptBlock
      ? (file: string) => {
          const took = adoptBlock(one.hash, size, file);
          if (!took) return Promise.resolve(false);
          adopting = true;
          if (inline) void took.then((ok) => ok || onBlockSent?.(one.hash, inline));
          return took;
        }
      : undefined;
  // drop() offers the file to `keep` before it returns (StagingFile.remove).
  if (clean && d) void vfs.dirty.drop(id, keep);
  if (inline && one && !adopting) onBlockSent?.(one.hash, inline);
}
