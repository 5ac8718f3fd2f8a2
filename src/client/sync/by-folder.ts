import { isLoftError } from '../../shared/errors.js';

/**
 * Places a new node inside its folder by id when `byFolder` is given (it follows that folder
 * wherever another device moved it); by path when not, or when the folder is gone there
 * (NOT_FOUND), which brings the folders above it back.
 */
export function byFolderOrPath<T>(
  byFolder: false | (() => Promise<T>),
  byPath: () => Promise<T>,
): Promise<T> {
  if (!byFolder) return byPath();
  return byFolder().catch((err: unknown) => {
    if (isLoftError(err, 'NOT_FOUND')) return byPath();
    throw err;
  });
}
