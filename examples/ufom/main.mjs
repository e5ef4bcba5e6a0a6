// Few-shot sine-wave regression with a MAML-style inner loop, trained with
// first-order (FOM), unbiased first-order (UFOM) and exact meta-gradients
// from favor.sync.bilevel. Writes an SVG with the meta-test loss against
// outer steps and against wall time, and the parameter buffers and callback
// calls of one gradient against the number of inner steps.
//
// Usage: node scripts/run-node.mjs examples/ufom/main.mjs [OUTPUT_DIR] [--steps N]
// (OUTPUT_DIR defaults to out/ufom; --steps sets outer steps per method, default 1000).

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createFavor } from "../../dist/index.js";
import { createMlp, initParameters, mlpLayout } from "./mlp.mjs";
import { chart, svgDocument } from "./plot.mjs";

const args = process.argv.slice(2);
const stepsFlag = args.indexOf("--steps");
const OUTER_STEPS = stepsFlag >= 0 ? Number(args[stepsFlag + 1]) : 1000;
const outputDir = resolve(args.find((arg, i) => !arg.startsWith("--") && args[i - 1] !== "--steps") ?? "out/ufom");
if (!Number.isInteger(OUTER_STEPS) || OUTER_STEPS < 1) {
  console.error("usage: main.mjs [OUTPUT_DIR] [--steps N] with N a positive integer");
  process.exit(2);
}

// Tasks: y = amplitude·sin(x − phase) with amplitude in [0.1, 5], phase in
// [0, π] and inputs x in [−5, 5], all uniform.
const HIDDEN = 40;
const SUPPORT = 10;
const QUERY = 10;
const EVAL_QUERY = 50;
const EVAL_TASKS = 64;
const INNER_STEPS = 5;
const INNER_RATE = 0.02;
const OUTER_RATE = 0.002;
const EVAL_EVERY = 50;
const TASK_STRIDE = 2 + SUPPORT + EVAL_QUERY;

const favor = await createFavor();
const layout = mlpLayout(HIDDEN);
const mlp = createMlp(layout, favor.sync.matmul);

/** Returns task i of a stream: the support and query sets of one sine curve. */
function sineTask(draws, index, queryCount) {
  const base = index * TASK_STRIDE;
  const amplitude = 0.1 + 4.9 * draws[base];
  const phase = Math.PI * draws[base + 1];
  const inputs = (offset, count) => Float32Array.from(draws.subarray(base + offset, base + offset + count), (u) => 10 * u - 5);
  const supportX = inputs(2, SUPPORT);
  const queryX = inputs(2 + SUPPORT, queryCount);
  const target = (x) => x.map((value) => amplitude * Math.sin(value - phase));
  return { supportX, supportY: target(supportX), queryX, queryY: target(queryX) };
}

/** Builds the bilevel task: inner loss on the support set, outer loss on the query set. */
function bilevelTask(task) {
  return {
    innerGrad: (theta) => mlp.gradient(theta, task.supportX, task.supportY),
    innerHvp: (theta, vector) => mlp.hessianVector(theta, vector, task.supportX, task.supportY),
    outerGrad: (theta) => mlp.gradient(theta, task.queryX, task.queryY),
  };
}

/** Returns the mean query loss over the evaluation tasks after INNER_STEPS steps of SGD on each support set. */
function metaTestLoss(theta, evalDraws) {
  let sum = 0;
  const adapted = new Float32Array(theta.length);
  for (let i = 0; i < EVAL_TASKS; i++) {
    const task = sineTask(evalDraws, i, EVAL_QUERY);
    adapted.set(theta);
    for (let j = 0; j < INNER_STEPS; j++) {
      const gradient = mlp.gradient(adapted, task.supportX, task.supportY);
      for (let p = 0; p < adapted.length; p++) adapted[p] -= INNER_RATE * gradient[p];
    }
    sum += mlp.loss(adapted, task.queryX, task.queryY);
  }
  return sum / EVAL_TASKS;
}

/** Returns the relative error of the hand-written HVP against central differences of the gradient. */
function checkHessianVector(theta, task) {
  const vector = favor.sync.random.normal(theta.length, 99);
  const exact = mlp.hessianVector(theta, vector, task.supportX, task.supportY);
  const step = 1e-3;
  const plus = mlp.gradient(theta.map((p, i) => p + step * vector[i]), task.supportX, task.supportY);
  const minus = mlp.gradient(theta.map((p, i) => p - step * vector[i]), task.supportX, task.supportY);
  let error = 0;
  let norm = 0;
  for (let i = 0; i < exact.length; i++) {
    error += ((plus[i] - minus[i]) / (2 * step) - exact[i]) ** 2;
    norm += exact[i] ** 2;
  }
  return Math.sqrt(error / norm);
}

const initial = initParameters(layout, favor.sync.random.uniform(layout.size, 1));
const trainDraws = favor.sync.random.uniform(OUTER_STEPS * TASK_STRIDE, 2);
const evalDraws = favor.sync.random.uniform(EVAL_TASKS * TASK_STRIDE, 3);

console.log(`UFOM demo: ${HIDDEN}-unit tanh MLP (n = ${layout.size} parameters), ${SUPPORT}-shot sine regression,`);
console.log(`r = ${INNER_STEPS} inner steps at α = ${INNER_RATE}, Adam at ${OUTER_RATE}, ${OUTER_STEPS} outer steps per method (${favor.info.build} build)`);
console.log(`HVP vs central differences (step 1e-3): relative error ${checkHessianVector(initial, sineTask(trainDraws, 0, QUERY)).toExponential(2)}`);

