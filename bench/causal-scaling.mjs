// Measures causal FAVOR+ attention time per token from L = 4096 to 65536
// (dim 64, 256 positive features, chunk 64, one head), as process CPU time
// and wall time, median of 5 calls after one warm-up call. CPU time leaves
// out time spent waiting for a core on a shared machine, so it is the
// steadier measure of whether the cost grows linearly with L.
// Run: node scripts/run-node.mjs bench/causal-scaling.mjs

import { createFavor } from "../dist/index.js";

const DIM = 64;
const FEATURES = 256;
const LENGTHS = [4096, 8192, 16384, 32768, 65536];
const CALLS = 5;

const favor = await createFavor({ threads: 1 });
const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 1 });
const rows = [];
for (const length of LENGTHS) {
  const q = favor.sync.random.normal(length * DIM, 1);
  const k = favor.sync.random.normal(length * DIM, 2);
  const v = favor.sync.random.normal(length * DIM, 3);
  const options = {
    batch: 1, heads: 1, length, dim: DIM, layout: "bhld", causal: true,
    kernel: "positive", features: FEATURES, projection, chunk: 64,
  };
  favor.sync.attention(q, k, v, options);
  const cpu = [];
  const wall = [];
  for (let call = 0; call < CALLS; call++) {
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    favor.sync.attention(q, k, v, options);
    const wallMicros = (performance.now() - wallStart) * 1000;
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / length);
    wall.push(wallMicros / length);
  }
  cpu.sort((a, b) => a - b);
  wall.sort((a, b) => a - b);
  const middle = Math.floor(CALLS / 2);
  rows.push(`| ${length} | ${cpu[middle].toFixed(2)} | ${wall[middle].toFixed(2)} (${wall[0].toFixed(2)}–${wall[CALLS - 1].toFixed(2)}) |`);
}
console.log(`build ${favor.info.build}, Node ${process.version}`);
console.log("| L | CPU µs per token (median) | wall µs per token, median (min–max) |");
console.log("|---|---|---|");
for (const row of rows) console.log(row);
