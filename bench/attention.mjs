// The attention suite: `npm run bench -- attention [--quick] [--no-write]`,
// or `node --experimental-wasm-relaxed-simd bench/attention.mjs [...]`.
//
// One head, dim 64, batch 1, lengths 1024 … 65536, on one thread:
//   - FAVOR+ bidirectional and causal (favor.sync.attention, kernel
//     "positive", 256 random features, a fixed orthogonal projection drawn
//     once outside the timing, causal chunk 64);
//   - our exact attention (favor.sync.softmaxAttention, streamed online
//     softmax), up to the first length whose predicted time passes 60 s;
//   - @tensorflow/tfjs-backend-wasm 4.22 exact attention with one thread:
//     tf.matMul(q, k, false, true), tf.mul by 1/√dim, tf.softmax, tf.matMul
//     with v, then dataSync(); a failure (out of memory) is recorded and the
//     larger lengths are skipped;
//   - streaming decode: favor.sync.causalState(...).step with one new token
//     per call after a 1024-token prompt, per-token time.
//
// Each measurement runs in its own child process (`--child`), so its
// memory figures are its own:
//   - working memory: the largest number of bytes the op's scope held at
//     once (every buffer the bindings allocate, counted as it is allocated
//     and released) minus the bytes of q, k, v and the output it copies in.
//     Not included: the packing buffers f32_gemm allocates inside one call
//     (at most (MC + NC)·KC floats, in practice a few hundred KiB here);
//   - WASM memory growth: the memory size after the calls minus before. The
//     allocator grows memory by doubling it, so this is coarse;
//   - peak RSS: process.resourceUsage().maxRSS of the child, which includes
//     Node itself (about 40–50 MB) and the JavaScript copies of the inputs.
// Times are the median of up to 5 calls after one warm-up call (1 call when
// a call takes more than 5 s). The suite replaces its section of
// docs/BENCHMARKS.md unless --no-write or --quick is given.

import { spawnSync } from "node:child_process";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

/** Heading of this suite's section in docs/BENCHMARKS.md. */
const SECTION_HEADING = "Attention (`npm run bench -- attention`)";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const thisFile = fileURLToPath(import.meta.url);

const DIM = 64;
const FEATURES = 256;
const CHUNK = 64;
const LENGTHS = [1024, 2048, 4096, 8192, 16384, 32768, 65536];
const QUICK_LENGTHS = [1024, 4096];
/** Exact attention stops at the first length whose predicted time (4× the previous one) passes this. */
const EXACT_LIMIT_MS = 60_000;
const CHILD_TIMEOUT_MS = 300_000;
const DECODE_PROMPT = 1024;
const DECODE_TOKENS = 2000;
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

/** Deterministic inputs: a linear congruential sequence mapped to [-1, 1); the values do not affect the timing. */
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

/** Calls `run` once to warm up, then up to 5 more times (once if a call takes over 5 s); returns the times in ms. */
function time(run) {
  let start = performance.now();
  run();
  const first = performance.now() - start;
  if (first > 5000) return [first];
  const times = [];
  for (let i = 0; i < 5; i++) {
    start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return times;
}

/**
 * Counts the bytes held by op scopes: wraps the backend's allocator entry and
 * Scope.release. Returns a function that reads and resets the peak.
 */
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

async function favorChild(kind, length) {
  const { createFavor } = await import("../dist/index.js");
  const favor = await createFavor({ threads: 1 });
  const peakBytes = await trackScopes(favor);
  const q = seeded(length * DIM, 1);
  const k = seeded(length * DIM, 2);
  const v = seeded(length * DIM, 3);
  const shape = { batch: 1, heads: 1, length, dim: DIM, layout: "bhld" };
  const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 7 });
  const before = favor.info.memoryBytes;
  peakBytes();
  let run;
  if (kind === "exact") {
    run = () => favor.sync.softmaxAttention(q, k, v, { ...shape, causal: false });
  } else {
    const options = { ...shape, causal: kind === "causal", kernel: "positive", features: FEATURES, projection, chunk: CHUNK };
    run = () => favor.sync.attention(q, k, v, options);
  }
  const times = time(run);
  const copied = 4 * (4 * length * DIM);
  return {
    build: favor.info.build,
    ms: median(times),
    calls: times.length,
    workingBytes: peakBytes() - copied,
    growthBytes: favor.info.memoryBytes - before,
  };
}

