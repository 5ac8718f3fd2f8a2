// Chunk + hash throughput of the write path (FastCDC 256K/1M/4M + SHA-256) against the machine's
// limits on the same data: reading the file, SHA-256 alone, FastCDC alone; each chunking engine
// (chunk/cdc.ts: the binding's and fastcdc-wasm) in the same run. Medians of --runs.
// Usage: node scripts/bench/chunk.mjs [--runs 5] [--size 1024]   (size in MiB; needs npx tsc -p .)
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chunkFile } from '../../src/client/chunk/chunk-file.js';
import { ChunkWorkerPool } from '../../src/client/chunk/chunk-worker-pool.js';
import { defaultCdc, nativeCdc, wasmCdc } from '../../src/client/chunk/cdc.js';
import { DEFAULT_CHUNK_PARAMS } from '../../src/client/chunk/streaming-chunker.js';
import { parseFlags } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { machineLoad } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/chunk.mjs [--runs N] [--size MiB]';

runBench('chunk', async ({ work }) => {
  const { runs, size: sizeMiB } = parseFlags(process.argv.slice(2), { runs: 5, size: 1024 }, USAGE);
  const file = path.join(work, 'data.bin');
  const data = randomBytes(sizeMiB * 1024 * 1024);
  writeFileSync(file, data);
  const mb = data.length / 1e6;
  // The upper middle, as this bench has always taken.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const time = async (fn: () => unknown) => {
    const t0 = process.hrtime.bigint();
    await fn();
    return mb / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const pool = new ChunkWorkerPool(1);
  const rows: Record<string, () => unknown> = {
    'read the file (page cache)': () => readFileSync(file).length,
    'SHA-256 alone (1 MiB pieces, one thread)': () => {
      for (let o = 0; o < data.length; o += 1 << 20)
        createHash('sha256')
          .update(data.subarray(o, o + (1 << 20)))
          .digest();
    },
    'FastCDC alone, fastcdc-wasm (whole buffer)': () => wasmCdc.starts(data, DEFAULT_CHUNK_PARAMS).length,
    'Loft chunkFile, fastcdc-wasm: streaming chunk + hash': () => chunkFile(file, undefined, { cdc: wasmCdc }),
  };
  const native = nativeCdc();
  if (native) {
    rows['FastCDC alone, native (whole buffer)'] = () => native.starts(data, DEFAULT_CHUNK_PARAMS).length;
    rows['Loft chunkFile, native: streaming chunk + hash'] = () => chunkFile(file, undefined, { cdc: native });
  }
  rows[`Loft ChunkWorkerPool (worker thread, started beforehand; ${defaultCdc().kind})`] = () =>
    pool.chunk(file);
  try {
    await pool.chunk(file); // start the worker and load its wasm outside the timings
    console.log(`Chunk + hash, ${sizeMiB} MiB random file, ${runs} runs (median MB/s)\n`);
    console.log('| what | median MB/s | runs |');
    console.log('|---|---:|---|');
    for (const [name, fn] of Object.entries(rows)) {
      const xs: number[] = [];
      for (let r = 0; r < runs; r++) xs.push(await time(fn));
      console.log(`| ${name} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`);
    }
  } finally {
    await pool.close();
  }
  console.log(
    `\nmachine: node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores; ${machineLoad()}`,
  );
});
