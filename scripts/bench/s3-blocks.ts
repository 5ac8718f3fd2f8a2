// The S3 block store on the tests' real S3 server (Ceph RGW, test/helpers/s3.ts; needs a build and
// scripts/setup): the server's start time, then per block size the median latency and the client CPU
// per operation of S3BlockStore (aws4 + undici, src/blockstore/s3-client.ts; it includes the store's
// own work: SHA-256 check and piece table on put) next to the same object calls through
// @aws-sdk/client-s3, the client the store was first written with.
// Usage: node scripts/bench/s3-blocks.mjs [--n 40]
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sha256hex } from '../../src/shared/hash.js';
import { startS3 } from '../../test/helpers/s3.js';
import { parseFlags } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { track } from './lib/proc.js';
import { machineLoad } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/s3-blocks.mjs [--n N]';

runBench('s3-blocks', async () => {
  const { n } = parseFlags(process.argv.slice(2), { n: 40 }, USAGE);
  // Imported here to time the module's load (the AWS SDK it replaced was slow to load).
  let t0 = performance.now();
  const { parseS3Url, S3BlockStore } = await import('../../src/blockstore/s3-block-store.js');
  const storeImportMs = performance.now() - t0;
  const s3 = await startS3();
  track({ stop: async () => s3.stop() });
  Object.assign(process.env, s3.env);
  const bucket = await s3.bucket();
  const store = await S3BlockStore.open({ location: parseS3Url(s3.url(bucket, 'sdk')), compression: 'none' });
  console.log(`radosgw up in ${s3.startMs} ms; store module import ${storeImportMs.toFixed(0)} ms`);
  const sdk = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const viaSdk = async (
    method: 'PUT' | 'GET',
    key: string,
    body?: Buffer,
    range?: string,
  ): Promise<unknown> => {
    if (method === 'PUT') return sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const r = await sdk.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}) }),
    );
    return r.Body?.transformToByteArray();
  };

  const measure = async (fn: (i: number) => Promise<unknown>): Promise<string> => {
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      t0 = performance.now();
      await fn(i);
      times.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    return `${times[times.length >> 1]!.toFixed(1)} ms (cpu ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms)`;
  };

  try {
    console.log('size     op        S3BlockStore (aws4 + undici)  @aws-sdk/client-s3');
    for (const size of [4096, 1 << 20, 4 << 20]) {
      const blocks = Array.from({ length: n }, () => randomBytes(size));
      const hashes = blocks.map((b) => sha256hex(b));
      const rows: [string, (i: number) => Promise<unknown>, (i: number) => Promise<unknown>][] = [
        [
          'put',
          (i) => store.put(hashes[i]!, blocks[i]!),
          (i) => viaSdk('PUT', `raw/${hashes[i]}`, blocks[i]),
        ],
        ['get', (i) => store.get(hashes[i]!), (i) => viaSdk('GET', `raw/${hashes[i]}`)],
        [
          'piece',
          (i) => store.getRange(hashes[i]!, 0, Math.min(65536, size)),
          (i) => viaSdk('GET', `raw/${hashes[i]}`, undefined, `bytes=0-${Math.min(65536, size) - 1}`),
        ],
      ];
      for (const [op, viaStore, raw] of rows) {
        const a = await measure(viaStore);
        const b = await measure(raw);
        console.log(`${String(size >> 10).padStart(5)} KiB ${op.padEnd(9)} ${a.padEnd(29)} ${b}`);
      }
    }
    console.log(machineLoad());
  } finally {
    await store.close();
    sdk.destroy();
  }
});