async function tfjsChild(length) {
  const tf = await import("@tensorflow/tfjs-core");
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setThreadsCount(1);
  await tf.setBackend("wasm");
  await tf.ready();
  const q = tf.tensor2d(seeded(length * DIM, 1), [length, DIM]);
  const k = tf.tensor2d(seeded(length * DIM, 2), [length, DIM]);
  const v = tf.tensor2d(seeded(length * DIM, 3), [length, DIM]);
  const scale = tf.scalar(1 / Math.sqrt(DIM));
  const run = () => {
    const out = tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v));
    out.dataSync();
    out.dispose();
  };
  const times = time(run);
  return { ms: median(times), calls: times.length, threads: wasm.getThreadsCount(), version: tf.version_core };
}

async function decodeChild() {
  const { createFavor } = await import("../dist/index.js");
  const favor = await createFavor({ threads: 1 });
  const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 7 });
  const state = favor.sync.causalState({
    batch: 1, heads: 1, dim: DIM, layout: "bhld", kernel: "positive", features: FEATURES, projection,
  });
  state.step(seeded(DECODE_PROMPT * DIM, 1), seeded(DECODE_PROMPT * DIM, 2), seeded(DECODE_PROMPT * DIM, 3));
  const tokens = [1, 2, 3].map((seed) => seeded(DECODE_TOKENS * DIM, seed + 10));
  const rounds = [];
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    for (let t = 0; t < DECODE_TOKENS; t++) {
      const at = (array) => array.subarray(t * DIM, (t + 1) * DIM);
      state.step(at(tokens[0]), at(tokens[1]), at(tokens[2]));
    }
    rounds.push((performance.now() - start) / DECODE_TOKENS);
  }
  return { build: favor.info.build, msPerToken: median(rounds) };
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
  // The first line that names the error, rather than Node's closing version line.
  const lines = (result.stderr ?? "").split("\n").map((line) => line.trim()).filter(Boolean);
  const detail = lines.find((line) => /error|abort|memory|range/i.test(line)) ?? lines[0] ?? "";
  return { error: `${why}${detail ? `: ${detail.slice(0, 160)}` : ""}` };
}

async function childMain(args) {
  const [kind, length] = args;
  let result;
  if (kind === "tfjs") result = await tfjsChild(Number(length));
  else if (kind === "decode") result = await decodeChild();
  else result = await favorChild(kind, Number(length));
  result.maxRssMB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify(result));
}

const fmtMs = (r) => (r === undefined ? "–" : r.error ? "failed" : r.ms >= 1000 ? `${(r.ms / 1000).toFixed(2)} s` : `${r.ms.toFixed(1)} ms`);
const fmtMB = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const fmtRatio = (slow, fast) => (slow?.ms && fast?.ms ? `${(slow.ms / fast.ms).toFixed(1)}×` : "–");

/** Measures every case; see the file header. */
export async function run(options = {}) {
  const lengths = options.lengths ?? LENGTHS;
  const log = options.log ?? ((line) => console.log(line));
  const results = {};
  let exactStopped = false;
  let tfjsStopped = null;
  for (const length of lengths) {
    const row = (results[length] = {});
    for (const kind of ["bidirectional", "causal"]) {
      row[kind] = measure([kind, length]);
      log(`attention: ${kind} L=${length}: ${fmtMs(row[kind])}`);
    }
    const previous = results[length / 2];
    if (!exactStopped && previous?.exact?.ms * 4 > EXACT_LIMIT_MS) exactStopped = true;
    if (!exactStopped) {
      row.exact = measure(["exact", length]);
      log(`attention: exact L=${length}: ${fmtMs(row.exact)}`);
      if (row.exact.error) exactStopped = true;
    }
    if (tfjsStopped === null) {
      row.tfjs = measure(["tfjs", length]);
      log(`attention: tfjs L=${length}: ${fmtMs(row.tfjs)}`);
      if (row.tfjs.error) tfjsStopped = length;
    }
  }
  const decode = measure(["decode"]);
  log(`attention: decode: ${decode.error ?? `${decode.msPerToken.toFixed(3)} ms/token`}`);
  return { lengths, results, decode, tfjsStopped };
}

