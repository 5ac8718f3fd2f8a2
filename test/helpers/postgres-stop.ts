/**
 * tap's `after` script (package.json "tap.after"): stops the PostgreSQL cluster the test files of
 * this run started (test/helpers/postgres.ts), if any. It runs as a child of the tap runner, like
 * the test files, so the runner's pid names the cluster. It also kills the S3 servers of test files
 * that died before their teardown (test/helpers/s3-sweep.ts).
 */
import { clusterDir, stopCluster } from './postgres.js';
import { sweepS3Orphans } from './s3-sweep.js';

stopCluster(clusterDir(process.ppid));
sweepS3Orphans();
