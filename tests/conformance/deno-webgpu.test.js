// The Deno WebGPU conformance runner: the corpus cases of every op with a
// WGSL path (WEBGPU_OPS in runner.js) on createFavor({ backend: "webgpu" }),
// through Deno's own navigator.gpu with no flag. On this project's test
// machines the adapter is lavapipe, Mesa's software Vulkan driver from
// Debian's mesa-vulkan-drivers; tests/runtimes/deno.mjs points
// VK_DRIVER_FILES at it. A software adapter proves correctness only, so
// nothing here measures speed.
//
// When Deno finds no adapter, every case is registered as ignored and its
// name carries the reason; deno.mjs reports those reasons with the skips.

import * as favorWasm from "favor-wasm";
import { WEBGPU_OPS, backendKey, checkCorpus, runCase } from "./runner.js";

const { createFavor } = favorWasm;
const here = new URL(".", import.meta.url);
const corpus = JSON.parse(await Deno.readTextFile(new URL("corpus.json", here)));
const tolerances = JSON.parse(await Deno.readTextFile(new URL("tolerances.json", here)));
checkCorpus(corpus, tolerances);
const cases = corpus.cases.filter((testCase) => WEBGPU_OPS.includes(testCase.op));

/** Returns null when navigator.gpu gives an adapter, else why it does not. */
async function adapterProblem() {
  const gpu = globalThis.navigator?.gpu;
  if (gpu === undefined) return "navigator.gpu is undefined in this Deno";
  try {
    const adapter = await gpu.requestAdapter();
    if (adapter === null) return "navigator.gpu.requestAdapter() returned null (install mesa-vulkan-drivers for lavapipe)";
    return null;
  } catch (error) {
    return `navigator.gpu.requestAdapter() threw ${error?.message ?? String(error)}`;
  }
}

const problem = await adapterProblem();
// The device and its pipelines live for the whole file, so the per-test resource and op sanitizers are off.
const options = { sanitizeResources: false, sanitizeOps: false };
let favor;

if (problem === null) {
  Deno.test({
    name: "webgpu backend opens on Deno's adapter",
    ...options,
    async fn() {
      favor ??= await createFavor({ backend: "webgpu" });
      if (backendKey(favor) !== "webgpu") throw new Error(`backend key is ${backendKey(favor)}, expected webgpu`);
      if (!tolerances.backends.webgpu) throw new Error("the tolerance table has no webgpu row");
      console.log(`adapter: ${favor.info.gpu.description || favor.info.gpu.vendor || "unnamed"}`);
    },
  });
}

for (const testCase of cases) {
  Deno.test({
    name: problem === null
      ? `conformance (deno, webgpu) ${testCase.id}`
      : `conformance (deno, webgpu) ${testCase.id} [skipped: ${problem}]`,
    ignore: problem !== null,
    ...options,
    async fn() {
      favor ??= await createFavor({ backend: "webgpu" });
      const result = await runCase(favor, testCase, tolerances);
      if (!result.ok) throw new Error(result.message);
    },
  });
}
