// The backward suite: `npm run bench -- backward [--quick] [--no-write]`,
// or `node --experimental-wasm-relaxed-simd bench/backward.mjs [...]`.
//
// Causal attention gradients, one head, dim 64, batch 1, one thread,
// lengths 1024 … 262144 (doubling):
//   - FAVOR+: favor.sync.attention (forward) and favor.sync.attentionBackward
//     (kernel "positive", 256 random features, a fixed orthogonal projection
//     drawn outside the timing, chunk 64, default start states: compensated
//     subtraction), alone and after favor.sync.attentionWithState, whose
//     end state spares the backward pass its own pass over the keys;
//   - our exact attention gradient: favor.sync.softmaxAttentionBackward;
//   - @tensorflow/tfjs-backend-wasm 4.22 with one thread: tf.grads of
//     matMul(softmax(matMul(q, kᵀ)/√d + causal mask), v) for the output
//     gradient, then dataSync() of dq, dk, dv.
// A kind stops at the first length whose predicted time passes 60 s
// (twice the previous time for FAVOR+, four times for the quadratic ones)
// or that fails (tfjs runs out of memory on its L×L matrices).
//
// Each measurement runs in its own child process (`--child`):
//   - working memory: the most bytes the op's scopes held at once (every
//     buffer the bindings allocate, counted when allocated and released)
//     minus the copies of q, k, v, gradOut (and the projection) and the
//     three gradient buffers. f32_gemm's packing buffers inside one call
//     are not counted;
//   - WASM memory: the memory size after the calls (it only grows);
//   - peak RSS: process.resourceUsage().maxRSS of the child, which includes
//     Node itself and the JavaScript copies of inputs and gradients.
// Times: FAVOR+ alternates forward calls with two kinds of forward+backward
// step, each timed as a whole: attention then attentionBackward (standalone),
// and attentionWithState then attentionBackward with its endState (the
// training step). It reports the median wall-clock and median process CPU
// time of each (see timeInterleaved); the baselines report the smallest CPU
// time and the median wall-clock time of up to 3 calls after one warm-up
// call (one call, no warm-up, when the first takes over 15 s). The suite
// replaces its section of docs/BENCHMARKS.md unless --no-write or --quick
// is given.
//
// `--start-states` instead compares the start-state options (compensated
// or float32 state, subtraction or checkpoints) on 100,000 positions whose
// key features span 1e-6 … 1e3: accuracy against the float64 reference,
// time and working memory (see startStates; docs/backward.md quotes it).
// `--slim` measures the SLiM runner on a small character-level model
// (see slimRunner).

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

/** Heading of this suite's section in docs/BENCHMARKS.md. */
const SECTION_HEADING = "Attention gradients (`npm run bench -- backward`)";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const thisFile = fileURLToPath(import.meta.url);

const DIM = 64;
const FEATURES = 256;
const CHUNK = 64;
const LENGTHS = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144];
const QUICK_LENGTHS = [1024, 4096];
const LIMIT_MS = 60_000;
const CHILD_TIMEOUT_MS = 600_000;
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

