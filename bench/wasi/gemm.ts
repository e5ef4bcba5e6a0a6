// A GEMM benchmark that runs as a WASI command (exported _start) in any
// WASI host: Node's node:wasi (scripts/bench-wasi.mjs), wasmtime, wasmer.
// It links the same kernels as the library binaries (assembly/index.ts)
// and reaches the host only through @assemblyscript/wasi-shim, which maps
// console.log, process.argv, process.exit and performance.now onto WASI
// calls. Built by scripts/build.mjs with bench/wasi/asconfig.json.
//
// Usage: gemm-bench.<isa>.wasm [--min-ms=MS] [N ...]
//   N       square sizes to time (default 64 128 256)
//   MS      time spent per size, in milliseconds (default 300)
// Before timing, f32_gemm is checked against a float64 product. A failed
// check prints the worst element and exits with status 1.

import { f32_gemm, isaName } from "../../assembly/index";

const ISA_NAMES = ["scalar", "simd", "relaxed"];

/** Allocates `count` float32 values of linear memory that live until the program ends. */
function allocF32(count: i32): usize {
  return heap.alloc(<usize>max(count, 1) << 2);
}

/** Fills `count` floats with a fixed pseudo-random sequence in [-1, 1). */
function fillSeeded(ptr: usize, count: i32, seed: u32): void {
  let state = seed;
  for (let i = 0; i < count; i++) {
    // xorshift32: enough to avoid special values, not a statistical generator.
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    store<f32>(ptr + (<usize>i << 2), <f32>(<f64>state / 2147483648.0 - 1.0));
  }
}

/** Formats `value` with `digits` decimals. */
function fixed(value: f64, digits: i32): string {
  const scale = Math.pow(10, digits);
  const whole = <i64>Math.floor(value);
  const fraction = <i64>Math.round((value - <f64>whole) * scale);
  const carry = fraction >= <i64>scale;
  let decimals = (carry ? fraction - <i64>scale : fraction).toString();
  while (decimals.length < digits) decimals = "0" + decimals;
  return (carry ? whole + 1 : whole).toString() + "." + decimals;
}

/**
 * Compares f32_gemm with a float64 product for an m×k by k×n problem
 * (with op(A) = Aᵀ when transA). Each element may differ by
 * (k + 2)·2^-24·Σ|a·b|, the rounding bound of a k-term float32 dot
 * product plus the alpha and beta roundings. Returns true when it holds.
 */
function check(m: i32, n: i32, k: i32, transA: bool): bool {
  const a = allocF32(m * k);
  const b = allocF32(k * n);
  const c = allocF32(m * n);
  fillSeeded(a, m * k, 0x9e3779b9);
  fillSeeded(b, k * n, 0x85ebca6b);
  const lda = transA ? m : k;
  f32_gemm(1, m, n, k, 1.0, a, lda, 0, transA, b, n, 0, false, 0.0, c, n, 0);

  let worst: f64 = 0;
  let worstIndex = -1;
  let worstGot: f64 = 0;
  let worstWant: f64 = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum: f64 = 0;
      let magnitude: f64 = 0;
      for (let p = 0; p < k; p++) {
        const x = <f64>load<f32>(a + (<usize>(transA ? p * m + i : i * k + p) << 2));
        const y = <f64>load<f32>(b + (<usize>(p * n + j) << 2));
        sum += x * y;
        magnitude += Math.abs(x * y);
      }
      const got = <f64>load<f32>(c + (<usize>(i * n + j) << 2));
      const bound = <f64>(k + 2) * 5.9604644775390625e-8 * magnitude;
      const ratio = bound > 0 ? Math.abs(got - sum) / bound : (got == sum ? 0 : Infinity);
      if (!(ratio <= worst)) {
        worst = ratio;
        worstIndex = i * n + j;
        worstGot = got;
        worstWant = sum;
      }
    }
  }
  heap.free(a);
  heap.free(b);
  heap.free(c);

  const ok = worst <= 1.0;
  console.log(
    `check ${m}x${k}x${n}${transA ? " transA" : ""}: worst error ${fixed(worst, 3)} of the bound` +
      (ok ? " (ok)" : ` (FAILED at element ${worstIndex}: got ${worstGot}, expected ${worstWant})`),
  );
  return ok;
}

/** Times n×n×n products for about `minMs` milliseconds and prints the best run. */
function time(n: i32, minMs: f64, isa: string): void {
  const a = allocF32(n * n);
  const b = allocF32(n * n);
  const c = allocF32(n * n);
  fillSeeded(a, n * n, 1);
  fillSeeded(b, n * n, 2);
  f32_gemm(1, n, n, n, 1.0, a, n, 0, false, b, n, 0, false, 0.0, c, n, 0);
  let best: f64 = Infinity;
  let runs = 0;
  const start = performance.now();
  do {
    const t0 = performance.now();
    f32_gemm(1, n, n, n, 1.0, a, n, 0, false, b, n, 0, false, 0.0, c, n, 0);
    const elapsed = performance.now() - t0;
    if (elapsed < best) best = elapsed;
    runs++;
  } while (performance.now() - start < minMs);
  const gflops = 2.0 * <f64>n * <f64>n * <f64>n / (best * 1e6);
  console.log(`f32_gemm ${isa} ${n}x${n}x${n}: ${runs} runs, best ${fixed(best, 3)} ms, ${fixed(gflops, 2)} GFLOP/s`);
  heap.free(a);
  heap.free(b);
  heap.free(c);
}

/** Prints the problem and the usage to stderr and exits with status 2. */
function usage(problem: string): void {
  // wasi-shim 0.1.0's console.error writes to stdout, so stderr is written directly.
  process.stderr.write(`gemm-bench: ${problem}\nusage: gemm-bench.<isa>.wasm [--min-ms=MS] [N ...]\n`);
  process.exit(2);
}

let minMs: f64 = 300;
const sizes = new Array<i32>();
const args = process.argv;
for (let i = 1; i < args.length; i++) {
  const arg = args[i];
  if (arg.startsWith("--min-ms=")) {
    minMs = parseFloat(arg.slice(9));
    if (!(minMs >= 0)) usage(`--min-ms must be a number of milliseconds >= 0, got ${arg.slice(9)}`);
  } else {
    const n = I32.parseInt(arg, 10);
    if (!(n >= 1 && n <= 4096) || n.toString() != arg) usage(`sizes must be integers from 1 to 4096, got ${arg}`);
    sizes.push(n);
  }
}
if (sizes.length == 0) {
  sizes.push(64);
  sizes.push(128);
  sizes.push(256);
}

const isa = ISA_NAMES[isaName()];
const checked = check(37, 41, 29, false) && check(19, 33, 65, true);
if (!checked) process.exit(1);
for (let i = 0; i < sizes.length; i++) time(sizes[i], minMs, isa);
