// The threaded builds and the worker pool (Node entry, worker_threads).
// Tolerances:
//   matmul: panels of C are computed exactly as on one thread (same
//     microkernel, same k-slices, edge tiles in the same places), so 2 and
//     3 threads must match 1 thread bit for bit, and 1 thread must match the
//     float64 reference within (k + 2)·eps·Σ|a·b| as in matmul.test.js.
//   attention: the chunk-parallel causal form and the block-parallel
//     bidirectional form group the chunk or block states
//     differently per thread count, so each count is checked against the
//     float64 reference within favorAttentionReference's bound, and two
//     counts may then differ by at most the sum of their bounds (2·bound).
//     A given count must repeat its result bit for bit.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createFavor, setLogLevel, setLogSink } from "../../dist/runtime/node.js";
import { supportedBuilds } from "../../dist/backends/wasm/features.js";
import { setWorkerScriptForTests } from "../../dist/backends/wasm/threads/pool.js";
import { segmentChunks, setSegmentPositionsForTests } from "../../dist/backends/wasm/threads/causal.js";
import { backendOf } from "../../dist/internal.js";
import { gemmReference } from "../reference/gemm.js";
import { favorAttentionReference } from "../reference/attention.js";
import { allocatedBytes } from "../helpers/memory.js";
import { poolJobs } from "../helpers/pool.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";

const THREAD_COUNTS = [1, 2, 3];
const opened = [];

async function open(options) {
  const favor = await createFavor(options);
  opened.push(favor);
  return favor;
}

after(() => {
  for (const favor of opened) favor.dispose();
});

/** Returns the Favor instances with 1, 2 and 3 threads for one build, made once. */
const instances = new Map();
async function byThreads(build) {
  if (!instances.has(build)) {
    const list = [];
    for (const threads of THREAD_COUNTS) list.push(await open({ build, threads }));
    instances.set(build, list);
  }
  return instances.get(build);
}

function osThreads() {
  const match = /^Threads:\s+(\d+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) : null;
}

/**
 * Returns the OS thread count once it has stayed the same for 300 ms (at
 * most 5 s). Workers that earlier tests ended stop asynchronously, so a count
 * taken while one is still shutting down would make comparisons flaky.
 */
async function settledOsThreads() {
  const deadline = Date.now() + 5000;
  let last = osThreads();
  let since = Date.now();
  while (Date.now() - since < 300 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = osThreads();
    if (now !== last) { last = now; since = Date.now(); }
  }
  return last;
}

