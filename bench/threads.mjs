// The thread pool suite: `npm run bench -- threads [--quick] [--no-write]`.
// In one process it times
//   - GEMM 1024³ (NN) through favor.sync.matmul with 1 and 2 threads, and
//     onnxruntime-web's WASM backend (a one-node MatMul model) with
//     env.wasm.numThreads = 2;
//   - causal FAVOR+ attention at L = 65536, dim 64, 256 positive features,
//     chunk 64, one head, with 1 and 2 threads;
//   - a causal training step at L = 16384 with the same settings:
//     attentionWithState, then attentionBackward from its end state, with
//     1 and 2 threads.
// Rounds interleave the implementations (one call of each per round) after
// a warm-up, and the report gives wall-time medians with minimum–maximum,
// process CPU time per call (every thread of the process counted), and CPU
// time over wall time, which shows how many cores a call kept busy. The
// load average is recorded before and after, because on a shared machine
// other processes take cores from the threads. --quick runs GEMM 512³ and
// L = 8192 (the training step stays at 16384) with fewer rounds and writes nothing; otherwise the suite
// rewrites its section of docs/BENCHMARKS.md unless --no-write is given.
//
// onnxruntime-web is loaded from node_modules (its Node entry, with
// wasmPaths pointing at its dist/ folder), so nothing is fetched.

import os from "node:os";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECTION_HEADING = "Threads";

function parseOptions(args) {
  for (const arg of args) {
    if (arg !== "--quick" && arg !== "--no-write") {
      throw new RangeError(`bench threads: unknown option ${arg}; known options are --quick and --no-write`);
    }
  }
  const quick = args.includes("--quick");
  return {
    quick,
    write: !quick && !args.includes("--no-write"),
    gemmSize: quick ? 512 : 1024,
    gemmRounds: quick ? 4 : 12,
    length: quick ? 8192 : 65536,
    attentionRounds: quick ? 2 : 5,
    backwardLength: 16384,
    backwardRounds: quick ? 2 : 5,
  };
}

