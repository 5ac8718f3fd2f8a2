/**
 * Smoke runs (test/helpers/bench-smoke.ts) of the benches that run in one process (stores, chunker, codecs, the Vfs without FUSE, the S3
 * block store on the S3 suites' Ceph RGW).
 */
import t from 'tap';
import { smokeBench, type Smoke } from '../helpers/bench-smoke.js';

const SMOKES: Smoke[] = [
  {
    bench: 's3-blocks',
    args: ['--n', '2'],
    expect: [
      /^radosgw up in \d+ ms; store module import \d+ ms$/m,
      /^ 4096 KiB piece +[\d.]+ ms \(cpu [\d.]+ ms\) +[\d.]+ ms/m,
    ],
  },
  {
    bench: 'chunk',
    args: ['--runs', '1', '--size', '4'],
    expect: [
      /^\| what \| median MB\/s \| runs \|$/m,
      /^\| Loft chunkFile, fastcdc-wasm: streaming chunk \+ hash \| \d+ \| \d+ \|$/m,
      /^\| Loft chunkFile, native: streaming chunk \+ hash \| \d+ \| \d+ \|$/m,
      /^\| Loft ChunkWorkerPool \(worker thread, started beforehand; native\) \| \d+ \| \d+ \|$/m,
    ],
  },
  {
    bench: 'compression',
    args: ['--runs', '1', '--mib', '2'],
    expect: [
      /^\| text \| zstd 1 \(zstd-wasm\) \| [\d.]+ \| \d+ \| \d+ \|$/m,
      /^\| random \| deflate 1 \(node zlib\) \|/m,
    ],
  },
  {
    bench: 'vfs-ops',
    args: ['20'],
    expect: [/^create median [\d.]+ p90 [\d.]+ ms$/m, /^release median [\d.]+ p90 [\d.]+ ms$/m],
  },
  {
    bench: 'meta',
    args: ['--runs', '1', '--commits', '20', '--concurrency', '1'],
    expect: [/^sqlite +1 +\d+ +\d+ +[\d.]+ +[\d.]+$/m, /^postgres +1 +\d+ +\d+ +[\d.]+ +[\d.]+$/m],
  },
  {
    bench: 'search',
    args: ['--runs', '1', '--files', '1000'],
    expect: [
      /^SQLite: search over 1,000 files/m,
      /^8\+ chars, matches nothing \("zebra-zoo"\) +\| +0 \| +[\d.]+ \| +[\d.]+$/m,
    ],
  },
  {
    bench: 'content-search',
    args: ['--runs', '1', '--files', '50', '--kb', '4'],
    expect: [/^sqlite: indexed 50 files/m, /^matches nothing \(no_such_thing\) +\| +0 \|/m],
  },
  {
    bench: 'content-stall',
    args: ['--files', '40', '--conc', '4', '--big', '4'],
    expect: [/^40 files \(conc 4\): burst [\d.]+ s/m, /^ {2}index caught up [\d.]+ s after the burst/m],
  },
];

for (const smoke of SMOKES) t.test(`${smoke.bench} bench at its smoke size`, (t) => smokeBench(t, smoke));
