// Row-stride sweep of the reflection kernels:
// `npm run bench -- householder-strides [--quick] [--build simd|relaxed|scalar]`
// (default relaxed).
//
// Calls the raw kernels of build/favor.<build>.wasm (no bindings) and
// prints GFLOP/s for each n of SIZES:
//   - f32_householder_product_sequential and f32_householder_apply_sequential
//     with k = min(n, K) reflections (4·n·cols·k flops), apply once on an
//     n×n X and once on an n×(n + 16) X, whose row stride is 64 bytes longer;
//   - f32_geqrf followed by f32_orgqr on an n×n A (8·n³/3 flops), with the
//     row stride n and with the stride the qr op picks (paddedStride in
//     bindings/backends/wasm/ops/linalg.ts, copied below), up to QR_MAX_N.
// Sizes near 512 and 1024 columns (rows 2 and 4 KiB apart) are where
// cache-set conflicts slowed kernels that walk column strips down the rows.
// Each figure is the best of three CPU-time (process.cpuUsage) runs of at
// least MIN_MS each, so load from other processes lowers it less than it
// lowers a mean. The suite prints its table and writes no document.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const SIZES = [256, 500, 511, 512, 513, 520, 1000, 1008, 1023, 1024, 1025, 2048];
const QUICK_SIZES = [500, 512, 520];
/** Reflections per product or apply; per-flop speed barely depends on k past a few dozen. */
const K = 256;
/** QR of a 2048×2048 matrix takes seconds per call here, so the sweep stops below it. */
const QR_MAX_N = 1100;
const MIN_MS = 150;
const QUICK_MIN_MS = 40;

/** Returns `count` values uniform in [−1, 1) from a linear congruential generator. */
function uniform(count, seed) {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** Returns the CPU time of this process in milliseconds (user + system). */
function cpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Returns the best of three CPU-time averages (ms per call) of runs of at least minMs. */
function bestMs(call, minMs) {
  call();
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    let calls = 0;
    const start = cpuMs();
    do {
      call();
      calls++;
    } while (cpuMs() - start < minMs);
    best = Math.min(best, (cpuMs() - start) / calls);
  }
  return best;
}

/** Returns the qr op's row stride for `cols` columns (a copy of paddedStride in bindings/backends/wasm/ops/linalg.ts). */
function paddedStride(cols) {
  const remainder = cols % 256;
  const nearKibibyte = cols >= 252 && (remainder <= 4 || remainder >= 252);
  return nearKibibyte ? cols + ((48 - (cols % 32)) % 32) : cols;
}

/** Measures one size and returns the table row. */
function measure(kernels, n, minMs) {
  const k = Math.min(n, K);
  const wide = n + 16;
  const ut = kernels.alloc(4 * k * n);
  const q = kernels.alloc(4 * n * n);
  const x = kernels.alloc(4 * n * wide);
  const work = kernels.alloc(4 * (16 * n + k));
  const vectors = uniform(k * n, n);
  new Float32Array(kernels.memory.buffer, ut, k * n).set(vectors);
  const gflops = (flops, ms) => (flops / ms / 1e6).toFixed(1);

  const cells = [n];
  cells.push(gflops(4 * n * n * k, bestMs(() => kernels.f32_householder_product_sequential(n, k, ut, q, work), minMs)));
  for (const cols of [n, wide]) {
    new Float32Array(kernels.memory.buffer, x, n * cols).set(uniform(n * cols, cols));
    const ms = bestMs(() => kernels.f32_householder_apply_sequential(n, k, ut, x, cols, 0, work), minMs);
    cells.push(gflops(4 * n * cols * k, ms));
  }

  if (n <= QR_MAX_N) {
    const a = uniform(n * n, n + 1);
    const padded = paddedStride(n);
    const qrA = kernels.alloc(4 * n * padded);
    const qrQ = kernels.alloc(4 * n * padded);
    const tau = kernels.alloc(4 * n);
    const qrWork = kernels.alloc(4 * (5 * n + 16));
    for (const ld of [n, padded]) {
      const qr = () => {
        const memory = new Float32Array(kernels.memory.buffer);
        for (let i = 0; i < n; i++) memory.set(a.subarray(i * n, (i + 1) * n), qrA / 4 + i * ld);
        kernels.f32_geqrf(n, n, qrA, ld, tau, qrWork);
        kernels.f32_orgqr(n, n, n, qrA, ld, tau, qrQ, ld, qrWork);
      };
      cells.push(`${gflops((8 / 3) * n ** 3, bestMs(qr, minMs))} (${ld})`);
    }
    for (const pointer of [qrA, qrQ, tau, qrWork]) kernels.free(pointer);
  } else {
    cells.push("–", "–");
  }
  for (const pointer of [ut, q, x, work]) kernels.free(pointer);
  return `| ${cells.join(" | ")} |`;
}

/** Parses `--quick` and `--build NAME`. */
function parseArgs(args) {
  const options = { quick: false, build: "relaxed" };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--quick") {
      options.quick = true;
    } else if (args[i] === "--build" && ["simd", "relaxed", "scalar"].includes(args[i + 1])) {
      options.build = args[++i];
    } else {
      throw new RangeError(`bench householder-strides: invalid option ${args[i]}; known options are --quick and --build simd|relaxed|scalar`);
    }
  }
  return options;
}

/** Entry point of `npm run bench -- householder-strides` (bench/run.mjs passes the remaining arguments). */
export default async function householderStrides(args = []) {
  const { quick, build } = parseArgs(args);
  const binary = readFileSync(join(root, "build", `favor.${build}.wasm`));
  const { instance } = await WebAssembly.instantiate(binary, { env: { abort() { throw new Error("wasm abort"); } } });
  const kernels = instance.exports;
  const lines = [
    `householder-strides: ${build} build, k = min(n, ${K}), GFLOP/s from the best of three CPU-time runs`,
    "",
    "| n | product | apply, n columns | apply, n + 16 columns | QR, stride n | QR, qr op stride |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  console.log(lines.join("\n"));
  for (const n of quick ? QUICK_SIZES : SIZES) {
    const row = measure(kernels, n, quick ? QUICK_MIN_MS : MIN_MS);
    console.log(row);
    lines.push(row);
  }
  return lines.join("\n");
}
