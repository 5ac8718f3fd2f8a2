/** Worker thread body: chunks and hashes files on request (see ChunkWorkerPool). */
import { parentPort } from 'node:worker_threads';
import { chunkFile } from './chunk-file.js';
import type { ChunkParams } from './streaming-chunker.js';

interface Request {
  id: number;
  path: string;
  params?: ChunkParams;
}

parentPort!.on('message', (req: Request) => {
  chunkFile(req.path, req.params).then(
    (result) => parentPort!.postMessage({ id: req.id, result }),
    (err: Error & { code?: string }) =>
      parentPort!.postMessage({ id: req.id, error: { message: err.message, code: err.code } }),
  );
});