// Protocol buffer encoding of an ONNX ModelProto with one MatMul node,
// field numbers from onnx.proto: ModelProto ir_version 1, graph 7,
// opset_import 8; GraphProto node 1, name 2, input 11, output 12;
// NodeProto input 1, output 2, op_type 4; ValueInfoProto name 1, type 2;
// TypeProto tensor_type 1; Tensor elem_type 1 (1 = float), shape 2;
// TensorShapeProto dim 1; Dimension dim_value 1.
function varint(value) {
  const out = [];
  while (value > 127) {
    out.push((value & 127) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}
const lengthDelimited = (field, bytes) => [...varint(field * 8 + 2), ...varint(bytes.length), ...bytes];
const text = (field, value) => lengthDelimited(field, [...new TextEncoder().encode(value)]);
const integer = (field, value) => [...varint(field * 8), ...varint(value)];

function valueInfo(name, dims) {
  const shape = dims.flatMap((dim) => lengthDelimited(1, integer(1, dim)));
  const tensorType = [...integer(1, 1), ...lengthDelimited(2, shape)];
  return [...text(1, name), ...lengthDelimited(2, lengthDelimited(1, tensorType))];
}

function matmulModel(m, k, n) {
  const node = [...text(1, "A"), ...text(1, "B"), ...text(2, "Y"), ...text(4, "MatMul")];
  const graph = [
    ...lengthDelimited(1, node), ...text(2, "gemm"),
    ...lengthDelimited(11, valueInfo("A", [m, k])), ...lengthDelimited(11, valueInfo("B", [k, n])),
    ...lengthDelimited(12, valueInfo("Y", [m, n])),
  ];
  return Uint8Array.from([...integer(1, 8), ...lengthDelimited(8, [...text(1, ""), ...integer(2, 13)]), ...lengthDelimited(7, graph)]);
}

async function loadOrt(threads) {
  const ort = await import(pathToFileURL(join(root, "node_modules", "onnxruntime-web", "dist", "ort.node.min.mjs")).href);
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = `${join(root, "node_modules", "onnxruntime-web", "dist")}/`;
  const manifest = JSON.parse(readFileSync(join(root, "node_modules", "onnxruntime-web", "package.json"), "utf8"));
  return { ort, version: manifest.version };
}

const median = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/**
 * Returns the CPU time of each thread of this process in milliseconds, by
 * thread id, from /proc/self/task/TID/stat (utime + stime, in clock ticks of
 * 10 ms on Linux), or null where /proc is missing.
 */
function threadCpuMs() {
  if (!existsSync("/proc/self/task")) return null;
  const times = new Map();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1].split(" ");
      times.set(tid, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return times;
}

/**
 * Runs every case once per round, interleaved; returns per case the wall
 * time per call (median, min, max), the process CPU time per call (median),
 * CPU over wall time, and the CPU time of the busiest thread per call
 * (summed over the rounds, then divided by them).
 */
async function measure(cases, rounds) {
  const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, { wall: [], cpu: [], threads: new Map() }]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const threadsBefore = threadCpuMs();
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      await run();
      const wall = performance.now() - start;
      const used = process.cpuUsage(cpuStart);
      const threadsAfter = threadCpuMs();
      samples[name].wall.push(wall);
      samples[name].cpu.push((used.user + used.system) / 1000);
      if (threadsBefore !== null && threadsAfter !== null) {
        for (const [tid, ms] of threadsAfter) {
          const total = samples[name].threads.get(tid) ?? 0;
          samples[name].threads.set(tid, total + ms - (threadsBefore.get(tid) ?? 0));
        }
      }
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, { wall, cpu, threads }]) => [name, {
    wall: median(wall), min: Math.min(...wall), max: Math.max(...wall), cpu: median(cpu),
    busy: cpu.reduce((x, y) => x + y, 0) / wall.reduce((x, y) => x + y, 0),
    busiest: threads.size === 0 ? NaN : Math.max(...threads.values()) / rounds,
  }]));
}

async function benchGemm(favors, ort, n, rounds) {
  const a = favors[0].sync.random.normal(n * n, 1);
  const b = favors[0].sync.random.normal(n * n, 2);
  // Without this, onnxruntime's pool threads spin for a while after each run
  // and take CPU from the favor-wasm calls of the same round.
  const session = await ort.ort.InferenceSession.create(matmulModel(n, n, n), {
    executionProviders: ["wasm"],
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const feeds = { A: new ort.ort.Tensor("float32", a, [n, n]), B: new ort.ort.Tensor("float32", b, [n, n]) };
  const c = favors.map(() => new Float32Array(n * n));
  const cases = {
    "favor 1 thread": () => favors[0].sync.matmul(a, b, { m: n, k: n, n, c: c[0] }),
    "favor 2 threads": () => favors[1].sync.matmul(a, b, { m: n, k: n, n, c: c[1] }),
    "onnxruntime-web 2 threads": async () => session.run(feeds),
  };
  for (const run of Object.values(cases)) await run();
  // Checks before timing: 2 threads equal 1 thread bit for bit; onnxruntime-web agrees within a rounding bound.
  if (!c[1].every((value, index) => Object.is(value, c[0][index]))) throw new Error("bench threads: 2-thread GEMM differs from 1 thread");
  const y = (await session.run(feeds)).Y.data;
  let worst = 0;
  for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - c[0][i]));
  // Entries are sums of n products of standard normals (|a·b| averages 2/π), so n·eps·n bounds the difference generously.
  if (!(worst <= n * n * 2 ** -23)) throw new Error(`bench threads: onnxruntime-web differs from favor-wasm by ${worst}`);
  const result = await measure(cases, rounds);
  await session.release();
  return result;
}

