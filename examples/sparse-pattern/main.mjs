// Fixed self-attention weights reproducing sparse attention patterns:
// builds inputs for banded, strided and random patterns, measures how well
// softmax(x·wq·(x·wk)ᵀ/√d) keeps their weight ratios, and plots the distortion
// against d for several sequence lengths L, with the d each L needs.
// Usage: node scripts/run-node.mjs examples/sparse-pattern/main.mjs [--out DIR]
// Writes DIR/distortion.svg (default DIR: out/sparse-pattern).

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createFavor } from "favor-wasm";

const outIndex = process.argv.indexOf("--out");
const outDir = resolve(outIndex > 0 ? process.argv[outIndex + 1] : "out/sparse-pattern");

const DELTA = 6;
const LENGTHS = [128, 512, 2048, 8192];
const DIMS = [16, 32, 64, 128, 256, 512, 1024];
/** Seeds per point of the distortion curves. */
const SEEDS = 5;
/** Seeded trials per d in the search for the required d; more than SEEDS because the search compares against a threshold. */
const TRIALS = 12;
const EPSILON = 4;

/** Returns a CSR pattern from a function that lists each row's [column, weight] pairs. */
function csr(length, rowEntries) {
  const rowOffsets = new Int32Array(length + 1);
  const columns = [];
  const values = [];
  for (let i = 0; i < length; i++) {
    for (const [column, weight] of rowEntries(i)) {
      columns.push(column);
      values.push(weight);
    }
    rowOffsets[i + 1] = columns.length;
  }
  return { rowOffsets, columns: Int32Array.from(columns), values: Float32Array.from(values) };
}

/** Returns a banded pattern: each row attends to itself and its neighbours within `radius`, the weight halving per step. */
function bandedPattern(length, radius) {
  return csr(length, (i) => {
    const entries = [];
    for (let j = Math.max(0, i - radius); j <= Math.min(length - 1, i + radius); j++) entries.push([j, 2 ** -Math.abs(i - j)]);
    return entries;
  });
}

/** Returns a strided pattern: row i attends equally to itself and to up to `count` earlier positions i − stride, i − 2·stride, … */
function stridedPattern(length, stride, count) {
  return csr(length, (i) => {
    const entries = [[i, 1]];
    for (let step = 1; step <= count && i - step * stride >= 0; step++) entries.push([i - step * stride, 1]);
    return entries;
  });
}

/** A small deterministic generator (linear congruential) for the random pattern. */
function uniformStream(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Returns a random pattern: each row attends to k distinct random columns with weights e^v, v uniform in [−spread, spread]. */
function randomPattern(length, k, seed, spread = 0) {
  const uniform = uniformStream(seed);
  return csr(length, () => {
    const used = new Set();
    while (used.size < k) used.add(Math.floor(uniform() * length));
    return [...used].map((column) => [column, Math.exp(spread * (2 * uniform() - 1))]);
  });
}

const favor = await createFavor();
const sparse = favor.sync.sparsePattern;
console.log(`sparse attention patterns on the ${favor.info.build} build, Δ = ${DELTA}`);
const started = performance.now();

// 1. Three pattern families at L = 256: every precision measure at two d.
console.log("\nL = 256, one seed; distortions are |log-ratio errors| over pairs of nonzeros in a row");
console.log("pattern              d    max distortion  mean distortion  leakage   max off-support mass");
const families = [
  ["banded (radius 2)", bandedPattern(256, 2)],
  ["strided (16, 3 back)", stridedPattern(256, 16, 3)],
  ["random (k = 3)", randomPattern(256, 3, 7, 1)],
];
for (const [name, pattern] of families) {
  for (const d of [64, 256]) {
    const { x, wq, wk } = sparse.construct(pattern, { length: 256, d, delta: DELTA, seed: 1 });
    const result = sparse.evaluate(pattern, x, wq, wk, { d });
    console.log(
      `${name.padEnd(20)} ${String(d).padStart(4)}  ${result.maxDistortion.toFixed(3).padStart(14)}  ` +
        `${result.meanDistortion.toFixed(3).padStart(15)}  ${result.leakage.toExponential(2).padStart(8)}  ` +
        `${result.maxOffSupportMass.toFixed(3).padStart(20)}`,
    );
  }
}

// 2. The margin Δ trades leakage for distortion: the noise-free leakage is
// e^-Δ, but the logits, and with them the projection noise, grow with Δ.
console.log("\nrandom pattern (k = 3), L = 256, d = 256, one seed: the margin Δ against leakage and distortion");
console.log("  Δ   max distortion  leakage   max off-support mass");
for (const delta of [3, 6, 9, 12]) {
  const [, pattern] = families[2];
  const { x, wq, wk } = sparse.construct(pattern, { length: 256, d: 256, delta, seed: 1 });
  const result = sparse.evaluate(pattern, x, wq, wk, { d: 256 });
  console.log(
    `${String(delta).padStart(3)}  ${result.maxDistortion.toFixed(3).padStart(15)}  ${result.leakage.toExponential(2).padStart(8)}  ` +
      `${result.maxOffSupportMass.toFixed(3).padStart(20)}`,
  );
}

// 3. Distortion against d for several L: random patterns, k = 3, all weights 1.
console.log(`\nmean max distortion over ${SEEDS} seeds, random pattern with k = 3 and weights 1; required d from ${TRIALS} trials`);
console.log(`L \\ d ${DIMS.map((d) => String(d).padStart(7)).join("")}`);
const curves = [];
for (const length of LENGTHS) {
  const pattern = randomPattern(length, 3, length, 0);
  const points = DIMS.map((d) => {
    let sum = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const { x, wq, wk } = sparse.construct(pattern, { length, d, delta: DELTA, seed });
      sum += sparse.evaluate(pattern, x, wq, wk, { d, leakage: false }).maxDistortion;
    }
    return { d, distortion: sum / SEEDS };
  });
  const required = sparse.requiredDim(pattern, { epsilon: EPSILON, trials: TRIALS, aggregate: "mean", delta: DELTA, minDim: 16 });
  curves.push({ length, points, required: required.d });
  console.log(`${String(length).padEnd(5)} ${points.map((p) => p.distortion.toFixed(2).padStart(7)).join("")}   needs d = ${required.d} for ε = ${EPSILON}`);
}

