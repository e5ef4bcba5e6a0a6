// attentionWithState and the endState option of attentionBackward:
//   1. the output against the float64 forward, within the chain·u·M bound
//      of gradientTolerance applied to the output's magnitudes;
//   2. gradients from the end state have the same bits as gradients that
//      recompute it, in every mode, for plain and hybrid kernels, on every
//      build: the causal end state is the compensated sum of the same chunk
//      products the backward pass would compute, and the bidirectional one
//      is the same pass A;
//   3. the adversarial start-state input (keys from 1e-6 to 1e3), where
//      any difference in the end state would show in the early chunks;
//   4. a state that belongs to other inputs or options is rejected;
//   5. on 2 and 3 threads (the chunk-parallel form with the end state) the
//      end state has the same bits as on one thread. Every chunk product
//      has the same bits, and each element of the compensated sum goes
//      through the same additions in the same order.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFavor, setLogSink } from "../../dist/runtime/node.js";
import { supportedBuilds } from "../../dist/backends/wasm/features.js";
import { segmentChunks, setSegmentPositionsForTests } from "../../dist/backends/wasm/threads/causal.js";
import { poolJobs } from "../helpers/pool.js";
import { attentionForward64, exponentSize, gradientTolerance, startStateCase } from "../reference/backward.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";
import { attentionInputs as inputs } from "../helpers/attention-inputs.js";

const MODES = [
  { name: "bidirectional", causal: false, padded: false },
  { name: "causal", causal: true, padded: false },
  { name: "padded bidirectional", causal: false, padded: true },
  { name: "padded causal", causal: true, padded: true },
];

/** Returns a batch × length padding mask with about a third of the keys padded, and one whole chunk of item 0 padded. */
function paddingMask(batch, length, seed) {
  const mask = new Uint8Array(batch * length);
  const draws = seededFloats(batch * length, seed);
  for (let i = 0; i < mask.length; i++) mask[i] = draws[i] > -0.3 ? 1 : 0;
  for (let j = 8; j < 16 && j < length; j++) mask[j] = 0;
  return mask;
}

function assertSameGradients(got, want, context) {
  for (const name of ["dq", "dk", "dv"]) assertSameBits(got[name], want[name], `${context} ${name}`);
  if (want.dprojection instanceof Float32Array) assertSameBits(got.dprojection, want.dprojection, `${context} dprojection`);
}

