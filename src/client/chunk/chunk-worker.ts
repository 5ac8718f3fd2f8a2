/** Worker thread body: chunks and hashes files on request (see ChunkWorkerPool). */
import { parentPort } from 'node:worker_threads';
import { chunkFile } from './chunk-file.js';
import { Frontier } from './frontier.js';
import type { ChunkParams } from './streaming-chunker.js';

interface Request {
  id: number;
  path: string;
  params?: ChunkParams;
  /** Post each window's final blocks as they are found (`{id, blocks}`). */
  stream?: boolean;
  /** The file is still being written: how far it may be read (moves come as `{frontier: id}`). */
  frontier?: { at: number; final: boolean };
}

type Move = { frontier: number; at: number; final: boolean };

/** Jobs under way, so that `{cancel: id}` can stop one between windows (or while it waits). */
const running = new Map<number, { abort: AbortController; frontier?: Frontier }>();

parentPort!.on('message', (msg: Request | { cancel: number } | Move) => {
  if ('cancel' in msg) return void running.get(msg.cancel)?.abort.abort();
  if (typeof msg.frontier === 'number') {
    const move = msg as Move;
    const f = running.get(move.frontier)?.frontier;
    if (move.final) f?.finish(move.at);
    else f?.advance(move.at);
    return;
  }
  const req = msg as Request;
  const abort = new AbortController();
  let frontier: Frontier | undefined;
  if (req.frontier) {
    const f = (frontier = new Frontier());
    if (req.frontier.final) f.finish(req.frontier.at);
    else f.advance(req.frontier.at);
    abort.signal.addEventListener('abort', () => f.fail(new Error('chunking stopped')), { once: true });
  }
  running.set(req.id, { abort, frontier });
  const onBlocks = req.stream
    ? (blocks: unknown[]) => parentPort!.postMessage({ id: req.id, blocks })
    : undefined;
  const id = req.id;
  chunkFile(req.path, req.params, { onBlocks, signal: abort.signal, frontier })
    .then(
      (result) => parentPort!.postMessage({ id, result }),
      (err: Error & { code?: string }) =>
        parentPort!.postMessage({ id, error: { message: err.message, code: err.code } }),
    )
    .finally(() => running.delete(id));
});
