// The Householder suite: `npm run bench -- householder [--quick] [--no-write]`,
// or `node bench/householder.mjs [--quick] [--no-write]`.
//
// Times products of n Householder reflections in n dimensions (k = n):
//   - product: Q = H(v_0)·…·H(v_{n−1}), n×n, by the CWY formula
//     Q = I − U·S⁻¹·Uᵀ (method "cwy": the upper triangle of the Gram matrix
//     UᵀU in row blocks of 64, a blocked triangular solve S·W = Uᵀ whose
//     off-diagonal updates are GEMMs, and Q = I − U·W in one n×n×n GEMM),
//     and one reflection at a time (method "sequential": starting from
//     Q = I, Q ← H(u_j)·Q for j = n−1 … 0, each step a SIMD pass that forms
//     w = u_jᵀ·Q and subtracts (2/u_jᵀu_j)·u_j·w; the kernel takes the
//     columns 16 at a time into a packed panel and applies every
//     reflection to it there);
//   - apply: Q·X for an n×n X (cols = n) without forming Q, by the blocked
//     CWY form (panels of 64 reflections, each Y = U_pᵀ·X, a 64×64 solve
//     and X ← X − U_p·Z) and by the same reflection passes as the
//     sequential product, applied to X;
//   - f32_gemm on n×n matrices through favor.sync.matmul, for context: the
//     CWY paths run most of their flops in it.
// for n = 64, 128, 256, 512, 520, 1000 and 1024 on the simd and relaxed
// builds, one thread, through the public API (favor.sync.householder), so
// every time includes copying v and x in and the result out (O(n²), small
// next to the O(n³) work). n = 520 and 1000 are controls for 512 and 1024:
// walking the matrix itself, with rows 2 KiB or 4 KiB apart, the sequential
// passes ran 2 and 6 times slower per flop than at the sizes around them
// (cache-set conflicts, gone once a padded stride is used). The packed
// panels removed that, and the controls show whether it stays removed.
//
// Method: each case is first called for WARMUP_MS (at least 2 calls) so V8
// has tiered up its code. Then the cases of one size run in interleaved
// rounds, one call each per round, so load from other processes spreads
// over all of them. Each call records wall time (performance.now) and the
// process's CPU time (process.cpuUsage, user + system), which leaves out
// the time other processes hold the core. The tables give medians over the
// rounds (wall time also with the minimum and maximum), and the ratio of the
// sequential median to the CWY median.
// Flops with k = n: the product costs about 4·n³ either way (CWY: n³ for
// the upper triangle of UᵀU, n³ for the triangular solve, 2·n³ for
// I − U·W; sequential: 4·n² per reflection), and apply costs 4·n³ plus
// about 1.5·64·n² for the panels' Gram blocks and solves against 4·n³, so
// each ratio is mostly the speed of f32_gemm against the reflection passes
// of f32_householder_apply_sequential.
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

const SIZES = [64, 128, 256, 512, 520, 1000, 1024];
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

/** Returns the CPU time of this process in milliseconds (user + system). */
function cpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Times every case of one size on one build and returns
 * { wall: { case: [ms per round] }, cpu: { case: [ms per round] } }.
 */
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
  const wall = Object.fromEntries(CASES.map((name) => [name, []]));
  const cpu = Object.fromEntries(CASES.map((name) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (const name of CASES) {
      const cpuStart = cpuMs();
      const start = performance.now();
      cases[name]();
      wall[name].push(performance.now() - start);
      cpu[name].push(cpuMs() - cpuStart);
    }
  }
  return { wall, cpu };
}

/** Returns whether f32_gemm is the reference loop in this build (the same exported function). */
async function gemmIsReference(build) {
  const module = await WebAssembly.compile(readFileSync(join(root, "build", `favor.${build}.wasm`)));
  const instance = await WebAssembly.instantiate(module, { env: { abort() {} } });
  return instance.exports.f32_gemm === instance.exports.f32_gemm_reference;
}