for (const build of ALL_BUILDS) {
  describe(`attentionWithState (${build})`, { skip: skipReason(build) }, () => {
    for (const mode of MODES) {
      test(`${mode.name}: output and gradients`, async () => {
        const favor = await favorFor(build);
        const shape = { batch: 2, heads: 2, length: 37, dim: 4, valueDim: 3, layout: "blhd" };
        if (mode.padded) shape.keyPaddingMask = paddingMask(shape.batch, shape.length, 40);
        const data = inputs(shape, 41);
        for (const kernel of ["positive", "hyperbolic", "trig", "relu", "exp"]) {
          for (const chunk of [1, 8, 37]) {
            const projection = favor.sync.projection({ features: 6, dim: 4, seed: 3 });
            const options = {
              ...shape, causal: mode.causal, kernel, features: 6, projection, chunk, returnProjectionGradient: true,
            };
            const context = `${mode.name} ${kernel} chunk ${chunk}`;
            const { out, endState } = favor.sync.attentionWithState(data.q, data.k, data.v, options);
            // Output: chain = keys + r + dim + (dim + 2)·E + 16 roundings of terms of size M (gradientTolerance with dv = 0).
            const ref = attentionForward64(data.q, data.k, data.v, shape, options);
            const size = attentionForward64(data.q, data.k, data.v, shape, options, { absolute: true });
            const r = (["hyperbolic", "trig"].includes(kernel) ? 2 : 1) * 6;
            const chain = { keys: shape.length + 1, r, dim: 4, valueDim: 0, exponentSize: exponentSize(data.q, data.k, shape, options) };
            assertClose(out, ref, gradientTolerance(size, chain), `${context} out`);
            assert.equal(endState.hi.length, shape.batch * shape.heads * r * (shape.valueDim + 1), `${context} state size`);

            const recomputed = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
            const fromState = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...options, endState });
            assertSameGradients(fromState, recomputed, context);
          }
        }
      });
    }

    test("hybrid kernels: same gradients", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 2, length: 29, dim: 4, layout: "bhld" };
      const data = inputs(shape, 51);
      for (const causal of [true, false]) {
        for (const kernel of ["angular-hybrid", { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 1 } }]) {
          const options = { ...shape, causal, kernel, features: 4, lambdaFeatures: 3, seed: 9, chunk: 5 };
          const { endState } = favor.sync.attentionWithState(data.q, data.k, data.v, options);
          const recomputed = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
          const fromState = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...options, endState });
          assertSameGradients(fromState, recomputed, `${causal ? "causal" : "bidirectional"} ${JSON.stringify(kernel)}`);
        }
      }
    });

    test("Promise form, inputs, seeds", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 1, length: 20, dim: 4, layout: "bhld" };
      const data = inputs(shape, 61);
      const copies = [data.q, data.k, data.v].map((array) => array.slice());
      const options = { ...shape, causal: true, kernel: "positive", features: 5, seed: 4 };
      const sync = favor.sync.attentionWithState(data.q, data.k, data.v, options);
      const promised = await favor.attentionWithState(data.q, data.k, data.v, options);
      [data.q, data.k, data.v].forEach((array, i) => assertSameBits(array, copies[i], `input ${i} changed`));
      assertSameBits(promised.out, sync.out, "out");
      const projection = favor.sync.projection({ features: 5, dim: 4, seed: 4 });
      const explicit = favor.sync.attentionWithState(data.q, data.k, data.v, { ...options, seed: undefined, projection });
      assertSameBits(explicit.out, sync.out, "out with the explicit projection");
      // A state made with a seed serves a call with the same seed, not one with the explicit matrix.
      await favor.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...options, endState: sync.endState });
      assert.throws(() => favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut,
        { ...options, seed: undefined, projection, endState: sync.endState }), RangeError);
    });

    test("foreign end states rejected", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 2, length: 40, dim: 4, layout: "bhld" };
      const data = inputs(shape, 71);
      const causal = { ...shape, causal: true, kernel: "positive", features: 5, seed: 1, chunk: 8 };
      const bidirectional = { ...causal, causal: false, chunk: undefined };
      const causalState = favor.sync.attentionWithState(data.q, data.k, data.v, causal).endState;
      const bidirectionalState = favor.sync.attentionWithState(data.q, data.k, data.v, bidirectional).endState;
      const otherV = data.v.slice();
      otherV[shape.length * 4 + 5] += 0.25; // head 1, row 5
      const otherK = data.k.slice();
      otherK[3] *= 1.001;
      const { q, k, v, gradOut: g } = data;
      // A copy of a state with one value doubled (the state itself is frozen, its arrays are not).
      const tampered = (state) => {
        const hi = state.hi.slice();
        hi[3] *= 2;
        return { ...state, hi };
      };
      assert.ok(Object.isFrozen(causalState), "the end state is frozen");
      // structuredClone keeps a state usable.
      favor.sync.attentionBackward(q, k, v, data.gradOut, { ...causal, endState: structuredClone(causalState) });
      const cases = [
        [[q, k, otherV, g, { ...causal, endState: causalState }], RangeError,
          /^attentionBackward: endState does not match k, v and the options of this call \(batch item 0, head 1\): subtracting/],
        [[q, otherK, v, g, { ...causal, endState: causalState }], RangeError,
          /^attentionBackward: endState does not match k, v and the options of this call \(batch item 0, head 0\)/],
        [[q, k, otherV, g, { ...bidirectional, endState: bidirectionalState }], RangeError,
          /^attentionBackward: endState does not belong to this call: its v differs from this call's \(content hash/],
        [[q, k, v, g, { ...causal, chunk: 4, endState: causalState }], RangeError,
          /^attentionBackward: endState does not belong to this call: it was made with chunk 8, this call has chunk 4$/],
        [[q, k, v, g, { ...bidirectional, endState: causalState }], RangeError,
          /^attentionBackward: endState does not belong to this call: it was made with causal true, this call has causal false$/],
        [[q, k, v, g, { ...causal, seed: 2, endState: causalState }], RangeError,
          /^attentionBackward: endState does not belong to this call: its feature maps differ from this call's \(their settings or the seed of the drawn projection\)$/],
        [[q, k, v, g, { ...causal, statePrecision: "float32", endState: causalState }], RangeError,
          /^attentionBackward: endState needs the default start states \(stateCheckpoints 0, statePrecision "compensated"\), got stateCheckpoints 0 and statePrecision "float32"$/],
        [[q, k, v, g, { ...causal, stateCheckpoints: 2, endState: causalState }], RangeError,
          /^attentionBackward: endState needs the default start states/],
        [[q, k, v, g, { ...causal, endState: {} }], TypeError,
          /^attentionBackward: endState must be the endState that attentionWithState returned, got /],
        [[q, k, v, g, { ...causal, endState: null }], TypeError, /^attentionBackward: endState must be the endState/],
        [[q, k, v, g, { ...causal, endState: { kind: causalState.kind } }], TypeError,
          /^attentionBackward: endState is damaged: signature is undefined; pass the object that attentionWithState returned/],
        [[q, k, v, g, { ...causal, endState: JSON.parse(JSON.stringify(causalState)) }], TypeError,
          /^attentionBackward: endState is damaged: hi is an Object, expected a Float64Array of length 50;/],
        [[q, k, v, g, { ...causal, endState: { ...causalState, hi: causalState.hi.subarray(1) } }], TypeError,
          /^attentionBackward: endState is damaged: hi is a Float64Array of length 49, expected a Float64Array of length 50;/],
        [[q, k, v, g, { ...bidirectional, endState: tampered(bidirectionalState) }], RangeError,
          /^attentionBackward: endState was changed after attentionWithState returned it \(its checksum no longer matches its values\); pass the endState unchanged$/],
        [[q, k, v, g, { ...causal, endState: tampered(causalState) }], RangeError, /^attentionBackward: endState was changed after/],
      ];
      for (const [args, type, pattern] of cases) {
        assert.throws(() => favor.sync.attentionBackward(...args), (error) => error instanceof type && pattern.test(error.message),
          `expected ${type.name} ${pattern}`);
      }
      assert.throws(() => favor.sync.attentionWithState(q, k, v, { ...causal, chunk: 0 }),
        /^RangeError: attentionWithState: chunk must be an integer >= 1, got 0$/);
    });
  });
}

