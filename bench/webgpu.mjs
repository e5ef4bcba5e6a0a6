// The WebGPU GEMM suite: `npm run bench -- webgpu [--sizes=256,512,1024] [--min-ms=300]`,
// or directly `node scripts/run-node.mjs bench/webgpu.mjs [options]`.
//
// Times favor.matmul on the WebGPU backend against the fastest WASM build
// for square float32 products, and prints the adapter's name. Each GPU time
// includes upload, dispatch and readback (host arrays in and out), plus a
// "resident" row with GPU tensors in and out (no transfers in the loop).
// Method: one warm-up call per case (it compiles the pipeline), then calls
// until --min-ms has passed; the best time counts. Before timing, each size
// is checked against the WASM result with the (k + 2)·eps·Σ|a·b| bound.
//
// In Node the adapter comes from the `webgpu` package; set VK_DRIVER_FILES to
// pick a Vulkan driver. Meant for a real GPU: a software adapter
// (SwiftShader, lavapipe) only shows that the suite runs, and its times say
// nothing about GPUs. The suite prints a warning when the adapter looks like
// one.

import { createFavor } from "../dist/index.js";

const EPS = 2 ** -24;
const SOFTWARE = /swiftshader|lavapipe|llvmpipe|software/i;

function parse(args) {
  const options = {};
  for (const arg of args) {
    const [key, value] = arg.replace(/^--/, "").split("=");
    if (key === "sizes") options.sizes = value.split(",").map(Number);
    else if (key === "min-ms") options.minMs = Number(value);
    else throw new RangeError(`bench webgpu: unknown option ${arg}; use --sizes=256,512 and --min-ms=300`);
  }
  return options;
}

async function time(fn, minMs) {
  await fn();
  let best = Infinity;
  const start = performance.now();
  do {
    const t = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t);
  } while (performance.now() - start < minMs);
  return best;
}

/** Runs the suite; returns the rows it printed. `gpu` replaces navigator.gpu (Node loads the webgpu package). */
export async function run({ sizes = [256, 512, 1024], minMs = 300, gpu } = {}) {
  if (gpu === undefined && globalThis.navigator?.gpu === undefined) {
    const { create } = await import("webgpu");
    gpu = create([]);
  }
  const favorGpu = await createFavor({ backend: "webgpu", webgpu: { gpu } });
  const favorWasm = await createFavor();
  const adapter = favorGpu.info.gpu;
  const name = [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(" ") || "unnamed adapter";
  console.log(`adapter: ${name}; WASM build: ${favorWasm.info.build}`);
  if (SOFTWARE.test(name)) console.log("warning: this is a software adapter; its times must not be quoted as GPU speed");
  const rows = [];
  for (const n of sizes) {
    const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i));
    const o = { m: n, n, k: n };
    const ref = await favorWasm.matmul(a, b, o);
    const got = await favorGpu.matmul(a, b, o);
    // Both results are within (k + 2)·eps·Σ|a·b| ≤ (k + 2)·eps·k of the exact product (|a|, |b| ≤ 1).
    const bound = 2 * (n + 2) * EPS * n;
    for (let i = 0; i < got.length; i++) {
      if (!(Math.abs(got[i] - ref[i]) <= bound)) throw new Error(`bench webgpu: ${n}³ element ${i}: ${got[i]} vs WASM ${ref[i]}`);
    }
    const ta = favorGpu.gpu.tensor(a, [n, n]);
    const tb = favorGpu.gpu.tensor(b, [n, n]);
    const flops = 2 * n * n * n;
    const wasmMs = await time(() => favorWasm.matmul(a, b, o), minMs);
    const gpuMs = await time(() => favorGpu.matmul(a, b, o), minMs);
    const residentMs = await time(async () => {
      const t = await favorGpu.matmul(ta, tb, { ...o, output: "tensor" });
      await t.read();
      t.destroy();
    }, minMs);
    ta.destroy();
    tb.destroy();
    for (const [label, ms] of [["wasm", wasmMs], ["webgpu", gpuMs], ["webgpu, tensors (one read)", residentMs]]) {
      const row = { size: n, label, ms, gflops: flops / ms / 1e6 };
      rows.push(row);
      console.log(`${n}×${n}×${n} ${label}: ${ms.toFixed(2)} ms, ${row.gflops.toFixed(1)} GFLOP/s`);
    }
  }
  return rows;
}

export default (args) => run(parse(args));

if (import.meta.url === `file://${process.argv[1]}`) await run(parse(process.argv.slice(2)));
