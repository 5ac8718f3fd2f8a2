/**
 * Imported by test files that run drives in-process. After such a run, Node 20 was seen (about one
 * run in ten of a long randomized set) to spin forever at 100% CPU in its exit-time cleanup
 * (node::Environment::CleanupHandles, called from FreeEnvironment, with no libuv handle or request
 * left: gdb on the stuck process), after every test had passed and its output was written; tap then
 * reports the file as timed out. `loft mount` and `loft serve` end with process.exit(), which skips
 * that cleanup; so do these tests: once the 'exit' event has run, the process exits with its code.
 * Writes to pipes and files are synchronous on Linux, so no TAP output is lost.
 */
process.on('exit', (code) => {
    process.reallyExit(code);
});
export {};
//# sourceMappingURL=exit-promptly.js.map