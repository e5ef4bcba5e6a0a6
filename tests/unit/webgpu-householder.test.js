// householder.apply on the WebGPU backend (Node, `webgpu` package on
// SwiftShader): shapes around the 64-wide GEMM tiles and the 64-invocation
// column kernels, both transposes, large and small norms, and the cases that
// run on WASM instead (method "sequential", non-finite inputs, the binding
// limit, "auto" below its threshold). Without an adapter every test fails
// with the reason; nothing is skipped.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFavor, setLogLevel, setLogSink } from "favor-wasm";
import { collectLogs, nodeGpu } from "../helpers/webgpu.js";
import { applyReference } from "../reference/householder.js";
import { seededFloats as uniform } from "../helpers/numeric.js";

const EPS = 2 ** -24;
const SIZES = [1, 3, 17, 64, 65];

let shared = null;
async function gpuFavor(options = {}) {
  const gpu = await nodeGpu();
  return createFavor({ backend: "webgpu", ...options, webgpu: { gpu, ...options.webgpu } });
}
async function sharedFavor() {
  shared ??= await gpuFavor();
  return shared;
}

/**
 * Checks out against the float64 reference. The CWY steps are float32 sums
 * of length n (Gram matrix, Uᵀ·X) and k (solve, U·Z) over unit vectors, so an
 * entry of column c errs by at most 4·(n + k)·u·‖x_c‖₂ (the WASM rule of
 * docs/householder.md; only the summation order differs), plus 2^-126 for one
 * subnormal flush, which WGSL allows. Returns the largest error in units of
 * (n + k)·u·‖x_c‖₂.
 */
function checkApply(label, out, v, x, n, k, cols, transpose) {
  const expected = applyReference(v, x, n, k, cols, transpose);
  let worst = 0;
  for (let c = 0; c < cols; c++) {
    let norm = 0;
    for (let i = 0; i < n; i++) norm += x[i * cols + c] ** 2;
    norm = Math.sqrt(norm);
    const unit = (n + k) * EPS * norm;
    for (let i = 0; i < n; i++) {
      const e = Math.abs(out[i * cols + c] - expected[i * cols + c]);
      assert.ok(e <= 4 * unit + 2 ** -126,
        `${label}: out[${i}][${c}] = ${out[i * cols + c]}, expected ${expected[i * cols + c]} (error ${e} > ${4 * unit})`);
      if (unit > 0) worst = Math.max(worst, e / unit);
    }
  }
  return worst;
}