const methods = [
  { name: "FOM", options: { method: "fom" } },
  { name: "UFOM q = 0.3", options: { method: "ufom", q: 0.3, seed: 7 } },
  { name: "UFOM adaptive", options: { method: "ufom", q: "adaptive", qMin: 0.05, seed: 7 } },
  { name: "exact", options: { method: "exact" } },
];

const results = [];
for (const { name, options } of methods) {
  const theta = initial.slice();
  const optimizer = favor.sync.bilevel.optimizer({
    theta, optimizer: "adam", learningRate: OUTER_RATE, innerSteps: INNER_STEPS, innerRate: INNER_RATE, ...options,
  });
  const curve = [[0, 0, metaTestLoss(theta, evalDraws)]];
  let trainingMs = 0;
  let exactSteps = 0;
  const calls = { innerGrad: 0, innerHvp: 0, outerGrad: 0 };
  for (let step = 0; step < OUTER_STEPS; step++) {
    const task = bilevelTask(sineTask(trainDraws, step, QUERY));
    const start = performance.now();
    const result = optimizer.step(task);
    trainingMs += performance.now() - start;
    if (result.exactComputed) exactSteps++;
    for (const key of Object.keys(calls)) calls[key] += result.cost[key];
    if ((step + 1) % EVAL_EVERY === 0) curve.push([step + 1, trainingMs / 1000, metaTestLoss(theta, evalDraws)]);
  }
  const final = curve.at(-1)[2];
  const qNote = optimizer.adaptiveState ? `, final q ${optimizer.q.toFixed(3)}` : "";
  console.log(`${name.padEnd(14)} meta-test loss ${curve[0][2].toFixed(3)} → ${final.toFixed(3)}, training ${(trainingMs / 1000).toFixed(1)} s, ` +
    `g_E on ${exactSteps}/${OUTER_STEPS} steps, callbacks ${calls.innerGrad}/${calls.innerHvp}/${calls.outerGrad} (grad/HVP/outer)${qNote}`);
  results.push({ name, curve, trainingSeconds: trainingMs / 1000, exactSteps, calls, finalQ: optimizer.q });
}

// Memory and cost of one exact gradient against r.
const memoryTask = bilevelTask(sineTask(trainDraws, 0, QUERY));
const rValues = [1, 2, 4, 8, 16, 32];
const memory = { recomputed: [], stored: [], fom: [] };
for (const r of rValues) {
  const run = (options) => favor.sync.bilevel.gradient(initial, memoryTask, { innerSteps: r, innerRate: INNER_RATE, ...options });
  for (const [key, options] of [["recomputed", { method: "exact" }], ["stored", { method: "exact", storeTrajectory: true }], ["fom", { method: "fom" }]]) {
    const start = performance.now();
    const result = run(options);
    memory[key].push({ r, buffers: result.parameterBuffers, calls: result.cost.innerGrad + result.cost.innerHvp + result.cost.outerGrad, ms: performance.now() - start });
  }
}
console.log(`θ-sized buffers held by one gradient (each ${(layout.size * 4 / 1024).toFixed(1)} KiB):`);
for (const [key, rows] of Object.entries(memory)) {
  console.log(`  ${key.padEnd(10)} ${rows.map((row) => `r=${row.r}: ${row.buffers}`).join(", ")}`);
}

const panelWidth = 460;
const panelHeight = 320;
const charts = [
  chart({
    left: 0, top: 0, width: panelWidth, height: panelHeight, title: "Meta-test loss vs outer steps", xLabel: "outer step", yLabel: "query MSE after adaptation",
    series: results.map((r) => ({ name: r.name, points: r.curve.map(([step, , loss]) => [step, loss]) })),
  }),
  chart({
    left: panelWidth, top: 0, width: panelWidth, height: panelHeight, title: "Meta-test loss vs training time", xLabel: "training wall time (s)", yLabel: "query MSE after adaptation",
    series: results.map((r) => ({ name: r.name, points: r.curve.map(([, seconds, loss]) => [seconds, loss]) })),
  }),
  chart({
    left: 0, top: panelHeight, width: panelWidth, height: panelHeight, title: "Memory of one gradient", xLabel: "inner steps r", yLabel: "θ-sized buffers held",
    series: [
      { name: "exact, recomputed θ_j (UFOM's path)", points: memory.recomputed.map((row) => [row.r, row.buffers]) },
      { name: "exact, stored trajectory", points: memory.stored.map((row) => [row.r, row.buffers]) },
      { name: "FOM", points: memory.fom.map((row) => [row.r, row.buffers]), dashed: true },
    ],
    legend: "left",
  }),
  chart({
    left: panelWidth, top: panelHeight, width: panelWidth, height: panelHeight, title: "Callback calls of one gradient", xLabel: "inner steps r", yLabel: "innerGrad + innerHvp + outerGrad calls",
    series: [
      { name: "exact, recomputed: r(r+1)/2 + r + 1", points: memory.recomputed.map((row) => [row.r, row.calls]) },
      { name: "exact, stored: 2r + 1", points: memory.stored.map((row) => [row.r, row.calls]) },
      { name: "FOM: r + 1", points: memory.fom.map((row) => [row.r, row.calls]), dashed: true },
    ],
    logX: 2, logY: 2, legend: "left",
  }),
];

mkdirSync(outputDir, { recursive: true });
writeFileSync(join(outputDir, "ufom.svg"), svgDocument(2 * panelWidth, 2 * panelHeight, charts));
writeFileSync(join(outputDir, "results.json"), JSON.stringify({ config: { HIDDEN, SUPPORT, QUERY, INNER_STEPS, INNER_RATE, OUTER_RATE, OUTER_STEPS }, results, memory }, null, 2));
console.log(`wrote ${join(outputDir, "ufom.svg")} and results.json`);
