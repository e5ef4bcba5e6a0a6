// The random-feature map suite: `npm run bench -- features [--quick] [--no-write]`,
// or directly `node scripts/run-node.mjs bench/features.mjs [--quick] [--no-write]`.
//
// Times one feature map of L = 4096 rows, d = 64, m = 256 against the GEMM
// inside it, on every WASM build this engine runs, one thread:
//   - "GEMM alone": f32_gemm computing X·Wᵀ (L×m) into the output buffer
//     with the row stride the map uses (m, or 2m for trig);
//   - "positive query", "positive key", "trig query", "trig key": the whole
//     map through writeFeatures (f32_features_projected: the GEMM, the half
//     squared norms and the map with its stabilizer), on buffers that stay
//     in WASM memory;
//   - "positive key, API": favor.sync.features, which also copies X and W in
//     and the features out;
//   - "positive key, map pass only", "trig key, map pass only": the half
//     squared norms and the separate map kernel (f32_features_exp,
//     f32_features_trig) on the whole buffer as the last call left it,
//     without the GEMM, so z comes from memory rather than from cache.
//     Inputs in the fast range of exp take the same time, so this is the
//     cost of the unfused map pass.
// The target is a whole map within 1.3 times its GEMM alone.
//
// Method: every case is first called for WARMUP_MS (at least 3 calls), so V8
// has optimized the code, then the cases run in interleaved rounds, one call
// each per round. Each call is timed twice: wall-clock time
// (performance.now) and the CPU time of the process (process.cpuUsage, user
// plus system, which includes V8's helper threads). CPU time counts only the
// time this process ran, so it moves less than wall time when other
// processes share the cores. The table gives the median of each over the
// rounds with the minimum and maximum, and the ratios of medians to the GEMM
// of the same layout. The suite replaces its section of docs/BENCHMARKS.md
// unless --no-write or --quick is given.

import os from "node:os";
import { fileURLToPath } from "node:url";
import { createFavor } from "../dist/index.js";
import { supportedBuilds } from "../dist/backends/wasm/features.js";
import { backendOf } from "../dist/internal.js";
import { planFeatureMap } from "../dist/api/features.js";
import { writeFeatures } from "../dist/backends/wasm/ops/features.js";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

/** Heading of this suite's section in docs/BENCHMARKS.md. */
const SECTION_HEADING = "Random-feature maps (`npm run bench -- features`)";

const ROWS = 4096;
const DIM = 64;
const FEATURES = 256;
const TARGET_RATIO = 1.3;
/** The cases that the target applies to: whole maps through writeFeatures. */
const WHOLE_MAPS = ["positive query", "positive key", "trig query", "trig key"];
const WARMUP_MS = 300;
const ROUNDS = 31;
const QUICK_ROUNDS = 3;

/** Deterministic inputs in [-1, 1)·scale (a linear congruential sequence). */
function seeded(count, seed, scale) {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 31 - 1) * scale;
  }
  return out;
}

/** Builds the timed cases of one build; every case is a function that runs one call. */
function buildCases(favor, scope) {
  const backend = backendOf(favor);
  const gemm = backend.kernel("f32_gemm");
  // Inputs pre-scaled by d^{-1/4}, as attention scales queries and keys.
  const x = seeded(ROWS * DIM, 1, 1 / Math.sqrt(Math.sqrt(DIM)));
  const w = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 2 });
  const xPointer = scope.copyIn(x);
  const wPointer = scope.copyIn(w);
  const out = scope.allocF32(ROWS * 2 * FEATURES);
  const shift = scope.allocF32(ROWS);

  const gemmCase = (ldc) => () => gemm(1, ROWS, FEATURES, DIM, 1, xPointer, DIM, 0, 0, wPointer, DIM, 0, 1, 0, out, ldc, 0);
  const mapCase = (kind, role) => {
    const map = planFeatureMap("bench", { dim: DIM, features: FEATURES, kind, role });
    return () => writeFeatures(backend, map, ROWS, xPointer, DIM, wPointer, out, map.outputs, shift);
  };
  const halfNorms = backend.kernel("f32_half_squared_norms");
  const expMap = backend.kernel("f32_features_exp");
  const trigMap = backend.kernel("f32_features_trig");
  const positiveScale = Math.fround(1 / Math.sqrt(FEATURES));
  const apiOut = new Float32Array(ROWS * FEATURES);
  return [
    { name: "GEMM alone (row stride m)", layout: "m", run: gemmCase(FEATURES) },
    { name: "positive query", layout: "m", run: mapCase("positive", "query") },
    { name: "positive key", layout: "m", run: mapCase("positive", "key") },
    { name: "positive key, API", layout: "m", run: () => favor.sync.features(x, { rows: ROWS, dim: DIM, projection: w, role: "key", out: apiOut }) },
    {
      name: "positive key, map pass only",
      layout: "m",
      run: () => {
        halfNorms(ROWS, DIM, xPointer, DIM, shift);
        expMap(ROWS, FEATURES, out, FEATURES, shift, 1, 0, positiveScale, 1e-6, 2, 0);
      },
    },
    { name: "GEMM alone (row stride 2m)", layout: "2m", run: gemmCase(2 * FEATURES) },
    { name: "trig query", layout: "2m", run: mapCase("trig", "query") },
    { name: "trig key", layout: "2m", run: mapCase("trig", "key") },
    {
      name: "trig key, map pass only",
      layout: "2m",
      run: () => {
        halfNorms(ROWS, DIM, xPointer, DIM, shift);
        trigMap(ROWS, FEATURES, out, 2 * FEATURES, shift, positiveScale, 0, 2, 0);
      },
    },
  ];
}

