// attentionBackward on the WebGPU backend (Node, `webgpu` package on
// SwiftShader): every differentiable feature map, bidirectional and causal,
// against the float64 analytic gradient of tests/reference/backward.js
// with the tolerance chain·u·M of gradientTolerance (M = the gradient
// summed in magnitudes), as the WASM suite does. Also lengths that are not
// a multiple of the chunk, padded keys holding NaN, large exponents, per-head
// and drawn projections, the projection gradient, and the cases that run on
// WASM instead. Without an adapter every test fails with the reason; nothing
// is skipped.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFavor, setLogLevel, setLogSink } from "favor-wasm";
import { collectLogs, nodeGpu } from "../helpers/webgpu.js";
import { headRows } from "../reference/attention.js";
import { attentionBackward64, exponentSize, gradientTolerance } from "../reference/backward.js";
import { assertClose, seededFloats } from "../helpers/numeric.js";
import { attentionInputs as inputs } from "../helpers/attention-inputs.js";

const ALL_KINDS = ["positive", "hyperbolic", "trig", "relu", "elu+1", "exp", "abs", "identity"];

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
 * Runs attentionBackward on the GPU and compares dq, dk and dv with the
 * float64 gradient, each element within gradientTolerance of its magnitude:
 * chain·u·M with chain = keys + r + dim + dv + (dim + 2)·E + 16. Returns the
 * result and the largest error in units of the tolerance.
 */
async function checkGpu(favor, shape, options, data, context) {
  const { q, k, v, gradOut } = data;
  const pristine = [q, k, v, gradOut].map((a) => a.slice());
  const got = await favor.attentionBackward(q, k, v, gradOut, { ...shape, ...options });
  [q, k, v, gradOut].forEach((a, i) => assert.deepEqual(a, pristine[i], `${context}: input ${i} changed`));
  const plain = { ...options, chunk: undefined };
  const ref = attentionBackward64(q, k, v, gradOut, shape, plain);
  const size = attentionBackward64(q, k, v, gradOut, shape, plain, { absolute: true });
  const keyLength = shape.keyLength ?? shape.length;
  const features = options.features;
  const r = features === 0 ? shape.dim : (["hyperbolic", "trig"].includes(options.kernel) ? 2 : 1) * features;
  const chain = { keys: keyLength + 1, r, dim: shape.dim, valueDim: shape.valueDim ?? shape.dim, exponentSize: exponentSize(q, k, shape, options) };
  let worst = 0;
  const check = (name, tolerance) => {
    assertClose(got[name], ref[name], tolerance, `${context} ${name}`);
    for (let i = 0; i < tolerance.length; i++) worst = Math.max(worst, Math.abs(got[name][i] - ref[name][i]) / tolerance[i]);
  };
  for (const name of ["dq", "dk", "dv"]) check(name, gradientTolerance(size[name], chain));
  if (options.returnProjectionGradient) {
    // dW sums the terms of every row of every head that shares W, as in the WASM suite.
    const rows = shape.batch * (shape.length + keyLength) * (ref.dprojection.length === features * shape.dim ? shape.heads : 1);
    check("dprojection", gradientTolerance(size.dprojection, { ...chain, keys: chain.keys + rows }));
  } else {
    assert.equal(got.dprojection, undefined, `${context}: dprojection only on request`);
  }
  return { got, worst };
}

/** Returns a batch × keyLength padding mask with a few padded keys per item (never all). */
function paddingMask(batch, keyLength, seed) {
  const mask = new Uint8Array(batch * keyLength);
  const draws = seededFloats(batch * keyLength, seed);
  for (let i = 0; i < mask.length; i++) mask[i] = draws[i] > 0.4 ? 1 : 0;
  for (let item = 0; item < batch; item++) mask[item * keyLength + 1] = 0;
  return mask;
}

