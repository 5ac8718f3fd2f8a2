/** Largest block the server accepts (the client's chunker caps chunks at 4 MiB; this leaves room). */
export const MAX_BLOCK_SIZE = 8 * 1024 * 1024;
/** Most hashes one "which blocks are missing" request may ask about. */
export const MAX_HASHES_PER_REQUEST = 100_000;
/** Largest journal page. */
export const MAX_CHANGES_LIMIT = 10_000;
//# sourceMappingURL=protocol.js.map