function warmUp(cases) {
  for (const item of cases) {
    const start = performance.now();
    for (let calls = 0; calls < 3 || performance.now() - start < WARMUP_MS; calls++) item.run();
  }
}

function quantile(sorted, q) {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/** Returns { median, min, max } of a list of times. */
function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Times the cases in interleaved rounds; returns { name, layout, wall, cpu }
 * per case, each a { median, min, max } in milliseconds.
 */
function measure(cases, rounds) {
  const wall = cases.map(() => []);
  const cpu = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    cases.forEach((item, index) => {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      item.run();
      wall[index].push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[index].push((used.user + used.system) / 1000);
    });
  }
  return cases.map((item, index) => ({ name: item.name, layout: item.layout, wall: summarize(wall[index]), cpu: summarize(cpu[index]) }));
}

async function measureBuild(build, rounds) {
  const favor = await createFavor({ build, threads: 1 });
  return backendOf(favor).withScope("bench features", (scope) => {
    const cases = buildCases(favor, scope);
    warmUp(cases);
    return measure(cases, rounds);
  });
}

function renderTable(build, results) {
  const gemmOf = (layout) => results.find((result) => result.layout === layout && result.name.startsWith("GEMM"));
  const range = (times) => `${times.min.toFixed(2)}–${times.max.toFixed(2)}`;
  const lines = [
    `**${build} build**`,
    "",
    "| case | CPU median ms | CPU min–max ms | wall median ms | wall min–max ms | CPU / GEMM | wall / GEMM |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const result of results) {
    const gemm = gemmOf(result.layout);
    const cpuRatio = result.cpu.median / gemm.cpu.median;
    const wallRatio = result.wall.median / gemm.wall.median;
    lines.push(`| ${result.name} | ${result.cpu.median.toFixed(2)} | ${range(result.cpu)} | ${result.wall.median.toFixed(2)} | ` +
      `${range(result.wall)} | ${cpuRatio.toFixed(2)} | ${wallRatio.toFixed(2)} |`);
  }
  const maps = results.filter((result) => WHOLE_MAPS.includes(result.name));
  const verdict = (result) => {
    const ratio = result.cpu.median / gemmOf(result.layout).cpu.median;
    return `${result.name} ${ratio.toFixed(2)} (${ratio <= TARGET_RATIO ? "met" : "not met"})`;
  };
  lines.push("", `Target ${TARGET_RATIO}× by CPU-time ratio: ${maps.map(verdict).join(", ")}.`);
  return lines.join("\n");
}

function renderReport(tables, machine, rounds, skipped) {
  const lines = [
    `Measured ${machine.date} with Node ${machine.node} (V8 ${machine.v8}) on ${machine.cpu} (${machine.cores} logical cores, one used;`,
    `1-minute load average ${machine.load.toFixed(1)} at the start, so other processes shared the cores).`,
    `L = ${ROWS} rows, d = ${DIM}, m = ${FEATURES} projection rows (orthogonal, chi norms), inputs scaled by d^{-1/4};`,
    `${rounds} interleaved rounds after at least ${WARMUP_MS} ms of warm-up per case; medians with min–max of process CPU time and of wall time.`,
    `Target: a whole map within ${TARGET_RATIO}× its GEMM alone.`,
    "",
    ...tables.flatMap((table) => [table, ""]),
  ];
  if (skipped.length > 0) lines.push(`Not measured: ${skipped.join(", ")} (the engine rejected the binary; run through npm run bench).`, "");
  return lines.join("\n").trimEnd();
}


/** Runs the suite. options: { quick: fewer rounds and no doc update, write: update docs/BENCHMARKS.md }. */
export async function run(options = {}) {
  const quick = options.quick ?? false;
  const write = options.write ?? !quick;
  const rounds = quick ? QUICK_ROUNDS : ROUNDS;
  const machine = {
    date: new Date().toISOString().slice(0, 10),
    node: process.versions.node,
    v8: process.versions.v8,
    cpu: os.cpus()[0]?.model ?? "an unknown CPU",
    cores: os.cpus().length,
    load: os.loadavg()[0],
  };
  const supported = supportedBuilds();
  const builds = ["simd", "relaxed"].filter((build) => supported[build]);
  const skipped = ["simd", "relaxed"].filter((build) => !supported[build]);
  const tables = [];
  const results = {};
  for (const build of builds) {
    results[build] = await measureBuild(build, rounds);
    tables.push(renderTable(build, results[build]));
  }
  const report = renderReport(tables, machine, rounds, skipped);
  console.log(report);
  if (write) console.log(`\nwrote ${writeBenchmarkSection("features", SECTION_HEADING, report)}`);
  return { machine, results };
}

function parseOptions(args) {
  const known = new Set(["--quick", "--no-write"]);
  for (const arg of args) {
    if (!known.has(arg)) throw new RangeError(`bench features: unknown option ${arg}; known options are --quick and --no-write`);
  }
  const quick = args.includes("--quick");
  return { quick, write: !quick && !args.includes("--no-write") };
}

/** Entry point for bench/run.mjs, which passes the command-line arguments after the suite name. */
export default async function features(args = []) {
  return run(parseOptions(args));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await features(process.argv.slice(2));
}
