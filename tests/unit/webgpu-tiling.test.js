// favor.features and favor.attention on WebGPU in passes under a small
// storage binding limit (the internal option webgpu.maxBindingBytes): the
// tiled results must equal the results of one pass bit for bit, because a
// pass computes each row (features) or each head (attention) with the same
// kernels and the same operands. A problem whose single row or head exceeds
// the limit runs on WASM with a warning. Node's `webgpu` package on
// SwiftShader, as in webgpu-attention.test.js.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFavor, setLogLevel, setLogSink } from "favor-wasm";
import { collectLogs, nodeGpu } from "../helpers/webgpu.js";
import { seededFloats } from "../helpers/numeric.js";

async function gpuFavor(options = {}) {
  const gpu = await nodeGpu();
  return createFavor({ backend: "webgpu", ...options, webgpu: { gpu, ...options.webgpu } });
}

let untiled = null;
async function untiledFavor() {
  untiled ??= await gpuFavor();
  return untiled;
}

/** Rows×dim inputs whose row norms grow with the row index, so each pass of rows has a different largest exponent. */
function growingRows(rows, dim, seed) {
  const x = seededFloats(rows * dim, seed);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dim; j++) x[i * dim + j] *= 0.5 + (2 * i) / rows;
  }
  return x;
}