/** Deterministic inputs in [-1, 1) from a linear congruential sequence; the values do not affect the timing. */
function seeded(count, seed) {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Warm-up call, then up to 3 timed calls; a first call over 15 s is the
 * only one. Returns the wall-clock times and the process CPU times
 * (user + system) of the calls, in ms. On a machine shared with other jobs
 * the CPU time is the steadier of the two.
 */
function time(run) {
  const once = () => {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    run();
    const cpu = process.cpuUsage(cpuStart);
    return { wall: performance.now() - wallStart, cpu: (cpu.user + cpu.system) / 1000 };
  };
  const first = once();
  const calls = first.wall > 15000 ? [first] : [once(), once(), once()];
  return { wall: calls.map((call) => call.wall), cpu: calls.map((call) => call.cpu) };
}

/**
 * Times functions in alternation: one warm-up call of each, then `rounds`
 * rounds of one call of each in turn (5 rounds, or 3 when a warm-up call
 * of any takes over 3 s). Alternating spreads the load of other jobs over
 * all of them. Returns the median wall-clock and median CPU time of each,
 * in ms, in the order given.
 */
function timeInterleaved(...runs) {
  const once = (run) => {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    run();
    const cpu = process.cpuUsage(cpuStart);
    return { wall: performance.now() - wallStart, cpu: (cpu.user + cpu.system) / 1000 };
  };
  const warm = runs.map((run) => once(run).wall);
  const rounds = Math.max(...warm) > 3000 ? 3 : 5;
  const calls = runs.map(() => []);
  for (let round = 0; round < rounds; round++) runs.forEach((run, index) => calls[index].push(once(run)));
  return calls.map((list) => ({ ms: median(list.map((call) => call.wall)), cpuMs: median(list.map((call) => call.cpu)), calls: list.length }));
}

/** Summarizes time(): the median wall time and the smallest CPU time, in ms. */
function summarize(times) {
  return { ms: median(times.wall), cpuMs: Math.min(...times.cpu), calls: times.wall.length };
}

/** Tracks the bytes held by op scopes; returns a function that reads the peak and resets it to the live size. */
async function trackScopes(favor) {
  const { backendOf } = await import("../dist/internal.js");
  const { Scope } = await import("../dist/backends/wasm/backend.js");
  const backend = backendOf(favor);
  const sizes = new Map();
  let live = 0;
  let peak = 0;
  const allocBytes = backend.allocBytes.bind(backend);
  backend.allocBytes = (op, bytes) => {
    const ptr = allocBytes(op, bytes);
    sizes.set(ptr, bytes);
    live += bytes;
    peak = Math.max(peak, live);
    return ptr;
  };
  const release = Scope.prototype.release;
  Scope.prototype.release = function releaseCounted() {
    for (const ptr of this.pointers) {
      live -= sizes.get(ptr) ?? 0;
      sizes.delete(ptr);
    }
    release.call(this);
  };
  return () => {
    const result = peak;
    peak = live;
    return result;
  };
}

function inputs(length) {
  return {
    q: seeded(length * DIM, 1),
    k: seeded(length * DIM, 2),
    v: seeded(length * DIM, 3),
    gradOut: seeded(length * DIM, 4),
  };
}

async function favorChild(kind, length) {
  const { createFavor } = await import("../dist/index.js");
  const favor = await createFavor({ threads: 1 });
  const peakBytes = await trackScopes(favor);
  const { q, k, v, gradOut } = inputs(length);
  const shape = { batch: 1, heads: 1, length, dim: DIM, layout: "bhld", causal: true };
  // Inputs and gradients: q, k, v, gradOut copied in, dq, dk, dv allocated.
  const tensorBytes = 7 * 4 * length * DIM;
  if (kind === "exact") {
    peakBytes();
    const backward = summarize(time(() => favor.sync.softmaxAttentionBackward(q, k, v, gradOut, shape)));
    return { build: favor.info.build, backward, workingBytes: peakBytes() - tensorBytes, memoryBytes: favor.info.memoryBytes };
  }
  const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 7 });
  const options = { ...shape, kernel: "positive", features: FEATURES, projection, chunk: CHUNK };
  const { backendOf } = await import("../dist/internal.js");
  // The blocked GEMM exports its tile sizes; the reference loop does not.
  const gemm = backendOf(favor).exports.f32_gemm_MR === undefined ? "the reference loop" : "the blocked SIMD kernel";
  peakBytes();
  const [forward, step, stateStep] = timeInterleaved(
    () => favor.sync.attention(q, k, v, options),
    () => {
      favor.sync.attention(q, k, v, options);
      favor.sync.attentionBackward(q, k, v, gradOut, options);
    },
    () => {
      const { endState } = favor.sync.attentionWithState(q, k, v, options);
      favor.sync.attentionBackward(q, k, v, gradOut, { ...options, endState });
    },
  );
  return {
    build: favor.info.build,
    gemm,
    forward,
    step,
    stateStep,
    workingBytes: peakBytes() - tensorBytes - 4 * FEATURES * DIM,
    memoryBytes: favor.info.memoryBytes,
  };
}