describe("unknown attention options", () => {
  test("warned once, with the near name", async () => {
    const favor = await favorFor("scalar");
    const shape = { batch: 1, heads: 1, length: 12, dim: 2, layout: "bhld" };
    const data = inputs(shape, 91);
    const options = { ...shape, causal: true, kernel: "positive", features: 3, seed: 1, chunk: 4 };
    const lines = [];
    setLogSink((level, message) => lines.push(`${level}: ${message}`));
    try {
      const { endState } = favor.sync.attentionWithState(data.q, data.k, data.v, { ...options, stateCheckpoints: 0 });
      const misspelled = { ...options, endstate: endState, zzUnknownSetting: 1 };
      const plain = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
      for (let call = 0; call < 2; call++) {
        const got = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, misspelled);
        assertSameGradients(got, plain, "an unknown option changes nothing");
      }
    } finally {
      setLogSink(null);
    }
    assert.deepEqual(lines, [
      'warn: attentionBackward: ignored the option "endstate", which it does not read; did you mean "endState"?',
      'warn: attentionBackward: ignored the option "zzUnknownSetting", which it does not read',
    ]);
  });
});

describe("attentionBackward from an end state over 100,000 positions", () => {
  // The adversarial input of the start-state test in
  // attention-backward.test.js: keys whose features grow from about 1e-6 to
  // 1e3, so the early chunks' start states are 1e-9 of the end state and
  // any error in the end state beyond the compensated state's 2^-106 would
  // change their gradients. The gradients from attentionWithState's end
  // state must have the same bits as those of the default path.
  for (const kernel of ["relu", "exp"]) {
    test(`${kernel} keys, 1e-6 to 1e3`, async () => {
      const c = startStateCase(kernel, { length: 100000, chunk: 64 });
      for (const build of ALL_BUILDS) {
        const favor = await favorFor(build);
        if (favor === null) continue;
        const { endState } = favor.sync.attentionWithState(c.q, c.k, c.v, c.options);
        const fromState = favor.sync.attentionBackward(c.q, c.k, c.v, c.gradOut, { ...c.options, endState });
        const recomputed = favor.sync.attentionBackward(c.q, c.k, c.v, c.gradOut, c.options);
        assertSameGradients(fromState, recomputed, `${build} ${kernel}`);
      }
    });
  }
});

