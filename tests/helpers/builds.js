// Loads one Favor instance per WASM build this engine runs, so every unit
// test can run the same cases on scalar, simd and relaxed binaries. Node 20
// runs relaxed SIMD only with --experimental-wasm-relaxed-simd, which
// scripts/test.mjs passes; without it the relaxed build is reported as skipped.

import { createFavor } from "../../dist/index.js";
import { supportedBuilds } from "../../dist/backends/wasm/features.js";

export const ALL_BUILDS = ["scalar", "simd", "relaxed"];

const cache = new Map();

/** Returns a Favor instance for `build`, or null when the engine cannot run it. */
export async function favorFor(build) {
  if (!supportedBuilds()[build]) return null;
  if (!cache.has(build)) cache.set(build, await createFavor({ build }));
  return cache.get(build);
}

/** Names the builds the engine cannot run, for skip messages. */
export function skipReason(build) {
  return supportedBuilds()[build] ? false : `the engine rejects the ${build} build (run through npm test, which enables relaxed SIMD)`;
}
