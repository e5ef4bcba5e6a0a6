// Step 1 of the main job: approximate the OCR model's real attention with
// random features and measure the error against the model's own softmax
// attention matrix and outputs.
//
// For one head with queries Q, keys K (L×d) and values V, the model computes
// A = softmax(QKᵀ/√d) and O = A·V. With q̃ = d^{-1/4}q and k̃ = d^{-1/4}k,
// exp(qᵀk/√d) = exp(q̃ᵀk̃), which a feature map estimates as φ(q̃)ᵀφ(k̃). So
// the approximate attention is Â = D⁻¹Q′K′ᵀ with Q′ = φ_query(Q̃),
// K′ = φ_key(K̃) and D = diag(Q′K′ᵀ1), and Ô = Â·V. Rows whose denominator is
// not above 2^-126 (possible with trig and hybrid features, which take both
// signs) are set to zero, the guard the library's attention op applies.
//
// The angular hybrid's map Ψ has 4m(1 + m_λ) features per row, so its Â is
// formed from favor.sync.kernel.softmax, whose pairwise estimates equal
// Ψ_q(q̃)ᵀΨ_k(k̃) (docs/kernels.md) at a fraction of the cost. Its outputs
// come from favor.sync.attention with the Ψ maps, like the other kernels'.

/** The smallest normal float32: the denominator guard of the attention op (docs/attention.md). */
export const DENOMINATOR_FLOOR = 2 ** -126;

/** The feature maps the demo compares. All projections are orthogonal with chi norms. */
export const KERNELS = [
  { name: "FAVOR+ (positive)", kind: "positive" },
  { name: "trigonometric", kind: "trig" },
  { name: "angular hybrid, m_λ = 8", kind: "angular-hybrid", lambdaFeatures: 8 },
];

/** Returns the number of features per row r of a kernel with m projection rows. */
export function featuresPerRow(kernel, m) {
  if (kernel.kind === "angular-hybrid") return 4 * m * (1 + kernel.lambdaFeatures);
  return kernel.kind === "trig" ? 2 * m : m;
}

/** Draws a kernel's projection: one m×d matrix, or { base1, base2, lambda } for the hybrid. */
export function drawProjection(favor, kernel, { features, dim, seed }) {
  if (kernel.kind === "angular-hybrid") {
    return favor.sync.kernel.projection({ estimator: kernel.kind, dim, features, lambdaFeatures: kernel.lambdaFeatures, seed });
  }
  return favor.sync.projection({ features, dim, seed });
}

/**
 * Returns a row-normalized copy D⁻¹·S of the rows×cols score matrix S and
 * the number of rows that the denominator guard set to zero.
 */
export function normalizeRows(scores, rows, cols) {
  const out = new Float32Array(rows * cols);
  let guarded = 0;
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += scores[i * cols + j];
    if (!(sum > DENOMINATOR_FLOOR)) {
      guarded++;
      continue;
    }
    for (let j = 0; j < cols; j++) out[i * cols + j] = scores[i * cols + j] / sum;
  }
  return { attention: out, guarded };
}

/** Returns ‖a − b‖_F / ‖b‖_F over `count` values starting at the given offsets, in float64. */
export function relativeFrobeniusError(a, b, count = b.length, offsetA = 0, offsetB = 0) {
  let difference = 0;
  let reference = 0;
  for (let i = 0; i < count; i++) {
    const x = a[offsetA + i];
    const y = b[offsetB + i];
    difference += (x - y) * (x - y);
    reference += y * y;
  }
  return Math.sqrt(difference / reference);
}

/**
 * Returns the mean over rows of the total variation distance ½Σ_j|â_ij − a_ij|
 * between two rows×cols row-stochastic matrices: 0 for equal rows, 1 for rows
 * with disjoint support.
 */
export function meanRowTotalVariation(approximate, exact, rows, cols, offsetA = 0, offsetB = 0) {
  let total = 0;
  for (let i = 0; i < rows; i++) {
    let row = 0;
    for (let j = 0; j < cols; j++) row += Math.abs(approximate[offsetA + i * cols + j] - exact[offsetB + i * cols + j]);
    total += row / 2;
  }
  return total / rows;
}

function scaled(x, factor) {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * factor;
  return out;
}

/**
 * Forms the approximate attention matrix of one head: returns
 * { attention: Â (L×L), guarded } for the head's q and k (L×d), a kernel of
 * KERNELS, its projection and m. Features use ε = 0, as in the attention op.
 */
