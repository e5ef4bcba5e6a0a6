// The WebGPU backend in Node, on the `webgpu` npm package (Dawn) with
// Chromium's SwiftShader Vulkan driver: the conformance corpus's matmul
// cases, shapes around the 64×64×16 tile edges, tiling past an artificially
// low binding limit, GPU tensors and the pool, and device loss. SwiftShader
// is a software adapter: these tests check results only, never speed.
//
// VK_DRIVER_FILES selects SwiftShader's ICD (the Vulkan loader reads it when
// Dawn creates its instance). When no adapter can be obtained every test
// fails with the reason; nothing is skipped.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFavor, setLogLevel, setLogSink } from "favor-wasm";
import { WEBGPU_OPS, runCase } from "../conformance/runner.js";
import { seededFloats as uniform } from "../helpers/numeric.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ICD = process.env.FAVOR_VK_ICD ?? "/usr/lib/chromium/vk_swiftshader_icd.json";
const EPS = 2 ** -24;
const corpus = JSON.parse(readFileSync(join(root, "tests", "conformance", "corpus.json"), "utf8"));
const tolerances = JSON.parse(readFileSync(join(root, "tests", "conformance", "tolerances.json"), "utf8"));

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

// Pipelines compile slowly on SwiftShader (about 2 s each), so the tests share one instance where they can.
let shared = null;
async function sharedFavor() {
  shared ??= await gpuFavor();
  return shared;
}

async function gpuFavor(options = {}) {
  if (setupError !== null) throw new Error(`no WebGPU in Node: ${setupError.message}`);
  return createFavor({ backend: "webgpu", ...options, webgpu: { gpu, ...options.webgpu } });
}

/**
 * Checks every element of C against the float64 product: a k-term float32
 * dot product in any order plus the alpha and beta roundings errs by at most
 * (k + 2)·eps·(|alpha|·Σ|a·b| + |beta·c|). Elements outside the m×n blocks
 * must keep their bits.
 */
function checkProduct(label, got, a, b, c0, o) {
  const batch = o.batch ?? 1;
  const { m, n, k } = o;
  const lda = o.lda ?? (o.transA ? m : k);
  const ldb = o.ldb ?? (o.transB ? k : n);
  const ldc = o.ldc ?? n;
  const sA = o.strideA ?? (o.transA ? k : m) * lda;
  const sB = o.strideB ?? (o.transB ? n : k) * ldb;
  const sC = o.strideC ?? m * ldc;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  const touched = new Set();
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        let mag = 0;
        for (let q = 0; q < k; q++) {
          const x = a[p * sA + (o.transA ? q * lda + i : i * lda + q)];
          const y = b[p * sB + (o.transB ? j * ldb + q : q * ldb + j)];
          sum += x * y;
          mag += Math.abs(x * y);
        }
        const ci = p * sC + i * ldc + j;
        touched.add(ci);
        const cOld = beta === 0 ? 0 : c0[ci];
        const expected = alpha * sum + beta * cOld;
        const bound = (k + 2) * EPS * (Math.abs(alpha) * mag + Math.abs(beta * cOld));
        if (!(Math.abs(got[ci] - expected) <= bound)) {
          assert.fail(`${label}: c[${ci}] (batch ${p}, row ${i}, col ${j}) is ${got[ci]}, expected ${expected} ± ${bound}`);
        }
      }
    }
  }
  for (let i = 0; i < got.length; i++) {
    if (!touched.has(i) && !Object.is(got[i], c0[i]) && !(Number.isNaN(got[i]) && Number.isNaN(c0[i]))) {
      assert.fail(`${label}: c[${i}] outside the result changed from ${c0[i]} to ${got[i]}`);
    }
  }
}

function operands(o, seed, scale = 1) {
  const batch = o.batch ?? 1;
  const lda = o.lda ?? (o.transA ? o.m : o.k);
  const ldb = o.ldb ?? (o.transB ? o.k : o.n);
  const ldc = o.ldc ?? o.n;
  const lenA = o.strideA !== undefined ? (batch - 1) * o.strideA + (o.transA ? o.k : o.m) * lda : batch * (o.transA ? o.k : o.m) * lda;
  const lenB = o.strideB !== undefined ? (batch - 1) * o.strideB + (o.transB ? o.n : o.k) * ldb : batch * (o.transB ? o.n : o.k) * ldb;
  const lenC = o.strideC !== undefined ? (batch - 1) * o.strideC + o.m * ldc : batch * o.m * ldc;
  return { a: uniform(lenA, seed, scale), b: uniform(lenB, seed + 1, scale), c: uniform(lenC, seed + 2).fill(Number.NaN) };
}

