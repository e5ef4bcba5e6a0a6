// favor.features and favor.attention on the WebGPU backend in Node (the
// `webgpu` npm package with Chromium's SwiftShader Vulkan driver), checked
// against the float64 references in tests/reference/ and against WASM:
// every map and role, shapes around the 64-wide workgroups and GEMM tiles,
// causal lengths that are not a multiple of the chunk, large-norm inputs,
// padded keys holding NaN, NaN-prefilled outputs, the hybrid maps, the
// conformance corpus's features and attention cases, and the routing of
// "auto", hybrid maps and the binding limit. SwiftShader is a software adapter: these tests check
// results only, never speed.
//
// Tolerances come from tests/conformance/tolerances.json, row "webgpu",
// whose derivations explain the factors: features 3·bound + 2^-126,
// attention 7·bound, with the per-element bounds of featuresReference and
// favorAttentionReference.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFavor, setLogLevel, setLogSink } from "favor-wasm";
import { runCase } from "../conformance/runner.js";
import { featuresReference } from "../reference/features.js";
import { favorAttentionReference } from "../reference/attention.js";
import { hybridFeaturesReference } from "../reference/kernels.js";
import { hybridAttentionReference } from "../reference/hybrid-attention.js";
import { seededFloats as uniform } from "../helpers/numeric.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ICD = process.env.FAVOR_VK_ICD ?? "/usr/lib/chromium/vk_swiftshader_icd.json";
const corpus = JSON.parse(readFileSync(join(root, "tests", "conformance", "corpus.json"), "utf8"));
const tolerances = JSON.parse(readFileSync(join(root, "tests", "conformance", "tolerances.json"), "utf8"));
const FEATURES_RULE = tolerances.backends.webgpu.features.bound;
const ATTENTION_RULE = tolerances.backends.webgpu.attention.bound;
const GPU_OPS = new Set(["matmul", "features", "attention"]);

let gpu = null;
let setupError = null;

before(async () => {
  try {
    if (!existsSync(ICD)) throw new Error(`SwiftShader's Vulkan driver ${ICD} is missing (Debian's chromium package installs it; or set FAVOR_VK_ICD)`);
    process.env.VK_DRIVER_FILES = ICD;
    const { create } = await import("webgpu");
    gpu = create([]);
  } catch (error) {
    setupError = error;
  }
});

async function gpuFavor(options = {}) {
  if (setupError !== null) throw new Error(`no WebGPU in Node: ${setupError.message}`);
  return createFavor({ backend: "webgpu", ...options, webgpu: { gpu, ...options.webgpu } });
}

let shared = null;
let wasm = null;
async function favors() {
  shared ??= await gpuFavor();
  wasm ??= await createFavor();
  return { favor: shared, wasm };
}

/** Rescales each row of a rows×dim matrix to the given Euclidean norm. */
function withRowNorm(x, rows, dim, norm) {
  const out = x.slice();
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += out[i * dim + j] ** 2;
    const factor = norm / Math.sqrt(sum);
    for (let j = 0; j < dim; j++) out[i * dim + j] = Math.fround(out[i * dim + j] * factor);
  }
  return out;
}

/** Returns the documented default ε of a kind and role (docs/features.md). */
function defaultEpsilon(kind, role) {
  if (role === "none" || kind === "trig") return 0;
  return ["positive", "hyperbolic", "exp"].includes(kind) ? 1e-6 : 1e-3;
}

/**
 * Float64 features of a call with the role's shift and their bounds, as the
 * conformance cases build them: the kernel's shift s̃ is within δ (the
 * reference's exponent bound) of the float64 shift, which moves each
 * feature by a factor e^(s − s̃), so each bound adds |value|·(e^δ − 1).
 */
function expectedFeatures(x, { rows, dim, projection, kind, role }) {
  const epsilon = defaultEpsilon(kind, role);
  const base = { rows, dim, projection, kind, epsilon };
  const plain = featuresReference(x, base);
  const exponents = Array.from(plain.exponents, (e) => (Number.isFinite(e) ? e : 0));
  let shift = new Array(rows).fill(0);
  let delta = new Array(rows).fill(0);
  if (role === "query") {
    shift = exponents;
    delta = Array.from(plain.exponentBounds);
  } else if (role === "key") {
    const largest = Math.max(...plain.exponents);
    shift.fill(Number.isFinite(largest) ? largest : 0);
    delta.fill(Math.max(...plain.exponentBounds));
  }
  const reference = featuresReference(x, { ...base, shift: Float64Array.from(shift) });
  const bounds = Array.from(reference.bounds, (bound, index) =>
    bound + Math.abs(reference.values[index]) * Math.expm1(delta[Math.floor(index / reference.outputs)]));
  return { values: reference.values, bounds, shift, delta };
}

