/**
 * Uploader: sends one file's content to the server with as few bytes as possible.
 *
 *   chunk + hash (worker thread) → "which of these must I send?" → PUT only those (bounded
 *   parallelism, each read back from the file at its offset) → commit with the parent revision.
 *
 * A commit answered BLOCK_UNUSABLE (a block vanished or was never accepted between the question and
 * the commit) re-sends what the server names, once. A stale parent revision is a CONFLICT for the
 * caller to resolve (it keeps the local version as a conflicted copy); nothing is retried here.
 * `sentBytes` counts block payload bytes exactly.
 */
import fs from 'node:fs/promises';
import PQueue from 'p-queue';
import { isLoftError, LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import type { ChunkedFile } from '../chunk/chunk-file.js';
import type { CommitRequest } from '../remote/remote-client.js';

export interface UploadTarget {
  missingBlocks(hashes: string[], signal?: AbortSignal): Promise<string[]>;
  putBlock(hash: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  commit(req: CommitRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
}

export interface Chunker {
  chunk(path: string): Promise<ChunkedFile>;
}

export interface UploadRequest {
  /** Local file holding the complete new content. */
  file: string;
  /** Where it goes: a path (create or replace) or a node id. */
  path?: string;
  id?: number;
  parentRev: number | null;
  mtime: number;
  mode: number;
  signal?: AbortSignal;
}

export interface UploadResult {
  rev: number;
  node: Revision;
  sentBytes: number;
  sentBlocks: number;
  totalBlocks: number;
}

/** Blocks uploaded at once per file: enough to fill a link, few enough to keep memory at ~4 × 4 MiB. */
const PUT_PARALLELISM = 4;

export class Uploader {
  /** Block payload bytes sent since start. */
  sentBytes = 0;

  constructor(
    private readonly target: UploadTarget,
    private readonly chunker: Chunker,
  ) {}

  async upload(req: UploadRequest): Promise<UploadResult> {
    const chunked = await this.chunker.chunk(req.file);
    const offsets: number[] = [];
    let at = 0;
    for (const b of chunked.blocks) {
      offsets.push(at);
      at += b.size;
    }
    const where = new Map<string, { offset: number; size: number }>();
    chunked.blocks.forEach((b, i) => where.set(b.hash, { offset: offsets[i]!, size: b.size }));

    let sentBytes = 0;
    let sentBlocks = 0;
    const send = async (hashes: string[]) => {
      const fh = await fs.open(req.file, 'r');
      try {
        const queue = new PQueue({ concurrency: PUT_PARALLELISM });
        await Promise.all(
          hashes.map((hash) =>
            queue.add(async () => {
              const loc = where.get(hash);
              if (!loc)
                throw new LoftError(
                  'INTERNAL',
                  `server asked for block ${hash} that this file does not have`,
                );
              const data = Buffer.alloc(loc.size);
              const { bytesRead } = await fh.read(data, 0, loc.size, loc.offset);
              if (bytesRead !== loc.size)
                throw new LoftError('CONFLICT', `${req.file} changed while it was uploaded`);
              await this.target.putBlock(hash, data, req.signal);
              sentBytes += data.length;
              sentBlocks++;
              this.sentBytes += data.length;
            }),
          ),
        );
      } finally {
        await fh.close();
      }
    };

    const unique = [...where.keys()];
    await send(await this.target.missingBlocks(unique, req.signal));
    const commit: CommitRequest = {
      ...(req.path !== undefined ? { path: req.path } : { id: req.id! }),
      parentRev: req.parentRev,
      blocks: chunked.blocks,
      size: chunked.size,
      mtime: req.mtime,
      mode: req.mode,
    };
    let result: { rev: number; node: Revision };
    try {
      result = await this.target.commit(commit, req.signal);
    } catch (err) {
      if (!isLoftError(err, 'BLOCK_UNUSABLE')) throw err;
      await send((err.details?.missing as string[] | undefined) ?? []);
      result = await this.target.commit(commit, req.signal);
    }
    return { ...result, sentBytes, sentBlocks, totalBlocks: chunked.blocks.length };
  }
}
