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
import { isLoftError, LoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';
import type { ChunkedFile } from '../chunk/chunk-file.js';
import type { CommitRequest } from '../remote/remote-client.js';
import { UploadScheduler } from './upload-scheduler.js';

/** Files up to this size upload ahead of larger ones. */
const SMALL_FILE = 4 * 1024 * 1024;

export interface UploadTarget {
  missingBlocks(hashes: string[], signal?: AbortSignal): Promise<string[]>;
  putBlock(hash: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  commit(req: CommitRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
}

export interface Chunker {
  chunk(path: string): Promise<ChunkedFile>;
}

export interface UploadRequest extends UploadDestination {
  /** Local file holding the complete new content. */
  file: string;
}

/** Where a new revision goes and what it carries besides its content. */
export interface UploadDestination {
  /** A path (create or replace), a node id, or a new name inside the folder `parentId`. */
  path?: string;
  id?: number;
  parentId?: number;
  name?: string;
  parentRev: number | null;
  mtime: number;
  mode: number;
  signal?: AbortSignal;
}

/** Content ready to upload: its chunking, and a way to read any chunk's bytes. */
export interface UploadContent {
  blocks: readonly { hash: string; size: number; offset: number }[];
  size: number;
  read(offset: number, size: number): Promise<Buffer>;
  /** Releases what `read` holds open. */
  close?(): Promise<void>;
  /** The committed blocks as they are (a chmod, a utimens, a retried commit): nothing new to read. */
  metadataOnly?: boolean;
}

export interface UploadResult {
  rev: number;
  node: Revision;
  sentBytes: number;
  sentBlocks: number;
  totalBlocks: number;
  blocks: BlockRef[];
}

export interface UploadProgress {
  /** Bytes the server asked for, in total and sent so far (exact payload bytes). */
  toSend: number;
  sent: number;
}

export class Uploader {
  /** Block payload bytes sent since start. */
  sentBytes = 0;

  constructor(
    private readonly target: UploadTarget,
    private readonly chunker: Chunker,
    /** Shared by all uploads (adaptive concurrency, bandwidth cap); memory ≈ concurrency × 4 MiB. */
    private readonly scheduler: UploadScheduler = new UploadScheduler(),
  ) {}

  /** Chunks a local file and uploads it. */
  async upload(req: UploadRequest): Promise<UploadResult> {
    const chunked = await this.chunker.chunk(req.file);
    const blocks: { hash: string; size: number; offset: number }[] = [];
    let at = 0;
    for (const b of chunked.blocks) {
      blocks.push({ ...b, offset: at });
      at += b.size;
    }
    const fh = await fs.open(req.file, 'r');
    try {
      const read = async (offset: number, size: number) => {
        const data = Buffer.alloc(size);
        const { bytesRead } = await fh.read(data, 0, size, offset);
        if (bytesRead !== size) throw new LoftError('CONFLICT', `${req.file} changed while it was uploaded`);
        return data;
      };
      return await this.uploadContent({ blocks, size: chunked.size, read }, req);
    } finally {
      await fh.close();
    }
  }

  /**
   * Sends the blocks the server lacks, then commits. `onBlock` sees every block's bytes as they are
   * sent (the drive keeps them in its cache); `progress` is updated as bytes go out.
   */
  async uploadContent(
    content: UploadContent,
    dest: UploadDestination,
    progress: UploadProgress = { toSend: 0, sent: 0 },
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<UploadResult> {
    const sent = await this.sendBlocks(content, dest.signal, progress, onBlock);
    const r = await this.commitContent(content, dest, progress, onBlock);
    return { ...r, sentBytes: r.sentBytes + sent.bytes, sentBlocks: r.sentBlocks + sent.blocks };
  }

  /** Asks which blocks the server lacks and sends them. */
  async sendBlocks(
    content: UploadContent,
    signal?: AbortSignal,
    progress: UploadProgress = { toSend: 0, sent: 0 },
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    const hashes = [...new Set(content.blocks.map((b) => b.hash))];
    return this.#send(content, await this.target.missingBlocks(hashes, signal), signal, progress, onBlock);
  }

  /** Sends those of the content's blocks that `missing` names (asked for many files at once). */
  async sendMissing(
    content: UploadContent,
    missing: ReadonlySet<string>,
    signal?: AbortSignal,
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    const hashes = [...new Set(content.blocks.map((b) => b.hash))].filter((h) => missing.has(h));
    return this.#send(content, hashes, signal, { toSend: 0, sent: 0 }, onBlock);
  }

  /** Of `hashes`, those the server asks for (the question `sendBlocks` asks for one file). */
  missingBlocks(hashes: string[], signal?: AbortSignal): Promise<string[]> {
    return this.target.missingBlocks(hashes, signal);
  }

  /** Commits content whose blocks were sent; re-sends, once, blocks the server says it lacks. */
  async commitContent(
    content: UploadContent,
    dest: UploadDestination,
    progress: UploadProgress = { toSend: 0, sent: 0 },
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<UploadResult> {
    const blocks = content.blocks.map((b) => ({ hash: b.hash, size: b.size }));
    const commit: CommitRequest = {
      ...(dest.path !== undefined
        ? { path: dest.path }
        : dest.parentId !== undefined
          ? { parentId: dest.parentId, name: dest.name! }
          : { id: dest.id! }),
      parentRev: dest.parentRev,
      blocks,
      size: content.size,
      mtime: dest.mtime,
      mode: dest.mode,
    };
    let result: { rev: number; node: Revision };
    let sent = { bytes: 0, blocks: 0 };
    try {
      result = await this.target.commit(commit, dest.signal);
    } catch (err) {
      if (!isLoftError(err, 'BLOCK_UNUSABLE')) throw err;
      const missing = (err.details?.missing as string[] | undefined) ?? [];
      sent = await this.#send(content, missing, dest.signal, progress, onBlock);
      result = await this.target.commit(commit, dest.signal);
    }
    return { ...result, sentBytes: sent.bytes, sentBlocks: sent.blocks, totalBlocks: blocks.length, blocks };
  }

  async #send(
    content: UploadContent,
    hashes: string[],
    signal: AbortSignal | undefined,
    progress: UploadProgress,
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    const where = new Map<string, { offset: number; size: number }>();
    for (const b of content.blocks) where.set(b.hash, { offset: b.offset, size: b.size });
    for (const h of hashes) progress.toSend += where.get(h)?.size ?? 0;
    let bytes = 0;
    let blocks = 0;
    // Small files go first: a quick save is not stuck behind a bulk upload.
    const priority = content.size <= SMALL_FILE ? 1 : 0;
    await Promise.all(
      hashes.map((hash) =>
        this.scheduler.run(
          where.get(hash)?.size ?? 0,
          async () => {
            const loc = where.get(hash);
            if (!loc)
              throw new LoftError('INTERNAL', `server asked for block ${hash} that this file does not have`);
            const data = await content.read(loc.offset, loc.size);
            await this.target.putBlock(hash, data, signal);
            bytes += data.length;
            blocks++;
            this.sentBytes += data.length;
            progress.sent += data.length;
            onBlock?.(hash, data);
          },
          priority,
        ),
      ),
    );
    return { bytes, blocks };
  }
}
