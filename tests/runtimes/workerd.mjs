// The workerd runner: bundles tests/conformance/worker.js from the consumer
// project (see consumer.mjs) the way wrangler does, runs it in workerd
// through miniflare on 127.0.0.1, and requests /conformance once. Then it
// starts the Worker example and checks one response.

import { join } from "node:path";
import { startExampleWorker } from "../../examples/worker/dev.mjs";
import { bundleWorker, startWorker } from "../../scripts/worker-bundle.mjs";
import { addCheck, addSummary, compareNames, emptySummary, publicNames } from "./consumer.mjs";

async function checkExample() {
  const example = await startExampleWorker();
  try {
    const response = await fetch(new URL("/?n=32", example.url));
    const body = await response.json();
    if (JSON.stringify(body.product) !== "[[58,64],[139,154]]") return `the example returned ${JSON.stringify(body)}`;
    if (body.timing?.n !== 32 || !(body.timing.ms >= 0)) return `the example's timing is ${JSON.stringify(body.timing)}`;
    const bad = await fetch(new URL("/?n=0", example.url));
    if (bad.status !== 400) return `?n=0 answered HTTP ${bad.status}, expected 400`;
    return null;
  } catch (error) {
    return error.message;
  } finally {
    await example.close();
  }
}

/** Runs the workerd suites; resolves to a summary. */
export async function runWorkerd({ consumerDir }) {
  const summary = emptySummary();
  let worker;
  try {
    const modules = await bundleWorker(join(consumerDir, "conformance", "worker.js"), join(consumerDir, "worker"));
    const wasmModules = modules.filter((module) => module.type === "CompiledWasm").map((module) => module.path.split("/").pop()).sort();
    addCheck(summary, "bundle keeps the .wasm files as modules",
      compareNames(wasmModules, ["favor.relaxed.wasm", "favor.scalar.wasm", "favor.simd.wasm"], "CompiledWasm modules"));
    worker = await startWorker(modules);
    const response = await worker.miniflare.dispatchFetch(new URL("/conformance", worker.url));
    if (!response.ok) throw new Error(`/conformance answered HTTP ${response.status}: ${await response.text()}`);
    const result = await response.json();
    addSummary(summary, result.corpus);
    addSummary(summary, result.sources);
    addCheck(summary, "exports", compareNames(result.exports, await publicNames(), "favor-wasm in workerd"));
  } catch (error) {
    addCheck(summary, "workerd", error.message);
  } finally {
    await worker?.miniflare.dispose();
  }
  addCheck(summary, "worker example", await checkExample());
  return summary;
}
