// The workerd conformance runner, as a Worker. tests/runtimes/workerd.mjs
// bundles it like wrangler does (so "favor-wasm" resolves to the workerd
// entry and the .wasm imports become precompiled modules), runs it in
// workerd through miniflare and requests /conformance. The response
// contains the corpus results, the WASM source checks and the entry's
// export names.

import * as favorWasm from "favor-wasm";
import relaxedModule from "favor-wasm/wasm/relaxed.wasm";
import scalarModule from "favor-wasm/wasm/scalar.wasm";
import simdModule from "favor-wasm/wasm/simd.wasm";
import corpus from "./corpus.json";
import tolerances from "./tolerances.json";
import { runCorpus } from "./runner.js";
import { runSourceChecks } from "./sources.js";

const NO_COMPILER = /workerd cannot compile WebAssembly at run time/;

function workerdSources() {
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  // Loopback addresses, never fetched: the workerd entry rejects URLs before reading them.
  const url = "http://127.0.0.1:9/favor.scalar.wasm";
  return [
    { name: "packaged", options: () => ({ build: "scalar" }) },
    { name: "module", options: () => ({ build: "scalar", wasm: scalarModule }) },
    { name: "per-build-map", options: () => ({ build: "simd", wasm: { relaxed: relaxedModule, simd: simdModule, scalar: scalarModule } }) },
    { name: "wrong-build", options: () => ({ build: "simd", wasm: scalarModule }), rejects: /was compiled as "scalar"/ },
    { name: "uint8array", options: () => ({ build: "scalar", wasm: bytes }), rejects: NO_COMPILER },
    { name: "array-buffer", options: () => ({ build: "scalar", wasm: bytes.buffer }), rejects: NO_COMPILER },
    { name: "url", options: () => ({ build: "scalar", wasm: new URL(url) }), rejects: NO_COMPILER },
    { name: "string-url", options: () => ({ build: "scalar", wasm: url }), rejects: NO_COMPILER },
    { name: "response", options: () => ({ build: "scalar", wasm: new Response(bytes) }), rejects: NO_COMPILER },
    { name: "promise-of-response", options: () => ({ build: "scalar", wasm: Promise.resolve(new Response(bytes)) }), rejects: NO_COMPILER },
  ];
}

export default {
  async fetch(request) {
    if (new URL(request.url).pathname !== "/conformance") return new Response("not found", { status: 404 });
    const { createFavor } = favorWasm;
    const corpusSummary = await runCorpus({ corpus, tolerances, createFavor });
    const sourceSummary = await runSourceChecks(createFavor, workerdSources());
    const probe = await createFavor();
    return Response.json({
      corpus: corpusSummary,
      sources: sourceSummary,
      exports: Object.keys(favorWasm).sort(),
      supportedBuilds: probe.info.supportedBuilds,
    });
  },
};
