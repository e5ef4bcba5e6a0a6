// The float32 GEMM suite: `npm run bench -- gemm [--quick] [--no-write]`.
//
// Times C = A·B (NN) and C = A·Bᵀ (NT) for square matrices of 256, 512 and
// 1024, alpha 1, beta 0, on one thread:
//   - favor-wasm simd: f32_gemm called directly on buffers that stay in WASM
//     memory ("kernel"), and favor.sync.matmul, which also copies A and B in
//     and C out ("API");
//   - favor-wasm relaxed: the same, in a child process started with
//     --experimental-wasm-relaxed-simd (Node 20 needs the flag; 22 and later
//     run relaxed SIMD without it);
//   - @tensorflow/tfjs-backend-wasm 4.22 (XNNPACK) with one thread:
//     tf.matMul followed by dataSync(), so it includes reading C back, and
//     for NN also with a new B tensor per call, which defeats its cache of
//     packed B;
//   - a plain JavaScript triple loop, at 256 only (larger sizes take seconds
//     per call);
//   - f32_peak_madd in both builds, the engine's multiply-add ceiling.
//
// Method: every case is first called for WARMUP_MS (at least 3 calls), so V8
// has replaced its baseline (Liftoff) code with optimized (TurboFan) code.
// Then the cases of one size and layout run in interleaved rounds, one call
// each per round, so load from other processes spreads over all of them.
// Rates are GFLOP/s = 2·M·N·K / time. The first table gives the median over
// the rounds with the minimum and maximum, over wall time; the second gives
// the median over process CPU time, which on a shared machine leaves out the
// time spent waiting for a core. The suite replaces its section of
// docs/BENCHMARKS.md unless --no-write or --quick is given.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

/** Heading of this suite's section in docs/BENCHMARKS.md. */
const SECTION_HEADING = "Float32 GEMM (`npm run bench -- gemm`)";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const thisFile = fileURLToPath(import.meta.url);

const SIZES = [256, 512, 1024];
const LAYOUTS = ["NN", "NT"];
const JS_LOOP_SIZE = 256;
const WARMUP_MS = 400;
/** Time budget for the rounds of one size and layout, and the bounds on the round count. */
const ROUNDS = { targetMs: 2500, min: 7, max: 41 };
const QUICK_ROUNDS = { targetMs: 300, min: 3, max: 5 };
const PEAK_ITERATIONS = 1 << 24;
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

function distModule(...parts) {
  return pathToFileURL(join(root, "dist", ...parts)).href;
}

