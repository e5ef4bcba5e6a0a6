// Checks that createFavor loads the WASM binary from every kind of source
// the runtime supports. The kinds are a WebAssembly.Module, an ArrayBuffer,
// a typed array, a URL, a string URL, a Response, a Promise of a Response,
// a per-build map, and the package's own files (no `wasm` option). This is
// plain JavaScript shared by all runners. Each runner supplies the sources,
// because only it knows where the binary is and how to read it.

const KNOWN_A = new Float32Array([1, 2, 3, 4, 5, 6]);
const KNOWN_B = new Float32Array([7, 8, 9, 10, 11, 12]);
const KNOWN_C = [58, 64, 139, 154];

/**
 * Runs one check per entry of `sources`. Each entry is
 *   { name, options: () => createFavor options,
 *     rejects?: RegExp }   (the load must fail with a message matching it)
 * and a load that should work must produce a Favor whose matmul of a
 * known 2×3 by 3×2 product is exact. Returns
 * { passed, failed, skipped: 0, failures: [{ id, message }] }.
 */
export async function runSourceChecks(createFavor, sources) {
  const summary = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const source of sources) {
    const problem = await checkSource(createFavor, source);
    if (problem === null) {
      summary.passed++;
    } else {
      summary.failed++;
      summary.failures.push({ id: `source/${source.name}`, message: problem });
    }
  }
  return summary;
}

/** Returns null when the source behaves as expected, else what went wrong. */
export async function checkSource(createFavor, { options, rejects }) {
  let favor;
  try {
    favor = await createFavor(await options());
  } catch (error) {
    const message = `${error?.name}: ${error?.message}`;
    if (rejects && rejects.test(message)) return null;
    return `createFavor threw ${message}`;
  }
  if (rejects) return `createFavor loaded, but was expected to fail with ${rejects}`;
  try {
    const product = Array.from(await favor.matmul(KNOWN_A, KNOWN_B, { m: 2, k: 3, n: 2 }));
    if (product.join(",") !== KNOWN_C.join(",")) return `matmul returned ${product}, expected ${KNOWN_C}`;
  } catch (error) {
    return `matmul threw ${error?.name}: ${error?.message}`;
  }
  return null;
}

/**
 * Returns the standard list of sources for a runtime that can compile bytes.
 * `binaryUrl` is the absolute URL of the scalar binary, `fetchBinary`
 * returns a Promise of a Response for it (or null where fetch cannot reach
 * it), and `extra` adds runtime-specific entries.
 */
export function standardSources({ binaryUrl, readBytes, fetchBinary, relativeString, extra = [] }) {
  const scalar = (wasm) => ({ build: "scalar", wasm });
  const list = [
    { name: "packaged", options: () => ({ build: "scalar" }) },
    { name: "module", options: async () => scalar(await WebAssembly.compile(await readBytes())) },
    { name: "array-buffer", options: async () => {
      const bytes = await readBytes();
      return scalar(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } },
    { name: "uint8array", options: async () => scalar(await readBytes()) },
    { name: "url", options: () => scalar(new URL(binaryUrl)) },
    { name: "string-url", options: () => scalar(String(binaryUrl)) },
    { name: "per-build-map", options: () => ({ build: "scalar", wasm: { scalar: new URL(binaryUrl) } }) },
    { name: "per-build-map-missing", options: () => ({ build: "scalar", wasm: { simd: new URL(binaryUrl) } }),
      rejects: /wasm has no entry for the "scalar" build/ },
    { name: "wrong-build", options: () => ({ build: "simd", wasm: new URL(binaryUrl) }),
      rejects: /was compiled as "scalar"/ },
  ];
  if (relativeString !== undefined) list.push({ name: "relative-string", options: () => scalar(relativeString) });
  if (fetchBinary) {
    list.push({ name: "response", options: async () => scalar(await fetchBinary()) });
    list.push({ name: "promise-of-response", options: () => scalar(fetchBinary()) });
  }
  return [...list, ...extra];
}