// Required d against ln L: logarithmic growth is a straight line.
const xs = curves.map((curve) => Math.log(curve.length));
const ys = curves.map((curve) => curve.required);
const xMean = xs.reduce((a, b) => a + b) / xs.length;
const yMean = ys.reduce((a, b) => a + b) / ys.length;
const slope = xs.reduce((sum, x, i) => sum + (x - xMean) * (ys[i] - yMean), 0) / xs.reduce((sum, x) => sum + (x - xMean) ** 2, 0);
const intercept = yMean - slope * xMean;
console.log(`least-squares fit: required d ≈ ${intercept.toFixed(1)} + ${slope.toFixed(1)}·ln L`);

mkdirSync(outDir, { recursive: true });
const svgPath = join(outDir, "distortion.svg");
writeFileSync(svgPath, plot(curves, { slope, intercept }));
console.log(`\nwrote ${svgPath} in ${((performance.now() - started) / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------- SVG plot

/** Returns an SVG with two panels: distortion against d (log-log) and required d against L (log x). */
function plot(curves, fit) {
  const colors = ["#1b6ca8", "#d95f02", "#2a9d3f", "#7b3294"];
  const parts = [];
  const panel = (left, title, xLabel, yLabel) => {
    const box = { left: left + 64, top: 44, width: 330, height: 270 };
    parts.push(`<text x="${left + 229}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${title}</text>`);
    parts.push(`<rect x="${box.left}" y="${box.top}" width="${box.width}" height="${box.height}" fill="none" stroke="#444"/>`);
    parts.push(`<text x="${box.left + box.width / 2}" y="${box.top + box.height + 40}" text-anchor="middle">${xLabel}</text>`);
    parts.push(`<text transform="translate(${left + 16},${box.top + box.height / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`);
    return box;
  };
  const logScale = (low, high, start, size) => (value) => start + ((Math.log(value) - Math.log(low)) / (Math.log(high) - Math.log(low))) * size;
  const linearScale = (low, high, start, size) => (value) => start + ((value - low) / (high - low)) * size;

  // Left panel: log-log distortion against d.
  const all = curves.flatMap((curve) => curve.points.map((p) => p.distortion));
  const yLow = 2 ** Math.floor(Math.log2(Math.min(...all, EPSILON)));
  const yHigh = 2 ** Math.ceil(Math.log2(Math.max(...all)));
  const left = panel(0, "max distortion against d", "d (log scale)", "mean max log-ratio distortion (log scale)");
  const lx = logScale(DIMS[0], DIMS.at(-1), left.left, left.width);
  const ly = (value) => left.top + left.height - (logScale(yLow, yHigh, 0, left.height)(value));
  for (const d of DIMS) {
    parts.push(`<line x1="${lx(d)}" y1="${left.top + left.height}" x2="${lx(d)}" y2="${left.top + left.height + 5}" stroke="#444"/>`);
    parts.push(`<text x="${lx(d)}" y="${left.top + left.height + 19}" text-anchor="middle" font-size="11">${d}</text>`);
  }
  for (let value = yLow; value <= yHigh; value *= 2) {
    parts.push(`<line x1="${left.left - 5}" y1="${ly(value)}" x2="${left.left}" y2="${ly(value)}" stroke="#444"/>`);
    parts.push(`<text x="${left.left - 8}" y="${ly(value) + 4}" text-anchor="end" font-size="11">${value}</text>`);
  }
  parts.push(`<line x1="${left.left}" y1="${ly(EPSILON)}" x2="${left.left + left.width}" y2="${ly(EPSILON)}" stroke="#888" stroke-dasharray="5 4"/>`);
  parts.push(`<text x="${left.left + left.width - 4}" y="${ly(EPSILON) - 5}" text-anchor="end" font-size="11" fill="#666">ε = ${EPSILON}</text>`);
  curves.forEach((curve, index) => {
    const points = curve.points.map((p) => `${lx(p.d).toFixed(1)},${ly(p.distortion).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${colors[index]}" stroke-width="2"/>`);
    for (const p of curve.points) parts.push(`<circle cx="${lx(p.d).toFixed(1)}" cy="${ly(p.distortion).toFixed(1)}" r="3" fill="${colors[index]}"/>`);
    // The curves fall from top left to bottom right, so the legend goes bottom left.
    const legendY = left.top + left.height - 12 - 16 * (curves.length - 1 - index);
    parts.push(`<text x="${left.left + 10}" y="${legendY}" font-size="12" fill="${colors[index]}">L = ${curve.length}</text>`);
  });
  // A dotted guide with slope −1/2, starting 20% below the first curve's first point.
  const first = curves[0].points[0];
  const guideEnd = DIMS.at(-1);
  parts.push(`<line x1="${lx(first.d)}" y1="${ly(first.distortion * 0.8)}" x2="${lx(guideEnd)}" y2="${ly(first.distortion * 0.8 * Math.sqrt(first.d / guideEnd))}" stroke="#bbb" stroke-dasharray="2 3"/>`);
  parts.push(`<text x="${lx(guideEnd) - 4}" y="${left.top + 14}" text-anchor="end" font-size="11" fill="#999">dotted: ∝ d^(−1/2)</text>`);

  // Right panel: required d against L on a log axis; logarithmic growth is a straight line.
  const right = panel(440, `d needed for ε = ${EPSILON}`, "L (log scale)", "required d");
  const rx = logScale(LENGTHS[0] / 1.5, LENGTHS.at(-1) * 1.5, right.left, right.width);
  // Five steps up the axis, each 1, 2 or 5 times a power of ten.
  const rawStep = (Math.max(...curves.map((c) => c.required)) * 1.2) / 5;
  const power = 10 ** Math.floor(Math.log10(rawStep));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rawStep);
  const dHigh = 5 * step;
  const ry = (value) => right.top + right.height - linearScale(0, dHigh, 0, right.height)(value);
  for (const length of LENGTHS) {
    parts.push(`<line x1="${rx(length)}" y1="${right.top + right.height}" x2="${rx(length)}" y2="${right.top + right.height + 5}" stroke="#444"/>`);
    parts.push(`<text x="${rx(length)}" y="${right.top + right.height + 19}" text-anchor="middle" font-size="11">${length}</text>`);
  }
  for (let value = 0; value <= dHigh; value += step) {
    parts.push(`<line x1="${right.left - 5}" y1="${ry(value)}" x2="${right.left}" y2="${ry(value)}" stroke="#444"/>`);
    parts.push(`<text x="${right.left - 8}" y="${ry(value) + 4}" text-anchor="end" font-size="11">${value}</text>`);
  }
  const fitAt = (length) => fit.intercept + fit.slope * Math.log(length);
  const fitLow = LENGTHS[0] / 1.5;
  const fitHigh = LENGTHS.at(-1) * 1.5;
  parts.push(`<line x1="${rx(fitLow)}" y1="${ry(fitAt(fitLow))}" x2="${rx(fitHigh)}" y2="${ry(fitAt(fitHigh))}" stroke="#888" stroke-dasharray="5 4"/>`);
  parts.push(`<text x="${right.left + 10}" y="${right.top + 18}" font-size="12" fill="#666">fit: ${fit.intercept.toFixed(0)} + ${fit.slope.toFixed(1)}·ln L</text>`);
  curves.forEach((curve, index) => {
    parts.push(`<circle cx="${rx(curve.length)}" cy="${ry(curve.required)}" r="5" fill="${colors[index]}"/>`);
    parts.push(`<text x="${rx(curve.length) + 8}" y="${ry(curve.required) + 18}" font-size="11" fill="${colors[index]}">${curve.required}</text>`);
  });

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="880" height="380" viewBox="0 0 880 380" font-family="sans-serif" font-size="12">`,
    `<rect width="880" height="380" fill="white"/>`,
    ...parts,
    `</svg>`,
    "",
  ].join("\n");
}