export function approximateAttentionMatrix(favor, { q, k, length, dim, kernel, projection, features }) {
  const scale = dim ** -0.25;
  const queries = scaled(q, scale);
  const keys = scaled(k, scale);
  let scores;
  if (kernel.kind === "angular-hybrid") {
    scores = favor.sync.kernel.softmax(queries, keys, {
      rowsX: length, rowsY: length, dim, estimator: kernel.kind, projection, features, lambdaFeatures: kernel.lambdaFeatures,
    });
  } else {
    const common = { rows: length, dim, projection, features, kind: kernel.kind, epsilon: 0 };
    const queryFeatures = favor.sync.features(queries, { ...common, role: "query" });
    const keyFeatures = favor.sync.features(keys, { ...common, role: "key" });
    const r = queryFeatures.length / length;
    scores = favor.sync.matmul(queryFeatures, keyFeatures, { m: length, k: r, n: length, transB: true });
  }
  return normalizeRows(scores, length, length);
}

function mean(values) {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function standardDeviation(values) {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1));
}

/**
 * Measures every kernel at every m on one attention block of a fixture.
 * `block` is { q, k, v, attention, output } with q, k, v, output of shape
 * [heads, L, d] and attention of shape [attentionHeads.length, L, L].
 * Returns one row per (kernel, m): the errors averaged over heads, then
 * their mean and standard deviation over seeds.
 */
export function measureBlock(favor, block, { length, heads, dim, attentionHeads, featureCounts, seeds, onProgress }) {
  const rows = [];
  const headSize = length * dim;
  const matrixSize = length * length;
  for (const kernel of KERNELS) {
    for (const m of featureCounts) {
      const perSeed = { attention: [], totalVariation: [], output: [], guarded: 0 };
      for (const seed of seeds) {
        const projection = drawProjection(favor, kernel, { features: m, dim, seed });
        const attentionErrors = [];
        const variations = [];
        const outputErrors = [];
        const output = linearAttention(favor, { q: block.q, k: block.k, v: block.v, length, heads, dim, kernel, projection, features: m });
        for (let h = 0; h < heads; h++) {
          outputErrors.push(relativeFrobeniusError(output, block.output, headSize, h * headSize, h * headSize));
        }
        attentionHeads.forEach((h, stored) => {
          const slice = (t) => t.subarray(h * headSize, (h + 1) * headSize);
          const result = approximateAttentionMatrix(favor, {
            q: slice(block.q), k: slice(block.k), length, dim, kernel, projection, features: m,
          });
          perSeed.guarded += result.guarded;
          attentionErrors.push(relativeFrobeniusError(result.attention, block.attention, matrixSize, 0, stored * matrixSize));
          variations.push(meanRowTotalVariation(result.attention, block.attention, length, length, 0, stored * matrixSize));
        });
        perSeed.attention.push(mean(attentionErrors));
        perSeed.totalVariation.push(mean(variations));
        perSeed.output.push(mean(outputErrors));
        onProgress?.();
      }
      rows.push({
        kernel: kernel.kind,
        kernelName: kernel.name,
        features: m,
        featuresPerRow: featuresPerRow(kernel, m),
        attentionError: { mean: mean(perSeed.attention), std: standardDeviation(perSeed.attention) },
        attentionTotalVariation: { mean: mean(perSeed.totalVariation), std: standardDeviation(perSeed.totalVariation) },
        outputError: { mean: mean(perSeed.output), std: standardDeviation(perSeed.output) },
        guardedRows: perSeed.guarded,
      });
    }
  }
  return rows;
}

/** Returns the relative error of the library's exact softmaxAttention against the model's outputs (a floor for the table). */
export function exactOutputError(favor, block, { length, heads, dim }) {
  const out = favor.sync.softmaxAttention(block.q, block.k, block.v, {
    batch: 1, heads, length, dim, layout: "bhld", causal: false,
  });
  const headSize = length * dim;
  const errors = [];
  for (let h = 0; h < heads; h++) errors.push(relativeFrobeniusError(out, block.output, headSize, h * headSize, h * headSize));
  return mean(errors);
}

function medianTime(run, repeats) {
  run();
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(repeats / 2)];
}

/**
 * Runs bidirectional FAVOR attention over all heads of [heads, L, d]
 * tensors with favor.sync.attention, in O(L·r·d) without the L×L matrix.
 */
export function linearAttention(favor, { q, k, v, length, heads, dim, kernel, projection, features }) {
  const hybrid = kernel.lambdaFeatures === undefined ? {} : { lambdaFeatures: kernel.lambdaFeatures };
  return favor.sync.attention(q, k, v, {
    batch: 1, heads, length, dim, layout: "bhld", causal: false, kernel: kernel.kind, features, projection, ...hybrid,
  });
}

