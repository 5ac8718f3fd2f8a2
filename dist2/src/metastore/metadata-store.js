export {};
//# sourceMappingURL=metadata-store.js.map