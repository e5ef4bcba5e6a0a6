// Feature detection for the WASM builds, done once with tiny validated
// modules so no full binary has to be downloaded to find out what the
// engine supports. Each probe is the output of asc 0.27.37 for one exported
// function: `f32x4.add(a, a)` for SIMD128 and `f32x4.relaxed_madd(a, a, a)`
// for relaxed SIMD (opcode 0xfd 0x105).

const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 11, 1, 9, 0, 32, 0,
  32, 0, 253, 228, 1, 11,
]);

const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 13, 1, 11, 0, 32, 0,
  32, 0, 32, 0, 253, 133, 2, 11,
]);

/** The three binaries built from one AssemblyScript source, fastest first. */
export type WasmBuild = "relaxed" | "simd" | "scalar";

export const WASM_BUILDS: readonly WasmBuild[] = ["relaxed", "simd", "scalar"];

/** Reports which builds this engine can compile. */
export function supportedBuilds(): Record<WasmBuild, boolean> {
  return {
    relaxed: WebAssembly.validate(RELAXED_SIMD_PROBE),
    simd: WebAssembly.validate(SIMD_PROBE),
    scalar: true,
  };
}

/** Returns the fastest build the engine supports. */
export function bestBuild(): WasmBuild {
  const supported = supportedBuilds();
  return WASM_BUILDS.find((build) => supported[build]) ?? "scalar";
}