function digitsFor(value) {
  return value < 10 ? 2 : 1;
}

/** Formats the median with the minimum and maximum in brackets. */
function formatRange(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const digits = digitsFor(sorted[0]);
  return `${median(values).toFixed(digits)} (${sorted[0].toFixed(digits)}–${sorted.at(-1).toFixed(digits)})`;
}

function formatMedian(values) {
  const value = median(values);
  return value.toFixed(digitsFor(value));
}

/** Formats [512, 1024] as "512 and 1024". */
function listSizes(sizes) {
  return sizes.length > 1 ? `${sizes.slice(0, -1).join(", ")} and ${sizes.at(-1)}` : String(sizes[0]);
}

/** Renders one table: `times` picks { wall } or { cpu } from each size's results, `format` formats a case's values. */
function renderTable(results, times, format, label) {
  const lines = [
    `| n | product CWY ${label} | product sequential ${label} | sequential / CWY | apply CWY ${label} | apply sequential ${label} | sequential / CWY | f32_gemm n³ ${label} |`,
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [n, result] of results) {
    const t = times(result);
    const ratio = (slow, fast) => (median(t[slow]) / median(t[fast])).toFixed(2);
    lines.push(
      `| ${n} | ${format(t["product cwy"])} | ${format(t["product sequential"])} | ` +
        `${ratio("product sequential", "product cwy")} | ${format(t["apply cwy"])} | ` +
        `${format(t["apply sequential"])} | ${ratio("apply sequential", "apply cwy")} | ${format(t.gemm)} |`,
    );
  }
  return lines;
}

function renderBuild(build, results, referenceGemm, skipped) {
  const note = referenceGemm
    ? [`f32_gemm is the reference triple loop in this binary${skipped.length > 0 ? `, so n = ${listSizes(skipped)} were not timed` : ""}.`, ""]
    : [];
  return [
    `### ${build} build`,
    "",
    ...note,
    "Wall time, median (minimum–maximum):",
    "",
    ...renderTable(results, (result) => result.wall, formatRange, "ms"),
    "",
    "CPU time of the process, median:",
    "",
    ...renderTable(results, (result) => result.cpu, formatMedian, "CPU ms"),
  ].join("\n");
}

function renderReport(sections, machine, options) {
  return [
    `Measured ${machine.date} on ${machine.cpu} (${machine.cores} logical cores, load average ${machine.load} at the start), ` +
      `Node ${machine.node}, one thread. bench/householder.mjs${options.quick ? " --quick" : ""} (\`npm run bench -- householder\` or \`node bench/householder.mjs\`).`,
    "",
    "Q = H(v_0)·…·H(v_{n−1}) with k = n reflections of uniform random vectors, and Q·X for an n×n X without forming Q, " +
      "through `favor.sync.householder` (copies in and out included). Method \"cwy\" forms the product by the CWY formula " +
      "I − U·S⁻¹·Uᵀ (Gram triangle, blocked triangular solve, one n×n×n GEMM) and applies Q in panels of 64 reflections " +
      "(two GEMMs and a 64×64 solve per panel). Method \"sequential\" applies one reflection at a time, each a SIMD pass " +
      "that forms w = uᵀ·X and subtracts (2/uᵀu)·u·w, on one packed 16-column panel of X at a time. Both cost about 4·n³ flops. " +
      "Times are medians over interleaved rounds after warm-up; the ratio divides the sequential median by the CWY one. " +
      "CPU time counts only this process, so it leaves out time that other processes held the core. The last column times " +
      "one n×n·n×n `matmul` for reference: the CWY product and apply each cost about two of them. n = 520 and 1000 are " +
      "controls for 512 and 1024, whose row strides of 2 KiB and 4 KiB once made the sequential passes several times " +
      "slower per flop. The sequential kernels now work on packed 16-column panels, which have no such stride.",
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
    const favor = await createFavor({ build, threads: 1 });
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