describe("attentionWithState on threads", () => {
  const opened = [];
  after(() => {
    for (const favor of opened) favor.dispose();
  });

  for (const build of ["simd", "relaxed"]) {
    test(`${build}: end state bits on 1–3 threads`, { skip: supportedBuilds()[build] ? false : `the engine rejects the ${build} build (run through npm test)` }, async () => {
      const favors = [];
      for (const threads of [1, 2, 3]) {
        const favor = await createFavor({ build, threads });
        opened.push(favor);
        favors.push(favor);
      }
      assert.equal(favors[1].info.threads, 2, "the threaded build started with 2 threads");
      assert.equal(favors[2].info.threads, 3, "the threaded build started with 3 threads");
      // Segments of 64 positions, so that 300 positions span several (chunk 7: 10 chunks per segment on 2 threads, 12 on 3).
      setSegmentPositionsForTests(64);
      try {
        const batch = 2, heads = 2, length = 300, dim = 4, valueDim = 3, chunk = 7;
        assert.ok(length > 2 * segmentChunks(chunk, 3) * chunk, "300 positions span at least 3 segments");
        const mask = new Uint8Array(batch * length).fill(1);
        for (let j = 0; j < length; j++) if (j % 5 === 0 || (j >= 80 && j < 160)) mask[length + j] = 0;
        const shape = { batch, heads, length, dim, valueDim, layout: "blhd", keyPaddingMask: mask };
        const data = inputs(shape, 81, 2);
        for (const kernel of ["positive", "trig", "relu"]) {
          const projection = favors[0].sync.projection({ features: 6, dim, seed: 5 });
          const options = { ...shape, causal: true, kernel, features: 6, projection, chunk };
          const results = favors.map((favor) => favor.sync.attentionWithState(data.q, data.k, data.v, options));
          const jobs = poolJobs(favors[2], () => favors[2].sync.attentionWithState(data.q, data.k, data.v, options));
          assert.ok(jobs > 0, `${kernel}: attentionWithState on 3 threads gave the pool no job`);
          const ref = attentionForward64(data.q, data.k, data.v, shape, options);
          const size = attentionForward64(data.q, data.k, data.v, shape, options, { absolute: true });
          const r = (kernel === "trig" ? 2 : 1) * 6;
          const chain = { keys: length + 1, r, dim, valueDim: 0, exponentSize: exponentSize(data.q, data.k, shape, options) };
          const recomputed = favors[0].sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
          for (const [index, { out, endState }] of results.entries()) {
            const context = `${kernel}, ${index + 1} threads`;
            assertClose(out, ref, gradientTolerance(size, chain), `${context} out`);
            assertSameBits(endState.hi, results[0].endState.hi, `${context} end state hi`);
            assertSameBits(endState.lo, results[0].endState.lo, `${context} end state lo`);
            assertSameBits(endState.shifts, results[0].endState.shifts, `${context} end state shifts`);
            const fromState = favors[0].sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...options, endState });
            assertSameGradients(fromState, recomputed, context);
          }
        }
      } finally {
        setSegmentPositionsForTests(null);
      }
    });
  }
});
