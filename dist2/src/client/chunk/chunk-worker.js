/** Worker thread body: chunks and hashes files on request (see ChunkWorkerPool). */
import { parentPort } from 'node:worker_threads';
import { chunkFile } from './chunk-file.js';
parentPort.on('message', (req) => {
    chunkFile(req.path, req.params).then((result) => parentPort.postMessage({ id: req.id, result }), (err) => parentPort.postMessage({ id: req.id, error: { message: err.message, code: err.code } }));
});
//# sourceMappingURL=chunk-worker.js.map