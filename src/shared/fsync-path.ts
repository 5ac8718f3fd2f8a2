import fs from 'node:fs/promises';

/** fsync(2) of a file or a folder by path (a folder: the entries made, renamed or removed in it). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
