// Runs one scenario of a worker that stops after the pool started, in a
// child process so that a regression (a wait that never ends) fails the
// test through spawnSync's timeout instead of hanging the test runner.
// Usage: node worker-stop-scenario.mjs MODE, where MODE is a fault of
// stopping-worker.js, "terminate-between" (terminate worker 1 and let its
// exit event arrive) or "terminate-during" (terminate worker 1 and start a
// job at once). Prints one JSON line: the first call's error or whether its
// result equals one thread's, the threads after it, whether a second call
// equals one thread's, and the logged warnings.

import { createFavor, setLogSink } from "../../dist/runtime/node.js";
import { setWorkerScriptForTests } from "../../dist/backends/wasm/threads/pool.js";
import { backendOf } from "../../dist/internal.js";
import { seededFloats } from "./numeric.js";

const mode = process.argv[2];
const warnings = [];
setLogSink((level, message) => {
  if (level === "warn") warnings.push(message);
});
if (!mode.startsWith("terminate")) {
  process.env.FAVOR_TEST_WORKER_STOP = mode;
  setWorkerScriptForTests(new URL("./stopping-worker.js", import.meta.url));
}
const favor = await createFavor({ build: "simd", threads: 2 });
setWorkerScriptForTests(null);
const single = await createFavor({ build: "simd", threads: 1 });
const healthy = await createFavor({ build: "simd", threads: 2 });

// 2·m·k·n is above the 2 MFLOP threshold, so the product is split over both threads.
const shape = { m: 96, k: 160, n: 128 };
const a = seededFloats(shape.m * shape.k, 1);
const b = seededFloats(shape.k * shape.n, 2);
const expected = single.sync.matmul(a, b, shape);
const sameBits = (x) => x.length === expected.length && x.every((value, i) => Object.is(value, expected[i]));
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const pool = backendOf(favor).pool;
const report = { threadsBefore: favor.info.threads };

if (mode === "exit-after-job") {
  report.job = sameBits(favor.sync.matmul(a, b, shape));
  // Blocks the event loop, so the exit event cannot arrive; only the worker's own mark tells the pool.
  sleep(300);
  // Causal attention planned for 2 threads (19 chunks of 16) finds the mark when its first job
  // starts and runs every thread's list in turn: the same partition and reduction order, so the
  // same bits as a healthy 2-thread instance.
  const heads = { batch: 1, heads: 2, length: 300, dim: 8, valueDim: 5, layout: "blhd" };
  const rows = heads.batch * heads.heads * heads.length;
  const q = seededFloats(rows * heads.dim, 3);
  const k = seededFloats(rows * heads.dim, 4);
  const v = seededFloats(rows * heads.valueDim, 5);
  const projection = single.sync.projection({ features: 16, dim: heads.dim, seed: 6 });
  const options = { ...heads, causal: true, kernel: "positive", features: 16, projection, chunk: 16 };
  const inTurn = favor.sync.attention(q, k, v, options);
  const parallel = healthy.sync.attention(q, k, v, options);
  report.attentionInTurn = inTurn.length === parallel.length && inTurn.every((value, i) => Object.is(value, parallel[i]));
}
if (mode === "terminate-between") {
  pool.workerForTests(0).terminate();
  for (let waited = 0; pool.stopped === null && waited < 10000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
}
if (mode === "terminate-during") pool.workerForTests(0).terminate();

try {
  report.first = sameBits(favor.sync.matmul(a, b, shape));
} catch (error) {
  report.error = error.message;
}
report.threadsAfter = favor.info.threads;
report.second = sameBits(favor.sync.matmul(a, b, shape));
report.warnings = warnings;
favor.dispose();
single.dispose();
healthy.dispose();
console.log(JSON.stringify(report));
