/**
 * tap's `after` script (package.json "tap.after"): stops the PostgreSQL cluster the test files of
 * this run started (test/helpers/postgres.ts), if any. It runs as a child of the tap runner, like
 * the test files, so the runner's pid names the cluster.
 */
import { clusterDir, stopCluster } from './postgres.js';

stopCluster(clusterDir(process.ppid));
