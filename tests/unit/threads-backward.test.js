// attentionBackward on the worker pool (bindings/backends/wasm/threads/backward.ts).
// Tolerances: each thread count is checked against the float64 analytic
// gradient within gradientTolerance (the chain·u·M bound of
// attention-backward.test.js, M = the gradient summed in magnitudes). The
// threaded forms add the same terms as one thread, only grouped per thread
// (the bidirectional state sums, the projection gradient). So each count
// meets that bound on its own, and two counts may differ by at most the sum
// of their bounds (2·bound). A given count must repeat its result bit for
// bit, because its partition and every order of addition are fixed.
// Causal dq, dk and dv must also equal one thread's bit for bit, because
// the threaded walk adds the same float32 terms in the same order. One
// thread passes beta 1 to f32_gemm, which adds C to the finished sum of a
// k-slice, and the threaded walk's separate addition rounds the same way
// while a chunk fits in one slice (every chunk here does).

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFavor } from "../../dist/runtime/node.js";
import { supportedBuilds } from "../../dist/backends/wasm/features.js";
import { segmentChunks, setSegmentPositionsForTests } from "../../dist/backends/wasm/threads/causal.js";
import { backendOf } from "../../dist/internal.js";
import { attentionBackward64, exponentSize, gradientTolerance } from "../reference/backward.js";
import { allocatedBytes } from "../helpers/memory.js";
import { poolJobs } from "../helpers/pool.js";
import { assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";
import { attentionInputs } from "../helpers/attention-inputs.js";

const THREAD_COUNTS = [1, 2, 3];
const GRADIENTS = ["dq", "dk", "dv", "dprojection"];
const opened = [];

after(() => {
  for (const favor of opened) favor.dispose();
});

/** Returns the Favor instances with 1, 2 and 3 threads for one build, made once. */
const instances = new Map();
async function byThreads(build) {
  if (!instances.has(build)) {
    const list = [];
    for (const threads of THREAD_COUNTS) {
      const favor = await createFavor({ build, threads });
      opened.push(favor);
      list.push(favor);
    }
    instances.set(build, list);
  }
  return instances.get(build);
}

/** Returns a padding mask that drops every key of item 0 in [from, to) and every third key of item 1. */
function paddingMask(keyLength, from, to) {
  const mask = new Uint8Array(2 * keyLength);
  for (let j = 0; j < keyLength; j++) {
    mask[j] = (j >= from && j < to) || (j * 7) % 11 === 0 ? 1 : 0;
    mask[keyLength + j] = j % 3 === 0 ? 1 : 0;
  }
  return mask;
}

// The float64 gradients and bounds of each case, computed once and shared by both builds.
const referenceCache = new Map();

/** Returns the float64 gradient and the per-element tolerance of each gradient of a case (see the file header). */
function tolerances(data, shape, options, context) {
  if (!referenceCache.has(context)) referenceCache.set(context, computeTolerances(data, shape, options));
  return referenceCache.get(context);
}

function computeTolerances(data, shape, options) {
  const { q, k, v, gradOut } = data;
  const keyLength = shape.keyLength ?? shape.length;
  const ref = attentionBackward64(q, k, v, gradOut, shape, options);
  const size = attentionBackward64(q, k, v, gradOut, shape, options, { absolute: true });
  const r = (["hyperbolic", "trig"].includes(options.kernel) ? 2 : 1) * options.features;
  const chain = { keys: keyLength + 1, r, dim: shape.dim, valueDim: shape.valueDim, exponentSize: exponentSize(q, k, shape, options) };
  // dW sums the terms of every row of every head that shares W.
  const shared = ref.dprojection.length === options.features * shape.dim;
  const rows = shape.batch * (shape.length + keyLength) * (shared ? shape.heads : 1);
  return {
    ref,
    bound: {
      dq: gradientTolerance(size.dq, chain),
      dk: gradientTolerance(size.dk, chain),
      dv: gradientTolerance(size.dv, chain),
      dprojection: gradientTolerance(size.dprojection, { ...chain, keys: chain.keys + rows }),
    },
  };
}

/**
 * Runs one case on every thread count: each result against the float64
 * gradient (unless withReference is false), each against one thread's
 * within twice the bound, each repeat bit for bit. Returns the pool jobs of
 * one call with 3 threads.
 */
function checkCase(favors, shape, options, data, context, withReference = true) {
  const { q, k, v, gradOut } = data;
  const run = (favor) => favor.sync.attentionBackward(q, k, v, gradOut, { ...shape, ...options });
  const { ref, bound } = tolerances(data, shape, options, context);
  const results = favors.map(run);
  if (options.causal) {
    for (const [index, got] of results.entries()) {
      for (const name of ["dq", "dk", "dv"]) {
        assertSameBits(got[name], results[0][name], `${THREAD_COUNTS[index]} threads vs 1 thread, ${context} ${name}`);
      }
    }
  }
  for (const [index, got] of results.entries()) {
    const label = `${THREAD_COUNTS[index]} threads, ${context}`;
    for (const name of GRADIENTS) {
      if (withReference) assertClose(got[name], ref[name], bound[name], `${label} ${name}`);
      assertClose(got[name], results[0][name], bound[name].map((value) => 2 * value), `${label} ${name} vs 1 thread`);
    }
  }
  for (const [index, favor] of favors.entries()) {
    const again = run(favor);
    for (const name of GRADIENTS) {
      assertSameBits(again[name], results[index][name], `repeat with ${THREAD_COUNTS[index]} threads, ${context} ${name}`);
    }
  }
  return poolJobs(favors[2], () => run(favors[2]));
}

for (const build of ["simd", "relaxed"]) {
  const skip = supportedBuilds()[build] ? false : `the engine rejects the ${build} build (run through npm test)`;

  describe(`threaded attentionBackward (${build})`, { skip }, () => {
    test("bidirectional backward agrees across thread counts", async () => {
      const favors = await byThreads(build);
      const [batch, heads, dim, valueDim, features] = [2, 2, 8, 5, 16];
      let seed = 300;
      // Blocks of 256 rows: 530 to 700 rows give 3 blocks, enough for 3 threads.
      // "some" drops keys 260 to 520 of item 0 (a whole block's worth) and every third key of item 1;
      // "all" drops every key of item 1, so its head has no key block at all.
      for (const kernel of ["positive", "trig", "relu"]) {
        for (const [length, keyLength, masked, perHead] of [[600, 530, "none", false], [560, 700, "some", true], [530, 560, "all", false]]) {
          const shape = { batch, heads, length, keyLength, dim, valueDim, layout: "blhd" };
          if (masked === "some") shape.keyPaddingMask = paddingMask(keyLength, 260, 520);
          if (masked === "all") shape.keyPaddingMask = Uint8Array.from({ length: 2 * keyLength }, (_, j) => (j >= keyLength ? 1 : 0));
          const data = attentionInputs(shape, seed);
          seed += 4;
          const projection = seededFloats((perHead ? heads : 1) * features * dim, seed++);
          const options = { causal: false, kernel, features, projection, returnProjectionGradient: true };
          const context = `${kernel} length ${length} keys ${keyLength} masked ${masked} perHead ${perHead}`;
          // Steps A, the range sums, B and C: four jobs per head.
          assert.equal(checkCase(favors, shape, options, data, context), 4 * batch * heads, context);
        }
      }
    });

    test("causal backward agrees across thread counts", async () => {
      const favors = await byThreads(build);
      const [batch, heads, dim, valueDim, features] = [2, 2, 8, 5, 16];
      let seed = 400;
      // Besides the three kinds of the other tests: a map with 2m outputs and a pointwise map with a kink.
      for (const kernel of ["positive", "trig", "relu", "hyperbolic", "abs"]) {
        for (const [length, chunk, masked, statePrecision] of [
          [300, 16, false, "compensated"], [257, 7, true, "compensated"], [96, 8, false, "float32"],
        ]) {
          const shape = { batch, heads, length, dim, valueDim, layout: "blhd" };
          if (masked) shape.keyPaddingMask = paddingMask(length, 40, 90);
          const data = attentionInputs(shape, seed);
          seed += 4;
          const projection = seededFloats(features * dim, seed++);
          const options = { causal: true, kernel, features, projection, chunk, statePrecision, returnProjectionGradient: true };
          const context = `${kernel} length ${length} chunk ${chunk} masked ${masked} ${statePrecision}`;
          // A float32 state cancels when it subtracts chunk products (the first
          // start states keep a residue), so one thread's result misses the
          // float64 bound. The threaded form subtracts the same products in the
          // same order, so its start states are one thread's, bit for bit, and
          // only its sums of R differ: it is checked against one thread's.
          const withReference = statePrecision === "compensated";
          assert.ok(checkCase(favors, shape, options, data, context, withReference) > 0, `${context} did not use the pool`);
        }
      }
    });

    test("causal backward spans segments", async () => {
      const favors = await byThreads(build);
      const [batch, heads, dim, valueDim, features] = [2, 2, 8, 5, 16];
      let seed = 500;
      // Segments of 64 positions, as in threads.test.js: chunk 7 gives 10
      // chunks per segment on 2 threads and 12 on 3, chunk 5 gives 13 on
      // both; 437 and 263 positions end in a partial segment and chunk.
      setSegmentPositionsForTests(64);
      try {
        for (const kernel of ["positive", "trig", "relu"]) {
          for (const [length, chunk, masked] of [[437, 7, false], [437, 7, true], [263, 5, false]]) {
            const context = `${kernel} length ${length} chunk ${chunk} masked ${masked}`;
            for (const threads of [2, 3]) {
              const segment = segmentChunks(chunk, threads) * chunk;
              assert.ok(length > 2 * segment, `${context}: ${length} positions span fewer than 3 segments of ${segment}`);
              assert.notEqual(length % segment, 0, `${context}: the last segment is full`);
            }
            const shape = { batch, heads, length, dim, valueDim, layout: "blhd" };
            // Item 0 loses every key from 158 to 258, across a segment boundary of 3 threads (168).
            if (masked) shape.keyPaddingMask = paddingMask(length, 158, 258);
            const data = attentionInputs(shape, seed);
            seed += 4;
            const projection = seededFloats(features * dim, seed++);
            const options = { causal: true, kernel, features, projection, chunk, returnProjectionGradient: true };
            // Pass 1 takes two jobs per segment (the chunk products, then their
            // addition to the state by elements, which a segment without keys
            // skips), the reverse walk three (steps a, c and e).
            const positions = segmentChunks(chunk, 3) * chunk;
            const segments = Math.ceil(length / positions);
            let jobs = 0;
            for (let item = 0; item < batch; item++) {
              for (let first = 0; first < length; first += positions) {
                const last = Math.min(first + positions, length);
                let keys = 0;
                for (let j = first; j < last; j++) keys += masked && shape.keyPaddingMask[item * length + j] === 1 ? 0 : 1;
                jobs += heads * (keys > 0 ? 5 : 4);
              }
            }
            assert.ok(segments >= 3, context);
            assert.equal(checkCase(favors, shape, options, data, context), jobs, context);
          }
        }
      } finally {
        setSegmentPositionsForTests(null);
      }
    });

    test("backward from an end state", async () => {
      const favors = await byThreads(build);
      const [batch, heads, dim, valueDim, features] = [2, 2, 8, 5, 16];
      let seed = 900;
      setSegmentPositionsForTests(64);
      try {
        for (const kernel of ["positive", "relu"]) {
          for (const [causal, length, chunk] of [[true, 437, 7], [false, 600, 64]]) {
            const context = `${kernel} causal ${causal} length ${length}`;
            const shape = { batch, heads, length, dim, valueDim, layout: "blhd", keyPaddingMask: paddingMask(length, 158, 258) };
            const data = attentionInputs(shape, seed);
            seed += 4;
            const projection = seededFloats(features * dim, seed++);
            const options = { ...shape, causal, kernel, features, projection, chunk, returnProjectionGradient: true };
            const { bound } = tolerances(data, shape, options, context);
            for (const [index, favor] of favors.entries()) {
              const label = `${THREAD_COUNTS[index]} threads, ${context}`;
              const { endState } = favor.sync.attentionWithState(data.q, data.k, data.v, options);
              const run = (extra) => favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...options, ...extra });
              const fromState = run({ endState });
              const recomputed = run({});
              for (const name of GRADIENTS) {
                if (causal && name !== "dprojection") {
                  // The end state has the bits of pass 1's (attention-with-state.test.js), and the walk is the same.
                  assertSameBits(fromState[name], recomputed[name], `${label} ${name}`);
                } else {
                  // The forward sums T over 512-row blocks, the backward's pass A over 256-row blocks.
                  assertClose(fromState[name], recomputed[name], bound[name].map((value) => 2 * value), `${label} ${name}`);
                }
              }
              if (index === 2) {
                // Causal: without pass 1, three jobs per segment; bidirectional: without pass A, passes B and C.
                const segments = Math.ceil(length / (segmentChunks(chunk, 3) * chunk));
                const expected = (causal ? 3 * segments : 2) * batch * heads;
                assert.equal(poolJobs(favor, () => run({ endState })), expected, `${label} jobs`);
              }
            }
          }
        }
      } finally {
        setSegmentPositionsForTests(null);
      }
    });

    test("unsupported settings stay on one thread", async () => {
      const favors = await byThreads(build);
      const shape = { batch: 1, heads: 1, length: 300, dim: 8, valueDim: 5, layout: "blhd" };
      const { q, k, v, gradOut } = attentionInputs(shape, 600);
      const projection = seededFloats(16 * 8, 604);
      const base = { ...shape, kernel: "positive", features: 16, projection };
      const cases = [
        ["checkpoints", { ...base, causal: true, chunk: 16, stateCheckpoints: 4 }],
        ["no projection", { ...base, kernel: "relu", features: 0, projection: undefined, causal: true, chunk: 16 }],
        ["too few chunks", { ...base, causal: true, chunk: 64 }],
        ["too few blocks", { ...base, causal: false }],
      ];
      for (const [name, options] of cases) {
        assert.equal(poolJobs(favors[2], () => favors[2].sync.attentionBackward(q, k, v, gradOut, options)), 0, name);
      }
    });

    test("causal backward memory is flat in length", async () => {
      const favors = await byThreads(build);
      const [dim, valueDim, features, chunk] = [8, 4, 16, 64];
      const projection = seededFloats(features * dim, 700);
      const segment = segmentChunks(chunk, 3) * chunk;
      assert.equal(segmentChunks(chunk, 2) * chunk, segment);
      const lengths = [4 * segment, 12 * segment];
      const call = (favor, length) => {
        const shape = { batch: 1, heads: 1, length, dim, valueDim, layout: "bhld" };
        const { q, k, v, gradOut } = attentionInputs(shape, 701);
        const options = { ...shape, causal: true, kernel: "positive", features, projection, chunk, returnProjectionGradient: true };
        return allocatedBytes(favor, () => favor.sync.attentionBackward(q, k, v, gradOut, options));
      };
      // Only the copies of q, k, v and gradOut and the gradients dq, dk, dv
      // grow with the length: dim floats per row of q, k, dq, dk, valueDim
      // per row of v, gradOut, dv, 4 bytes each.
      const growth = 4 * (lengths[1] - lengths[0]) * (4 * dim + 3 * valueDim);
      for (const [index, favor] of favors.entries()) {
        const [short, long] = lengths.map((length) => call(favor, length));
        assert.equal(long - short, growth, `${THREAD_COUNTS[index]} threads: ${short} bytes at L = ${lengths[0]}, ${long} at L = ${lengths[1]}`);
      }
    });

    test("repeated calls keep memory size", async () => {
      const favors = await byThreads(build);
      const shape = { batch: 2, heads: 2, length: 700, dim: 8, valueDim: 5, layout: "blhd" };
      const data = attentionInputs(shape, 800);
      const projection = seededFloats(16 * 8, 804);
      for (const causal of [true, false]) {
        const options = { ...shape, causal, kernel: "positive", features: 16, projection, chunk: 16, returnProjectionGradient: true };
        const favor = favors[2];
        const backend = backendOf(favor);
        const run = () => favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
        const first = allocatedBytes(favor, run);
        const size = backend.memoryBytes;
        for (let i = 0; i < 20; i++) {
          assert.equal(allocatedBytes(favor, run), first, `causal ${causal}: call ${i + 2} allocated a different amount`);
        }
        assert.equal(backend.memoryBytes, size, `causal ${causal}: memory grew over 20 calls`);
      }
    });
  });
}