for (const build of ["simd", "relaxed"]) {
  const skip = supportedBuilds()[build] ? false : `the engine rejects the ${build} build (run through npm test)`;

  describe(`threads (${build})`, { skip }, () => {
    test("instances report their thread count", async () => {
      const favors = await byThreads(build);
      assert.deepEqual(favors.map((favor) => favor.info.threads), THREAD_COUNTS);
      for (const favor of favors) assert.equal(favor.info.build, build);
    });

    test("matmul is bit-identical for 1, 2 and 3 threads", async () => {
      const favors = await byThreads(build);
      // Each product is above the 2 MFLOP threshold, so 2 and 3 threads split it;
      // m > n splits rows, n >= m splits columns, and the sizes are not multiples of any tile.
      const shapes = [[67, 131, 300], [300, 41, 97], [1, 4099, 300], [513, 1, 2100], [125, 127, 129]];
      let seed = 1;
      for (const [m, n, k] of shapes) {
        for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
          const a = seededFloats(m * k, seed++);
          const b = seededFloats(k * n, seed++);
          const c0 = seededFloats(m * n, seed++);
          const options = { m, n, k, transA, transB, alpha: 0.5, beta: 0.25 };
          const results = favors.map((favor) => favor.sync.matmul(a, b, { ...options, c: c0.slice() }));
          const context = `m=${m} n=${n} k=${k} transA=${transA} transB=${transB}`;
          assert.equal(poolJobs(favors[2], () => favors[2].sync.matmul(a, b, { ...options, c: c0.slice() })), 1, context);
          const ref = gemmReference(a, b, { ...options, c: c0 });
          assertClose(results[0], ref.out, ref.magnitude.map((value) => (k + 2) * F32_EPS * value + 1e-30), context);
          assertSameBits(results[1], results[0], `2 threads, ${context}`);
          assertSameBits(results[2], results[0], `3 threads, ${context}`);
        }
      }
    });

    test("batched matmul with gaps is bit-identical", async () => {
      const favors = await byThreads(build);
      const [m, n, k, batch, ldc] = [90, 70, 200, 3, 75];
      const a = seededFloats(batch * m * k, 7);
      const b = seededFloats(k * n, 8);
      const options = { m, n, k, batch, strideB: 0, ldc, strideC: m * ldc + 5 };
      const results = favors.map((favor) => favor.sync.matmul(a, b, { ...options, c: nanFilled(batch * (m * ldc + 5)) }));
      for (let item = 0; item < batch; item++) {
        for (let i = 0; i < m; i++) {
          const row = item * (m * ldc + 5) + i * ldc;
          assert.ok(results[0].subarray(row + n, row + ldc).every(Number.isNaN), `gap after row ${i} of item ${item} was written`);
        }
      }
      assertSameBits(results[1], results[0], "2 threads");
      assertSameBits(results[2], results[0], "3 threads");
    });

    test("features are bit-identical by rows", async () => {
      const favors = await byThreads(build);
      const [rows, dim, features] = [3001, 16, 64];
      const x = seededFloats(rows * dim, 90);
      const projection = favors[0].sync.projection({ features, dim, seed: 91 });
      const cases = [
        ["positive", "query"], ["positive", "none"], ["positive", "key", 1.5], ["hyperbolic", "query"],
        ["exp", "key", 0.5], ["trig", "query"], ["relu", "none"], ["elu+1", "query"],
      ];
      for (const [kind, role, keyShift] of cases) {
        const options = { rows, dim, projection, kind, role, returnStabilizer: true, ...(keyShift === undefined ? {} : { keyShift }) };
        const context = `${kind} role ${role} keyShift ${keyShift}`;
        const results = favors.map((favor) => favor.sync.features(x, options));
        for (const [index, result] of results.entries()) {
          assertSameBits(result.features, results[0].features, `features, ${THREAD_COUNTS[index]} threads, ${context}`);
          assertSameBits(result.shift, results[0].shift, `shift, ${THREAD_COUNTS[index]} threads, ${context}`);
          assert.ok(Object.is(result.maxExponent, results[0].maxExponent), `maxExponent, ${THREAD_COUNTS[index]} threads, ${context}`);
        }
        assert.ok(poolJobs(favors[1], () => favors[1].sync.features(x, options)) > 0, `${context} did not use the pool`);
      }
      // One shift for every row: stays on the calling thread.
      const keyOptions = { rows, dim, projection, kind: "positive", role: "key" };
      assert.equal(poolJobs(favors[1], () => favors[1].sync.features(x, keyOptions)), 0);
    });

    test("bidirectional attention agrees across thread counts", async () => {
      const favors = await byThreads(build);
      const dim = 8;
      let seed = 70;
      // 512-row blocks: 1100 and 1300 rows give 3 blocks, enough for 3 threads; item 1 of the masked case has no real key.
      for (const kernel of ["positive", "trig", "relu"]) {
        for (const [length, keyLength, masked] of [[1300, 1100, false], [1100, 1600, true]]) {
          const shape = { batch: 2, heads: 1, length, keyLength, dim, valueDim: 5, layout: "blhd" };
          if (masked) {
            const mask = new Uint8Array(2 * keyLength);
            for (let j = 0; j < 2 * keyLength; j++) mask[j] = j >= keyLength || j % 5 === 0 ? 1 : 0;
            shape.keyPaddingMask = mask;
          }
          const q = seededFloats(2 * length * dim, seed++);
          const k = seededFloats(2 * keyLength * dim, seed++);
          const v = seededFloats(2 * keyLength * 5, seed++);
          const projection = favors[0].sync.projection({ features: 16, dim, seed: seed++ });
          const options = { ...shape, causal: false, kernel, features: 16, projection };
          const ref = favorAttentionReference(q, k, v, shape, { causal: false, kind: kernel, projection, features: 16 });
          const outs = favors.map((favor) => favor.sync.attention(q, k, v, options));
          const context = `${kernel} length ${length} keys ${keyLength} masked ${masked}`;
          assert.ok(poolJobs(favors[2], () => favors[2].sync.attention(q, k, v, options)) > 0, `${context} did not use the pool`);
          for (const [index, out] of outs.entries()) {
            assertClose(out, ref.out, ref.bound, `${THREAD_COUNTS[index]} threads, ${context}`);
            assertClose(out, outs[0], ref.bound.map((bound) => 2 * bound), `${THREAD_COUNTS[index]} vs 1 thread, ${context}`);
          }
          for (const [index, favor] of favors.entries()) {
            assertSameBits(favor.sync.attention(q, k, v, options), outs[index], `repeat with ${THREAD_COUNTS[index]} threads, ${context}`);
          }
        }
      }
    });

    test("causal attention agrees across thread counts", async () => {
      const favors = await byThreads(build);
      const dim = 8;
      let seed = 40;
      for (const kernel of ["positive", "trig", "relu"]) {
        for (const [length, chunk, masked] of [[300, 16, false], [257, 7, true], [96, 8, false]]) {
          const shape = { batch: 2, heads: 2, length, dim, valueDim: 5, layout: "blhd" };
          if (masked) {
            const mask = new Uint8Array(2 * length);
            for (let j = 0; j < 2 * length; j++) mask[j] = (j * 7) % 11 === 0 || (j > length && j < length + 40) ? 1 : 0;
            shape.keyPaddingMask = mask;
          }
          const q = seededFloats(2 * 2 * length * dim, seed++);
          const k = seededFloats(2 * 2 * length * dim, seed++);
          const v = seededFloats(2 * 2 * length * 5, seed++);
          const projection = favors[0].sync.projection({ features: 16, dim, seed: seed++ });
          const options = { ...shape, causal: true, kernel, features: 16, projection, chunk };
          const ref = favorAttentionReference(q, k, v, shape, { causal: true, kind: kernel, projection, features: 16 });
          const outs = favors.map((favor) => favor.sync.attention(q, k, v, options));
          const context = `${kernel} length ${length} chunk ${chunk} masked ${masked}`;
          assert.ok(poolJobs(favors[2], () => favors[2].sync.attention(q, k, v, options)) > 0, `${context} did not use the pool`);
          for (const [index, out] of outs.entries()) {
            assertClose(out, ref.out, ref.bound, `${THREAD_COUNTS[index]} threads, ${context}`);
            assertClose(out, outs[0], ref.bound.map((bound) => 2 * bound), `${THREAD_COUNTS[index]} vs 1 thread, ${context}`);
          }
          for (const [index, favor] of favors.entries()) {
            assertSameBits(favor.sync.attention(q, k, v, options), outs[index], `repeat with ${THREAD_COUNTS[index]} threads, ${context}`);
          }
        }
      }
    });

    test("causal attention spans segments", async () => {
      const favors = await byThreads(build);
      const [batch, heads, dim, valueDim, features] = [2, 2, 8, 5, 16];
      let seed = 90;
      // Segments of 64 positions, so that short sequences span several:
      // chunk 7 gives 10 chunks (70 positions) per segment on 2 threads and 12
      // (84) on 3; chunk 5 gives 13 (65) on both. 437 and 263 positions end
      // in a partial segment and a partial chunk; 263 = 4·65 + 3 leaves one
      // 3-position chunk for the last segment, so 2 and 3 threads get empty ranges.
      setSegmentPositionsForTests(64);
      try {
        for (const kernel of ["positive", "trig", "relu"]) {
          for (const [length, chunk, masked] of [[437, 7, false], [437, 7, true], [263, 5, false]]) {
            const context = `${kernel} length ${length} chunk ${chunk} masked ${masked}`;
            for (const threads of [2, 3]) {
              const segment = segmentChunks(chunk, threads) * chunk;
              assert.ok(length > 2 * segment, `${context}: ${length} positions span fewer than 3 segments of ${segment}`);
              assert.notEqual(length % segment, 0, `${context}: the last segment is full`);
              assert.notEqual(length % chunk, 0, `${context}: the last chunk is full`);
            }
            const shape = { batch, heads, length, dim, valueDim, layout: "blhd" };
            if (masked) {
              // Item 0 loses every key from 10 before the second segment boundary of 3 threads (168) to 90 after it,
              // so whole chunks and a segment start have no key; item 1 loses every third key.
              const mask = new Uint8Array(batch * length);
              for (let j = 0; j < length; j++) mask[j] = (j >= 158 && j < 258) || (j * 7) % 11 === 0 ? 1 : 0;
              for (let j = 0; j < length; j++) mask[length + j] = j % 3 === 0 ? 1 : 0;
              shape.keyPaddingMask = mask;
            }
            const q = seededFloats(batch * heads * length * dim, seed++);
            const k = seededFloats(batch * heads * length * dim, seed++);
            const v = seededFloats(batch * heads * length * valueDim, seed++);
            const projection = favors[0].sync.projection({ features, dim, seed: seed++ });
            const options = { ...shape, causal: true, kernel, features, projection, chunk };
            const ref = favorAttentionReference(q, k, v, shape, { causal: true, kind: kernel, projection, features });
            const outs = favors.map((favor) => favor.sync.attention(q, k, v, options));
            // Three jobs (steps 1, 2 and 4) per segment and head.
            const segments = Math.ceil(Math.ceil(length / chunk) / segmentChunks(chunk, 3));
            assert.equal(poolJobs(favors[2], () => favors[2].sync.attention(q, k, v, options)), 3 * segments * batch * heads, context);
            for (const [index, out] of outs.entries()) {
              assertClose(out, ref.out, ref.bound, `${THREAD_COUNTS[index]} threads, ${context}`);
              assertClose(out, outs[0], ref.bound.map((bound) => 2 * bound), `${THREAD_COUNTS[index]} vs 1 thread, ${context}`);
            }
            for (const [index, favor] of favors.entries()) {
              assertSameBits(favor.sync.attention(q, k, v, options), outs[index], `repeat with ${THREAD_COUNTS[index]} threads, ${context}`);
            }
          }
        }
      } finally {
        setSegmentPositionsForTests(null);
      }
    });

    test("causal working memory is flat in length", async () => {
      const favors = await byThreads(build);
      const [dim, valueDim, features, chunk] = [8, 4, 16, 64];
      const projection = favors[0].sync.projection({ features, dim, seed: 3 });
      // The default segments: 4096 positions for chunk 64 on 2 and 3 threads.
      const segment = segmentChunks(chunk, 3) * chunk;
      assert.equal(segmentChunks(chunk, 2) * chunk, segment);
      const lengths = [4 * segment, 16 * segment];
      const bytes = favors.map((favor) => lengths.map((length) => {
        const q = seededFloats(length * dim, 1);
        const v = seededFloats(length * valueDim, 2);
        const options = { batch: 1, heads: 1, length, dim, valueDim, layout: "bhld", causal: true, kernel: "positive", features, projection, chunk };
        return allocatedBytes(favor, () => favor.sync.attention(q, q, v, options));
      }));
      // Only the copies of q, k, v and the output grow with the length: 4 bytes
      // per float, dim floats per row of q and k, valueDim per row of v and out.
      const inputsAndOutput = 4 * (lengths[1] - lengths[0]) * (2 * dim + 2 * valueDim);
      for (const [index, [short, long]] of bytes.entries()) {
        assert.equal(long - short, inputsAndOutput, `${THREAD_COUNTS[index]} threads: ${short} bytes at L = ${lengths[0]}, ${long} at L = ${lengths[1]}`);
      }
      assert.ok(poolJobs(favors[1], () => favors[1].sync.attention(
        seededFloats(lengths[1] * dim, 1), seededFloats(lengths[1] * dim, 1), seededFloats(lengths[1] * valueDim, 2),
        { batch: 1, heads: 1, length: lengths[1], dim, valueDim, layout: "bhld", causal: true, kernel: "positive", features, projection, chunk },
      )) > 0, "2 threads did not use the pool");
    });

    test("bidirectional working memory is flat in heads", async () => {
      const favors = await byThreads(build);
      const [dim, valueDim, features, length] = [8, 4, 16, 3 * 512 + 5];
      const projection = favors[0].sync.projection({ features, dim, seed: 4 });
      const headCounts = [2, 8];
      const bytes = favors.map((favor) => headCounts.map((heads) => {
        const q = seededFloats(heads * length * dim, 5);
        const v = seededFloats(heads * length * valueDim, 6);
        const options = { batch: 1, heads, length, dim, valueDim, layout: "bhld", causal: false, kernel: "positive", features, projection };
        return allocatedBytes(favor, () => favor.sync.attention(q, q, v, options));
      }));
      // Only the copies of q, k, v and the output grow with the heads: the
      // per-thread scratch is taken once per call, not once per head and step.
      const inputsAndOutput = 4 * (headCounts[1] - headCounts[0]) * length * (2 * dim + 2 * valueDim);
      for (const [index, [few, many]] of bytes.entries()) {
        assert.equal(many - few, inputsAndOutput, `${THREAD_COUNTS[index]} threads: ${few} bytes with ${headCounts[0]} heads, ${many} with ${headCounts[1]}`);
      }
      assert.ok(poolJobs(favors[1], () => favors[1].sync.attention(
        seededFloats(2 * length * dim, 5), seededFloats(2 * length * dim, 5), seededFloats(2 * length * valueDim, 6),
        { batch: 1, heads: 2, length, dim, valueDim, layout: "bhld", causal: false, kernel: "positive", features, projection },
      )) > 0, "2 threads did not use the pool");
    });
  });
}

