// Multiplies two small matrices, then times a 256×256 product, on Deno.
// "favor-wasm" resolves through package.json to the package's Deno entry,
// which reads the .wasm files with Deno.readFile (hence --allow-read).

import { createFavor } from "favor-wasm";

const favor = await createFavor();

// A is 2×3 and B is 3×2, both row-major.
const a = new Float32Array([1, 2, 3, 4, 5, 6]);
const b = new Float32Array([7, 8, 9, 10, 11, 12]);
const c = await favor.matmul(a, b, { m: 2, k: 3, n: 2 });
console.log(`C = [[${c[0]}, ${c[1]}], [${c[2]}, ${c[3]}]]`);

const n = 256;
const x = new Float32Array(n * n).map((_, i) => Math.sin(i));
const y = new Float32Array(n * n).map((_, i) => Math.cos(i));
let best = Infinity;
for (let run = 0; run < 5; run++) {
  const start = performance.now();
  favor.sync.matmul(x, y, { m: n, k: n, n });
  best = Math.min(best, performance.now() - start);
}
console.log(`${n}×${n} matmul on the ${favor.info.build} build: ${best.toFixed(2)} ms, best of 5 (${((2 * n ** 3) / best / 1e6).toFixed(2)} GFLOP/s)`);
