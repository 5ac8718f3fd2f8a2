/**
 * ../drive-enospc.test.ts on the second FUSE backend, fuse-native (libfuse 2): every mount suite runs on
 * both bindings (the default, Loft's libfuse 3 binding, runs the file itself). MountProcess checks
 * that each mount really went through the backend named here.
 */
process.env.LOFT_FUSE_BACKEND = 'fuse-native';
await import('../drive-enospc.test.js');