/** Deterministic inputs in [-1, 1) (a linear congruential sequence); the values do not affect the timing. */
function seeded(count, seed) {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** Instantiates one build's binary directly, so the kernel can run on resident buffers. */
async function loadKernels(build) {
  const bytes = readFileSync(join(root, "build", `favor.${build}.wasm`));
  const imports = { env: { abort() { throw new Error(`bench: the ${build} binary aborted`); } } };
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  return instance.exports;
}

function kernelCase(exports, n, layout) {
  const count = n * n;
  const a = exports.alloc(count * 4);
  const b = exports.alloc(count * 4);
  const c = exports.alloc(count * 4);
  new Float32Array(exports.memory.buffer, a, count).set(seeded(count, 1));
  new Float32Array(exports.memory.buffer, b, count).set(seeded(count, 2));
  const transB = layout === "NT" ? 1 : 0;
  return {
    run: () => exports.f32_gemm(1, n, n, n, 1, a, n, 0, 0, b, n, 0, transB, 0, c, n, 0),
    dispose: () => { exports.free(a); exports.free(b); exports.free(c); },
  };
}

function apiCase(favor, n, layout) {
  const a = seeded(n * n, 1);
  const b = seeded(n * n, 2);
  const options = { m: n, n, k: n, transB: layout === "NT", c: new Float32Array(n * n) };
  return { run: () => favor.sync.matmul(a, b, options), dispose: () => {} };
}

/**
 * tf.matMul then dataSync(). With `newB` every call wraps the same B data in
 * a new tensor, so tfjs cannot reuse the B it packed for an earlier call.
 */
function tfjsCase(tf, n, layout, newB = false) {
  const a = tf.tensor2d(seeded(n * n, 1), [n, n]);
  const bData = seeded(n * n, 2);
  const b = tf.tensor2d(bData, [n, n]);
  const transB = layout === "NT";
  return {
    run: () => {
      const bCall = newB ? tf.tensor2d(bData, [n, n]) : b;
      const c = tf.matMul(a, bCall, false, transB);
      c.dataSync();
      c.dispose();
      if (newB) bCall.dispose();
    },
    dispose: () => { a.dispose(); b.dispose(); },
  };
}

/** Returns the obvious loops, ordered so the innermost one reads memory contiguously: i-p-j for NN, i-j-p for NT. */
function jsLoopCase(n, layout) {
  const a = seeded(n * n, 1);
  const b = seeded(n * n, 2);
  const c = new Float32Array(n * n);
  const nn = () => {
    c.fill(0);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < n; p++) {
        const aip = a[i * n + p];
        for (let j = 0; j < n; j++) c[i * n + j] += aip * b[p * n + j];
      }
    }
  };
  const nt = () => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < n; p++) sum += a[i * n + p] * b[j * n + p];
        c[i * n + j] = sum;
      }
    }
  };
  return { run: layout === "NN" ? nn : nt, dispose: () => {} };
}

function peakCase(exports) {
  let sink = 0;
  return {
    run: () => { sink += exports.f32_peak_madd(PEAK_ITERATIONS); },
    flops: exports.f32_peak_madd_flops(PEAK_ITERATIONS),
    dispose: () => { if (!Number.isFinite(sink)) throw new Error("bench: f32_peak_madd returned a non-finite sum"); },
  };
}

/** Calls each case for WARMUP_MS and at least 3 times. */
function warmUp(cases) {
  for (const entry of Object.values(cases)) {
    const start = performance.now();
    for (let calls = 0; calls < 3 || performance.now() - start < WARMUP_MS; calls++) entry.run();
  }
}

function quantile(sorted, q) {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/**
 * Times the cases in interleaved rounds and returns, per case, the median,
 * minimum and maximum GFLOP/s over wall time, the median GFLOP/s over process
 * CPU time, and process CPU time over wall time.
 */
function measure(cases, flops, rounds) {
  const names = Object.keys(cases);
  const estimate = names.reduce((total, name) => {
    const start = performance.now();
    cases[name].run();
    return total + performance.now() - start;
  }, 0);
  const count = Math.min(rounds.max, Math.max(rounds.min, Math.round(rounds.targetMs / Math.max(estimate, 1e-3))));
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  const cpuSamples = Object.fromEntries(names.map((name) => [name, []]));
  const cpu = Object.fromEntries(names.map((name) => [name, { cpuMs: 0, wallMs: 0 }]));
  for (let round = 0; round < count; round++) {
    for (const name of names) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      cases[name].run();
      const wallMs = performance.now() - start;
      const used = process.cpuUsage(cpuStart);
      const cpuMs = (used.user + used.system) / 1000;
      samples[name].push((cases[name].flops ?? flops) / (wallMs * 1e6));
      cpuSamples[name].push((cases[name].flops ?? flops) / (Math.max(cpuMs, 1e-3) * 1e6));
      cpu[name].cpuMs += cpuMs;
      cpu[name].wallMs += wallMs;
    }
  }
  return Object.fromEntries(names.map((name) => {
    const sorted = samples[name].sort((x, y) => x - y);
    return [name, {
      median: quantile(sorted, 0.5),
      min: sorted[0],
      max: sorted[sorted.length - 1],
      rounds: sorted.length,
      cpuMedian: quantile(cpuSamples[name].sort((x, y) => x - y), 0.5),
      cpuPerWall: cpu[name].cpuMs / cpu[name].wallMs,
    }];
  }));
}

