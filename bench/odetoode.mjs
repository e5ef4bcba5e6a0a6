// The ODEtoODE suite: `npm run bench -- odetoode [--quick] [--no-write] [--build NAME]`,
// or `node bench/odetoode.mjs [options]` directly (after `npm run build`).
//
// Times favor.sync.odeToOde.forward and .backward and reports the time per
// step, for batch 32, dim 8, 16, 32, 64 and 4 or 32 steps (h = 1/steps),
// with the constant and the isospectral generator and both steppers. The
// backward pass uses its defaults (checkpoints every ⌈√steps⌉ steps, reverse
// recovery of W where the generator allows it), so it includes its own
// forward pass and the recomputation of every segment. Method: warm-up
// calls (at least 3 and 50 ms) per case, then `rounds` timed calls, each
// measured as wall time and as the process's CPU time (process.cpuUsage,
// user + system). The ops run on one thread, so CPU time estimates the wall
// time the call would take without other processes competing for the
// cores. It also counts V8's background threads (compiler, garbage
// collector), which can make it exceed the wall time. The table gives the
// minimum CPU time per step and the minimum wall time. The suite replaces
// its section of docs/BENCHMARKS.md unless --no-write or --quick is given.

import { readFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeBenchmarkSection } from "./benchmarks-doc.mjs";

/** Heading of this suite's section in docs/BENCHMARKS.md. */
const SECTION_HEADING = "ODEtoODE steps (`npm run bench -- odetoode`)";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BATCH = 32;

/** Default grid; --quick keeps the two smallest dims, 4 steps and one round. */
const FULL = { dims: [8, 16, 32, 64], steps: [4, 32], rounds: 5 };
const QUICK = { dims: [8, 16], steps: [4], rounds: 1 };

/** Deterministic inputs in [−scale, scale) (a linear congruential sequence); the values do not affect the timing. */
function seeded(count, seed, scale = 1) {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = scale * (state / 2 ** 31 - 1);
  }
  return out;
}

/**
 * Warms `call` up (at least 3 calls and 50 ms, so V8 has optimized the
 * bindings), then times it `rounds` times; returns { wall, cpu } in
 * milliseconds per call.
 */
