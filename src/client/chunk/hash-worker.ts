/**
 * Worker thread body: SHA-256 of byte ranges of a shared buffer (see HashThread). chunkFile hands
 * it each window's final chunks and goes on chunking the next window meanwhile.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

interface Request {
  id: number;
  buffer: SharedArrayBuffer;
  /** Pairs of [offset, length] into `buffer`. */
  ranges: number[];
}

parentPort!.on('message', (req: Request) => {
  const bytes = new Uint8Array(req.buffer);
  const hashes: string[] = [];
  for (let i = 0; i < req.ranges.length; i += 2) {
    const at = req.ranges[i]!;
    hashes.push(
      createHash('sha256')
        .update(bytes.subarray(at, at + req.ranges[i + 1]!))
        .digest('hex'),
    );
  }
  parentPort!.postMessage({ id: req.id, hashes });
});
