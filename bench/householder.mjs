// The Householder suite: `npm run bench -- householder [--quick] [--no-write]`,
// or `node bench/householder.mjs [--quick] [--no-write]`.
//
// Times products of n Householder reflections in n dimensions (k = n):
//   - product: Q = H(v_0)·…·H(v_{n−1}) by the CWY formula (method "cwy")
//     and one reflection at a time (method "sequential");
//   - apply: Q·X for an n×n X (cols = n), by the same two methods;
//   - f32_gemm on n×n matrices through favor.sync.matmul, for context: the
//     CWY paths run most of their flops in it.
// for n = 64, 128, 256, 512 and 1024 on the simd and relaxed builds, one
// thread, through the public API (favor.sync.householder), so every time
// includes copying v and x in and the result out (O(n²), small next to the
// O(n³) work).
//
// Method: each case is first called for WARMUP_MS (at least 2 calls) so V8
// has tiered up its code. Then the cases of one size run in interleaved
// rounds, one call each per round, so load from other processes spreads
// over all of them. The tables give the median over the rounds with the
// minimum and maximum, and the ratio of the sequential median to the CWY
// median. Both methods do about 4·n³ flops for the product (CWY: n³ for the
// upper triangle of UᵀU, n³ for the triangular solve, 2·n³ for I − U·W;
// sequential: 4·n² per reflection) and CWY does 6·n³ against 4·n³ for
// apply, so the ratio is mostly the speed of f32_gemm against the
// reflection strips of f32_householder_apply_sequential.
// The suite replaces its section of docs/BENCHMARKS.md unless --no-write or
// --quick is given.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

/** Heading of this suite's section in docs/BENCHMARKS.md. */
const SECTION_HEADING = "Householder products (`npm run bench -- householder`)";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const thisFile = fileURLToPath(import.meta.url);

const SIZES = [64, 128, 256, 512, 1024];
const QUICK_SIZES = [64, 128, 256];
/**
 * Largest n timed when f32_gemm is the reference triple loop in a binary:
 * one CWY product at n = 1024 then takes over 10 s (measured on the 2-core
 * AMD EPYC development machine), which makes the suite run for minutes.
 */
const REFERENCE_GEMM_MAX_N = 256;
const BUILDS = ["simd", "relaxed"];
const WARMUP_MS = 300;
/** Time budget for the rounds of one size and build, and the bounds on the round count. */
const ROUNDS = { targetMs: 4000, min: 5, max: 31 };
const QUICK_ROUNDS = { targetMs: 500, min: 3, max: 5 };
const CASES = ["product cwy", "product sequential", "apply cwy", "apply sequential", "gemm"];

