// The package's worker script with a fault injected, for tests of a worker
// that stops after it started. The environment variable
// FAVOR_TEST_WORKER_STOP picks the fault (a worker thread gets a copy of its
// parent's environment); each one fires on the worker's first f32_gemm call:
//   exit            process.exit(3) inside the call, so the job never finishes;
//   escape          the job's kernels run, then storing the job's DONE word
//                   throws, so an error escapes the worker's loop;
//   exit-after-job  the job finishes, then the worker calls process.exit(4)
//                   before it waits for the next job.

import process from "node:process";

const stop = process.env.FAVOR_TEST_WORKER_STOP;
let fired = false;

function fire() {
  if (fired) return;
  fired = true;
  if (stop === "exit") process.exit(3);
  if (stop === "escape") {
    const store = Atomics.store;
    Atomics.store = () => {
      Atomics.store = store;
      throw new Error("injected failure in the worker loop");
    };
  }
  if (stop === "exit-after-job") {
    const notify = Atomics.notify;
    Atomics.notify = (...args) => {
      const woken = notify(...args);
      process.exit(4);
      return woken;
    };
  }
}

const Instance = WebAssembly.Instance;
WebAssembly.Instance = function (module, imports) {
  const exports = { ...new Instance(module, imports).exports };
  const gemm = exports.f32_gemm;
  exports.f32_gemm = (...args) => {
    fire();
    return gemm(...args);
  };
  return { exports };
};

await import("../../dist/backends/wasm/threads/worker.js");