describe("thread pool", () => {
  test("options are validated", async () => {
    await assert.rejects(createFavor({ threads: 0 }), RangeError);
    await assert.rejects(createFavor({ threads: 1.5 }), RangeError);
    await assert.rejects(createFavor({ threads: "2" }), TypeError);
    await assert.rejects(createFavor({ threads: 1000 }), /threads must be at most 256/);
    await assert.rejects(createFavor({ maxSharedMemory: 1024 }), /maxSharedMemory must be an integer number of bytes/);
    await assert.rejects(createFavor({ maxSharedMemory: 2 ** 33 }), RangeError);
  });

  test("default uses every core", async () => {
    const { availableParallelism } = await import("node:os");
    const favor = await open({});
    const expected = supportedBuilds().simd ? availableParallelism() : 1;
    assert.equal(favor.info.threads, expected);
  });

  test("kernel error on a worker is rethrown", async () => {
    const favor = await open({ build: "simd", threads: 2 });
    const pool = backendOf(favor).pool;
    const outside = favor.info.memoryBytes + 65536;
    const gemm = { kernel: "f32_gemm", args: [1, 4, 4, 4, 1, outside, 4, 0, 0, outside, 4, 0, 0, 0, outside, 4, 0] };
    assert.throws(() => pool.run([[], [gemm]]), /a kernel failed on worker 1: .*out of bounds/);
    const c = favor.sync.matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { m: 2, k: 2, n: 2 });
    assert.deepEqual(Array.from(c), [19, 22, 43, 50]);
  });

  test("worker that fails to start falls back with a warning", async () => {
    const messages = [];
    setLogSink((level, message) => messages.push({ level, message }));
    setWorkerScriptForTests(new URL("./no-such-worker.js", import.meta.url));
    try {
      const favor = await open({ build: "simd", threads: 2 });
      assert.equal(favor.info.threads, 1);
      const warnings = messages.filter((entry) => entry.level === "warn");
      assert.equal(warnings.length, 1, JSON.stringify(messages));
      assert.match(warnings[0].message, /running on one thread instead of 2, because worker 1 failed to start/);
      const c = favor.sync.matmul(new Float32Array([1, 2]), new Float32Array([3, 4]), { m: 1, k: 2, n: 1 });
      assert.deepEqual(Array.from(c), [11]);
    } finally {
      setWorkerScriptForTests(null);
      setLogSink(null);
      setLogLevel("warn");
    }
  });

  /** Runs createFavor({ threads: 2 }) with `setUp` applied; returns the instance and the logged warnings. */
  async function withFallback(setUp, tearDown) {
    const warnings = [];
    setLogSink((level, message) => {
      if (level === "warn") warnings.push(message);
    });
    setUp();
    try {
      const favor = await open({ build: "simd", threads: 2 });
      return { favor, warnings };
    } finally {
      tearDown();
      setLogSink(null);
    }
  }

  test("page without isolation falls back", async () => {
    const { favor, warnings } = await withFallback(
      () => { globalThis.crossOriginIsolated = false; },
      () => { delete globalThis.crossOriginIsolated; },
    );
    assert.equal(favor.info.threads, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /running on one thread instead of 2, because the page is not cross-origin isolated/);
  });

  test("rejected shared memory falls back", async () => {
    const Memory = WebAssembly.Memory;
    const { favor, warnings } = await withFallback(
      () => {
        WebAssembly.Memory = function (descriptor) {
          if (descriptor.shared) throw new RangeError("WebAssembly.Memory(): could not allocate memory");
          return new Memory(descriptor);
        };
      },
      () => { WebAssembly.Memory = Memory; },
    );
    assert.equal(favor.info.threads, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /the engine rejected a shared memory of 1073741824 bytes .*a smaller maxSharedMemory may work/);
  });

  test("many calls keep memory and threads stable", async () => {
    const favor = await open({ build: "simd", threads: 3 });
    const a = seededFloats(200 * 150, 1);
    const b = seededFloats(150 * 170, 2);
    const q = seededFloats(400 * 8, 3);
    const v = seededFloats(400 * 4, 4);
    const projection = favor.sync.projection({ features: 16, dim: 8, seed: 5 });
    const round = () => {
      favor.sync.matmul(a, b, { m: 200, k: 150, n: 170 });
      favor.sync.attention(q, q, v, {
        batch: 1, heads: 1, length: 400, dim: 8, valueDim: 4, layout: "bhld", causal: true, kernel: "positive", features: 16, projection, chunk: 16,
      });
    };
    round();
    const memory = favor.info.memoryBytes;
    const threads = osThreads();
    for (let i = 0; i < 40; i++) round();
    assert.equal(favor.info.memoryBytes, memory);
    assert.equal(favor.info.threads, 3);
    assert.equal(osThreads(), threads);
  });

  test("exceeding maxSharedMemory is a RangeError", async () => {
    const favor = await open({ build: "simd", threads: 2, maxSharedMemory: 16 * 1024 * 1024 });
    const n = 1200;
    const a = new Float32Array(n * n);
    assert.throws(() => favor.sync.matmul(a, a, { m: n, k: n, n }), (error) =>
      error instanceof RangeError && /matmul: .*fixed maximum of 16777216 bytes; pass a larger maxSharedMemory/.test(error.message));
  });

  test("dispose ends the worker threads", async () => {
    const before = await settledOsThreads();
    const favor = await createFavor({ build: "simd", threads: 3 });
    assert.equal(osThreads(), before + 2, "createFavor did not start 2 workers");
    favor.dispose();
    assert.equal(favor.info.threads, 1);
    // terminate() ends a worker asynchronously; give it up to 5 s.
    const deadline = Date.now() + 5000;
    while (osThreads() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(osThreads(), before);
    const c = favor.sync.matmul(new Float32Array(300 * 300).fill(1), new Float32Array(300 * 300).fill(1), { m: 300, k: 300, n: 300 });
    assert.equal(c[0], 300);
  });

  test("Deno runs Web Workers", (t) => {
    const deno = new URL("../../node_modules/.bin/deno", import.meta.url);
    if (!existsSync(deno)) {
      t.skip("node_modules/.bin/deno is missing (npm ci installs it)");
      return;
    }
    // Deno starts no worker by default; with threads 2 it does, and the process exits after dispose.
    const script = [
      "const { createFavor } = await import('favor-wasm');",
      "const plain = await createFavor({ build: 'simd' });",
      "const favor = await createFavor({ build: 'simd', threads: 2 });",
      "const n = 300;",
      "const a = Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3);",
      "const one = plain.sync.matmul(a, a, { m: n, k: n, n });",
      "const two = favor.sync.matmul(a, a, { m: n, k: n, n });",
      "const threads = favor.info.threads;",
      "favor.dispose();",
      "console.log(plain.info.threads, threads, favor.info.threads, one.every((value, i) => Object.is(value, two[i])));",
    ].join("\n");
    const child = spawnSync(fileURLToPath(deno), ["eval", "--no-lock", "--cached-only", script], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8", timeout: 20000,
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    assert.equal(child.error, undefined, `deno did not exit within 20 s: ${child.error}`);
    assert.equal(child.status, 0, child.stderr);
    // Default threads, threads before and after dispose, and 2 threads equal to 1 bit for bit.
    assert.equal(child.stdout.trim(), "1 2 1 true");
  });

  /**
   * Runs tests/helpers/worker-stop-scenario.mjs in a child process with a
   * 60 s limit, so a wait that never ends fails instead of hanging, and
   * returns its report.
   */
  function stopScenario(mode) {
    const script = fileURLToPath(new URL("../helpers/worker-stop-scenario.mjs", import.meta.url));
    const child = spawnSync(process.execPath, [script, mode], { encoding: "utf8", timeout: 60000 });
    assert.equal(child.error, undefined, `the ${mode} scenario did not end within 60 s: ${child.error}`);
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout.trim().split("\n").at(-1));
  }

  const ONE_THREAD_FROM_NOW = /running on one thread instead of 2 from now on, because worker 1 stopped/;

  for (const [mode, cause] of [["exit", /it exited with code 3/], ["escape", /an uncaught error stopped it: injected failure/]]) {
    test(`worker ${mode} during a job throws`, { skip: !supportedBuilds().simd }, () => {
      const report = stopScenario(mode);
      assert.equal(report.threadsBefore, 2);
      assert.equal(report.first, undefined, "the job returned a result");
      assert.match(report.error, /worker 1 stopped during a job/);
      assert.match(report.error, cause);
      assert.equal(report.threadsAfter, 1);
      assert.equal(report.second, true, "the next call differs from one thread's");
      assert.equal(report.warnings.length, 1, JSON.stringify(report.warnings));
      assert.match(report.warnings[0], ONE_THREAD_FROM_NOW);
    });
  }

  test("worker exit between jobs", { skip: !supportedBuilds().simd }, () => {
    const report = stopScenario("exit-after-job");
    assert.equal(report.job, true, "the job before the exit differs from one thread's");
    // The worker's own mark, read when the next job starts: that job runs on the calling thread.
    assert.equal(report.attentionInTurn, true, "attention run in turn differs from 2 threads");
    assert.equal(report.error, undefined);
    assert.equal(report.first, true);
    assert.equal(report.threadsAfter, 1);
    assert.equal(report.second, true);
    assert.equal(report.warnings.length, 1, JSON.stringify(report.warnings));
    assert.match(report.warnings[0], /worker 1 stopped: it exited with code 4/);
  });

  test("worker terminated between jobs", { skip: !supportedBuilds().simd }, () => {
    const report = stopScenario("terminate-between");
    assert.equal(report.error, undefined);
    assert.equal(report.first, true);
    assert.equal(report.threadsAfter, 1);
    assert.equal(report.second, true);
    assert.equal(report.warnings.length, 1, JSON.stringify(report.warnings));
    assert.match(report.warnings[0], /worker 1 stopped: the worker exited with code 1/);
  });

  test("worker terminated as a job starts", { skip: !supportedBuilds().simd }, () => {
    // Termination takes effect a little later: the job may finish on the
    // worker, or lose it and throw. Either way it must end, and the pool retires.
    const report = stopScenario("terminate-during");
    if (report.error !== undefined) assert.match(report.error, /worker 1 stopped during a job/);
    else assert.equal(report.first, true);
    assert.equal(report.threadsAfter, 1);
    assert.equal(report.second, true);
    assert.equal(report.warnings.length, 1, JSON.stringify(report.warnings));
    assert.match(report.warnings[0], ONE_THREAD_FROM_NOW);
  });

  test("dispose ends the workers and the process exits", () => {
    const entry = new URL("../../dist/runtime/node.js", import.meta.url).href;
    const script = [
      `const { createFavor } = await import(${JSON.stringify(entry)});`,
      "const favor = await createFavor({ build: 'simd', threads: 2 });",
      "const a = new Float32Array(256 * 256).fill(1);",
      "const c = favor.sync.matmul(a, a, { m: 256, k: 256, n: 256 });",
      "favor.dispose();",
      "console.log(favor.info.threads, c[0]);",
    ].join("\n");
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20000 });
    assert.equal(child.error, undefined, `the child did not exit within 20 s: ${child.error}`);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), "1 256");
  });
});
