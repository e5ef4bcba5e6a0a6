// The threads page for Chromium (tests/runtimes/browser.mjs). The runner
// passes the inputs and compares the attention outputs with its float64
// reference; this page compares what must be bit-identical itself.
// favorThreads(inputs) creates favor-wasm with threads: 2 and, when it got
// 2 threads, runs a GEMM, a feature map and causal attention with 2 threads
// and with 1, and then disposes both instances.

import { createFavor, setLogSink } from "favor-wasm";

function sameBits(x, y) {
  return x.length === y.length && x.every((value, i) => Object.is(value, y[i]));
}

globalThis.favorThreads = async (inputs) => {
  const warnings = [];
  setLogSink((level, message) => {
    if (level === "warn") warnings.push(message);
  });
  const report = { isolated: globalThis.crossOriginIsolated === true, warnings };
  const threaded = await createFavor({ threads: 2 });
  report.threads = threaded.info.threads;
  if (report.threads === 2) {
    const single = await createFavor({ threads: 1 });
    report.singleThreads = single.info.threads;
    const pair = (body) => [body(threaded), body(single)];

    const { m, n, k } = inputs.gemm;
    const a = new Float32Array(inputs.gemm.a);
    const b = new Float32Array(inputs.gemm.b);
    const [gemm2, gemm1] = pair((favor) => favor.sync.matmul(a, b, { m, n, k }));
    report.gemmSame = sameBits(gemm2, gemm1);

    const { rows, dim, features } = inputs.features;
    const x = new Float32Array(inputs.features.x);
    const projection = single.sync.projection({ features, dim, seed: inputs.features.seed });
    const options = { rows, dim, projection, kind: "positive", role: "query", returnStabilizer: true };
    const [map2, map1] = pair((favor) => favor.sync.features(x, options));
    report.featuresSame = sameBits(map2.features, map1.features) && sameBits(map2.shift, map1.shift);

    const { shape, seed } = inputs.attention;
    const q = new Float32Array(inputs.attention.q);
    const kk = new Float32Array(inputs.attention.k);
    const v = new Float32Array(inputs.attention.v);
    const attentionProjection = single.sync.projection({ features: inputs.attention.features, dim: shape.dim, seed });
    const attentionOptions = { ...shape, causal: true, kernel: "positive", features: inputs.attention.features, projection: attentionProjection, chunk: inputs.attention.chunk };
    const [out2, out1] = pair((favor) => favor.sync.attention(q, kk, v, attentionOptions));
    report.attention = { two: Array.from(out2), one: Array.from(out1), projection: Array.from(attentionProjection) };
    report.attentionRepeats = sameBits(threaded.sync.attention(q, kk, v, attentionOptions), out2);
    single.dispose();
  }
  threaded.dispose();
  report.threadsAfterDispose = threaded.info.threads;
  report.warnings = warnings.slice();
  if (report.threads === 2) report.stop = await stopWorker(inputs, warnings);
  setLogSink(null);
  return report;
};

/**
 * Terminates worker 1 of a new 2-thread instance through the pool's handle
 * and runs the GEMM again: the pool must notice, log a warning, and return
 * one thread's result. The pool is internal, so it is reached through the
 * package's dist/internal.js by path.
 */
async function stopWorker(inputs, warnings) {
  const { backendOf } = await import("/node_modules/favor-wasm/dist/internal.js");
  const favor = await createFavor({ threads: 2 });
  const single = await createFavor({ threads: 1 });
  const { m, n, k } = inputs.gemm;
  const a = new Float32Array(inputs.gemm.a);
  const b = new Float32Array(inputs.gemm.b);
  const expected = single.sync.matmul(a, b, { m, n, k });
  const before = warnings.length;
  backendOf(favor).pool.workerForTests(0).terminate();
  const result = { threadsBefore: favor.info.threads };
  try {
    result.same = sameBits(favor.sync.matmul(a, b, { m, n, k }), expected);
  } catch (error) {
    result.error = error.message;
  }
  result.threadsAfter = favor.info.threads;
  result.warnings = warnings.slice(before);
  favor.dispose();
  single.dispose();
  return result;
}