describe("attentionBackward on webgpu (node, SwiftShader)", () => {
  const shape = { batch: 2, heads: 2, length: 19, dim: 4, valueDim: 3, layout: "bhld" };
  const projection = seededFloats(6 * 4, 900);

  for (const kernel of ALL_KINDS) {
    test(`${kernel}: bidirectional and causal`, async (t) => {
      const favor = await sharedFavor();
      const data = inputs(shape, 100);
      let worst = 0;
      for (const causal of [false, true]) {
        const options = { causal, kernel, features: 6, projection, chunk: 4 };
        worst = Math.max(worst, (await checkGpu(favor, shape, options, data, `${kernel} causal ${causal}`)).worst);
      }
      t.diagnostic(`largest error ${worst.toFixed(4)} of the tolerance`);
    });
  }

  test("padded keys holding NaN: exact zero rows", async () => {
    const favor = await sharedFavor();
    for (const [layout, causal, kernel] of [["bhld", false, "positive"], ["blhd", true, "positive"], ["bhld", true, "relu"]]) {
      const padded = { ...shape, layout, keyPaddingMask: paddingMask(shape.batch, shape.length, 7) };
      const options = { causal, kernel, features: 6, projection, chunk: 4 };
      const data = inputs(padded, 200);
      const context = `padded ${layout} causal ${causal} ${kernel}`;
      const { got: clean } = await checkGpu(favor, padded, options, data, context);
      // Padded keys are never read: poisoning them changes no bit, and the call stays on the GPU.
      for (let item = 0; item < padded.batch; item++) {
        for (let head = 0; head < padded.heads; head++) {
          const kRows = headRows(padded, item, head, padded.length, padded.dim);
          const vRows = headRows(padded, item, head, padded.length, padded.valueDim);
          for (let j = 0; j < padded.length; j++) {
            if (padded.keyPaddingMask[item * padded.length + j] !== 1) continue;
            for (let c = 0; c < padded.dim; c++) {
              data.k[kRows.offset + j * kRows.ld + c] = Number.NaN;
              assert.ok(Object.is(clean.dk[kRows.offset + j * kRows.ld + c], 0), `${context}: dk of padded key ${j} is +0`);
            }
            for (let c = 0; c < padded.valueDim; c++) {
              data.v[vRows.offset + j * vRows.ld + c] = Number.POSITIVE_INFINITY;
              assert.ok(Object.is(clean.dv[vRows.offset + j * vRows.ld + c], 0), `${context}: dv of padded key ${j} is +0`);
            }
          }
        }
      }
      const messages = await collectLogs(setLogLevel, setLogSink, async () => {
        const poisoned = await favor.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...padded, ...options });
        assert.deepEqual(poisoned, clean, `${context}: poisoned padded keys change the gradients`);
      });
      assert.match(messages.join("\n"), /on WebGPU/, `${context}: padded NaN keys forced the WASM path`);
    }
  });

  test("tile and chunk edges", async (t) => {
    const favor = await sharedFavor();
    let worst = 0;
    for (const [length, dim, valueDim, features, chunk] of [[1, 4, 3, 6, 64], [65, 17, 5, 64, 64], [64, 3, 1, 17, 16], [17, 5, 2, 3, 17]]) {
      const edge = { batch: 1, heads: 2, length, dim, valueDim, layout: "blhd" };
      const data = inputs(edge, length * 31 + dim);
      const w = seededFloats(features * dim, length + 5);
      for (const causal of [false, true]) {
        const options = { causal, kernel: "positive", features, projection: w, chunk };
        worst = Math.max(worst, (await checkGpu(favor, edge, options, data, `length ${length} dim ${dim} m ${features} chunk ${chunk} causal ${causal}`)).worst);
      }
    }
    t.diagnostic(`largest error ${worst.toFixed(4)} of the tolerance`);
  });

  test("key length differs from length (bidirectional)", async () => {
    const favor = await sharedFavor();
    const cross = { batch: 1, heads: 1, length: 9, keyLength: 23, dim: 4, valueDim: 2, layout: "bhld" };
    await checkGpu(favor, cross, { causal: false, kernel: "positive", features: 6, projection }, inputs(cross, 300), "keyLength 23");
  });

  test("large exponents shift per row and per chunk", async () => {
    const favor = await sharedFavor();
    // Entries up to 6 give exponents t − h of several tens: unshifted float32 features would overflow.
    const big = { batch: 1, heads: 1, length: 40, dim: 4, valueDim: 2, layout: "bhld" };
    const data = inputs(big, 400, 6);
    for (const causal of [false, true]) {
      await checkGpu(favor, big, { causal, kernel: "positive", features: 6, projection, chunk: 8 }, data, `large causal ${causal}`);
    }
  });

  test("per-head, drawn and no projection", async () => {
    const favor = await sharedFavor();
    const data = inputs(shape, 500);
    const perHead = seededFloats(shape.heads * 6 * 4, 501);
    await checkGpu(favor, shape, { causal: true, kernel: "positive", features: 6, projection: perHead, chunk: 8 }, data, "per-head projection");
    const drawn = await favor.projection({ features: 6, dim: 4, seed: 3 });
    const viaSeed = await favor.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...shape, causal: false, kernel: "positive", features: 6, seed: 3 });
    const viaMatrix = await favor.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...shape, causal: false, kernel: "positive", features: 6, projection: drawn });
    assert.deepEqual(viaSeed, viaMatrix, "seed draws the projection that projection() returns");
    await checkGpu(favor, shape, { causal: true, kernel: "relu", features: 0, chunk: 4 }, data, "relu without projection");
  });

  test("projection gradient, shared and per head", async () => {
    const favor = await sharedFavor();
    const data = inputs(shape, 800);
    const perHead = seededFloats(shape.heads * 6 * 4, 801);
    for (const [kernel, causal, w] of [["positive", false, projection], ["positive", true, perHead], ["trig", true, projection], ["relu", false, perHead]]) {
      const options = { causal, kernel, features: 6, projection: w, chunk: 4, returnProjectionGradient: true };
      const messages = await collectLogs(setLogLevel, setLogSink, async () => {
        await checkGpu(favor, shape, options, data, `dprojection ${kernel} causal ${causal} per-head ${w === perHead}`);
      });
      assert.match(messages.join("\n"), /on WebGPU/);
    }
  });

  test("fallbacks to WASM are logged", async () => {
    const favor = await sharedFavor();
    const data = inputs(shape, 600);
    const options = { ...shape, causal: true, kernel: "positive", features: 6, projection, chunk: 4 };
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      const q = data.q.slice();
      q[3] = Number.NaN;
      const nan = await favor.attentionBackward(q, data.k, data.v, data.gradOut, options);
      assert.deepEqual(nan, favor.sync.attentionBackward(q, data.k, data.v, data.gradOut, options), "the WASM result, NaN included");
    });
    const text = messages.join("\n");
    assert.match(text, /debug: attentionBackward \(causal, positive, batch 2, heads 2, length 19, keyLength 19\) on WASM: an input is not finite/);

    const small = await gpuFavor({ webgpu: { maxBindingBytes: 256 } });
    const limited = await collectLogs(setLogLevel, setLogSink, async () => {
      await checkGpu(small, shape, { causal: true, kernel: "positive", features: 6, projection, chunk: 4 }, data, "binding limit");
    });
    assert.match(limited.join("\n"), /warn: attentionBackward .* on WASM: a buffer needs \d+ bytes, over the 256-byte storage binding limit/);
  });

  test("hybrid kernels run on WASM with the same bits, and say so", async () => {
    // The GPU backward covers the non-hybrid maps only; a hybrid call must give
    // exactly the WASM gradients (same plan, same kernels), not an error or zeros.
    const favor = await sharedFavor();
    const data = inputs(shape, 650);
    const options = { ...shape, causal: true, kernel: "angular-hybrid", features: 4, lambdaFeatures: 3, seed: 5, chunk: 4 };
    let got;
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      got = await favor.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
    });
    const wasm = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
    for (const name of ["dq", "dk", "dv"]) {
      assert.deepEqual(got[name], wasm[name], `hybrid ${name}`);
      assert.ok(got[name].every(Number.isFinite), `hybrid ${name} finite`);
    }
    assert.match(messages.join("\n"), /attentionBackward \(causal, .*\) on WASM: hybrid kernels have no WebGPU backward yet/);
  });

  test("passes over groups of heads under the binding limit", async () => {
    // One head needs at most 120 floats (480 bytes) per buffer here, all four heads 1920: two passes of two heads.
    const limited = await gpuFavor({ webgpu: { maxBindingBytes: 1024 } });
    const data = inputs(shape, 900);
    const perHead = seededFloats(shape.heads * 6 * 4, 901);
    for (const [causal, w] of [[false, projection], [true, perHead], [true, projection]]) {
      const options = { causal, kernel: "positive", features: 6, projection: w, chunk: 4, returnProjectionGradient: true };
      const messages = await collectLogs(setLogLevel, setLogSink, async () => {
        await checkGpu(limited, shape, options, data, `passes causal ${causal} per-head ${w === perHead}`);
      });
      assert.match(messages.join("\n"), /on WebGPU \(.*\), 2 pass\(es\) of up to 2 heads/);
    }
  });

  test("auto: below the threshold on WASM", async () => {
    const favor = await gpuFavor({ backend: "auto" });
    const data = inputs(shape, 700);
    const messages = await collectLogs(setLogLevel, setLogSink, async () => {
      await checkGpu(favor, shape, { causal: false, kernel: "positive", features: 6, projection }, data, "auto small");
    });
    assert.match(messages.join("\n"), /attentionBackward \(bidirectional, .*\) on WASM: about \d+ flops < the auto threshold 16777216/);
  });
});
