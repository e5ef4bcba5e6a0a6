// Formats the main job's results: a plain-text summary for the terminal,
// the Markdown report, and the two SVG plots.

import { linePlot } from "./svg.mjs";

function fixed(value, digits = 3) {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function bytesText(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

function markdownTable(header, rows) {
  return [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function errorRows(block) {
  return block.rows.map((row) => [
    row.kernelName,
    row.features,
    row.featuresPerRow,
    `${fixed(row.attentionError.mean)} ± ${fixed(row.attentionError.std)}`,
    fixed(row.attentionTotalVariation.mean),
    `${fixed(row.outputError.mean)} ± ${fixed(row.outputError.std)}`,
    row.guardedRows,
  ]);
}

const ERROR_HEADER = ["kernel", "m", "r", "attention rel. error", "row TV", "output rel. error", "zeroed rows"];
const TIMING_HEADER = ["L", "input", "exact ms", "FAVOR+ m=64 ms", "FAVOR+ m=256 ms"];

function timingRows(timings) {
  return timings.map((t) => [t.length, t.input, fixed(t.exactMs, 1), fixed(t.favorMs[64], 1), fixed(t.favorMs[256], 1)]);
}

function shortText(text, limit = 40) {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

function approximationSummary(approximation) {
  return approximation.blocks.map((block) =>
    `L = ${block.length}, ${block.block} ("${shortText(block.text)}"), max ‖q̃‖ ${fixed(block.maxQueryNorm, 2)}, max ‖k̃‖ ${fixed(block.maxKeyNorm, 2)}; ` +
    `attention error over head(s) ${block.attentionHeads.join(", ")}, output error over all ${block.heads} heads, ` +
    `mean ± std over ${block.seeds} seeds; exact softmaxAttention vs the model's outputs: ${block.exactOutputError.toExponential(1)}`);
}

/** Returns the plain-text summary printed by `npm start`. */
export function textSummary(report) {
  const lines = [];
  const { approximation, training } = report;
  lines.push(`favor-wasm main job (${report.mode}), ${report.machine.build} build, ${report.machine.cpu}, Node ${report.machine.node}`);
  lines.push("");
  lines.push("1. Random-feature attention vs the PP-OCRv4 recognizer's own softmax attention");
  approximationSummary(approximation).forEach((heading, i) => {
    lines.push(`   ${heading}`);
    lines.push(table(ERROR_HEADER, errorRows(approximation.blocks[i])).replace(/^/gm, "     "));
  });
  lines.push(`   time for all ${approximation.timingHeads} heads (median; FAVOR via ${approximation.timingVia}):`);
  lines.push(table(TIMING_HEADER, timingRows(approximation.timings)).replace(/^/gm, "     "));
  lines.push("");
  lines.push("2. Causal Performer language model on Moby-Dick characters (favor.sync.slim)");
  const c = training.config;
  lines.push(`   ${training.parameterCount} parameters: layers ${c.layers}, d_model ${c.dModel}, ${c.heads} heads, m = ${c.features} positive features, ` +
    `token shift ${c.tokenShift}, windows of ${training.context} characters`);
  lines.push(`   ${training.steps} steps of ${training.batch} windows in ${fixed(training.trainingSeconds, 1)} s, slices of ${training.slice} positions`);
  lines.push(`   baselines: unigram ${fixed(training.unigramBits)}, bigram ${fixed(training.bigramBits)} bits/char (in-sample entropies of the training text)`);
  lines.push(`   training ${fixed(training.firstTrainingBits)} → ${fixed(training.lastTrainingBits)} bits/char (mean of the first and last ${training.averagedSteps} steps); ` +
    `validation ${fixed(training.initialValidationBits)} → ${fixed(training.finalValidationBits)}`);
  const m = training.memory;
  lines.push(`   memory of one lossAndGradients call: ${bytesText(m.callBytes)} with slices of ${training.slice}, ` +
    `${bytesText(m.unchunkedCallBytes)} with one slice of ${training.context} (measured, WebAssembly allocations)`);
  lines.push(`   WebAssembly memory ${bytesText(m.wasmMemoryBytesAfter)} after training`);
  lines.push(`   sample (temperature ${training.sample.temperature}): ${JSON.stringify(training.sample.prompt + training.sample.text)}`);
  lines.push("");
  lines.push(`Report: ${report.files.join(", ")}`);
  return lines.join("\n");
}

/** Returns the Markdown report. */
export function markdownReport(report) {
  const out = [];
  out.push(`# favor-wasm main job (${report.mode})`);
  out.push("");
  out.push(`${report.date}; ${report.machine.build} build, ${report.machine.cpu} (${report.machine.cores} logical cores), Node ${report.machine.node}; ` +
    `\`${report.command}\` took ${fixed(report.seconds, 1)} s.`);
  out.push("");
  out.push(...approximationSection(report.approximation));
  out.push(...trainingSection(report.training));
  return out.join("\n");
}

/** Returns the lines of the report's attention section. */
function approximationSection(approximation) {
  const out = [];
  out.push("## 1. Random-feature attention on a real transformer");
  out.push("");
  out.push("Queries, keys and values come from the two attention blocks in the neck of the PP-OCRv4 text " +
    "recognizer (8 heads of width 15) reading rendered lines of Moby-Dick (data/README.md). Each kernel " +
    "approximates softmax(QKᵀ/√15) by D⁻¹Q′K′ᵀ, with features of q̃ = q/15^¼ and k̃ = k/15^¼ built from m projection rows " +
    "(r features per row: m positive, 2m trigonometric, 4m(1 + m_λ) for the angular hybrid of trigonometric and hyperbolic " +
    "features, Choromanski et al., \"Hybrid Random Features\", ICLR 2022). All projections are orthogonal with chi norms. For one pair the " +
    "positive estimator's mean squared error relative to exp(q̃ᵀk̃) is (e^s − 1)/m with s = ‖q̃ + k̃‖² for iid features " +
    "(Choromanski et al., \"Rethinking Attention with Performers\", ICLR 2021, Lemma 2), so the largest norms, listed per block, " +
    "set how many features a block needs. The errors are relative Frobenius " +
    "errors against the model's own attention matrix and its attention·V outputs, and row TV is the mean " +
    "total variation distance between approximate and exact rows (trig and hybrid rows can have negative entries, so it can exceed 1). " +
    "Zeroed rows counts the rows of the formed matrices whose denominator was not positive, summed over heads and seeds.");
  out.push("");
  approximationSummary(approximation).forEach((heading, i) => {
    out.push(heading);
    out.push("");
    out.push(markdownTable(ERROR_HEADER, errorRows(approximation.blocks[i])));
    out.push("");
  });
  out.push("![attention error against m](attention-error.svg)");
  out.push("");
  out.push(`Time for all ${approximation.timingHeads} heads, median, FAVOR via ${approximation.timingVia} with the projection drawn beforehand. ` +
    "Rows marked tiled repeat the L = 512 line's Q, K and V along the sequence, for timing only.");
  out.push("");
  out.push(markdownTable(TIMING_HEADER, timingRows(approximation.timings)));
  out.push("");
  return out;
}

/** Returns the lines of the report's language-model section. */
function trainingSection(training) {
  const c = training.config;
  const m = training.memory;
  const out = [];
  out.push("## 2. A causal Performer language model on Moby-Dick");
  out.push("");
  out.push(`${training.parameterCount} parameters: layers ${c.layers}, d_model ${c.dModel}, ${c.heads} heads of width ${c.headDim}, ` +
    `MLP width ${c.mlp}, causal FAVOR+ attention with m = ${c.features} positive orthogonal features (chunks of ${c.chunk}), ` +
    `vocabulary ${c.vocab} characters, no positional embedding, ` +
    (c.tokenShift > 0 ? `a token shift of ${c.tokenShift} (the embeddings of the ${c.tokenShift} previous characters mixed into each input row). ` : "no token shift. ") +
    `The library's SLiM runner (favor.sync.slim) computes exact ` +
    `gradients in slices of ${training.slice} positions; Adam (learning rate ${training.learningRate}, gradients clipped to norm 1), ` +
    `${training.steps} steps of ${training.batch} windows of ${training.context} characters (${training.tokensSeen} characters) ` +
    `in ${fixed(training.trainingSeconds, 1)} s.`);
  out.push("");
  out.push(markdownTable(["quantity", "bits per character"], [
    ["unigram entropy of the training text", fixed(training.unigramBits)],
    ["bigram conditional entropy of the training text (in-sample)", fixed(training.bigramBits)],
    [`training loss, mean of the first ${training.averagedSteps} steps`, fixed(training.firstTrainingBits)],
    [`training loss, mean of the last ${training.averagedSteps} steps`, fixed(training.lastTrainingBits)],
    [`validation loss before training (${training.validationWindows} windows)`, fixed(training.initialValidationBits)],
    ["validation loss after training", fixed(training.finalValidationBits)],
  ]));
  out.push("");
  out.push("![training loss against step](training-loss.svg)");
  out.push("");
  out.push("Memory of one lossAndGradients call (one window), in WebAssembly memory:");
  out.push("");
  out.push(markdownTable(["what", "bytes", "how"], [
    [`whole call, slices of ${training.slice} positions`, bytesText(m.callBytes), "measured: bytes the bindings allocate during the call (f32_gemm's own packing buffers not included)"],
    [`whole call, one slice of ${training.context} positions (unchunked)`, bytesText(m.unchunkedCallBytes), "measured the same way"],
    [`activations of one slice of ${training.slice}`, bytesText(m.estimatedSliceActivationBytes), "computed: slice·(layers·(8·d_model + 2·mlp) + vocab) floats"],
    [`activations of ${training.context} positions`, bytesText(m.estimatedUnchunkedActivationBytes), "computed the same way"],
    ["attention states and their gradients", bytesText(m.attentionStateBytes), "computed: 2·layers·heads·m·(d_head + 1) floats"],
    ["parameters", bytesText(m.parameterBytes), "computed"],
    ["WebAssembly linear memory after training", bytesText(m.wasmMemoryBytesAfter), `favor.info.memoryBytes of the training instance (at start: ${bytesText(m.wasmMemoryBytesBefore)})`],
  ]));
  out.push("");
  out.push(`Sample (temperature ${training.sample.temperature}, fixed seed), prompt in brackets:`);
  out.push("");
  out.push("```text");
  out.push(`[${training.sample.prompt}]${training.sample.text}`);
  out.push("```");
  out.push("");
  return out;
}

/** Returns the SVG plot of attention error against m, one line per kernel and fixture block. */
export function errorPlot(approximation) {
  const series = [];
  for (const block of approximation.blocks) {
    const kernels = [...new Set(block.rows.map((r) => r.kernel))];
    for (const kernel of kernels) {
      const rows = block.rows.filter((r) => r.kernel === kernel);
      series.push({ name: `${kernel}, L=${block.length} ${block.block}`, points: rows.map((r) => [r.features, r.attentionError.mean]) });
    }
  }
  return linePlot({
    title: "Attention matrix error against the number of features",
    xLabel: "m (random features)",
    yLabel: "relative Frobenius error",
    series,
    xLog: true,
    yLog: true,
  });
}

/** Returns the SVG plot of training loss against step, with the unigram baseline. */
export function lossPlot(training) {
  const raw = training.history.map((h) => [h.step + 1, h.bits]);
  // Exponential moving average with Adam's bias correction, so the first points are not pulled toward 0.
  const smoothed = [];
  let average = 0;
  raw.forEach(([step, bits], i) => {
    average = 0.9 * average + 0.1 * bits;
    smoothed.push([step, average / (1 - 0.9 ** (i + 1))]);
  });
  return linePlot({
    title: "Training loss of the causal Performer on Moby-Dick",
    xLabel: "step",
    yLabel: "bits per character",
    series: [
      { name: "training loss", points: raw, color: "#9ecae1", width: 1, markers: false },
      { name: "moving average (0.9)", points: smoothed, color: "#1f77b4", markers: false },
      { name: `validation (${training.validationWindows} windows)`, points: training.validationHistory.map((v) => [v.step, v.bits]), color: "#d62728" },
    ],
    references: [
      { name: "unigram entropy", y: training.unigramBits, color: "#555" },
      { name: "bigram entropy (in-sample)", y: training.bigramBits, color: "#2ca02c" },
    ],
  });
}