describe("webgpu backend (node, SwiftShader)", () => {
  test("adapter is available and named", async () => {
    const favor = await sharedFavor();
    assert.equal(favor.info.backend, "webgpu");
    assert.ok(favor.info.gpu !== null);
    assert.match(`${favor.info.gpu.vendor} ${favor.info.gpu.architecture}`, /\S/, "adapter.info names no vendor or architecture");
  });

  test("tolerance table has a webgpu row", () => {
    assert.ok(tolerances.backends.webgpu?.matmul?.dot, "tests/conformance/tolerances.json lacks backends.webgpu.matmul.dot");
  });

  const gpuCases = corpus.cases.filter((c) => WEBGPU_OPS.includes(c.op));
  test(`conformance: ${gpuCases.length} cases of ${WEBGPU_OPS.join(", ")}`, async () => {
    const favor = await sharedFavor();
    const failures = [];
    for (const testCase of gpuCases) {
      const result = await runCase(favor, testCase, tolerances);
      if (!result.ok) failures.push(`${testCase.id}: ${result.message}`);
    }
    assert.deepEqual(failures, []);
  });

  test("shapes around tile edges, all transposes, vec4 and scalar loads", async () => {
    const favor = await sharedFavor();
    let seed = 100;
    for (const [m, n, k] of [[1, 1, 1], [63, 65, 15], [64, 64, 16], [65, 63, 17], [4, 8, 12], [128, 4, 32], [3, 129, 48]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const o = { m, n, k, transA, transB };
          const { a, b, c } = operands(o, seed += 3);
          const c0 = c.slice();
          const got = await favor.matmul(a, b, { ...o, c });
          assert.equal(got, c);
          checkProduct(`${m}×${n}×${k} tA=${transA} tB=${transB}`, got, a, b, c0, o);
        }
      }
    }
  });

  test("batch, strides, alpha and beta, large-norm inputs", async () => {
    const favor = await sharedFavor();
    const cases = [
      { m: 20, n: 36, k: 24, batch: 3, alpha: -1.5, beta: 0.25 },
      { m: 8, n: 8, k: 8, batch: 5, strideA: 0, transB: true },
      { m: 17, n: 9, k: 70, batch: 2, transA: true, lda: 19, ldb: 11, ldc: 12, strideA: 70 * 19 + 3, strideB: 70 * 11 + 1, strideC: 17 * 12 + 5, beta: 1 },
    ];
    let seed = 500;
    for (const o of cases) {
      const { a, b, c } = operands(o, seed += 3);
      c.forEach((_, i) => { c[i] = o.beta ? Math.sin(i) : Number.NaN; });
      const c0 = c.slice();
      checkProduct(JSON.stringify(o), await favor.matmul(a, b, { ...o, c }), a, b, c0, o);
    }
    // Entries up to 1e18 give products up to 1e36 and sums up to 4e37, below the float32 maximum 3.4e38.
    const o = { m: 33, n: 31, k: 40 };
    const { a, b, c } = operands(o, 900, 1e18);
    checkProduct("large norm", await favor.matmul(a, b, { ...o, c }), a, b, c.slice(), o);
  });

  test("tiles past a lowered binding limit, along the batch and along m", async () => {
    const favor = await gpuFavor({ webgpu: { maxBindingBytes: 4096 } });
    const messages = [];
    setLogSink((level, message) => messages.push(message));
    setLogLevel("debug");
    try {
      for (const o of [
        { m: 40, n: 20, k: 20, batch: 6 },          // one item: A 3200, B 1600, C 3200 bytes, so one item per chunk
        { m: 150, n: 24, k: 4, transA: true },      // Aᵀ 4×150 fits; C 150×24 = 14400 bytes splits along m
        { m: 100, n: 8, k: 36, batch: 2, alpha: 2, beta: -1 },
      ]) {
        const { a, b, c } = operands(o, 77);
        if (o.beta) c.forEach((_, i) => { c[i] = Math.cos(i); });
        const c0 = c.slice();
        messages.length = 0;
        checkProduct(`limited ${JSON.stringify(o)}`, await favor.matmul(a, b, { ...o, c }), a, b, c0, o);
        const chunks = Number((/(\d+) chunk\(s\)/.exec(messages.join("\n")) ?? [])[1]);
        assert.ok(chunks > 1, `expected several chunks, the log says: ${messages.join(" | ")}`);
      }
      // B alone above the limit cannot be split along m or the batch: WASM runs it, with a warning.
      const o = { m: 4, n: 64, k: 32 };
      const { a, b, c } = operands(o, 88);
      messages.length = 0;
      checkProduct("B above the limit", await favor.matmul(a, b, { ...o, c }), a, b, c.slice(), o);
      assert.match(messages.join("\n"), /binding limit; running on WASM/);
    } finally {
      setLogLevel("warn");
      setLogSink(null);
    }
  });

  test("GPU tensors: inputs, tensor output, read, destroy and the pool", async () => {
    const favor = await sharedFavor();
    const o = { m: 30, n: 34, k: 50 };
    const { a, b } = operands(o, 321);
    const ta = favor.gpu.tensor(a, [30, 50]);
    const tb = favor.gpu.tensor(b, [50, 34]);
    assert.deepEqual(await ta.read(), a);
    const tc = await favor.matmul(ta, tb, { ...o, output: "tensor" });
    assert.deepEqual(tc.shape, [30 * 34]);
    checkProduct("tensor output", await tc.read(), a, b, new Float32Array(30 * 34), o);
    const host = await favor.matmul(ta, b, o);
    checkProduct("tensor a, array b", host, a, b, new Float32Array(30 * 34), o);
    const pooled = favor.gpu.tensor(new Float32Array(1), [1]);
    tc.destroy();
    tc.destroy();
    await assert.rejects(tc.read(), /tensor.read: the tensor was destroyed/);
    const gone = favor.gpu.tensor(a, [30, 50]);
    gone.destroy();
    await assert.rejects(favor.matmul(gone, tb, o), /matmul: the tensor was destroyed/);
    assert.throws(() => favor.gpu.tensor(a, [2, 3]), /gpu.tensor: shape \[2, 3\] holds 6 elements, but data has length 1500/);
    pooled.destroy();
    ta.destroy();
    tb.destroy();
  });

  test("device loss: the next call gets a new device and stale tensors fail clearly", async () => {
    const favor = await gpuFavor();
    const warnings = [];
    setLogSink((level, message) => { if (level === "warn") warnings.push(message); });
    try {
      const o = { m: 9, n: 70, k: 33 };
      const { a, b, c } = operands(o, 4242);
      const stale = favor.gpu.tensor(a, [9, 33]);
      const first = favor.gpu.device;
      first.destroy();
      await new Promise((resolve) => setTimeout(resolve, 20));
      checkProduct("after destroy()", await favor.matmul(a, b, { ...o, c }), a, b, c.slice(), o);
      assert.notEqual(favor.gpu.device, first);
      assert.match(warnings.join("\n"), /device lost/);
      assert.match(warnings.join("\n"), /device replaced/);
      await assert.rejects(favor.matmul(stale, b, o), /the tensor's GPU device was lost/);
    } finally {
      setLogSink(null);
    }
  });

  test("auto: small on WASM, large on WebGPU, logged at debug level", async () => {
    const favor = await createFavor({ backend: "auto", webgpu: { gpu, autoMinFlops: 2 * 32 * 32 * 32 } });
    const messages = [];
    setLogSink((level, message) => messages.push(`${level}: ${message}`));
    setLogLevel("debug");
    try {
      for (const [size, where] of [[31, "WASM"], [32, "WebGPU"]]) {
        const o = { m: size, n: size, k: size };
        const { a, b, c } = operands(o, size);
        messages.length = 0;
        checkProduct(`auto ${size}`, await favor.matmul(a, b, { ...o, c }), a, b, c.slice(), o);
        assert.match(messages.join("\n"), new RegExp(`debug: matmul 1×${size}×${size}×${size} on ${where}`));
      }
    } finally {
      setLogLevel("warn");
      setLogSink(null);
    }
  });

  test("backend errors name what was found", async () => {
    await assert.rejects(createFavor({ backend: "webgpu" }),
      /createFavor: backend "webgpu" needs a WebGPU adapter, but no WebGPU entry point: navigator.gpu is undefined/);
    const none = { requestAdapter: async () => null };
    await assert.rejects(createFavor({ backend: "webgpu", webgpu: { gpu: none } }), /requestAdapter\(\) returned null/);
    const auto = await createFavor({ backend: "auto", webgpu: { gpu: none } });
    assert.equal(auto.info.backend, "wasm");
    assert.equal(auto.gpu, null);
    await assert.rejects(createFavor({ backend: "cuda" }), /backend/);
  });
});