function time(call, rounds) {
  const warmupStart = performance.now();
  for (let calls = 0; calls < 3 || performance.now() - warmupStart < 50; calls++) call();
  const wall = [];
  const cpu = [];
  for (let r = 0; r < rounds; r++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    call();
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  return { wall, cpu };
}

/**
 * Runs the suite with `options` { dims, steps, rounds, build, write } and
 * returns the rows; prints the table and, with write, replaces the section
 * of docs/BENCHMARKS.md.
 */
export async function run(options = {}) {
  const grid = { ...FULL, ...options };
  const { createFavor } = await import(pathToFileURL(join(root, "dist", "index.js")).href);
  const favor = await createFavor({ build: grid.build ?? "auto", threads: 1 });
  const rows = [];
  const runCpu = process.cpuUsage();
  const runStart = performance.now();
  for (const dim of grid.dims) {
    const w0 = favor.sync.qr(seeded(dim * dim, 1), { rows: dim, cols: dim }).q;
    const x0 = seeded(BATCH * dim, 2);
    const gradXT = seeded(BATCH * dim, 3);
    for (const generator of ["constant", "isospectral"]) {
      const params = seeded((generator === "isospectral" ? 2 : 1) * dim * dim, 4, 0.5);
      for (const stepper of ["cayley", "exp"]) {
        for (const steps of grid.steps) {
          const opts = { batch: BATCH, dim, steps, h: 1 / steps, w0, generator, params, activation: "tanh", stepper };
          const forward = time(() => favor.sync.odeToOde.forward(x0, opts), grid.rounds);
          const backward = time(() => favor.sync.odeToOde.backward(x0, gradXT, opts), grid.rounds);
          const perStep = ({ wall, cpu }) => ({ wall: wall.map((t) => t / steps), cpu: cpu.map((t) => t / steps) });
          rows.push({ dim, generator, stepper, steps, forward: perStep(forward), backward: perStep(backward) });
          console.log(`odetoode: dim ${dim} ${generator} ${stepper} steps ${steps}: ` +
            `forward ${cell(rows.at(-1).forward)}, backward ${cell(rows.at(-1).backward)} µs/step`);
        }
      }
    }
  }
  const used = process.cpuUsage(runCpu);
  grid.cpuShare = ((used.user + used.system) / 1000 / (performance.now() - runStart)).toFixed(2);
  // The exported f32_gemm is the scalar reference loop until assembly/index.ts maps it to the blocked GEMM.
  grid.gemm = readFileSync(join(root, "assembly", "index.ts"), "utf8").includes("f32_gemm_reference as f32_gemm")
    ? "f32_gemm, which assembly/index.ts maps to the scalar reference loop f32_gemm_reference in this checkout"
    : "f32_gemm";
  const section = render(rows, favor.info.build, grid);
  console.log(`\n${section}\n`);
  if (grid.write) console.log(`odetoode: wrote ${writeBenchmarkSection("odetoode", SECTION_HEADING, section)}`);
  return rows;
}

/** Formats minimum CPU time (minimum wall time) per step in microseconds. */
function cell({ wall, cpu }) {
  const digits = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  return `${digits(1000 * Math.min(...cpu))} (${digits(1000 * Math.min(...wall))})`;
}

function render(rows, build, grid) {
  const date = new Date().toISOString().slice(0, 10);
  const cpu = os.cpus()[0]?.model ?? "an unknown CPU";
  const load = os.loadavg().map((value) => value.toFixed(2)).join(", ");
  const lines = [
    `Run on ${date} with Node ${process.version} (V8 ${process.versions.v8}) on ${cpu}, ${os.cpus().length} cores, ` +
      `${build} build; load average ${load} when the tables were written.`,
    "",
    `Microseconds per step, lower is better: the minimum CPU time over ${grid.rounds} calls after at least 3 warm-up calls, ` +
      `with the minimum wall time in parentheses. The ops run on one thread, so CPU time (process.cpuUsage, user + ` +
      `system) estimates the wall time without other processes competing for the cores; it also counts V8's background ` +
      `threads, so it can exceed the wall time. The wall times show the contention. CPU time over wall time for the whole run: ${grid.cpuShare}. Batch ${BATCH}, tanh, h = 1/steps. Forward: favor.sync.odeToOde.forward. Backward: ` +
      "favor.sync.odeToOde.backward with its defaults (checkpoints every ⌈√steps⌉ steps; W recovered in reverse for the " +
      "constant generator, stored with the checkpoints for the isospectral one), which includes its own forward pass " +
      "and the recomputation of each segment. With the constant generator Γ is computed once per call, so a step costs " +
      "the products X·Wᵀ and W·Γ. The isospectral generator computes Γ(h·b(W_i)) every step, and its backward pass " +
      "applies Γ′* every step (for exp, the exponential of a 2d×2d block matrix). " +
      `Every product runs on ${grid.gemm}.`,
    "",
    `| dim | generator | stepper | ${grid.steps.map((s) => `forward, ${s} steps`).join(" | ")} | ${grid.steps.map((s) => `backward, ${s} steps`).join(" | ")} |`,
    `|---|---|---|${grid.steps.map(() => "---|").join("")}${grid.steps.map(() => "---|").join("")}`,
  ];
  const keys = [...new Set(rows.map((r) => `${r.dim}|${r.generator}|${r.stepper}`))];
  for (const key of keys) {
    const [dim, generator, stepper] = key.split("|");
    const group = rows.filter((r) => `${r.dim}|${r.generator}|${r.stepper}` === key);
    lines.push(`| ${dim} | ${generator} | ${stepper} | ${group.map((r) => cell(r.forward)).join(" | ")} | ${group.map((r) => cell(r.backward)).join(" | ")} |`);
  }
  return lines.join("\n");
}


/** Parses the command-line options of the file header. */
function parseOptions(args) {
  const options = { ...FULL, write: true };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--quick") Object.assign(options, QUICK, { write: false });
    else if (arg === "--no-write") options.write = false;
    else if (arg === "--build" && i + 1 < args.length) options.build = args[++i];
    else throw new RangeError(`bench odetoode: unknown option ${arg}; known options are --quick, --no-write and --build NAME`);
  }
  return options;
}

/** Runs the suite from command-line arguments (the entry point of bench/run.mjs). */
export default async function odetoode(args) {
  await run(parseOptions(args));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await odetoode(process.argv.slice(2));
}
