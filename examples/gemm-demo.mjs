// node scripts/run-node.mjs examples/gemm-demo.mjs: multiplies two random
// 512×512 matrices with every WASM build this engine runs, checks the result
// against a float64 JavaScript product, and prints the time and GFLOP/s.
// This is a demonstration, not a benchmark: see `npm run bench -- gemm`.

import { createFavor } from "../dist/index.js";
import { supportedBuilds } from "../dist/backends/wasm/features.js";

const SIZE = 512;
const REPEATS = 5;

function randomMatrix(count, seed) {
  // A small linear congruential generator keeps the demo deterministic.
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 32 - 0.5;
  }
  return out;
}

function maxErrorAgainstFloat64(a, b, c, n) {
  // Checks 64 rows, which is enough to catch a wrong kernel and keeps the demo fast.
  let worst = 0;
  for (let i = 0; i < n; i += n / 64) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < n; p++) sum += a[i * n + p] * b[p * n + j];
      worst = Math.max(worst, Math.abs(sum - c[i * n + j]));
    }
  }
  return worst;
}

const a = randomMatrix(SIZE * SIZE, 1);
const b = randomMatrix(SIZE * SIZE, 2);
const flops = 2 * SIZE ** 3;
const supported = supportedBuilds();
console.log(`favor-wasm GEMM demo: C = A·B with ${SIZE}×${SIZE} float32 matrices, median of ${REPEATS} runs`);
for (const build of ["relaxed", "simd", "scalar"]) {
  if (!supported[build]) {
    console.log(`  ${build.padEnd(8)} not supported by this engine`);
    continue;
  }
  const favor = await createFavor({ build });
  const c = new Float32Array(SIZE * SIZE);
  favor.sync.matmul(a, b, { m: SIZE, k: SIZE, n: SIZE, c });
  const times = [];
  for (let r = 0; r < REPEATS; r++) {
    const start = performance.now();
    favor.sync.matmul(a, b, { m: SIZE, k: SIZE, n: SIZE, c });
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  const median = times[Math.floor(REPEATS / 2)];
  const error = maxErrorAgainstFloat64(a, b, c, SIZE);
  console.log(
    `  ${build.padEnd(8)} ${median.toFixed(1).padStart(8)} ms  ${(flops / median / 1e6).toFixed(1).padStart(6)} GFLOP/s  ` +
      `max |error| vs float64 ${error.toExponential(2)}`,
  );
}
