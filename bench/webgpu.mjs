// The WebGPU GEMM and attention suites:
// `npm run bench -- webgpu [--sizes=256,512,1024] [--lengths=1024,4096] [--min-ms=300]`,
// or directly `node scripts/run-node.mjs bench/webgpu.mjs [options]`.
//
// Times favor.matmul on the WebGPU backend against the fastest WASM build
// for square float32 products, then favor.attention (FAVOR+, positive
// features, batch 1, 8 heads, dim 64, 256 features, bidirectional and
// causal with chunk 64) for each sequence length, and prints the adapter's
// name. Attention rows report the median and best wall time and, for WASM,
// the median CPU time (process.cpuUsage, where available). Each GPU time
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
    else if (key === "lengths") options.lengths = value.split(",").map(Number);
    else throw new RangeError(`bench webgpu: unknown option ${arg}; use --sizes=256,512, --lengths=1024,4096 and --min-ms=300`);
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

/** Times fn after one warm-up call until minMs has passed; returns the median and best wall time and the median CPU time in ms. */
async function timeStats(fn, minMs) {
  await fn();
  const walls = [];
  const cpus = [];
  const start = performance.now();
  do {
    const cpu = globalThis.process?.cpuUsage?.();
    const t = performance.now();
    await fn();
    walls.push(performance.now() - t);
    if (cpu !== undefined) {
      const used = process.cpuUsage(cpu);
      cpus.push((used.user + used.system) / 1000);
    }
  } while (performance.now() - start < minMs || walls.length < 3);
  const median = (list) => list.slice().sort((x, y) => x - y)[Math.floor(list.length / 2)];
  return { median: median(walls), best: Math.min(...walls), cpu: cpus.length > 0 ? median(cpus) : NaN };
}

/** Estimated floating-point operations of one attention call, as the "auto" threshold counts them (bindings/backends/webgpu/attention.ts). */
function attentionFlops({ heads, length, dim, valueDim, features, causal, chunk }) {
  let perHead = 2 * (2 * length) * (features * dim + features * (valueDim + 1));
  if (causal) perHead += 2 * length * Math.min(chunk, length) * (features + valueDim + 1);
  return heads * perHead;
}

/** Times FAVOR+ attention on WebGPU and WASM for each length; returns the rows it printed. */
async function runAttention(favorGpu, favorWasm, lengths, minMs) {
  const rows = [];
  for (const length of lengths) {
    for (const causal of [false, true]) {
      const shape = { batch: 1, heads: 8, length, dim: 64, valueDim: 64, layout: "bhld" };
      const count = shape.heads * length * shape.dim;
      const q = Float32Array.from({ length: count }, (_, i) => Math.sin(i) * 0.5);
      const k = Float32Array.from({ length: count }, (_, i) => Math.cos(i * 1.3) * 0.5);
      const v = Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.7));
      const options = { ...shape, causal, kernel: "positive", features: 256, seed: 7, chunk: 64 };
      const ref = await favorWasm.attention(q, k, v, options);
      const got = await favorGpu.attention(q, k, v, options);
      // Outputs are weighted means of values in [−1, 1]; both paths are within the conformance
      // bounds of the float64 result, so 1e-3 only guards the timing against a broken path.
      for (let i = 0; i < got.length; i++) {
        if (!(Math.abs(got[i] - ref[i]) <= 1e-3)) throw new Error(`bench webgpu: attention L=${length} element ${i}: ${got[i]} vs WASM ${ref[i]}`);
      }
      const flops = attentionFlops({ ...shape, features: 256, causal, chunk: 64 });
      const label = `attention L=${length} ${causal ? "causal" : "bidirectional"}`;
      for (const [backend, favor] of [["wasm", favorWasm], ["webgpu", favorGpu]]) {
        const stats = await timeStats(() => favor.attention(q, k, v, options), minMs);
        const row = { length, causal, backend, ...stats, gflops: flops / stats.median / 1e6 };
        rows.push(row);
        const cpu = Number.isNaN(stats.cpu) ? "" : `, CPU ${stats.cpu.toFixed(2)} ms`;
        console.log(`${label} ${backend}: median ${stats.median.toFixed(2)} ms (best ${stats.best.toFixed(2)}${cpu}), ${row.gflops.toFixed(1)} GFLOP/s`);
      }
    }
  }
  return rows;
}

/** Runs the suite; returns the rows it printed. `gpu` replaces navigator.gpu (Node loads the webgpu package). */
export async function run({ sizes = [256, 512, 1024], lengths = [1024, 4096], minMs = 300, gpu } = {}) {
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
  rows.push(...(await runAttention(favorGpu, favorWasm, lengths, minMs)));
  return rows;
}

export default (args) => run(parse(args));

if (import.meta.url === `file://${process.argv[1]}`) await run(parse(process.argv.slice(2)));