/** Measures one favor-wasm build: kernel and API at every size and layout, and the peak kernel. */
async function measureBuild(build, options) {
  const { createFavor } = await import(distModule("index.js"));
  const exports = await loadKernels(build);
  const favor = await createFavor({ build, threads: 1 });
  const results = {};
  for (const n of options.sizes) {
    for (const layout of LAYOUTS) {
      const cases = { [`${build} kernel`]: kernelCase(exports, n, layout), [`${build} API`]: apiCase(favor, n, layout) };
      warmUp(cases);
      results[`${n} ${layout}`] = measure(cases, 2 * n ** 3, options.rounds);
      for (const entry of Object.values(cases)) entry.dispose();
    }
  }
  const peak = { [`${build} peak`]: peakCase(exports) };
  warmUp(peak);
  results.peak = measure(peak, 0, options.rounds);
  peak[`${build} peak`].dispose();
  return results;
}

async function loadTfjs() {
  const require = createRequire(import.meta.url);
  const tf = require("@tensorflow/tfjs-core");
  const tfWasm = require("@tensorflow/tfjs-backend-wasm");
  // Must precede setBackend: the thread pool is created when the backend initializes.
  tfWasm.setThreadsCount(1);
  if (!(await tf.setBackend("wasm"))) throw new Error("bench: tfjs could not initialize its wasm backend");
  await tf.ready();
  return {
    tf,
    version: require("@tensorflow/tfjs-backend-wasm/package.json").version,
    threads: tfWasm.getThreadsCount(),
    simd: await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"),
    multithread: await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
  };
}

/** Measures the parent's share: simd build, tfjs-wasm and the JavaScript loop, interleaved per size and layout. */
async function measureParent(options) {
  const { createFavor } = await import(distModule("index.js"));
  const exports = await loadKernels("simd");
  const favor = await createFavor({ build: "simd", threads: 1 });
  const tfjs = await loadTfjs();
  const results = {};
  for (const n of options.sizes) {
    for (const layout of LAYOUTS) {
      const cases = {
        "simd kernel": kernelCase(exports, n, layout),
        "simd API": apiCase(favor, n, layout),
        tfjs: tfjsCase(tfjs.tf, n, layout),
      };
      // Only NN reuses packed B in tfjs; its NT loop packs nothing.
      if (layout === "NN") cases["tfjs new B"] = tfjsCase(tfjs.tf, n, layout, true);
      if (n === JS_LOOP_SIZE) cases["JS loop"] = jsLoopCase(n, layout);
      warmUp(cases);
      results[`${n} ${layout}`] = measure(cases, 2 * n ** 3, options.rounds);
      for (const entry of Object.values(cases)) entry.dispose();
    }
  }
  const peak = { "simd peak": peakCase(exports) };
  warmUp(peak);
  results.peak = measure(peak, 0, options.rounds);
  delete tfjs.tf;
  return { results, tfjs };
}

/** Runs the relaxed build in a child process with relaxed SIMD enabled; returns its results or why it could not run. */
function measureRelaxedChild(options) {
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  const flags = nodeMajor < 22 ? [RELAXED_FLAG] : [];
  const args = [...flags, thisFile, "--child", ...(options.quick ? ["--quick"] : [])];
  const child = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  const line = (child.stdout ?? "").split("\n").find((text) => text.startsWith("{"));
  if (child.status !== 0 || line === undefined) {
    return { error: `the relaxed child process exited with ${child.status ?? child.signal}: ${(child.stderr ?? "").trim().slice(0, 500)}` };
  }
  return JSON.parse(line);
}