/**
 * Returns the path of a bundled copy of tfjs-core's gradient registrations.
 * The Node build of tfjs-core registers no gradients (the full tfjs package
 * imports dist/register_all_gradients.js for that), and that ES module uses
 * extensionless imports, which Node does not resolve, so esbuild bundles it
 * into a temporary file. The registrations land in tfjs's global registry,
 * which every copy of tfjs-core shares.
 */
async function bundleGradients() {
  const { build } = await import("esbuild");
  const directory = mkdtempSync(join(os.tmpdir(), "favor-bench-"));
  const outfile = join(directory, "register-gradients.mjs");
  await build({
    entryPoints: [join(root, "node_modules", "@tensorflow", "tfjs-core", "dist", "register_all_gradients.js")],
    bundle: true, format: "esm", platform: "node", outfile, logLevel: "error",
  });
  process.on("exit", () => rmSync(directory, { recursive: true, force: true }));
  return pathToFileURL(outfile).href;
}

async function tfjsChild(length) {
  const tf = await import("@tensorflow/tfjs-core");
  await import(await bundleGradients());
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setThreadsCount(1);
  await tf.setBackend("wasm");
  await tf.ready();
  const data = inputs(length);
  const [q, k, v, gradOut] = ["q", "k", "v", "gradOut"].map((name) => tf.tensor2d(data[name], [length, DIM]));
  const scale = tf.scalar(1 / Math.sqrt(DIM));
  // −1e9 above the diagonal: exp underflows to exactly 0 there.
  const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([length, length]), -1, 0)), -1e9));
  const attention = (a, b, c) => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(a, b, false, true), scale), mask)), c);
  const gradients = tf.grads(attention);
  const run = () => {
    const outs = gradients([q, k, v], gradOut);
    for (const out of outs) {
      out.dataSync();
      out.dispose();
    }
  };
  return { backward: summarize(time(run)), threads: wasm.getThreadsCount(), version: tf.version_core };
}

/** Runs one measurement in a child process and returns its JSON result, or { error }. */
function measure(args) {
  const result = spawnSync(process.execPath, [RELAXED_FLAG, thisFile, "--child", ...args.map(String)], {
    cwd: root, encoding: "utf8", timeout: CHILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024,
  });
  const line = (result.stdout ?? "").trim().split("\n").pop() ?? "";
  if (result.status === 0 && line.startsWith("{")) return JSON.parse(line);
  const why = result.error?.code === "ETIMEDOUT" ? `timed out after ${CHILD_TIMEOUT_MS / 1000} s`
    : result.signal ? `killed by ${result.signal}` : `exit ${result.status}`;
  const lines = (result.stderr ?? "").split("\n").map((text) => text.trim()).filter(Boolean);
  const detail = lines.find((text) => /error|abort|memory|range/i.test(text)) ?? lines[0] ?? "";
  return { error: `${why}${detail ? `: ${detail.slice(0, 160)}` : ""}` };
}

async function childMain(args) {
  const [kind, length] = args;
  const result = kind === "tfjs" ? await tfjsChild(Number(length)) : await favorChild(kind, Number(length));
  result.maxRssMB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify(result));
}

/**
 * Measures every kind at every length (see the file header) and returns
 * { lengths, results, stopped }: results[length][kind] contains the child's
 * JSON, and stopped[kind] says why a kind ended early. options.lengths
 * overrides the lengths; options.log receives one line per measurement.
 */
export async function run(options = {}) {
  const lengths = options.lengths ?? LENGTHS;
  const log = options.log ?? ((line) => console.log(line));
  const results = {};
  const stopped = {};
  const growth = { favor: 2, exact: 4, tfjs: 4 };
  const last = {};
  for (const length of lengths) {
    const row = (results[length] = {});
    for (const kind of ["favor", "exact", "tfjs"]) {
      if (stopped[kind]) continue;
      if (last[kind] !== undefined && last[kind] * growth[kind] > LIMIT_MS) {
        stopped[kind] = `predicted time at L = ${length} is about ${((last[kind] * growth[kind]) / 1000).toFixed(0)} s, over the 60 s limit`;
        continue;
      }
      row[kind] = measure([kind, length]);
      const r = row[kind];
      if (r.error) {
        stopped[kind] = `failed at L = ${length}: ${r.error}`;
      } else {
        last[kind] = kind === "favor" ? r.step.ms + r.stateStep.ms : r.backward.ms;
      }
      log(`backward: ${kind} L=${length}: ${r.error ?? JSON.stringify(r)}`);
    }
  }
  return { lengths, results, stopped };
}