describe("webgpu tiling (node)", () => {
  test("features: passes of rows equal one pass", async () => {
    const rows = 50;
    const dim = 8;
    const projection = seededFloats(8 * dim, 2);
    const x = growingRows(rows, dim, 1);
    const whole = await untiledFavor();
    // 512 bytes hold 128 floats: 16 rows of 8 outputs (positive), 8 rows of 16 (trig, hyperbolic).
    const limited = await gpuFavor({ webgpu: { maxBindingBytes: 512 } });
    const passRows = { positive: 16, trig: 8, hyperbolic: 8 };
    for (const kind of ["positive", "trig", "hyperbolic"]) {
      for (const role of ["query", "key", "none"]) {
        const options = { rows, dim, projection, kind, role, returnStabilizer: true };
        const label = `${kind} ${role}`;
        const want = await whole.features(x, options);
        let got;
        const messages = await collectLogs(setLogLevel, setLogSink, async () => {
          got = await limited.features(x, options);
        });
        const passes = Math.ceil(rows / passRows[kind]);
        assert.match(messages.join("\n"), new RegExp(`features 50×8→\\d+ \\(${kind}\\) on WebGPU \\(.*\\), ${passes} pass\\(es\\) of up to ${passRows[kind]} rows`),
          `${label}: ${messages.join("\n")}`);
        assert.ok(!messages.some((m) => m.startsWith("warn:")), `${label}: unexpected warning ${messages.join("\n")}`);
        assert.deepEqual(got.features, want.features, `${label}: features`);
        assert.deepEqual(got.shift, want.shift, `${label}: shift`);
        assert.equal(got.maxExponent, want.maxExponent, `${label}: maxExponent`);
      }
    }
  });

  test("features: key shift spans every pass", async () => {
    // A block of rows mapped on its own gets its own key shift, its largest
    // exponent. For a block without the call's largest exponent, the tiled
    // features must differ from those, or the check above could pass by accident.
    const rows = 50;
    const dim = 8;
    const projection = seededFloats(8 * dim, 2);
    const x = growingRows(rows, dim, 1);
    const whole = await untiledFavor();
    const limited = await gpuFavor({ webgpu: { maxBindingBytes: 512 } });
    const tiled = await limited.features(x, { rows, dim, projection, role: "key", returnStabilizer: true });
    let compared = 0;
    for (let first = 0; first < rows; first += 16) {
      const count = Math.min(16, rows - first);
      const block = await whole.features(x.subarray(first * dim, (first + count) * dim), { rows: count, dim, projection, role: "key", returnStabilizer: true });
      if (block.maxExponent === tiled.maxExponent) continue;
      assert.ok(block.maxExponent < tiled.maxExponent, `rows ${first}…: block maximum ${block.maxExponent} over the call's ${tiled.maxExponent}`);
      assert.notDeepEqual(tiled.features.subarray(first * 8, (first + count) * 8), block.features, `rows ${first}…: the pass used its own shift`);
      compared++;
    }
    assert.ok(compared >= 1, "every block holds the call's largest exponent; the inputs do not test the shared shift");
  });

  test("features: hybrid passes of rows equal one pass", async () => {
    // m = 3 rows per base and m_λ = 2 give at most a few dozen outputs per row,
    // so 2048 bytes (512 floats) hold a fraction of the 50 rows.
    const rows = 50;
    const dim = 8;
    const projection = { base1: seededFloats(3 * dim, 30), base2: seededFloats(3 * dim, 31), lambda: seededFloats(2 * dim, 32) };
    const x = growingRows(rows, dim, 33);
    const whole = await untiledFavor();
    const limited = await gpuFavor({ webgpu: { maxBindingBytes: 2048 } });
    const gaussian = { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 1.5 } };
    for (const kind of ["angular-hybrid", gaussian]) {
      for (const role of ["query", "key"]) {
        const options = { rows, dim, kind, role, projection, returnStabilizer: true };
        const label = `${JSON.stringify(kind)} ${role}`;
        const want = await whole.features(x, options);
        let got;
        const messages = await collectLogs(setLogLevel, setLogSink, async () => {
          got = await limited.features(x, options);
        });
        const match = /features 50×8→\d+ \(hybrid\) on WebGPU \(.*\), (\d+) pass\(es\) of up to \d+ rows/.exec(messages.join("\n"));
        assert.ok(match !== null, `${label}: ${messages.join("\n")}`);
        assert.ok(Number(match[1]) > 1, `${label}: ${match[1]} pass(es), expected several`);
        assert.deepEqual(got.features, want.features, `${label}: features`);
        assert.deepEqual(got.shift, want.shift, `${label}: shift`);
        assert.equal(got.maxExponent, want.maxExponent, `${label}: maxExponent`);
      }
    }
  });

  test("features: a row over the limit runs on WASM", async () => {
    // One row of 200 floats exceeds the 128 floats of a 512-byte binding.
    const rows = 3;
    const dim = 200;
    const options = { rows, dim, projection: seededFloats(4 * dim, 4), role: "key" };
    const x = seededFloats(rows * dim, 3);
    const limited = await gpuFavor({ webgpu: { maxBindingBytes: 512 } });
    let got;
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      got = await limited.features(x, options);
    });
    assert.match(messages.join("\n"), /warn: features 3×200→4 \(positive\): a buffer of \d+ floats exceeds the 512-byte binding limit even for one row; running on WASM/);
    assert.deepEqual(got, limited.sync.features(x, options));
  });

  // One item needs 76 input floats (19 rows × 4) and at most 120 floats of
  // scratch, so 1024 bytes (256 floats) hold three items. Batch 3 × heads 2
  // runs in two passes of three heads, each crossing a batch item. Batch 1 ×
  // heads 4 (per-head projections) runs in two passes of two heads.
  const shapes = [
    { batch: 3, heads: 2, length: 19, dim: 4, valueDim: 3, passes: 2, group: 3, perHead: false },
    { batch: 1, heads: 4, length: 19, dim: 4, valueDim: 3, passes: 2, group: 2, perHead: true },
  ];
  for (const { passes, group, perHead, ...size } of shapes) {
    test(`attention: ${size.batch}×${size.heads} in ${passes} passes equals one pass`, async () => {
      const whole = await untiledFavor();
      const limited = await gpuFavor({ webgpu: { maxBindingBytes: 1024 } });
      const { batch, heads, length, dim, valueDim } = size;
      const q = seededFloats(batch * heads * length * dim, 10);
      const k = seededFloats(batch * heads * length * dim, 11);
      const v = seededFloats(batch * heads * length * valueDim, 12);
      const projection = seededFloats((perHead ? heads : 1) * 6 * dim, 13);
      const keyPaddingMask = new Uint8Array(batch * length);
      for (let b = 0; b < batch; b++) keyPaddingMask[b * length + ((5 * b + 3) % length)] = 1;
      keyPaddingMask[length - 1] = 1;
      for (const layout of ["bhld", "blhd"]) {
        for (const causal of [false, true]) {
          const options = { ...size, layout, causal, kernel: "positive", features: 6, projection, chunk: 4, keyPaddingMask };
          const label = `${layout} causal ${causal}`;
          const want = await whole.attention(q, k, v, options);
          let got;
          const messages = await collectLogs(setLogLevel, setLogSink, async () => {
            got = await limited.attention(q, k, v, options);
          });
          assert.match(messages.join("\n"), new RegExp(`debug: attention ${batch}×${heads}×${length}×${dim}${causal ? " causal" : ""} on WebGPU \\(.*\\), ${passes} pass\\(es\\) of up to ${group} heads`),
            `${label}: ${messages.join("\n")}`);
          assert.ok(!messages.some((m) => m.startsWith("warn:")), `${label}: unexpected warning ${messages.join("\n")}`);
          assert.ok(got.every(Number.isFinite), `${label}: finite`);
          assert.deepEqual(got, want, label);
        }
      }
    });
  }

  test("attention: a head over the limit runs on WASM", async () => {
    // 256 bytes hold 64 floats, fewer than one head's 20 × 6 feature rows.
    const shape = { batch: 1, heads: 2, length: 19, dim: 4, valueDim: 3, layout: "blhd" };
    const q = seededFloats(2 * 19 * 4, 20);
    const k = seededFloats(2 * 19 * 4, 21);
    const v = seededFloats(2 * 19 * 3, 22);
    const options = { ...shape, causal: true, kernel: "positive", features: 6, projection: seededFloats(24, 23), chunk: 4 };
    const limited = await gpuFavor({ webgpu: { maxBindingBytes: 256 } });
    let got;
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      got = await limited.attention(q, k, v, options);
    });
    assert.match(messages.join("\n"), /warn: attention 1×2×19×4 causal: a buffer of \d+ floats exceeds the 256-byte binding limit even for one head; running on WASM/);
    assert.deepEqual(got, limited.sync.attention(q, k, v, options));
  });
});