describe("householder.apply on webgpu (node, SwiftShader)", () => {
  test("matches float64 around tile edges", async (t) => {
    const favor = await sharedFavor();
    let worst = 0;
    let calls = 0;
    for (const n of SIZES) {
      for (const k of SIZES.filter((size) => size <= n)) {
        for (const cols of SIZES) {
          for (const transpose of [false, true]) {
            const seed = n * 10007 + k * 101 + cols * 2 + (transpose ? 1 : 0);
            const v = uniform(n * k, seed);
            const x = uniform(n * cols, seed + 1);
            const [v0, x0] = [v.slice(), x.slice()];
            const out = new Float32Array(n * cols).fill(Number.NaN);
            const returned = await favor.householder.apply(v, x, { n, k, cols, transpose, out });
            assert.equal(returned, out, "apply returns the given out array");
            worst = Math.max(worst, checkApply(`n ${n}, k ${k}, cols ${cols}, transpose ${transpose}`, out, v, x, n, k, cols, transpose));
            assert.deepEqual(v, v0, "v is unchanged");
            assert.deepEqual(x, x0, "x is unchanged");
            calls++;
          }
        }
      }
    }
    t.diagnostic(`${calls} calls; largest error ${worst.toFixed(3)}·(n + k)·u·‖x_c‖₂ (bound 4)`);
  });

  test("large and small norms", async () => {
    const favor = await sharedFavor();
    const [n, k, cols] = [65, 17, 3];
    for (const [vScale, xScale] of [[1e18, 1], [1e-18, 1], [1, 1e18], [1, 1e-18]]) {
      const v = uniform(n * k, 11, vScale);
      const x = uniform(n * cols, 12, xScale);
      for (const transpose of [false, true]) {
        const out = await favor.householder.apply(v, x, { n, k, cols, transpose });
        checkApply(`v scale ${vScale}, x scale ${xScale}, transpose ${transpose}`, out, v, x, n, k, cols, transpose);
      }
    }
  });

  test("sequential and non-finite inputs run on WASM", async () => {
    const favor = await sharedFavor();
    const [n, k, cols] = [17, 3, 5];
    const v = uniform(n * k, 21);
    const x = uniform(n * cols, 22);
    const messages = await collectLogs(setLogLevel, setLogSink, async (log) => {
      const sequential = await favor.householder.apply(v, x, { n, k, cols, method: "sequential" });
      checkApply("sequential", sequential, v, x, n, k, cols, false);
      assert.match(log.join("\n"), /debug: householder\.apply \(n 17, k 3, cols 5\) on WASM: method "sequential"/);

      const withNaN = x.slice();
      withNaN[4] = Number.NaN;
      const gpuResult = await favor.householder.apply(v, withNaN, { n, k, cols });
      const wasmResult = favor.sync.householder.apply(v, withNaN, { n, k, cols });
      assert.deepEqual(gpuResult, wasmResult, "the WASM fallback gives the WASM result, NaN included");
      assert.ok(Number.isNaN(gpuResult[4]), "NaN in x reaches its column");
      assert.match(log.join("\n"), /on WASM: an input is not finite/);
    });
    assert.ok(messages.length >= 2);
  });

  test("over the binding limit runs on WASM with a warning", async () => {
    // n·k·4 = 4420 bytes exceeds a 1024-byte limit.
    const favor = await gpuFavor({ webgpu: { maxBindingBytes: 1024 } });
    const [n, k, cols] = [65, 17, 3];
    const v = uniform(n * k, 31);
    const x = uniform(n * cols, 32);
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      const out = await favor.householder.apply(v, x, { n, k, cols, transpose: true });
      checkApply("binding limit", out, v, x, n, k, cols, true);
    });
    assert.match(messages.join("\n"), /warn: householder\.apply \(n 65, k 17, cols 3\) on WASM: an operand needs 4420 bytes, over the 1024-byte storage binding limit/);
  });

  test("auto: below the threshold on WASM, above on WebGPU", async () => {
    // 2·n·k² + 4·n·k·cols + k²·cols floating-point operations.
    const flops = (n, k, cols) => 2 * n * k * k + 4 * n * k * cols + k * k * cols;
    const favor = await gpuFavor({ backend: "auto", webgpu: { autoMinFlops: flops(17, 17, 17) } });
    for (const [n, where] of [[16, "WASM"], [17, "WebGPU"]]) {
      const v = uniform(n * n, n);
      const x = uniform(n * n, n + 1);
      const messages = await collectLogs(setLogLevel, setLogSink, async () => {
        const out = await favor.householder.apply(v, x, { n, k: n, cols: n });
        checkApply(`auto n ${n}`, out, v, x, n, n, n, false);
      });
      assert.match(messages.join("\n"), new RegExp(`debug: householder\\.apply \\(n ${n}, k ${n}, cols ${n}\\) on ${where}`));
    }
  });

  test("device loss: the next call gets a new device", async () => {
    const favor = await gpuFavor();
    const [n, k, cols] = [9, 4, 2];
    const v = uniform(n * k, 41);
    const x = uniform(n * cols, 42);
    checkApply("before loss", await favor.householder.apply(v, x, { n, k, cols }), v, x, n, k, cols, false);
    favor.gpu.device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      checkApply("after loss", await favor.householder.apply(v, x, { n, k, cols }), v, x, n, k, cols, false);
    });
    assert.match(messages.join("\n"), /device replaced/);
  });

  test("validation errors come from the shared plan", async () => {
    const favor = await sharedFavor();
    await assert.rejects(favor.householder.apply(new Float32Array(4), new Float32Array(2), { n: 2, k: 2, cols: 1 }),
      /householder\.apply: column 0 of v is all zeros/);
    await assert.rejects(favor.householder.apply(new Float32Array(4).fill(1), new Float32Array(3), { n: 2, k: 2, cols: 1 }),
      /householder\.apply: x has length 3, expected 2/);
  });
});