/**
 * Times exact softmax attention against linear FAVOR attention on all heads
 * of q, k, v ([heads, L, d]) for each m in featureCounts. Each projection is
 * drawn before the timed region, as a model does between redraws. Returns
 * { exactMs, favorMs: { [m]: ms } }, medians of `repeats` runs after one
 * warm-up run.
 */
export function timeAttention(favor, { q, k, v, length, heads, dim, kernel, featureCounts, repeats }) {
  const shape = { batch: 1, heads, length, dim, layout: "bhld", causal: false };
  const exactMs = medianTime(() => favor.sync.softmaxAttention(q, k, v, shape), repeats);
  const favorMs = {};
  for (const features of featureCounts) {
    const projection = favor.sync.projection({ features, dim, seed: 1 });
    favorMs[features] = medianTime(() => linearAttention(favor, { q, k, v, length, heads, dim, kernel, projection, features }), repeats);
  }
  return { exactMs, favorMs };
}

/** Repeats [heads, L, d] tensors `times` times along L (a longer input for timing only). */
export function tileSequence(x, heads, length, dim, times) {
  const out = new Float32Array(x.length * times);
  for (let h = 0; h < heads; h++) {
    const head = x.subarray(h * length * dim, (h + 1) * length * dim);
    for (let t = 0; t < times; t++) out.set(head, (h * times + t) * length * dim);
  }
  return out;
}

/** Returns the largest Euclidean norm of the rows of a matrix with `dim` columns. */
export function maxRowNorm(x, dim) {
  let max = 0;
  for (let i = 0; i < x.length; i += dim) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += x[i + j] ** 2;
    max = Math.max(max, Math.sqrt(sum));
  }
  return max;
}

/**
 * Runs step 1 over the fixtures in `settings.fixtures` ([{ fixture: the
 * loaded fixture, blocks: names or null for all, attentionHeads: stored
 * heads to use or null for all }]). Returns { blocks, timings,
 * timingHeads, timingVia }.
 */
export function runApproximation(favor, settings, progress) {
  const seeds = Array.from({ length: settings.seeds }, (_, i) => i + 1);
  const work = settings.fixtures.flatMap(({ fixture, blocks, attentionHeads }) =>
    (blocks ?? fixture.header.blocks).map((name) => ({ fixture, name, attentionHeads: attentionHeads ?? fixture.header.attentionHeads })));
  // Progress units: one per (block, kernel, m, seed), and one per timed length.
  const total = work.length * KERNELS.length * settings.featureCounts.length * seeds.length + settings.timing.length;
  let done = 0;
  const blocks = [];
  for (const { fixture, name, attentionHeads } of work) {
    const { header } = fixture;
    const block = fixture.blocks[name];
    const shape = { length: header.length, heads: header.heads, dim: header.headDim };
    // Keep only the stored matrices of the heads this run measures.
    const positions = attentionHeads.map((h) => header.attentionHeads.indexOf(h));
    const matrixSize = header.length * header.length;
    const attention = new Float32Array(positions.length * matrixSize);
    positions.forEach((p, i) => attention.set(block.attention.subarray(p * matrixSize, (p + 1) * matrixSize), i * matrixSize));
    const rows = measureBlock(favor, { ...block, attention }, {
      ...shape,
      attentionHeads,
      featureCounts: settings.featureCounts,
      seeds,
      onProgress: () => progress?.update(++done / total * 100, `L=${header.length} ${name}`),
    });
    blocks.push({
      length: header.length, block: name, text: header.text, heads: header.heads, attentionHeads,
      maxQueryNorm: maxRowNorm(block.q, header.headDim) * header.headDim ** -0.25,
      maxKeyNorm: maxRowNorm(block.k, header.headDim) * header.headDim ** -0.25,
      seeds: seeds.length, exactOutputError: exactOutputError(favor, block, shape), rows,
    });
  }

  const timings = [];
  for (const { fixture, length, tile } of settings.timing) {
    const { header } = fixture;
    const block = fixture.blocks[header.blocks[0]];
    const [q, k, v] = [block.q, block.k, block.v].map((t) => (tile > 1 ? tileSequence(t, header.heads, header.length, header.headDim, tile) : t));
    const shape = { q, k, v, length, heads: header.heads, dim: header.headDim, kernel: KERNELS[0], repeats: settings.timingRepeats };
    const { exactMs, favorMs } = timeAttention(favor, { ...shape, featureCounts: [64, 256] });
    timings.push({ length, input: tile > 1 ? `L=${header.length} line tiled ${tile}×` : "real", exactMs, favorMs });
    progress?.update(++done / total * 100, `timed L=${length}`);
  }
  progress?.finish(100, "done");
  const heads = settings.fixtures[0].fixture.header.heads;
  return {
    blocks,
    timings,
    timingHeads: heads,
    timingVia: "favor.sync.attention",
  };
}