function renderReport({ lengths, results, decode, tfjsStopped }, machine) {
  const rows = lengths.map((length) => {
    const r = results[length];
    return `| ${length} | ${fmtMs(r.bidirectional)} | ${fmtMs(r.causal)} | ${fmtMs(r.exact)} | ${fmtMs(r.tfjs)} | ` +
      `${fmtRatio(r.tfjs, r.bidirectional)} | ${fmtRatio(r.exact, r.bidirectional)} | ` +
      `${r.bidirectional.error ? "–" : fmtMB(r.bidirectional.workingBytes)} | ${r.causal.error ? "–" : fmtMB(r.causal.workingBytes)} | ` +
      `${r.exact && !r.exact.error ? fmtMB(r.exact.workingBytes) : "–"} | ` +
      `${r.bidirectional.error ? "–" : fmtMB(r.bidirectional.growthBytes)} | ` +
      `${[r.bidirectional, r.causal, r.exact, r.tfjs].map((x) => (x && !x.error ? x.maxRssMB.toFixed(0) : "–")).join(" / ")} |`;
  });
  const causalPerToken = lengths.filter((l) => l >= 4096 && results[l].causal.ms)
    .map((l) => `${l}: ${((results[l].causal.ms / l) * 1000).toFixed(2)} µs`);
  const failures = lengths.flatMap((l) => Object.entries(results[l]).filter(([, r]) => r.error).map(([name, r]) => `${name} at L = ${l}: ${r.error}`));
  const build = results[lengths[0]].bidirectional.build ?? "unknown";
  const tfjs = lengths.map((l) => results[l].tfjs).find((r) => r && !r.error);
  return [
    `Run on ${machine.date} with Node ${machine.node} (V8 ${machine.v8}) on ${machine.cpu}, ${machine.cores} cores; ` +
      `load average ${machine.load} when the run started. favor-wasm build: ${build}.`,
    "",
    `One head, dim ${DIM}, batch 1. FAVOR+: kernel "positive", ${FEATURES} features, orthogonal projection, causal chunk ${CHUNK}. ` +
      "Exact: favor.sync.softmaxAttention. tfjs: matMul, mul, softmax, matMul, dataSync" +
      (tfjs ? ` (tfjs-core ${tfjs.version}, getThreadsCount() = ${tfjs.threads})` : "") + ". " +
      "Times are medians of up to 5 calls after a warm-up call (one call when it takes over 5 s). " +
      "Working memory: the most bytes the op's scope held at once, minus the copied inputs and output " +
      "(f32_gemm's own packing buffers, a few hundred KiB, are not counted). " +
      "Peak RSS of each measurement's own process, in MB, for bidirectional / causal / exact / tfjs.",
    "",
    "| L | FAVOR+ bidirectional | FAVOR+ causal | exact (ours) | exact (tfjs-wasm) | tfjs / FAVOR+ | exact / FAVOR+ | working memory, bidirectional | working memory, causal | working memory, exact | WASM memory growth, bidirectional | peak RSS (MB) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Causal time per token: ${causalPerToken.join(", ") || "not measured"}.`,
    "",
    `Streaming decode (causalState.step, one token per call after a ${DECODE_PROMPT}-token prompt, median of 3 rounds of ${DECODE_TOKENS} tokens): ` +
      `${decode.error ? `failed: ${decode.error}` : `${decode.msPerToken.toFixed(3)} ms per token`}.`,
    "",
    tfjsStopped === null ? "tfjs-wasm ran at every length." : `tfjs-wasm stopped at L = ${tfjsStopped}; longer lengths were not tried.`,
    ...(failures.length ? ["", "Failures:", ...failures.map((f) => `- ${f}`)] : []),
  ].join("\n");
}


function parseOptions(args) {
  const known = new Set(["--quick", "--no-write"]);
  for (const arg of args) {
    if (!known.has(arg)) throw new RangeError(`bench attention: unknown option ${arg}; known options are --quick and --no-write`);
  }
  const quick = args.includes("--quick");
  return { quick, write: !quick && !args.includes("--no-write"), lengths: quick ? QUICK_LENGTHS : LENGTHS };
}

/** Runs the suite from the command line; see the file header. */
export default async function attention(args) {
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
  if (options.write) console.log(`attention: wrote ${writeBenchmarkSection("attention", SECTION_HEADING, section)}`);
}

if (process.argv[1] === thisFile) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") await childMain(args.slice(1));
  else await attention(args);
}