/** Returns `count` values uniform in [−1, 1) from a small deterministic generator (a linear congruential one). */
function uniformMatrix(count, seed) {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Returns one call per case for size n. Every call writes into a preallocated output. */
function makeCases(favor, n) {
  const v = uniformMatrix(n * n, n);
  const x = uniformMatrix(n * n, n + 1);
  const out = new Float32Array(n * n);
  const h = favor.sync.householder;
  return {
    "product cwy": () => h.product(v, { n, k: n, method: "cwy", q: out }),
    "product sequential": () => h.product(v, { n, k: n, method: "sequential", q: out }),
    "apply cwy": () => h.apply(v, x, { n, k: n, cols: n, method: "cwy", out }),
    "apply sequential": () => h.apply(v, x, { n, k: n, cols: n, method: "sequential", out }),
    gemm: () => favor.sync.matmul(v, x, { m: n, k: n, n, c: out }),
  };
}

/** Times every case of one size on one build and returns { case: [ms per round] }. */
function measureSize(favor, n, rounds) {
  const cases = makeCases(favor, n);
  let roundMs = 0;
  for (const name of CASES) {
    const start = performance.now();
    let calls = 0;
    while (calls < 2 || performance.now() - start < WARMUP_MS) {
      cases[name]();
      calls++;
    }
    roundMs += (performance.now() - start) / calls;
  }
  const count = Math.max(rounds.min, Math.min(rounds.max, Math.round(rounds.targetMs / roundMs)));
  const times = Object.fromEntries(CASES.map((name) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (const name of CASES) {
      const start = performance.now();
      cases[name]();
      times[name].push(performance.now() - start);
    }
  }
  return times;
}

/** Returns whether f32_gemm is the reference loop in this build (the same exported function). */
async function gemmIsReference(build) {
  const module = await WebAssembly.compile(readFileSync(join(root, "build", `favor.${build}.wasm`)));
  const instance = await WebAssembly.instantiate(module, { env: { abort() {} } });
  return instance.exports.f32_gemm === instance.exports.f32_gemm_reference;
}

function formatMs(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const digits = sorted[0] < 10 ? 2 : 1;
  return `${median(values).toFixed(digits)} (${sorted[0].toFixed(digits)}–${sorted.at(-1).toFixed(digits)})`;
}

/** Formats [512, 1024] as "512 and 1024". */
function listSizes(sizes) {
  return sizes.length > 1 ? `${sizes.slice(0, -1).join(", ")} and ${sizes.at(-1)}` : String(sizes[0]);
}

function renderBuild(build, results, referenceGemm, skipped) {
  const note = referenceGemm
    ? [`f32_gemm is the reference triple loop in this binary${skipped.length > 0 ? `, so n = ${listSizes(skipped)} were not timed` : ""}.`, ""]
    : [];
  const lines = [
    `### ${build} build`,
    "",
    ...note,
    "| n | product CWY ms | product sequential ms | sequential / CWY | apply CWY ms | apply sequential ms | sequential / CWY | f32_gemm n³ ms |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [n, times] of results) {
    const ratio = (slow, fast) => (median(times[slow]) / median(times[fast])).toFixed(2);
    lines.push(
      `| ${n} | ${formatMs(times["product cwy"])} | ${formatMs(times["product sequential"])} | ` +
        `${ratio("product sequential", "product cwy")} | ${formatMs(times["apply cwy"])} | ` +
        `${formatMs(times["apply sequential"])} | ${ratio("apply sequential", "apply cwy")} | ${formatMs(times.gemm)} |`,
    );
  }
  return lines.join("\n");
}

function renderReport(sections, machine, options) {
  return [
    `Measured ${machine.date} on ${machine.cpu} (${machine.cores} logical cores, load average ${machine.load} at the start), ` +
      `Node ${machine.node}, one thread. bench/householder.mjs${options.quick ? " --quick" : ""} (\`npm run bench -- householder\` or \`node bench/householder.mjs\`).`,
    "",
    "Q = H(v_0)·…·H(v_{n−1}) with k = n reflections of uniform random vectors, formed by the CWY formula " +
      "I − V·S⁻¹·Vᵀ (method \"cwy\") and one reflection at a time (\"sequential\"), and Q·X for an n×n X without " +
      "forming Q, through `favor.sync.householder` (copies in and out included). Times are medians over interleaved " +
      "rounds after warm-up, with the minimum and maximum in brackets; the ratio divides the sequential median by the " +
      "CWY one. The last column times one n×n·n×n `matmul` for reference: the CWY product costs about two of them and " +
      "apply about three.",
    "",
    ...sections.flatMap((section) => [section, ""]),
  ].join("\n").trimEnd();
}


/**
 * Runs the suite with options { quick?, write?, sizes?, builds? } and
 * returns the rendered section. `write` defaults to !quick.
 */
export async function run(options = {}) {
  const quick = options.quick ?? false;
  const settings = {
    quick,
    write: options.write ?? !quick,
    sizes: options.sizes ?? (quick ? QUICK_SIZES : SIZES),
    builds: options.builds ?? BUILDS,
    rounds: quick ? QUICK_ROUNDS : ROUNDS,
  };
  const { createFavor } = await import(pathToFileURL(join(root, "dist", "index.js")).href);
  const { supportedBuilds } = await import(pathToFileURL(join(root, "dist", "backends", "wasm", "features.js")).href);
  const machine = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? "an unknown CPU",
    cores: os.cpus().length,
    load: os.loadavg().map((value) => value.toFixed(2)).join(", "),
  };
  const sections = [];
  for (const build of settings.builds) {
    if (!supportedBuilds()[build]) {
      sections.push(`### ${build} build\n\nNot measured: this Node process rejects the ${build} binary (relaxed SIMD needs --experimental-wasm-relaxed-simd before Node 22).`);
      continue;
    }
    const favor = await createFavor({ build });
    const referenceGemm = await gemmIsReference(build);
    const sizes = referenceGemm ? settings.sizes.filter((n) => n <= REFERENCE_GEMM_MAX_N) : settings.sizes;
    const results = [];
    for (const n of sizes) {
      console.log(`householder: ${build} n = ${n}…`);
      results.push([n, measureSize(favor, n, settings.rounds)]);
    }
    sections.push(renderBuild(build, results, referenceGemm, settings.sizes.filter((n) => !sizes.includes(n))));
  }
  const section = renderReport(sections, machine, settings);
  console.log(`\n${section}\n`);
  if (settings.write) console.log(`householder: wrote ${writeBenchmarkSection("householder", SECTION_HEADING, section)}`);
  return section;
}

/** Parses `--quick` and `--no-write`. */
function parseArgs(args) {
  const known = new Set(["--quick", "--no-write"]);
  for (const arg of args) {
    if (!known.has(arg)) throw new RangeError(`bench householder: unknown option ${arg}; known options are --quick and --no-write`);
  }
  const quick = args.includes("--quick");
  return { quick, write: !quick && !args.includes("--no-write") };
}

/** Entry point of `npm run bench -- householder` (bench/run.mjs passes the remaining arguments). */
export default async function householder(args = []) {
  return run(parseArgs(args));
}

// Run directly: build what is stale, and restart with relaxed SIMD enabled
// where Node needs the flag for it.
if (process.argv[1] === thisFile) {
  const build = spawnSync(process.execPath, [join(root, "scripts", "build.mjs"), "--quiet"], { stdio: "inherit" });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const flag = "--experimental-wasm-relaxed-simd";
  const needsFlag = Number(process.versions.node.split(".")[0]) < 22 && !process.execArgv.includes(flag);
  if (needsFlag) {
    const child = spawnSync(process.execPath, [flag, thisFile, ...process.argv.slice(2)], { stdio: "inherit" });
    process.exit(child.status ?? 1);
  }
  await householder(process.argv.slice(2));
}
