// Raw buffers for the bindings. Every pointer returned here is 16-byte
// aligned (the TLSF allocator's block alignment) and must be released with
// `free`. Kernels never allocate memory that outlives one call.

/** Allocates `bytes` bytes of linear memory and returns the pointer. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Releases a pointer returned by `alloc`. */
export function free(ptr: usize): void {
  heap.free(ptr);
}