/**
 * Returns the inputs of one causal case (dim 64, 256 positive features,
 * chunk 64, one head): the projection drawn with `seed`, q, k, v and gradOut
 * normal draws with seeds 10·seed + 1 … 10·seed + 4.
 */
function causalCase(favor, length, seed) {
  const dim = 64;
  const projection = favor.sync.projection({ features: 256, dim, seed });
  const [q, k, v, gradOut] = [1, 2, 3, 4].map((offset) => favor.sync.random.normal(length * dim, 10 * seed + offset));
  const options = {
    batch: 1, heads: 1, length, dim, layout: "bhld", causal: true, kernel: "positive", features: 256, projection, chunk: 64,
  };
  return { q, k, v, gradOut, options };
}

async function benchAttention(favors, length, rounds) {
  const { q, k, v, options } = causalCase(favors[0], length, 1);
  const cases = {
    "favor 1 thread": () => favors[0].sync.attention(q, k, v, options),
    "favor 2 threads": () => favors[1].sync.attention(q, k, v, options),
  };
  const outs = Object.values(cases).map((run) => run());
  let worst = 0;
  for (let i = 0; i < outs[0].length; i++) worst = Math.max(worst, Math.abs(outs[0][i] - outs[1][i]));
  console.log(`threads: causal attention, largest difference between 1 and 2 threads ${worst.toExponential(2)}`);
  return { timings: await measure(cases, rounds), difference: worst };
}

/** Times a causal training step (attentionWithState, then attentionBackward from its end state) with 1 and 2 threads. */
async function benchAttentionBackward(favors, length, rounds) {
  const { q, k, v, gradOut, options } = causalCase(favors[0], length, 2);
  const step = (instance) => {
    const { endState } = instance.sync.attentionWithState(q, k, v, options);
    return instance.sync.attentionBackward(q, k, v, gradOut, { ...options, endState });
  };
  const cases = {
    "favor 1 thread": () => step(favors[0]),
    "favor 2 threads": () => step(favors[1]),
  };
  const grads = Object.values(cases).map((run) => run());
  // The largest difference of dq, dk, dv between 1 and 2 threads, relative to the largest gradient entry.
  let worst = 0;
  for (const name of ["dq", "dk", "dv"]) {
    const [one, two] = [grads[0][name], grads[1][name]];
    let largest = 0;
    let difference = 0;
    for (let i = 0; i < one.length; i++) {
      largest = Math.max(largest, Math.abs(one[i]));
      difference = Math.max(difference, Math.abs(one[i] - two[i]));
    }
    worst = Math.max(worst, difference / largest);
  }
  console.log(`threads: causal training step, largest relative difference between 1 and 2 threads ${worst.toExponential(2)}`);
  return { timings: await measure(cases, rounds), difference: worst };
}

function table(results, flops) {
  const one = results["favor 1 thread"];
  const lines = [
    "| implementation | wall ms, median (min–max) | GFLOP/s, wall | CPU ms per call | CPU / wall | busiest thread, CPU ms per call " +
      "| wall speed-up over 1 thread | busiest thread CPU, 1 thread over this | GFLOP/s per busiest-thread CPU second |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [name, r] of Object.entries(results)) {
    const rate = (seconds) => (flops === null ? "–" : (flops / (seconds * 1e6)).toFixed(1));
    lines.push(
      `| ${name} | ${r.wall.toFixed(1)} (${r.min.toFixed(1)}–${r.max.toFixed(1)}) | ${rate(r.wall)} | ${r.cpu.toFixed(1)} | ` +
        `${r.busy.toFixed(2)} | ${r.busiest.toFixed(1)} | ${(one.wall / r.wall).toFixed(2)} | ${(one.busiest / r.busiest).toFixed(2)} | ${rate(r.busiest)} |`,
    );
  }
  return lines.join("\n");
}

