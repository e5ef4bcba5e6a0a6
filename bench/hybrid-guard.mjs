// Counts attention rows written as zeros by the denominator guard with the
// angular hybrid (m = 16, m_λ = 8) on seeded N(0, 1) inputs.
// Usage: node bench/hybrid-guard.mjs bidirectional|causal
import { createFavor } from "../dist/index.js";
const favor = await createFavor({ threads: 1 });
let s = 12345;
const u = () => { s = (s * 1103515245 + 12345) % 2147483648; return (s + 0.5) / 2147483648; };
const n = (c) => Float32Array.from({ length: c }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
let guarded = 0, rows = 0, negative = 0;
for (const causal of [process.argv[2] === "causal"]) for (let seed = 1; seed <= 20; seed++) {
  const dim = 16, L = 256;
  const projection = favor.sync.kernel.projection({ estimator: "angular-hybrid", dim, features: 16, lambdaFeatures: 8, seed });
  const q = n(L * dim), k = n(L * dim), v = new Float32Array(L).fill(1);
  const out = favor.sync.attention(q, k, v, { batch: 1, heads: 1, length: L, dim, valueDim: 1, layout: "bhld", causal, kernel: "angular-hybrid", features: 16, lambdaFeatures: 8, projection });
  for (const x of out) { rows++; if (x === 0) guarded++; }
}
console.log(JSON.stringify({ rows, guarded, rate: guarded / rows }));
