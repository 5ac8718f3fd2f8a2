/** Worker thread body: chunks and hashes files on request (see ChunkWorkerPool). */
import { parentPort } from 'node:worker_threads';
import { chunkFile } from './chunk-file.js';
import type { ChunkParams } from './streaming-chunker.js';

interface Request {
  id: number;
  path: string;
  params?: ChunkParams;
  /** Post each window's final blocks as they are found (`{id, blocks}`). */
  stream?: boolean;
}

/** Jobs under way, so that `{cancel: id}` can stop one between windows. */
const running = new Map<number, AbortController>();

parentPort!.on('message', (req: Request | { cancel: number }) => {
  if ('cancel' in req) return void running.get(req.cancel)?.abort();
  const abort = new AbortController();
  running.set(req.id, abort);
  const onBlocks = req.stream
    ? (blocks: unknown[]) => parentPort!.postMessage({ id: req.id, blocks })
    : undefined;
  chunkFile(req.path, req.params, { onBlocks, signal: abort.signal })
    .then(
      (result) => parentPort!.postMessage({ id: req.id, result }),
      (err: Error & { code?: string }) =>
        parentPort!.postMessage({ id: req.id, error: { message: err.message, code: err.code } }),
    )
    .finally(() => running.delete(req.id));
});