const fmtMs = (ms) => (ms === undefined ? "–" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const fmtMiB = (bytes) => `${(bytes / 2 ** 20).toFixed(2)}`;

function renderReport({ lengths, results, stopped }, machine) {
  const measured = lengths.filter((length) => results[length].favor && !results[length].favor.error);
  const rows = lengths.map((length) => {
    const { favor, exact, tfjs } = results[length];
    const ok = (r) => r && !r.error;
    const cell = (r, f) => (r === undefined ? "–" : r.error ? "failed" : f(r));
    const both = (t) => `${fmtMs(t.cpuMs)} (${fmtMs(t.ms)})`;
    return [
      length,
      cell(favor, (r) => both(r.forward)),
      cell(favor, (r) => both(r.step)),
      cell(favor, (r) => `${(r.step.cpuMs / r.forward.cpuMs).toFixed(2)}× (${(r.step.ms / r.forward.ms).toFixed(2)}×)`),
      cell(favor, (r) => both(r.stateStep)),
      cell(favor, (r) => `${(r.stateStep.cpuMs / r.forward.cpuMs).toFixed(2)}× (${(r.stateStep.ms / r.forward.ms).toFixed(2)}×)`),
      cell(favor, (r) => `${((r.stateStep.cpuMs / length) * 1000).toFixed(2)}`),
      cell(favor, (r) => fmtMiB(r.workingBytes)),
      cell(favor, (r) => fmtMiB(r.memoryBytes)),
      cell(exact, (r) => both(r.backward)),
      cell(exact, (r) => fmtMiB(r.workingBytes)),
      cell(tfjs, (r) => both(r.backward)),
      [favor, exact, tfjs].map((r) => (ok(r) ? r.maxRssMB.toFixed(0) : "–")).join(" / "),
    ].join(" | ");
  });
  const build = measured.length ? results[measured[0]].favor.build : "unknown";
  const gemm = measured.length ? results[measured[0]].favor.gemm : "unknown";
  const tfjs = lengths.map((l) => results[l].tfjs).find((r) => r && !r.error);
  const flat = measured.filter((l) => l >= 4096);
  let summary = "";
  if (flat.length >= 2) {
    const working = flat.map((l) => results[l].favor.workingBytes);
    const cpu = (l) => results[l].favor.stateStep.cpuMs;
    const perToken = flat.map((l) => cpu(l) / l);
    const ratios = measured.map((l) => cpu(l) / results[l].favor.forward.cpuMs);
    const standalone = measured.map((l) => results[l].favor.step.cpuMs / results[l].favor.forward.cpuMs);
    const spread = (values) => `${(100 * (Math.max(...values) / Math.min(...values) - 1)).toFixed(1)}%`;
    summary = `From L = ${flat[0]} to ${flat[flat.length - 1]}: FAVOR+ working memory ${fmtMiB(Math.min(...working))}–` +
      `${fmtMiB(Math.max(...working))} MiB (max/min − 1 = ${spread(working)}); training step (with the end state) time per token ` +
      `${(Math.min(...perToken) * 1000).toFixed(2)}–${(Math.max(...perToken) * 1000).toFixed(2)} µs (${spread(perToken)}). ` +
      `Over all measured lengths, by CPU time: training step / forward ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}; ` +
      `standalone attentionBackward step / forward ${Math.min(...standalone).toFixed(2)}–${Math.max(...standalone).toFixed(2)}.`;
  }
  return [
    `Run on ${machine.date} with Node ${machine.node} (V8 ${machine.v8}) on ${machine.cpu}, ${machine.cores} logical cores, one used; ` +
      `load average ${machine.load} when the run started (other processes shared the cores). favor-wasm build: ${build}; ` +
      `f32_gemm: ${gemm}.`,
    "",
    `Causal attention, one head, dim ${DIM}, batch 1. FAVOR+: kernel "positive", ${FEATURES} features, orthogonal projection, ` +
      `chunk ${CHUNK}, default start states (compensated subtraction). Exact (ours): softmaxAttentionBackward. ` +
      "tfjs: tf.grads of matMul(softmax(matMul(q, kᵀ)/√d + mask), v), dataSync of the three gradients" +
      (tfjs ? ` (tfjs-core ${tfjs.version}, threads ${tfjs.threads})` : "") + ". " +
      "FAVOR+ times: three calls alternate, 5 rounds after one warm-up call of each (3 rounds when a call takes over " +
      "3 s): the forward op (attention); a standalone step (attention, then attentionBackward, which recomputes the " +
      "end state in a pass of its own); and a training step (attentionWithState, then attentionBackward with its " +
      "endState). Each cell is the " +
      "median process CPU time (user + system) with the median wall-clock time in brackets, and each ratio is " +
      "median step / median forward by CPU time (by wall-clock time in brackets). The time per token (of the training " +
      "step) uses the CPU " +
      "time, which the other jobs on the machine disturb less than wall-clock time. Baselines: the smallest CPU time " +
      "of up to 3 calls after a warm-up call, median wall-clock time in brackets (one call when it takes over 15 s). " +
      "Working memory: the most " +
      "bytes the op's scopes held at once, minus the inputs and gradients they hold (f32_gemm's packing buffers not " +
      "counted). WASM memory: its size after the calls. Peak RSS of each measurement's own process, in MB.",
    "",
    "| L | FAVOR+ forward, CPU (wall) | standalone step, CPU (wall) | standalone / fwd, CPU (wall) | training step, CPU (wall) | training step / fwd, CPU (wall) | training step CPU µs/token | FAVOR+ working MiB | FAVOR+ WASM memory MiB | exact backward (ours), CPU (wall) | exact working MiB | exact backward (tfjs-wasm), CPU (wall) | peak RSS MB (FAVOR+ / exact / tfjs) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((row) => `| ${row} |`),
    "",
    summary,
    "",
    ...Object.entries(stopped).map(([kind, why]) => `- ${kind} stopped: ${why}.`),
  ].join("\n");
}


function parseOptions(args) {
  const known = new Set(["--quick", "--no-write", "--start-states", "--slim"]);
  for (const arg of args) {
    if (!known.has(arg)) {
      throw new RangeError(`bench backward: unknown option ${arg}; known options are --quick, --no-write, --start-states and --slim`);
    }
  }
  const quick = args.includes("--quick");
  return { quick, write: !quick && !args.includes("--no-write"), lengths: quick ? QUICK_LENGTHS : LENGTHS };
}

/** The start-state options compared by startStates. */
const START_STATE_OPTIONS = [
  ["compensated subtraction (default)", {}],
  ["float32 subtraction", { statePrecision: "float32" }],
  ["float32, checkpoint every 16 chunks", { statePrecision: "float32", stateCheckpoints: 16 }],
  ["compensated, checkpoint every 16 chunks", { stateCheckpoints: 16 }],
];

/**
 * Measures the start-state options of attentionBackward on the
 * startStateCase inputs of tests/reference/backward.js (L = 100,000, key
 * features from 1e-6 to 1e3): the worst error in units of u·M against
 * the float64 reference, the time of one call and the working memory.
 * Prints a Markdown table (docs/backward.md quotes it).
 */
export async function startStates(options = {}) {
  const { startStateCase, worstErrorRatio } = await import("../tests/reference/backward.js");
  const { createFavor } = await import("../dist/index.js");
  const log = options.log ?? ((line) => console.log(line));
  const length = options.length ?? 100000;
  const favor = await createFavor({ threads: 1 });
  const peakBytes = await trackScopes(favor);
  const lines = [
    `L = ${length}, chunk ${CHUNK}, dim 4, valueDim 2, ${favor.info.build} build; error: the largest |gradient − float64 gradient| ` +
      "over dq, dk, dv in units of u·M (M: the same gradient summed in magnitudes); time: the smallest CPU time of 3 calls " +
      "after a warm-up call.",
    "",
    "| keys | start states | worst error (u·M) | CPU time | working memory (KiB) |",
    "|---|---|---:|---:|---:|",
  ];
  for (const kernel of ["relu", "exp"]) {
    const c = startStateCase(kernel, { length, chunk: CHUNK });
    const tensorBytes = 4 * (2 * (c.q.length + c.k.length + c.v.length) + c.gradOut.length);
    for (const [label, extra] of START_STATE_OPTIONS) {
      let got;
      peakBytes();
      const times = summarize(time(() => {
        got = favor.sync.attentionBackward(c.q, c.k, c.v, c.gradOut, { ...c.options, ...extra });
      }));
      const working = (peakBytes() - tensorBytes) / 1024;
      const ratio = worstErrorRatio(got, c);
      const row = `| ${kernel} | ${label} | ${ratio < 1e4 ? ratio.toFixed(1) : ratio.toExponential(1)} | ${fmtMs(times.cpuMs)} | ${working.toFixed(0)} |`;
      lines.push(row);
      log(`backward start states: ${row}`);
    }
  }
  return lines.join("\n");
}

/** The model size of the runner measurement: a character-level language model. */
const SLIM_MODEL = { vocab: 96, dModel: 128, heads: 4, layers: 4, features: 64, mlp: 512, seed: 1 };

/**
 * Measures the SLiM runner (slim.createModel with SLIM_MODEL): time per
 * token of lossAndGradients and of loss, and the bytes its scopes hold at
 * most, for several sequence lengths at slice 256. Prints a Markdown table.
 */
export async function slimRunner(options = {}) {
  const { createFavor } = await import("../dist/index.js");
  const log = options.log ?? ((line) => console.log(line));
  const lengths = options.lengths ?? [1024, 4096, 16384];
  const slice = 256;
  const favor = await createFavor({ threads: 1 });
  const peakBytes = await trackScopes(favor);
  const model = favor.sync.slim.createModel(SLIM_MODEL);
  const lines = [
    `${JSON.stringify(SLIM_MODEL)}, ${model.parameterCount} parameters, slice ${slice}, ${favor.info.build} build; ` +
      "times: the smallest CPU time of 3 calls after a warm-up call.",
    "",
    "| tokens | lossAndGradients CPU µs/token | loss CPU µs/token | most bytes held (MiB) |",
    "|---:|---:|---:|---:|",
  ];
  for (const length of lengths) {
    const tokens = Int32Array.from({ length }, (_, i) => (i * 7 + (i >> 3)) % SLIM_MODEL.vocab);
    peakBytes();
    const train = summarize(time(() => model.lossAndGradients(tokens, { slice })));
    const held = peakBytes();
    const forward = summarize(time(() => model.loss(tokens, { slice })));
    const row = `| ${length} | ${((train.cpuMs / length) * 1000).toFixed(1)} | ${((forward.cpuMs / length) * 1000).toFixed(1)} | ` +
      `${fmtMiB(held)} |`;
    lines.push(row);
    log(`backward slim: ${row}`);
  }
  return lines.join("\n");
}

/** Runs the suite from the command line; see the file header. */
export default async function backward(args) {
  if (args.includes("--start-states")) {
    console.log(`\n${await startStates()}\n`);
    return;
  }
  if (args.includes("--slim")) {
    console.log(`\n${await slimRunner()}\n`);
    return;
  }
  const options = parseOptions(args);
  const machine = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    v8: process.versions.v8,
    cpu: os.cpus()[0]?.model ?? "an unknown CPU",
    cores: os.cpus().length,
    load: os.loadavg().map((value) => value.toFixed(2)).join(", "),
  };
  const section = renderReport(await run(options), machine);
  console.log(`\n${section}\n`);
  if (options.write) console.log(`backward: wrote ${writeBenchmarkSection("backward", SECTION_HEADING, section)}`);
}

if (process.argv[1] === thisFile) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") await childMain(args.slice(1));
  else await backward(args);
}
