// Chunk + hash throughput of the write path (FastCDC 256K/1M/4M + SHA-256) against the machine's
// limits on the same data: reading the file, SHA-256 alone, FastCDC alone. Medians of --runs.
// Usage: node scripts/bench/chunk.mjs [--runs 5] [--size 1024]   (size in MiB; needs npm run build)
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dist = new URL('../../dist/src/client/chunk/', import.meta.url);
if (!existsSync(new URL('chunk-file.js', dist))) {
  console.error('loft bench: dist/ is missing; run npm run build first');
  process.exit(2);
}
const { chunkFile } = await import(new URL('chunk-file.js', dist));
const { ChunkWorkerPool } = await import(new URL('chunk-worker-pool.js', dist));
const { chunkStarts, DEFAULT_CHUNK_PARAMS } = await import(new URL('streaming-chunker.js', dist));

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('--runs', 5);
const sizeMiB = arg('--size', 1024);
const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-chunk-bench-'));
const file = path.join(dir, 'data.bin');
try {
  const data = randomBytes(sizeMiB * 1024 * 1024);
  writeFileSync(file, data);
  const mb = data.length / 1e6;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = async (fn) => {
    const t0 = process.hrtime.bigint();
    await fn();
    return mb / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const rows = {
    'read the file (page cache)': () => readFileSync(file).length,
    'SHA-256 alone (1 MiB pieces, one thread)': () => {
      for (let o = 0; o < data.length; o += 1 << 20)
        createHash('sha256')
          .update(data.subarray(o, o + (1 << 20)))
          .digest();
    },
    'FastCDC alone (whole buffer in wasm)': () => chunkStarts(data, DEFAULT_CHUNK_PARAMS).length,
    'Loft chunkFile: streaming chunk + hash': () => chunkFile(file),
    'Loft ChunkWorkerPool (worker thread, started beforehand)': () => pool.chunk(file),
  };
  const pool = new ChunkWorkerPool(1);
  await pool.chunk(file); // start the worker and load its wasm outside the timings
  console.log(`Chunk + hash, ${sizeMiB} MiB random file, ${runs} runs (median MB/s)\n`);
  console.log('| what | median MB/s | runs |');
  console.log('|---|---:|---|');
  for (const [name, fn] of Object.entries(rows)) {
    const xs = [];
    for (let r = 0; r < runs; r++) xs.push(await time(fn));
    console.log(`| ${name} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`);
  }
  await pool.close();
  console.log(`\nmachine: node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
