// The main job behind `npm start` (examples/main-job/): the OCR attention
// fixtures, the character tokenizer, the attention-approximation errors,
// the Performer language model's forward pass and SLiM gradients, and a
// smoke run of the whole job.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { seededFloats } from "../helpers/numeric.js";
import { decodeFixture, encodeFixture, loadAttentionFixture } from "../../examples/main-job/fixture.mjs";
import { bigramEntropyBits, createTokenizer, unigramEntropyBits, windowsAt } from "../../examples/main-job/text.mjs";
import {
  KERNELS, approximateAttentionMatrix, featuresPerRow, linearAttention, measureBlock, meanRowTotalVariation, normalizeRows, relativeFrobeniusError,
} from "../../examples/main-job/approximation.mjs";
import { createDecoder, generate, logProbability } from "../../examples/main-job/decoder.mjs";
import { linePlot, linearTicks, logTicks } from "../../examples/main-job/svg.mjs";
import { averageGradients, measureAllocation } from "../../examples/main-job/train.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURES = ["ocr-attention-L80.bin", "ocr-attention-L512.bin"];

// ---------------------------------------------------------------------------
describe("OCR attention fixtures", () => {
  for (const file of FIXTURES) {
    test(`${file} loads with valid shapes`, () => {
      const { header, blocks } = loadAttentionFixture(readFileSync(join(root, "data", file)), file);
      assert.equal(header.heads, 8);
      assert.equal(header.headDim, 15);
      assert.equal(header.modelDim, 120);
      assert.equal(header.image.width, header.length * 8, "sequence length is image width / 8");
      assert.equal(header.recognized.trim(), header.text.trim(), "the recognizer read the rendered line");
      for (const block of Object.values(blocks)) {
        assert.equal(block.q.length, header.heads * header.length * header.headDim);
        assert.equal(block.attention.length, header.attentionHeads.length * header.length ** 2);
      }
    });

    // The model computed A = softmax((q/√15)·kᵀ) in float32. A score is a
    // 15-term dot product, off by at most 15·u·Σ|q_i·k_i|/√15 <= 15·u·‖q‖‖k‖/√15
    // with u = 2^-24; ‖q‖‖k‖ stays below 250 in these fixtures (checked), so a
    // score is off by < 1e-4 and an entry a by < 2e-4·a + the rounding of the
    // softmax itself (a few u). The output A·V sums L terms |a_j·v_j| <= max|v|,
    // so it is off by < 2e-4·max|v| + L·u·max|v|.
    test(`${file} attention is softmax of the stored q and k`, () => {
      const { header, blocks } = loadAttentionFixture(readFileSync(join(root, "data", file)), file);
      const { length: L, headDim: d } = header;
      for (const [name, block] of Object.entries(blocks)) {
        header.attentionHeads.forEach((h, stored) => {
          let maxV = 0;
          for (let j = 0; j < L * d; j++) maxV = Math.max(maxV, Math.abs(block.v[h * L * d + j]));
          for (let i = 0; i < L; i += Math.max(1, Math.floor(L / 40))) {
            const q = block.q.subarray((h * L + i) * d, (h * L + i + 1) * d);
            const scores = [];
            for (let j = 0; j < L; j++) {
              const k = block.k.subarray((h * L + j) * d, (h * L + j + 1) * d);
              let dot = 0;
              let normQ = 0;
              let normK = 0;
              for (let t = 0; t < d; t++) {
                dot += q[t] * k[t];
                normQ += q[t] ** 2;
                normK += k[t] ** 2;
              }
              assert.ok(Math.sqrt(normQ * normK) < 250, `${name} head ${h}: ‖q‖‖k‖ below the bound's assumption`);
              scores.push(dot * header.scale);
            }
            const max = Math.max(...scores);
            const total = scores.reduce((a, s) => a + Math.exp(s - max), 0);
            let rowSum = 0;
            for (let j = 0; j < L; j++) {
              const expected = Math.exp(scores[j] - max) / total;
              const actual = block.attention[(stored * L + i) * L + j];
              rowSum += actual;
              assert.ok(Math.abs(actual - expected) <= 2e-4 * expected + 1e-6, `${name} head ${h} A[${i}][${j}] = ${actual}, expected ${expected}`);
            }
            assert.ok(Math.abs(rowSum - 1) < 1e-5, `${name} head ${h} row ${i} sums to ${rowSum}`);
            for (let c = 0; c < d; c++) {
              let expected = 0;
              for (let j = 0; j < L; j++) expected += block.attention[(stored * L + i) * L + j] * block.v[(h * L + j) * d + c];
              const actual = block.output[(h * L + i) * d + c];
              assert.ok(Math.abs(actual - expected) <= (2e-4 + L * 2 ** -24) * maxV, `${name} head ${h} output[${i}][${c}] = ${actual}, expected ${expected}`);
            }
          }
        });
      }
    });
  }

  // q, k and v are the column blocks of input·Wqkv + b, split into 8 heads of 15 columns.
  // onnxruntime sums 120 float32 products in an order of its own, so each entry
  // is off by at most 120·u·(Σ|x_i·w_i| + |b|) from the float64 value.
  test("q, k, v are the fused projection of the input", () => {
    const file = "ocr-attention-L80.bin";
    const bytes = readFileSync(join(root, "data", file));
    const { header, blocks } = loadAttentionFixture(bytes, file);
    const { tensors } = decodeFixture(bytes, file);
    const { length: L, heads, headDim: d, modelDim: D } = header;
    for (const name of header.blocks) {
      const weight = tensors.get(`${name}.qkvWeight`);
      const bias = tensors.get(`${name}.qkvBias`);
      assert.deepEqual(weight.shape, [D, 3 * D]);
      assert.deepEqual(bias.shape, [3 * D]);
      const block = blocks[name];
      ["q", "k", "v"].forEach((part, p) => {
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < L; i++) {
            for (let c = 0; c < d; c++) {
              const column = p * D + h * d + c;
              let expected = bias.data[column];
              let magnitude = Math.abs(bias.data[column]);
              for (let t = 0; t < D; t++) {
                const term = block.input[i * D + t] * weight.data[t * 3 * D + column];
                expected += term;
                magnitude += Math.abs(term);
              }
              const actual = block[part][(h * L + i) * d + c];
              assert.ok(Math.abs(actual - expected) <= D * 2 ** -24 * magnitude, `${name}.${part} head ${h} [${i}][${c}] = ${actual}, expected ${expected}`);
            }
          }
        }
      });
    }
  });

  const sample = () => encodeFixture({ length: 2, note: "test" }, [
    { name: "a", shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
    { name: "b", shape: [1], data: Float32Array.of(-0.5) },
  ]);

  test("fixture round trip", () => {
    const { header, tensors } = decodeFixture(sample(), "sample");
    assert.equal(header.note, "test");
    assert.deepEqual([...tensors.get("a").data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(tensors.get("a").shape, [2, 3]);
    assert.deepEqual([...tensors.get("b").data], [-0.5]);
  });

  test("fixture checksum mismatch rejected", () => {
    const bytes = sample();
    bytes[bytes.length - 1] ^= 0x01;
    assert.throws(() => decodeFixture(bytes, "sample"), /sample: tensor "b" has SHA-256 [0-9a-f]+, the header records/);
  });

  test("fixture bad magic rejected", () => {
    const bytes = sample();
    bytes[0] = 0x58;
    assert.throws(() => decodeFixture(bytes, "sample"), /magic is "XAVORFX1", expected "FAVORFX1"/);
  });

  test("fixture truncated file rejected", () => {
    const bytes = sample();
    assert.throws(() => decodeFixture(bytes.subarray(0, bytes.length - 4), "sample"), /tensor "b" bytes 24..28 lie outside the data section/);
    assert.throws(() => decodeFixture(bytes.subarray(0, 6), "sample"), /shorter than the 12-byte prefix/);
  });

  test("fixture shape mismatch rejected", () => {
    const bytes = encodeFixture(
      { length: 2, heads: 1, headDim: 1, modelDim: 1, attentionHeads: [0], blocks: ["block0"] },
      ["input", "q", "k", "v", "output"].map((part) => ({ name: `block0.${part}`, shape: part === "input" ? [2, 1] : [1, 2, 1], data: new Float32Array(2) }))
        .concat([{ name: "block0.attention", shape: [1, 2, 3], data: new Float32Array(6) }]),
    );
    assert.throws(() => loadAttentionFixture(bytes, "tiny"), /tiny: tensor block0.attention has shape \[1,2,3\], expected \[1,2,2\] from the header/);
  });
});

// ---------------------------------------------------------------------------
describe("character tokenizer", () => {
  test("tokenizer round trip on the book", () => {
    const text = readFileSync(join(root, "data", "moby-dick.txt"), "utf8");
    const tokenizer = createTokenizer(text);
    const ids = tokenizer.encode(text);
    assert.equal(ids.length, Array.from(text).length);
    assert.equal(tokenizer.decode(ids), text);
    assert.equal(tokenizer.size, 83, "distinct characters of the book");
  });

  test("tokenizer ids follow code points", () => {
    const tokenizer = createTokenizer("b—a’b\n");
    assert.deepEqual(tokenizer.characters, ["\n", "a", "b", "—", "’"], "U+2014 sorts before U+2019");
    assert.deepEqual([...tokenizer.encode("ab—\n’")], [1, 2, 3, 0, 4]);
  });

  test("tokenizer unknown character rejected", () => {
    const tokenizer = createTokenizer("abc");
    assert.throws(() => tokenizer.encode("abz"), /character "z" \(U\+007A\) at index 2 is not in the vocabulary/);
    assert.throws(() => tokenizer.decode([0, 3]), /id 3 is outside the vocabulary of 3 characters/);
  });

  test("unigram entropy known values", () => {
    assert.equal(unigramEntropyBits(Int32Array.of(0, 0, 1, 1), 2), 1);
    assert.equal(unigramEntropyBits(Int32Array.of(3, 3, 3), 4), 0);
    assert.ok(Math.abs(unigramEntropyBits(Int32Array.of(0, 1, 2, 3, 0, 1, 2, 3), 4) - 2) < 1e-15);
  });

  test("bigram entropy known values", () => {
    // Each token fixes the next one: zero conditional entropy.
    assert.equal(bigramEntropyBits(Int32Array.of(0, 1, 0, 1, 0), 2), 0);
    // After 0 comes 0 or 1 equally often, after 1 always 0: H = P(prev 0)·1 bit = 2/3.
    assert.ok(Math.abs(bigramEntropyBits(Int32Array.of(0, 0, 1, 0, 1, 0, 0), 2) - 2 / 3) < 1e-15);
  });

  test("windows copied and checked", () => {
    const tokens = Int32Array.of(0, 1, 2, 3, 4, 5);
    assert.deepEqual([...windowsAt(tokens, [0, 3], 3)], [0, 1, 2, 3, 4, 5]);
    assert.throws(() => windowsAt(tokens, [4], 3), /window \[4, 7\) lies outside the 6 tokens/);
  });
});

// ---------------------------------------------------------------------------
describe("attention approximation errors", () => {
  test("error measures known values", () => {
    assert.equal(relativeFrobeniusError(Float32Array.of(1, 0), Float32Array.of(1, 0)), 0);
    assert.equal(relativeFrobeniusError(Float32Array.of(0, 1), Float32Array.of(1, 0)), Math.SQRT2);
    assert.equal(relativeFrobeniusError(Float32Array.of(2, 0, 0, 2), Float32Array.of(1, 0, 0, 1)), 1);
    // Identity rows against uniform rows: each row moves half its mass.
    assert.equal(meanRowTotalVariation(Float32Array.of(1, 0, 0, 1), Float32Array.of(0.5, 0.5, 0.5, 0.5), 2, 2), 0.5);
    assert.equal(meanRowTotalVariation(Float32Array.of(1, 0, 0, 1), Float32Array.of(0, 1, 1, 0), 2, 2), 1);
  });

  test("features per row by kernel", () => {
    assert.deepEqual(KERNELS.map((kernel) => featuresPerRow(kernel, 16)), [16, 32, 4 * 16 * 9]);
  });

  test("normalizeRows divides and guards", () => {
    const { attention, guarded } = normalizeRows(Float32Array.of(1, 3, 0, 0, -1, 0.5), 3, 2);
    assert.deepEqual([...attention], [0.25, 0.75, 0, 0, 0, 0]);
    assert.equal(guarded, 2, "the zero row and the negative row are set to zero");
  });

  for (const build of ALL_BUILDS) {
    test(`zero queries and keys give exact attention (${build})`, { skip: skipReason(build) }, async () => {
      // With q = k = 0 every score estimates exp(0) = 1 exactly: positive and trig features are constant,
      // and for the hybrid every sign agrees, so λ̂ = 0 and the trig part (cos 0 = 1) is exact. So Â is
      // uniform, like softmax(0), up to rounding.
      const favor = await favorFor(build);
      const L = 5;
      const d = 3;
      const heads = 2;
      const v = seededFloats(heads * L * d, 11);
      const output = new Float32Array(heads * L * d);
      for (let h = 0; h < heads; h++) {
        for (let c = 0; c < d; c++) {
          let mean = 0;
          for (let j = 0; j < L; j++) mean += v[(h * L + j) * d + c] / L;
          for (let i = 0; i < L; i++) output[(h * L + i) * d + c] = mean;
        }
      }
      const block = { q: new Float32Array(heads * L * d), k: new Float32Array(heads * L * d), v, output, attention: new Float32Array(heads * L * L).fill(1 / L) };
      const rows = measureBlock(favor, block, { length: L, heads, dim: d, attentionHeads: [0, 1], featureCounts: [4], seeds: [1, 2] });
      for (const row of rows) {
        // Each score is a float32 sum of r feature products, off by at most r·u times the sum of their
        // magnitudes. The hybrid's signed terms sum to at most 4 times the result, and the L-term sums
        // of the normalization and of Â·V add L·u, so 4·(r + L)·u bounds the relative errors.
        const bound = 4 * (row.featuresPerRow + L) * 2 ** -24;
        assert.ok(row.attentionError.mean <= bound, `${row.kernel}: attention error ${row.attentionError.mean} > ${bound}`);
        assert.ok(row.outputError.mean <= bound, `${row.kernel}: output error ${row.outputError.mean} > ${bound}`);
        assert.equal(row.guardedRows, 0);
      }
    });

    test(`linear attention matches the matrix form (${build})`, { skip: skipReason(build) }, async () => {
      // Two evaluation orders of D⁻¹Q′K′ᵀV: (Q′K′ᵀ)V with the rows normalized first, and Q′(K′ᵀ[V 1]).
      // Both are float32 sums of positive terms with at most L·r + L terms, so they agree to
      // about (L·r + L)·u relative on positive features; 1e-4 covers L = 9, r = 16.
      const favor = await favorFor(build);
      const L = 9;
      const d = 4;
      const heads = 2;
      const m = 16;
      const q = seededFloats(heads * L * d, 3);
      const k = seededFloats(heads * L * d, 4);
      const v = seededFloats(heads * L * d, 5);
      const projection = favor.sync.projection({ features: m, dim: d, seed: 9 });
      const kernel = KERNELS[0];
      const linear = linearAttention(favor, { q, k, v, length: L, heads, dim: d, kernel, projection, features: m });
      for (let h = 0; h < heads; h++) {
        const slice = (t) => t.subarray(h * L * d, (h + 1) * L * d);
        const { attention } = approximateAttentionMatrix(favor, { q: slice(q), k: slice(k), length: L, dim: d, kernel, projection, features: m });
        for (let i = 0; i < L; i++) {
          for (let c = 0; c < d; c++) {
            let expected = 0;
            let scale = 0;
            for (let j = 0; j < L; j++) {
              expected += attention[i * L + j] * v[(h * L + j) * d + c];
              scale += Math.abs(attention[i * L + j] * v[(h * L + j) * d + c]);
            }
            const actual = linear[(h * L + i) * d + c];
            assert.ok(Math.abs(actual - expected) <= 1e-4 * scale + 1e-7, `head ${h} out[${i}][${c}] = ${actual}, expected ${expected}`);
          }
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------
// The SLiM runner has its own gradient and reference tests (tests/unit/slim.test.js);
// these cover what the main job adds around it.
const TINY = { vocab: 7, dModel: 8, heads: 2, layers: 2, features: 5, chunk: 3, seed: 3 };

function tokenSequence(length, vocab, seed) {
  return Array.from(seededFloats(length, seed), (u) => Math.floor((u + 1) / 2 * vocab) % vocab);
}

describe("language model helpers", () => {
  for (const build of ALL_BUILDS) {
    test(`decoder matches the runner's loss (${build})`, { skip: skipReason(build) }, async () => {
      // The decoder recomputes the runner's forward pass in float64, one token at a time. The
      // runner works in float32: each of its ~20 sequential stages (products of at most
      // dModel + mlp = 40 terms, exp, layer norms) adds at most ~40·u relative error, so the mean
      // loss agrees within 20·40·u·4 ≈ 2e-4 relative (the factor 4 for layer-norm rescaling).
      const favor = await favorFor(build);
      // With a token shift of 2, whose weights start at 0 and are set to seeded values here.
      for (const config of [TINY, { ...TINY, tokenShift: 2 }]) {
        const model = favor.sync.slim.createModel(config);
        model.parameters["input.shift"]?.set(seededFloats(2 * TINY.dModel, 23, 0.8));
        const tokens = tokenSequence(40, TINY.vocab, 21);
        const expected = model.loss(tokens, { slice: 7 });
        const decoder = createDecoder(model);
        let total = 0;
        for (let t = 0; t + 1 < tokens.length; t++) total -= logProbability(decoder.step(tokens[t]), tokens[t + 1]);
        const actual = total / (tokens.length - 1);
        assert.ok(Math.abs(actual - expected) <= 2e-4 * expected, `tokenShift ${config.tokenShift ?? 0}: decoder loss ${actual}, runner loss ${expected}`);
      }
    });
  }

  test("generation deterministic and greedy", async () => {
    const favor = await favorFor("simd") ?? await favorFor("scalar");
    const model = favor.sync.slim.createModel(TINY);
    const prompt = [1, 4, 2];
    const [next] = generate(model, prompt, 1, { temperature: 0, uniform: (n) => new Float64Array(n) });
    const decoder = createDecoder(model);
    let logits;
    for (const token of prompt) logits = decoder.step(token);
    assert.equal(next, logits.indexOf(Math.max(...logits)), "temperature 0 picks the largest logit");
    const draws = () => Float64Array.of(0.1, 0.9, 0.5, 0.3);
    const sampled = generate(model, prompt, 4, { temperature: 1, uniform: draws });
    assert.deepEqual(generate(model, prompt, 4, { temperature: 1, uniform: draws }), sampled, "same draws, same tokens");
    for (const token of sampled) assert.ok(Number.isInteger(token) && token >= 0 && token < TINY.vocab, `token ${token}`);
    assert.throws(() => generate(model, [], 2, { temperature: 0, uniform: (n) => new Float64Array(n) }), /the prompt is empty/);
    assert.throws(() => createDecoder(model).step(7), /token 7 is outside the vocabulary of 7/);
  });

  test("log probability normalized", () => {
    const logits = Float64Array.of(1, 2, 3);
    const total = [0, 1, 2].reduce((sum, j) => sum + Math.exp(logProbability(logits, j)), 0);
    assert.ok(Math.abs(total - 1) < 1e-15, `probabilities sum to ${total}`);
    assert.ok(Math.abs(logProbability(Float64Array.of(1000, 0), 0)) < 1e-15, "no overflow for large logits");
  });

  test("gradients averaged over sequences", () => {
    const averaged = averageGradients([{ w: Float32Array.of(1, 2) }, { w: Float32Array.of(3, 6) }]);
    assert.deepEqual([...averaged.w], [2, 4]);
  });

  test("allocation measured per call", async () => {
    const favor = await favorFor("simd") ?? await favorFor("scalar");
    const [result, bytes] = measureAllocation(favor, () => favor.sync.transpose(new Float32Array(6), { rows: 2, cols: 3 }));
    assert.equal(result.length, 6);
    assert.equal(bytes, 2 * 6 * 4, "input and output of 6 floats each");
    const model = favor.sync.slim.createModel(TINY);
    const tokens = tokenSequence(60, TINY.vocab, 5);
    const [, sliced] = measureAllocation(favor, () => model.lossAndGradients(tokens, { slice: 4 }));
    const [, whole] = measureAllocation(favor, () => model.lossAndGradients(tokens, { slice: 59 }));
    assert.ok(whole > sliced, `one slice of 59 allocates ${whole} bytes, slices of 4 allocate ${sliced}`);
  });
});

describe("SVG plots", () => {
  test("ticks known values", () => {
    assert.deepEqual(linearTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(linearTicks(3.4, 7.1, 5), [4, 5, 6, 7]);
    assert.deepEqual(logTicks(16, 256, 2), [16, 32, 64, 128, 256]);
    assert.deepEqual(logTicks(0.3, 40, 10), [0.1, 1, 10, 100]);
  });

  test("plot skips unplottable points", () => {
    const svg = linePlot({
      title: "t <&>", xLabel: "x", yLabel: "y", yLog: true,
      series: [{ name: "s", points: [[1, 1], [2, 0], [3, NaN], [4, 10]] }],
      references: [{ name: "r", y: 5 }],
    });
    assert.match(svg, /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
    assert.match(svg, /t &lt;&amp;&gt;/, "the title is escaped");
    assert.equal((svg.match(/<circle /g) ?? []).length, 2, "y = 0 on a log axis and NaN are left out");
    assert.throws(() => linePlot({ title: "empty", xLabel: "", yLabel: "", series: [{ name: "s", points: [[1, NaN]] }] }), /"empty" has no plottable points/);
  });
});

// ---------------------------------------------------------------------------
describe("main job command", () => {
  const main = join(root, "examples", "main-job", "main.mjs");
  // Pass on only the relaxed-SIMD flag: test-runner flags in execArgv would make the child a test run.
  const flags = process.execArgv.filter((flag) => flag === "--experimental-wasm-relaxed-simd");
  const run = (args) => spawnSync(process.execPath, [...flags, main, ...args], { encoding: "utf8", cwd: root });

  test("smoke run lowers the loss and writes the report", () => {
    const out = mkdtempSync(join(tmpdir(), "favor-main-job-"));
    try {
      const result = run(["--smoke", "--out", out]);
      assert.equal(result.status, 0, `exit status ${result.status}; stderr: ${result.stderr}`);
      const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
      const history = report.training.history;
      assert.ok(history.length >= 10, `${history.length} training steps`);
      assert.ok(history[history.length - 1].loss < history[0].loss, `loss went from ${history[0].loss} to ${history[history.length - 1].loss}`);
      assert.ok(report.training.finalValidationBits < report.training.initialValidationBits, "validation loss fell");
      for (const svg of ["attention-error.svg", "training-loss.svg"]) assert.match(readFileSync(join(out, svg), "utf8"), /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
      const markdown = readFileSync(join(out, "report.md"), "utf8");
      assert.match(markdown, /## 1\. Random-feature attention on a real transformer/);
      assert.match(markdown, /## 2\. A causal Performer language model on Moby-Dick/);
      assert.match(result.stdout, /baselines: unigram \d\.\d{3}, bigram \d\.\d{3} bits\/char/);
      assert.match(result.stdout, /angular hybrid, m_λ = 8 +16 +576 /);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("unknown option rejected", () => {
    const result = run(["--fast"]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /main-job: Unknown option '--fast'/);
    assert.match(result.stderr, /usage: npm start -- \[--quick \| --full \| --smoke\] \[--out DIR\]/);
  });

  test("conflicting modes rejected", () => {
    const result = run(["--quick", "--full"]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /choose one of --quick, --full and --smoke, got --quick and --full/);
  });

  test("help printed", () => {
    const result = run(["--help"]);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /--out DIR/);
    assert.equal(result.stderr, "");
  });
});
