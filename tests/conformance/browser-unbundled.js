// The Chromium conformance page without a bundler: the page's import map
// points "favor-wasm" at the package's browser entry, which then finds its
// own .wasm files through import.meta.url, as it does when served from a
// CDN. Runs the corpus with those packaged binaries.

import * as favorWasm from "favor-wasm";
import { runCorpus } from "./runner.js";
import { runSourceChecks } from "./sources.js";

async function fetchJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`fetching ${path} failed with HTTP ${response.status}`);
  return response.json();
}

globalThis.favorConformance = async () => {
  const { createFavor } = favorWasm;
  const [corpus, tolerances] = await Promise.all([fetchJson("corpus.json"), fetchJson("tolerances.json")]);
  const corpusSummary = await runCorpus({ corpus, tolerances, createFavor });
  const sourceSummary = await runSourceChecks(createFavor, [{ name: "packaged", options: () => ({ build: "scalar" }) }]);
  return { corpus: corpusSummary, sources: sourceSummary, exports: Object.keys(favorWasm).sort() };
};
