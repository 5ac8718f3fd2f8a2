export {};
//# sourceMappingURL=block-store.js.map