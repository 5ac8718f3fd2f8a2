// Per-block compression candidates for the block store, on 1 MiB blocks of text-like data (JS/TS/JSON
// sources from node_modules) and of random data. Prints ratio and single-thread MB/s, median of runs.
// Usage: node scripts/bench/compression.mjs [--runs 5] [--mib 32]   (--mib: MiB of each kind of data)
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import { parseFlags } from './lib/cli.js';
import { REPO_ROOT } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { machineLoad } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/compression.mjs [--runs N] [--mib N]';
const BLOCK = 1 << 20;

function corpus(size: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (total > size) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(js|ts|json|md)$/.test(e.name)) {
        const b = fs.readFileSync(p);
        parts.push(b);
        total += b.length;
      }
    }
  };
  walk(path.join(REPO_ROOT, 'node_modules'));
  return Buffer.concat(parts).subarray(0, size);
}

type Codec = (b: Buffer) => Buffer;
const brotli1: Codec = (b) =>
  zlib.brotliCompressSync(b, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length },
  });
const codecs: Record<string, [Codec, Codec]> = {
  'brotli q1 (node zlib)': [brotli1, (b) => zlib.brotliDecompressSync(b)],
  'deflate 1 (node zlib)': [(b) => zlib.deflateRawSync(b, { level: 1 }), (b) => zlib.inflateRawSync(b)],
  'zstd 1 (zstd-wasm)': [(b) => Buffer.from(compress(b, 1)), (b) => Buffer.from(decompress(b))],
  'zstd 3 (zstd-wasm)': [(b) => Buffer.from(compress(b, 3)), (b) => Buffer.from(decompress(b))],
};
// The upper middle, as this bench has always taken.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

runBench('compression', async () => {
  const { runs, mib } = parseFlags(process.argv.slice(2), { runs: 5, mib: 32 }, USAGE);
  const size = mib << 20;
  await init();
  console.log(`| data | codec | ratio | compress MB/s | decompress MB/s |`);
  console.log(`|---|---|---|---|---|`);
  for (const [name, data] of [
    ['text', corpus(size)],
    ['random', randomBytes(size)],
  ] as const) {
    for (const [codec, [enc, dec]] of Object.entries(codecs)) {
      const c: number[] = [];
      const d: number[] = [];
      let ratio = 0;
      for (let r = 0; r < runs; r++) {
        let out = 0;
        const packed: Buffer[] = [];
        let t0 = process.hrtime.bigint();
        for (let o = 0; o < data.length; o += BLOCK) {
          const z = enc(data.subarray(o, o + BLOCK));
          out += z.length;
          packed.push(z);
        }
        c.push(data.length / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
        t0 = process.hrtime.bigint();
        for (const z of packed) dec(z);
        d.push(data.length / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
        ratio = out / data.length;
      }
      console.log(
        `| ${name} | ${codec} | ${ratio.toFixed(3)} | ${median(c).toFixed(0)} | ${median(d).toFixed(0)} |`,
      );
    }
  }
  console.log(`\n${machineLoad()}`);
});
