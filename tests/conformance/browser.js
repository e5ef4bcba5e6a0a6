// The Chromium conformance page, bundled by esbuild for the browser (so
// "favor-wasm" resolves to the browser entry) with the .wasm files emitted
// by the file loader, whose URLs reach createFavor through `wasm`. That is
// the setup docs/RUNTIMES.md recommends for bundled apps. The runner in
// tests/runtimes/browser.mjs calls favorConformance() and reads its result.

import * as favorWasm from "favor-wasm";
import relaxedUrl from "favor-wasm/wasm/relaxed.wasm";
import scalarUrl from "favor-wasm/wasm/scalar.wasm";
import simdUrl from "favor-wasm/wasm/simd.wasm";
import { WEBGPU_OPS, runCase, runCorpus } from "./runner.js";
import { runSourceChecks, standardSources } from "./sources.js";

async function fetchJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`fetching ${path} failed with HTTP ${response.status}`);
  return response.json();
}

globalThis.favorConformance = async () => {
  const { createFavor } = favorWasm;
  const [corpus, tolerances] = await Promise.all([fetchJson("corpus.json"), fetchJson("tolerances.json")]);
  const wasm = { relaxed: relaxedUrl, simd: simdUrl, scalar: scalarUrl };
  const corpusSummary = await runCorpus({ corpus, tolerances, createFavor, favorOptions: { wasm } });

  const binaryUrl = new URL(scalarUrl, document.baseURI).href;
  const sources = standardSources({
    binaryUrl,
    readBytes: async () => new Uint8Array(await (await fetch(binaryUrl)).arrayBuffer()),
    fetchBinary: () => fetch(binaryUrl),
    relativeString: scalarUrl,
    extra: [
      { name: "missing-url", options: () => ({ build: "scalar", wasm: "no-such.wasm" }), rejects: /failed with HTTP 404/ },
    ],
  }).filter((source) => source.name !== "packaged"); // checked on the unbundled page
  const sourceSummary = await runSourceChecks(createFavor, sources);
  const probe = await createFavor({ wasm });

  // The cases of the ops that run on the WebGPU backend (SwiftShader under
  // --enable-unsafe-webgpu). Every other op runs on WASM there and is counted
  // as skipped, with one line per op in skipReasons. No adapter is a failure
  // with the reason, never a skip.
  const webgpu = { passed: 0, failed: 0, skipped: 0, failures: [], skipReasons: [] };
  const gpuOps = new Set(WEBGPU_OPS);
  const wasmOps = new Map();
  for (const testCase of corpus.cases.filter((c) => !gpuOps.has(c.op))) {
    webgpu.skipped++;
    wasmOps.set(testCase.op, (wasmOps.get(testCase.op) ?? 0) + 1);
  }
  for (const [op, count] of wasmOps) webgpu.skipReasons.push(`${count} ${op} cases: ${op} runs on WASM, covered by the wasm-* rows`);
  try {
    const gpuFavor = await createFavor({ wasm, backend: "webgpu" });
    webgpu.adapter = gpuFavor.info.gpu;
    for (const testCase of corpus.cases.filter((c) => gpuOps.has(c.op))) {
      const result = await runCase(gpuFavor, testCase, tolerances);
      if (result.ok) webgpu.passed++;
      else {
        webgpu.failed++;
        webgpu.failures.push({ id: testCase.id, build: "webgpu", message: result.message });
      }
    }
  } catch (error) {
    webgpu.failed++;
    webgpu.failures.push({ id: "webgpu backend", build: "webgpu", message: error?.message ?? String(error) });
  }
  return {
    webgpu,
    corpus: corpusSummary,
    sources: sourceSummary,
    exports: Object.keys(favorWasm).sort(),
    supportedBuilds: probe.info.supportedBuilds,
  };
};