/** Runs the suite; see the file header. */
export default async function threads(args) {
  const options = parseOptions(args);
  const { createFavor } = await import(pathToFileURL(join(root, "dist", "runtime", "node.js")).href);
  const favors = [await createFavor({ threads: 1 }), await createFavor({ threads: 2 })];
  if (favors[1].info.threads !== 2) throw new Error(`bench threads: asked for 2 threads, got ${favors[1].info.threads}`);
  const ort = await loadOrt(2);
  const loadBefore = os.loadavg().map((value) => value.toFixed(2)).join(", ");
  const started = Date.now();
  const n = options.gemmSize;
  console.log(`threads: GEMM ${n}³, ${options.gemmRounds} rounds…`);
  const gemm = await benchGemm(favors, ort, n, options.gemmRounds);
  console.log(`threads: causal attention at L = ${options.length}, ${options.attentionRounds} rounds…`);
  const attention = await benchAttention(favors, options.length, options.attentionRounds);
  console.log(`threads: causal training step at L = ${options.backwardLength}, ${options.backwardRounds} rounds…`);
  const backward = await benchAttentionBackward(favors, options.backwardLength, options.backwardRounds);
  const loadAfter = os.loadavg().map((value) => value.toFixed(2)).join(", ");
  for (const favor of favors) favor.dispose();

  const section = [
    `Run on ${new Date().toISOString().slice(0, 10)} with Node ${process.version} on ${os.cpus()[0]?.model ?? "an unknown CPU"}, ` +
      `${os.cpus().length} cores, ${favors[0].info.build} build; load average ${loadBefore} before and ${loadAfter} after ` +
      `the ${((Date.now() - started) / 1000).toFixed(0)} s of measurement.`,
    "",
    "CPU ms per call is process CPU time (all threads) per call, median; CPU / wall is total CPU time over total wall " +
      "time, about the number of cores a call kept busy. Busiest thread is the largest CPU time of any one thread of the " +
      "process over all rounds, per call (from /proc/self/task, in 10 ms ticks). On a shared machine threads wait for " +
      "cores, so wall-time speed-ups understate what the threads do; the busiest thread's CPU time with 1 thread over " +
      "that with this implementation estimates the " +
      "speed-up on an idle machine with a core per thread (an estimate: it ignores the time one thread waits for another, " +
      "and memory bandwidth that two busy cores share).",
    "",
    `GEMM ${n}³ (NN), favor.sync.matmul (copies A and B in and C out on every call) against onnxruntime-web ` +
      `${ort.version} (WASM backend, env.wasm.numThreads = 2, a one-node MatMul model, session.run with both inputs fed, ` +
      "session option session.intra_op.allow_spinning = 0 so that its idle threads do not take CPU from the other " +
      "cases of a round). " +
      "Rate: 2·n³ / wall time, GFLOP/s.",
    "",
    table(gemm, 2 * n ** 3),
    "",
    `Causal FAVOR+ attention, L = ${options.length}, dim 64, 256 positive features, chunk 64, one head (favor.sync.attention); ` +
      `the largest difference between the 1- and 2-thread outputs was ${attention.difference.toExponential(2)}.`,
    "",
    table(attention.timings, null),
    "",
    `Causal training step, L = ${options.backwardLength}, dim 64, 256 positive features, chunk 64, one head: ` +
      "favor.sync.attentionWithState and then favor.sync.attentionBackward from its endState; the largest " +
      "difference between the 1- and 2-thread dq, dk, dv, relative to the largest entry of each, was " +
      `${backward.difference.toExponential(2)}.`,
    "",
    table(backward.timings, null),
    "",
    "Targets: GEMM at least 65 GFLOP/s of wall time with 2 threads and at least 1.8 times one thread; causal attention " +
      "at least 1.7 times one thread. Wall times on a machine shared with other processes cannot show them, so check " +
      "them with `npm run bench -- threads` on an idle machine.",
  ].join("\n");
  console.log(`\n${section}\n`);
  if (options.write) console.log(`threads: wrote ${writeBenchmarkSection("threads", SECTION_HEADING, section)}`);
}
