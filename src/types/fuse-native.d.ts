// Minimal typings for fuse-native 2.2 (the package ships none); only what src/client/fuse uses.
declare module 'fuse-native' {
  type Cb = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
  export interface FuseOps {
    [op: string]: ((...args: any[]) => void) | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  export interface FuseOptions {
    timeout?: number | false | Record<string, number | false>;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    autoCache?: boolean;
    kernelCache?: boolean;
    attrTimeout?: number;
    entryTimeout?: number;
    fsname?: string;
    subtype?: string;
    maxRead?: number;
    defaultPermissions?: boolean;
    allowOther?: boolean;
  }
  class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions);
    mnt: string;
    opts: FuseOptions;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    _fuseOptions(): string;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static [errno: string]: unknown;
  }
  export default Fuse;
  export type { Cb };
}
