/**
 * Imported by test files that run drives in-process. After such a run, Node 20 was seen (about one
 * run in ten of a long randomized set) to spin forever at 100% CPU in its exit-time cleanup
 * (node::Environment::CleanupHandles, called from FreeEnvironment, with no libuv handle or request
 * left: gdb on the stuck process), after every test had passed and its output was written; tap then
 * reports the file as timed out. `loft mount` and `loft serve` end with process.exit(), which skips
 * that cleanup; so do these tests: once the 'exit' event has run, the process exits with its code.
 * Writes to pipes and files are synchronous on Linux, so no TAP output is lost.
 */
// Registered once the test file's imports (tap among them) have run, so that every other 'exit'
// listener (tap's included) runs first and the exit code is final.
setImmediate(() => {
  process.on('exit', (code) => {
    (process as unknown as { reallyExit(code: number): never }).reallyExit(code);
  });
});