function checkBound(label, got, values, bounds, rule) {
  assert.equal(got.length, values.length, `${label}: length`);
  for (let i = 0; i < values.length; i++) {
    const allowed = rule.factor * bounds[i] + rule.absolute;
    if (!(Math.abs(got[i] - values[i]) <= allowed)) {
      assert.fail(`${label}: element ${i} is ${got[i]}, expected ${values[i]} ± ${allowed}`);
    }
  }
}

describe("webgpu features and attention (node)", () => {
  test("tolerance table has webgpu rows", () => {
    assert.ok(FEATURES_RULE, "tests/conformance/tolerances.json lacks backends.webgpu.features.bound");
    assert.ok(ATTENTION_RULE, "tests/conformance/tolerances.json lacks backends.webgpu.attention.bound");
  });

  for (const op of ["features", "attention"]) {
    const cases = corpus.cases.filter((c) => c.op === op);
    test(`conformance: ${cases.length} ${op} cases`, async () => {
      const { favor } = await favors();
      const failures = [];
      for (const testCase of cases) {
        const result = await runCase(favor, testCase, tolerances);
        if (!result.ok) failures.push(`${testCase.id}: ${result.message}`);
      }
      assert.deepEqual(failures, []);
    });
  }

  // Every other op of the corpus runs on WASM in a WebGPU instance; node.test.js covers it on each build.
  const wasmOps = [...new Set(corpus.cases.map((c) => c.op).filter((op) => !GPU_OPS.has(op)))];
  for (const op of wasmOps) {
    test(`conformance: ${op} on webgpu`, { skip: `${op} runs on WASM, covered by the wasm-* rows` }, () => {});
  }

  test("features: every kind and role, shapes around workgroup edges", async () => {
    const { favor } = await favors();
    // rows and m below, at and above 64 (the GEMM tile and the workgroup size), and 1.
    const shapes = [[1, 1, 1], [5, 4, 6], [63, 16, 64], [64, 17, 65], [65, 33, 63], [130, 8, 129]];
    const kinds = ["positive", "hyperbolic", "trig", "exp", "relu", "elu+1", "abs", "identity"];
    let seed = 1;
    for (const [rows, dim, m] of shapes) {
      const x = uniform(rows * dim, seed++, 1.5 / Math.sqrt(Math.sqrt(dim)));
      const projection = uniform(m * dim, seed++, 1.5);
      const pristineX = x.slice();
      const pristineW = projection.slice();
      for (const kind of kinds) {
        for (const role of ["none", "query", "key"]) {
          const label = `${kind} ${role} ${rows}×${dim} m=${m}`;
          const r = kind === "hyperbolic" || kind === "trig" ? 2 * m : m;
          const out = new Float32Array(rows * r).fill(NaN);
          const got = await favor.features(x, { rows, dim, projection, kind, role, out, returnStabilizer: true });
          assert.equal(got.features, out, `${label}: features is not the given out`);
          const want = expectedFeatures(x, { rows, dim, projection, kind, role });
          checkBound(label, got.features, want.values, want.bounds, FEATURES_RULE);
          checkBound(`${label} shift`, got.shift, want.shift, want.delta, { factor: 1, absolute: 0 });
        }
      }
      assert.deepEqual(x, pristineX, "x changed");
      assert.deepEqual(projection, pristineW, "projection changed");
    }
  });

  test("features: generalized kinds without a projection", async () => {
    const { favor } = await favors();
    for (const [rows, dim] of [[1, 1], [7, 65], [66, 3]]) {
      const x = uniform(rows * dim, 40 + dim, 2);
      for (const kind of ["exp", "relu", "elu+1", "abs", "identity"]) {
        const got = await favor.features(x, { rows, dim, kind });
        const want = expectedFeatures(x, { rows, dim, projection: null, kind, role: "none" });
        checkBound(`${kind} ${rows}×${dim}`, got, want.values, want.bounds, FEATURES_RULE);
      }
    }
  });

  test("features: large norms stay finite with stabilizers", async () => {
    const { favor } = await favors();
    const rows = 40;
    const dim = 32;
    const m = 70;
    // Norm 30 puts the exponents near ±450, far outside float32 exp's range.
    const x = withRowNorm(uniform(rows * dim, 77), rows, dim, 30);
    const projection = uniform(m * dim, 78, 1.5);
    for (const kind of ["positive", "hyperbolic", "trig", "exp"]) {
      for (const role of ["query", "key"]) {
        const label = `${kind} ${role} norm 30`;
        const got = await favor.features(x, { rows, dim, projection, kind, role, returnStabilizer: true });
        assert.ok(got.features.every(Number.isFinite), `${label}: a feature is not finite`);
        const want = expectedFeatures(x, { rows, dim, projection, kind, role });
        checkBound(label, got.features, want.values, want.bounds, FEATURES_RULE);
      }
    }
  });

  test("features: key shift and maxExponent match WASM", async () => {
    const { favor, wasm } = await favors();
    const rows = 70;
    const dim = 9;
    const x = uniform(rows * dim, 90, 3);
    const projection = uniform(20 * dim, 91);
    for (const kind of ["positive", "hyperbolic", "exp", "trig"]) {
      const options = { rows, dim, projection, kind, role: "key", keyShift: 2.5, returnStabilizer: true };
      const got = await favor.features(x, options);
      const want = wasm.sync.features(x, options);
      assert.ok(got.shift.every((s) => s === Math.fround(2.5)), `${kind}: the given keyShift is not every row's shift`);
      assert.ok(Math.abs(got.maxExponent - want.maxExponent) <= 1e-5 * Math.max(1, Math.abs(want.maxExponent)),
        `${kind}: maxExponent ${got.maxExponent}, WASM ${want.maxExponent}`);
    }
  });

  /** Runs one attention call on WebGPU and checks it against the float64 reference and WASM. */
  async function checkAttention(label, shape, options, { seed, qNorm = null, kNorm = null, nanPadded = false, prepare = null }) {
    const { favor, wasm } = await favors();
    const full = { keyLength: shape.length, valueDim: shape.dim, ...shape };
    const { batch, heads, length, keyLength, dim, valueDim } = full;
    const features = options.features;
    let q = uniform(batch * heads * length * dim, seed);
    let k = uniform(batch * heads * keyLength * dim, seed + 1);
    const v = uniform(batch * heads * keyLength * valueDim, seed + 2);
    // Row norms are set in the scaled space, so q·d^{-1/4} has norm qNorm.
    if (qNorm !== null) q = withRowNorm(q, batch * heads * length, dim, qNorm * dim ** 0.25);
    if (kNorm !== null) k = withRowNorm(k, batch * heads * keyLength, dim, kNorm * dim ** 0.25);
    if (prepare !== null) prepare(q, k);
    const perHead = options.perHead ? heads : 1;
    const projection = uniform(perHead * features * dim, seed + 3, 1.5);
    if (nanPadded && full.keyPaddingMask) {
      // Padded keys and values are never read, so NaN there must not reach the output.
      for (let item = 0; item < batch; item++) {
        for (let j = 0; j < keyLength; j++) {
          if (!full.keyPaddingMask[item * keyLength + j]) continue;
          for (let head = 0; head < heads; head++) {
            const row = full.layout === "bhld" ? (item * heads + head) * keyLength + j : (item * keyLength + j) * heads + head;
            k.fill(NaN, row * dim, (row + 1) * dim);
            v.fill(NaN, row * valueDim, (row + 1) * valueDim);
          }
        }
      }
    }
    const pristine = [q.slice(), k.slice(), v.slice()];
    const call = { ...shape, causal: options.causal, kernel: options.kernel, features, projection, chunk: options.chunk };
    const got = await favor.attention(q, k, v, call);
    assert.deepEqual([q, k, v], pristine, `${label}: an input changed`);
    assert.ok(got.every(Number.isFinite), `${label}: an output is not finite`);
    const reference = favorAttentionReference(q, k, v, full, { causal: options.causal, kind: options.kernel, projection, features });
    checkBound(label, got, reference.out, reference.bound, ATTENTION_RULE);
    const onWasm = wasm.sync.attention(q, k, v, call);
    // WASM is itself within 1·bound of the reference, so the two differ by at most (7 + 1)·bound.
    checkBound(`${label} vs WASM`, got, onWasm, reference.bound, { factor: ATTENTION_RULE.factor + 1, absolute: 0 });
  }

  test("attention: bidirectional and causal, both layouts, padding masks", async () => {
    let seed = 500;
    for (const layout of ["bhld", "blhd"]) {
      for (const causal of [false, true]) {
        const shape = { batch: 2, heads: 3, length: 45, dim: 8, valueDim: 5, layout };
        const mask = new Uint8Array(2 * 45);
        mask[0] = 1; // the first key of every causal row of item 0
        mask[17] = 1;
        mask[45 + 44] = 1;
        for (const keyPaddingMask of [undefined, mask]) {
          const label = `${causal ? "causal" : "bidirectional"} ${layout}${keyPaddingMask ? " masked" : ""}`;
          await checkAttention(label, { ...shape, keyPaddingMask }, { causal, kernel: "positive", features: 16, chunk: 16 },
            { seed: seed += 4, nanPadded: keyPaddingMask !== undefined });
        }
      }
    }
  });

  test("attention: chunk edges and lengths off the chunk", async () => {
    let seed = 600;
    const cases = [
      [1, 64], [2, 1], [33, 8], [45, 64], [64, 64], [65, 64], [100, 16], [129, 32],
    ];
    for (const [length, chunk] of cases) {
      const shape = { batch: 1, heads: 2, length, dim: 6, valueDim: 3, layout: "bhld" };
      await checkAttention(`causal L=${length} chunk=${chunk}`, shape, { causal: true, kernel: "positive", features: 65, chunk }, { seed: seed += 4 });
    }
  });

  test("attention: other kernels, key length, per-head projections", async () => {
    let seed = 700;
    const longer = { batch: 2, heads: 2, length: 30, keyLength: 70, dim: 5, valueDim: 2, layout: "blhd" };
    for (const kernel of ["positive", "hyperbolic", "relu", "elu+1"]) {
      await checkAttention(`bidirectional ${kernel} keyLength 70`, longer, { causal: false, kernel, features: 12 }, { seed: seed += 4 });
      const square = { ...longer, keyLength: 30 };
      await checkAttention(`causal ${kernel}`, square, { causal: true, kernel, features: 12, chunk: 7 }, { seed: seed += 4 });
    }
    const shape = { batch: 1, heads: 3, length: 20, dim: 4, layout: "bhld" };
    await checkAttention("per-head projections", shape, { causal: true, kernel: "positive", features: 9, chunk: 6, perHead: true }, { seed: seed += 4 });
  });

  test("attention: large norms stay finite", async () => {
    let seed = 800;
    // Scaled rows of norm 25: exponents near ±300. Causal chunks see later keys with larger exponents.
    for (const causal of [false, true]) {
      const shape = { batch: 1, heads: 2, length: 50, dim: 16, valueDim: 4, layout: "bhld" };
      await checkAttention(`${causal ? "causal" : "bidirectional"} norm 25`, shape,
        { causal, kernel: "positive", features: 32, chunk: 8 }, { seed: seed += 4, qNorm: 25, kNorm: 25 });
    }
  });

  test("attention: a later key with a larger exponent leaves earlier chunks intact", async () => {
    // Every key but the last has scaled norm 15, so its exponent ωᵀk − ‖k‖²/2
    // is near −110; the last key has norm 0.5 and an exponent near 0. A key
    // shift taken over the whole sequence would underflow every earlier key's
    // features to 0 and zero the outputs of the earlier chunks. With the
    // per-chunk prefix shift those outputs match the reference computed on
    // the first `prefix` positions alone, since causal outputs there never
    // depend on later keys. (The rows of the last chunk share its shift, on
    // WASM as here, so their earlier keys do underflow.)
    const { favor } = await favors();
    const dim = 4;
    const length = 40;
    const chunk = 8;
    const prefix = 32;
    const scaled = (norm) => norm * dim ** 0.25;
    const q = uniform(length * dim, 900);
    const k = withRowNorm(uniform(length * dim, 901), length, dim, scaled(15));
    k.set(withRowNorm(uniform(dim, 902), 1, dim, scaled(0.5)), (length - 1) * dim);
    const v = uniform(length * dim, 903);
    const projection = uniform(16 * dim, 904, 1.5);
    const call = { batch: 1, heads: 1, length, dim, layout: "bhld", causal: true, kernel: "positive", features: 16, projection, chunk };
    const got = await favor.attention(q, k, v, call);
    const head = (array) => array.subarray(0, prefix * dim);
    const reference = favorAttentionReference(head(q), head(k), head(v), { ...call, length: prefix },
      { causal: true, kind: "positive", projection, features: 16 });
    assert.ok(reference.out.some((x) => x !== 0), "the reference is all zeros, so the check would be empty");
    checkBound("chunks before the near key", got.subarray(0, prefix * dim), reference.out, reference.bound, ATTENTION_RULE);
  });

  test("features: hybrid maps match the reference", async () => {
    const { favor } = await favors();
    const gaussian = { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 1.5 } };
    const positiveAngular = { hybrid: ["positive", "hyperbolic"], lambda: "angular" };
    const estimators = [
      ["angular-hybrid", { bases: ["trig", "hyperbolic"], lambda: "angular", sigma: 1 }],
      [gaussian, { bases: ["positive", "trig"], lambda: "gaussian", sigma: 1.5 }],
      [positiveAngular, { bases: ["positive", "hyperbolic"], lambda: "angular", sigma: 1 }],
    ];
    let seed = 1000;
    for (const [rows, dim, m, lambdaFeatures] of [[1, 1, 1, 1], [5, 8, 3, 4], [65, 16, 8, 3]]) {
      const x = uniform(rows * dim, seed++, 1.5 / Math.sqrt(Math.sqrt(dim)));
      const projection = { base1: uniform(m * dim, seed++, 1.5), base2: uniform(m * dim, seed++, 1.5), lambda: uniform(lambdaFeatures * dim, seed++, 1.5) };
      for (const [kind, spec] of estimators) {
        for (const role of ["query", "key"]) {
          const label = `${JSON.stringify(kind)} ${role} ${rows}×${dim} m=${m} m_λ=${lambdaFeatures}`;
          const plain = await favor.features(x, { rows, dim, kind, role, projection });
          const out = new Float32Array(plain.length).fill(NaN);
          const got = await favor.features(x, { rows, dim, kind, role, projection, out, returnStabilizer: true });
          assert.equal(got.features, out, `${label}: features is not the given out`);
          // The reference takes the kernel's row shifts, so only the features' rounding is compared.
          const reference = hybridFeaturesReference(x, { rows, dim, estimator: spec, projection, role, shift: got.shift });
          checkBound(label, got.features, reference.values, reference.bounds, FEATURES_RULE);
          if (role === "key") assert.ok(got.shift.every((value) => value === got.shift[0]), `${label}: one key shift for the call`);
        }
      }
    }
  });

  test("attention: hybrid kernel matches the reference", async () => {
    const { favor, wasm } = await favors();
    const dim = 8;
    const projection = { base1: uniform(4 * dim, 1100, 1.2), base2: uniform(4 * dim, 1101, 1.2), lambda: uniform(3 * dim, 1102, 1.2) };
    let seed = 1110;
    for (const causal of [false, true]) {
      for (const length of [5, 33]) {
        const shape = { batch: 2, heads: 2, length, dim, valueDim: 3, layout: "blhd" };
        const mask = new Uint8Array(2 * length);
        mask[length + 1] = 1;
        const count = 2 * 2 * length * dim;
        const q = uniform(count, seed++, 1.2);
        const k = uniform(count, seed++, 1.2);
        const v = uniform(2 * 2 * length * 3, seed++);
        const call = { ...shape, keyPaddingMask: mask, causal, kernel: "angular-hybrid", features: 4, lambdaFeatures: 3, projection, chunk: 16 };
        const got = await favor.attention(q, k, v, call);
        const reference = hybridAttentionReference(q, k, v, { ...shape, keyPaddingMask: mask }, { causal, projection });
        const label = `hybrid ${causal ? "causal" : "bidirectional"} L=${length}`;
        checkBound(label, got, reference.out, reference.bound, ATTENTION_RULE);
        checkBound(`${label} vs WASM`, got, wasm.sync.attention(q, k, v, call), reference.bound, { factor: ATTENTION_RULE.factor + 1, absolute: 0 });
      }
    }
  });

  test("routing: auto threshold, hybrid maps and the binding limit", async () => {
    const messages = [];
    setLogLevel("debug");
    setLogSink((level, message) => messages.push(`${level}: ${message}`));
    try {
      const auto = await createFavor({ backend: "auto", webgpu: { gpu, autoMinFlops: 1e6 } });
      const x = uniform(10 * 4, 1);
      const w = uniform(8 * 4, 2);
      await auto.features(x, { rows: 10, dim: 4, projection: w });
      assert.ok(messages.some((m) => /features 10×4→8 \(positive\) on WASM: \d+ flops < the auto threshold/.test(m)), messages.join("\n"));
      const big = uniform(2000 * 64, 3);
      const bigW = uniform(64 * 64, 4);
      await auto.features(big, { rows: 2000, dim: 64, projection: bigW });
      assert.ok(messages.some((m) => /features 2000×64→64 \(positive\) on WebGPU/.test(m)), messages.join("\n"));

      const favor = await gpuFavor();
      const hybrid = await favor.features(x, {
        rows: 10, dim: 4, kind: "angular-hybrid", role: "query",
        projection: { base1: uniform(16, 5), base2: uniform(16, 6), lambda: uniform(8, 7) },
      });
      assert.ok(hybrid.every(Number.isFinite));
      assert.ok(messages.some((m) => /features 10×4→\d+ \(hybrid\) on WebGPU/.test(m)), messages.join("\n"));

      const small = await gpuFavor({ webgpu: { maxBindingBytes: 1024 } });
      const options = { rows: 50, dim: 8, projection: uniform(64, 8) };
      const xs = uniform(400, 9);
      const got = await small.features(xs, options);
      // 1024 bytes hold 256 floats, 32 rows of 8: two passes, equal to one pass.
      assert.ok(messages.some((m) => /^debug: features 50×8→8 \(positive\) on WebGPU \(.*\), 2 pass\(es\) of up to 32 rows/.test(m)),
        messages.join("\n"));
      assert.deepEqual(got, await favor.features(xs, options));
    } finally {
      setLogSink(null);
      setLogLevel("warn");
    }
  });

  test("routing: attention threshold and binding limit", async () => {
    const messages = [];
    setLogLevel("debug");
    setLogSink((level, message) => messages.push(`${level}: ${message}`));
    try {
      const shape = { batch: 1, heads: 2, length: 30, dim: 4, valueDim: 3, layout: "bhld" };
      const q = uniform(2 * 30 * 4, 1200);
      const k = uniform(2 * 30 * 4, 1201);
      const v = uniform(2 * 30 * 3, 1202);
      const call = { ...shape, causal: true, kernel: "positive", features: 8, projection: uniform(32, 1203), chunk: 8 };
      const { wasm } = await favors();
      const expected = wasm.sync.attention(q, k, v, call);

      const auto = await createFavor({ backend: "auto", webgpu: { gpu, autoMinFlops: 1e9 } });
      assert.deepEqual(await auto.attention(q, k, v, call), expected);
      assert.ok(messages.some((m) => /^debug: attention 1×2×30×4 causal on WASM: \d+ flops < the auto threshold 1000000000/.test(m)), messages.join("\n"));

      const small = await gpuFavor({ webgpu: { maxBindingBytes: 256 } });
      assert.deepEqual(await small.attention(q, k, v, call), expected);
      assert.ok(messages.some((m) => /^warn: attention 1×2×30×4 causal: a buffer of \d+ floats exceeds the 256-byte binding limit even for one head; running on WASM/.test(m)),
        messages.join("\n"));
    } finally {
      setLogSink(null);
      setLogLevel("warn");
    }
  });

  test("routing: non-finite inputs run on WASM", async () => {
    // WGSL may assume finite values, so a NaN or ±Infinity input must give the
    // WASM result (NaN propagated as documented), never an unspecified GPU one.
    const messages = [];
    setLogLevel("debug");
    setLogSink((level, message) => messages.push(`${level}: ${message}`));
    try {
      const { favor, wasm } = await favors();
      const x = uniform(40 * 8, 1300);
      x[17] = Number.NaN;
      const featureCall = { rows: 40, dim: 8, projection: uniform(16 * 8, 1301), kind: "positive", role: "query" };
      const gotFeatures = await favor.features(x, featureCall);
      assert.deepEqual(gotFeatures, wasm.sync.features(x, featureCall), "features equal WASM's");
      assert.ok(gotFeatures.some(Number.isNaN), "the NaN row stays NaN");
      assert.ok(messages.some((m) => /^debug: features 40×8→16 \(positive\) on WASM: an input is not finite/.test(m)), messages.join("\n"));

      const shape = { batch: 1, heads: 2, length: 30, dim: 4, valueDim: 3, layout: "bhld" };
      const q = uniform(2 * 30 * 4, 1302);
      const k = uniform(2 * 30 * 4, 1303);
      const v = uniform(2 * 30 * 3, 1304);
      v[5] = Number.POSITIVE_INFINITY;
      const call = { ...shape, causal: false, kernel: "positive", features: 8, projection: uniform(32, 1305) };
      assert.deepEqual(await favor.attention(q, k, v, call), wasm.sync.attention(q, k, v, call), "attention equals WASM's");
      assert.ok(messages.some((m) => /^debug: attention 1×2×30×4 on WASM: an input is not finite/.test(m)), messages.join("\n"));

      // A non-finite value in a padded key is never read, so the call stays on the GPU.
      const mask = new Uint8Array(30);
      mask[0] = 1;
      const masked = { ...call, keyPaddingMask: mask };
      const before = messages.length;
      const paddedNaN = v.slice();
      paddedNaN[5] = 1;
      paddedNaN[0] = Number.NaN; // key 0 of item 0, head 0: padded
      await favor.attention(q, k, paddedNaN, masked);
      assert.ok(messages.slice(before).some((m) => /^debug: attention 1×2×30×4 on WebGPU/.test(m)), messages.slice(before).join("\n"));
    } finally {
      setLogSink(null);
      setLogLevel("warn");
    }
  });

  test("device loss: features and attention get a new device", async () => {
    const favor = await gpuFavor();
    const warnings = [];
    setLogSink((level, message) => { if (level === "warn") warnings.push(message); });
    try {
      const rows = 12;
      const dim = 5;
      const x = uniform(rows * dim, 1300);
      const projection = uniform(7 * dim, 1301, 1.5);
      const first = favor.gpu.device;
      first.destroy();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const got = await favor.features(x, { rows, dim, projection, role: "query" });
      const want = expectedFeatures(x, { rows, dim, projection, kind: "positive", role: "query" });
      checkBound("features after destroy()", got, want.values, want.bounds, FEATURES_RULE);
      assert.notEqual(favor.gpu.device, first, "the lost device was not replaced");
      assert.match(warnings.join("\n"), /device replaced/);
      const shape = { batch: 1, heads: 1, length: 9, dim, layout: "bhld" };
      const q = uniform(9 * dim, 1302);
      const k = uniform(9 * dim, 1303);
      const v = uniform(9 * dim, 1304);
      favor.gpu.device.destroy();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const out = await favor.attention(q, k, v, { ...shape, causal: true, kernel: "positive", features: 7, projection, chunk: 4 });
      const reference = favorAttentionReference(q, k, v, shape, { causal: true, kind: "positive", projection, features: 7 });
      checkBound("attention after destroy()", out, reference.out, reference.bound, ATTENTION_RULE);
    } finally {
      setLogSink(null);
    }
  });

  test("pipelines are compiled once per shader", async () => {
    const favor = await gpuFavor();
    const backend = favor.gpu;
    assert.ok(backend, "favor.gpu is missing");
    const x = uniform(20 * 8, 11);
    const w = uniform(16 * 8, 12);
    const messages = [];
    setLogLevel("debug");
    setLogSink((level, message) => messages.push(message));
    try {
      await favor.features(x, { rows: 20, dim: 8, projection: w, kind: "trig", role: "key" });
      const first = messages.filter((m) => m.startsWith("WebGPU pipeline compiled")).length;
      await favor.features(x, { rows: 20, dim: 8, projection: w, kind: "trig", role: "key" });
      await favor.features(uniform(70 * 8, 13), { rows: 70, dim: 8, projection: w, kind: "trig", role: "query" });
      const second = messages.filter((m) => m.startsWith("WebGPU pipeline compiled")).length;
      assert.ok(first >= 3, `expected the GEMM, rowstat, shift and apply pipelines, compiled ${first}`);
      assert.equal(second, first, "a new shape or role compiled another pipeline");
    } finally {
      setLogSink(null);
      setLogLevel("warn");
    }
  });
});