async function childMain(options) {
  const { supportedBuilds } = await import(distModule("backends", "wasm", "features.js"));
  if (!supportedBuilds().relaxed) {
    console.log(JSON.stringify({ error: "this engine rejects relaxed SIMD" }));
    return;
  }
  console.log(JSON.stringify({ results: await measureBuild("relaxed", options) }));
}

const format = (stats) => (stats === undefined ? "–" : `${stats.median.toFixed(1)} (${stats.min.toFixed(1)}–${stats.max.toFixed(1)})`);
const ratio = (x, y) => (x === undefined || y === undefined ? "–" : (x.median / y.median).toFixed(2));

function renderReport(parent, relaxed, machine, options) {
  const relaxedResults = relaxed.results ?? {};
  const rows = [];
  for (const n of options.sizes) {
    for (const layout of LAYOUTS) {
      const key = `${n} ${layout}`;
      const p = parent.results[key];
      const r = relaxedResults[key] ?? {};
      rows.push(`| ${n}³ | ${layout} | ${format(p["simd kernel"])} | ${format(p["simd API"])} | ${format(r["relaxed kernel"])} | ` +
        `${format(r["relaxed API"])} | ${format(p.tfjs)} | ${format(p["tfjs new B"])} | ${format(p["JS loop"])} | ` +
        `${ratio(p["simd kernel"], p.tfjs)} / ${ratio(p["simd API"], p.tfjs)} | ` +
        `${ratio(r["relaxed kernel"], p.tfjs)} / ${ratio(r["relaxed API"], p.tfjs)} |`);
    }
  }
  const cpuFormat = (stats) => (stats === undefined ? "–" : stats.cpuMedian.toFixed(1));
  const cpuRatio = (x, y) => (x === undefined || y === undefined ? "–" : (x.cpuMedian / y.cpuMedian).toFixed(2));
  const cpuRows = [];
  for (const n of options.sizes) {
    for (const layout of LAYOUTS) {
      const p = parent.results[`${n} ${layout}`];
      const r = relaxedResults[`${n} ${layout}`] ?? {};
      cpuRows.push(`| ${n}³ | ${layout} | ${cpuFormat(p["simd kernel"])} | ${cpuFormat(r["relaxed kernel"])} | ` +
        `${cpuFormat(p.tfjs)} | ${cpuFormat(p["tfjs new B"])} | ${cpuRatio(p["simd kernel"], p.tfjs)} | ` +
        `${cpuRatio(r["relaxed kernel"], p.tfjs)} |`);
    }
  }
  const tfjsCpu = options.sizes.flatMap((n) => LAYOUTS.map((layout) => parent.results[`${n} ${layout}`].tfjs.cpuPerWall));
  const cpuRange = (results) => {
    const ratios = Object.values(results).flatMap((cases) => Object.values(cases).map((stats) => stats.cpuPerWall));
    return ratios.length === 0 ? "not measured" : `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  };
  const relaxedPeak = relaxedResults.peak?.["relaxed peak"];
  return [
    `Run on ${machine.date} with Node ${machine.node} (V8 ${machine.v8}) on ${machine.cpu}, ${machine.cores} cores; ` +
      `load average ${machine.load} when the run started.`,
    "",
    "GFLOP/s = 2·M·N·K / time, median over the rounds with (minimum–maximum); higher is better. " +
      "Kernel: f32_gemm on buffers already in WASM memory. API: favor.sync.matmul, which also copies A and B in and C out. " +
      `tfjs-wasm: @tensorflow/tfjs-backend-wasm ${parent.tfjs.version}, tf.matMul then dataSync(). ` +
      `JS loop: plain JavaScript triple loop, measured at ${JS_LOOP_SIZE}³ only. ` +
      "Ratios are kernel / API medians over the tfjs-wasm median.",
    "",
    "| size | layout | simd kernel | simd API | relaxed kernel | relaxed API | tfjs-wasm | tfjs-wasm, new B | JS loop | simd / tfjs | relaxed / tfjs |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "The same rounds per second of process CPU time (medians): time the process spent waiting for a core is not " +
      "counted, so on a loaded machine these come closer to the unloaded rates than the wall-time rates above.",
    "",
    "| size | layout | simd kernel | relaxed kernel | tfjs-wasm | tfjs-wasm, new B | simd / tfjs | relaxed / tfjs |",
    "|---|---|---|---|---|---|---|---|",
    ...cpuRows,
    "",
    `Multiply-add ceiling (f32_peak_madd), wall time: simd ${format(parent.results.peak["simd peak"])}, ` +
      `relaxed ${relaxedPeak === undefined ? "not measured" : format(relaxedPeak)} GFLOP/s; per CPU second: ` +
      `simd ${cpuFormat(parent.results.peak["simd peak"])}, relaxed ${cpuFormat(relaxedPeak)}.`,
    "",
    "tfjs-wasm runs NN through XNNPACK's fully connected operator, which it caches per B tensor with B already packed " +
      "(tfjs-backend-wasm/src/cc/batch_mat_mul_impl.cc in the tfjs repository), so repeated calls with the same B skip " +
      "packing B; favor-wasm packs B on every call. The \"new B\" column wraps the same data in a new tensor for every " +
      "call, which defeats that cache. With transposed B tfjs-wasm uses a plain blocked C++ loop instead, hence its NT rates.",
    "",
    `tfjs-wasm ran on one thread: setThreadsCount(1) before setBackend("wasm"), getThreadsCount() returned ${parent.tfjs.threads}, ` +
      `WASM_HAS_MULTITHREAD_SUPPORT was ${parent.tfjs.multithread} and WASM_HAS_SIMD_SUPPORT ${parent.tfjs.simd} ` +
      `(so it loaded ${parent.tfjs.multithread ? "the threaded SIMD binary" : parent.tfjs.simd ? "the single-threaded SIMD binary" : "the scalar binary"}), ` +
      `and process CPU time over wall time during its rounds was ${Math.min(...tfjsCpu).toFixed(2)}–${Math.max(...tfjsCpu).toFixed(2)}.`,
    "",
    `Process CPU time over wall time per case, a measure of contention (1.00: the process never waited for a core): ` +
      `${cpuRange(parent.results)} in the main process, ${cpuRange(relaxedResults)} in the relaxed child.`,
    ...(relaxed.error ? ["", `The relaxed build was not measured: ${relaxed.error}.`] : []),
  ].join("\n");
}


function parseOptions(args) {
  const known = new Set(["--quick", "--no-write", "--child"]);
  for (const arg of args) {
    if (!known.has(arg)) throw new RangeError(`bench gemm: unknown option ${arg}; known options are --quick and --no-write`);
  }
  const quick = args.includes("--quick");
  return {
    quick,
    write: !quick && !args.includes("--no-write"),
    sizes: quick ? [SIZES[0]] : SIZES,
    rounds: quick ? QUICK_ROUNDS : ROUNDS,
  };
}

/** Runs the suite; see the file header. */
export default async function gemm(args) {
  const options = parseOptions(args);
  const machine = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    v8: process.versions.v8,
    cpu: os.cpus()[0]?.model ?? "an unknown CPU",
    cores: os.cpus().length,
    load: os.loadavg().map((value) => value.toFixed(2)).join(", "),
  };
  console.log(`gemm: simd build, tfjs-wasm and JS loop (sizes ${options.sizes.join(", ")})…`);
  const parent = await measureParent(options);
  console.log("gemm: relaxed build in a child process…");
  const relaxed = measureRelaxedChild(options);
  const section = renderReport(parent, relaxed, machine, options);
  console.log(`\n${section}\n`);
  if (options.write) console.log(`gemm: wrote ${writeBenchmarkSection("gemm", SECTION_HEADING, section)}`);
}

if (process.argv[1] === thisFile && process.argv.includes("--child")) {
  await childMain(parseOptions(process.argv.slice(2)));
}
