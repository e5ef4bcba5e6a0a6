// A 1 → H → H → 1 tanh MLP for sine-wave regression, with the gradient and
// the exact Hessian-vector product of its mean squared error written by
// hand. The HVP is forward-over-reverse (Pearlmutter's R-operator): the
// forward pass and the backward pass are differentiated once more along a
// direction v, which costs about two gradients and needs no step size.
// Matrix products go through the library's matmul; the rest is plain float32
// JavaScript.
//
// Parameter layout in θ (row-major): W1 (H×1), b1 (H), W2 (H×H), b2 (H),
// W3 (1×H), b3 (1), so n = H² + 4H + 1.

/** Returns the offsets of each block of θ for hidden width `hidden`. */
export function mlpLayout(hidden) {
  const h = hidden;
  const w1 = 0;
  const b1 = w1 + h;
  const w2 = b1 + h;
  const b2 = w2 + h * h;
  const w3 = b2 + h;
  const b3 = w3 + h;
  return { hidden: h, w1, b1, w2, b2, w3, b3, size: b3 + 1 };
}

/** Returns θ with Xavier-style uniform weights and zero biases, from `uniform` draws on [0, 1). */
export function initParameters(layout, uniform) {
  const h = layout.hidden;
  const theta = new Float32Array(layout.size);
  const fill = (offset, count, fanIn, fanOut) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < count; i++) theta[offset + i] = (2 * uniform[offset + i] - 1) * limit;
  };
  fill(layout.w1, h, 1, h);
  fill(layout.w2, h * h, h, h);
  fill(layout.w3, h, h, 1);
  return theta;
}

/** Builds the loss, gradient and HVP functions of the MLP on top of `matmul` (favor.sync.matmul). */
export function createMlp(layout, matmul) {
  const h = layout.hidden;
  const view = (theta) => ({
    w1: theta.subarray(layout.w1, layout.b1),
    b1: theta.subarray(layout.b1, layout.w2),
    w2: theta.subarray(layout.w2, layout.b2),
    b2: theta.subarray(layout.b2, layout.w3),
    w3: theta.subarray(layout.w3, layout.b3),
    b3: theta.subarray(layout.b3, layout.size),
  });
  // C = op(A)·op(B) for row-major A, B.
  const mm = (a, b, m, k, n, transA = false, transB = false) => matmul(a, b, { m, k, n, transA, transB });
  const addRows = (matrix, bias, rows, cols) => {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) matrix[i * cols + j] += bias[j];
    return matrix;
  };
  const columnSums = (matrix, rows, cols, out) => {
    out.fill(0);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += matrix[i * cols + j];
  };

  /** Forward pass on K inputs x (Float32Array of K); returns the activations. */
  function forward(p, x, k) {
    const z1 = addRows(mm(x, p.w1, k, 1, h, false, true), p.b1, k, h);
    const a1 = z1.map(Math.tanh);
    const z2 = addRows(mm(a1, p.w2, k, h, h, false, true), p.b2, k, h);
    const a2 = z2.map(Math.tanh);
    const y = addRows(mm(a2, p.w3, k, h, 1, false, true), p.b3, k, 1);
    return { a1, a2, y };
  }

  /** Mean squared error of the MLP on (x, t). */
  function loss(theta, x, t) {
    const { y } = forward(view(theta), x, x.length);
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += (y[i] - t[i]) ** 2;
    return sum / x.length;
  }

  /** Backward pass; returns the gradient blocks and the intermediate values the HVP reuses. */
  function backward(p, x, t, k, act, grad) {
    const g = view(grad);
    const dy = new Float32Array(k);
    for (let i = 0; i < k; i++) dy[i] = (2 * (act.y[i] - t[i])) / k;
    g.w3.set(mm(dy, act.a2, 1, k, h, true, false));
    g.b3[0] = dy.reduce((s, v) => s + v, 0);
    const da2 = mm(dy, p.w3, k, 1, h);
    const dz2 = da2.map((v, i) => v * (1 - act.a2[i] * act.a2[i]));
    g.w2.set(mm(dz2, act.a1, h, k, h, true, false));
    columnSums(dz2, k, h, g.b2);
    const da1 = mm(dz2, p.w2, k, h, h);
    const dz1 = da1.map((v, i) => v * (1 - act.a1[i] * act.a1[i]));
    g.w1.set(mm(dz1, x, h, k, 1, true, false));
    columnSums(dz1, k, h, g.b1);
    return { dy, da2, dz2, da1, dz1 };
  }

  /** ∇ of the mean squared error at θ; writes into `out` (length n) and returns it. */
  function gradient(theta, x, t, out = new Float32Array(layout.size)) {
    const p = view(theta);
    backward(p, x, t, x.length, forward(p, x, x.length), out);
    return out;
  }

  /** ∇²(mean squared error)·v at θ by the R-operator; writes into `out` and returns it. */
  function hessianVector(theta, vector, x, t, out = new Float32Array(layout.size)) {
    const k = x.length;
    const p = view(theta);
    const v = view(vector);
    const act = forward(p, x, k);
    const back = backward(p, x, t, k, act, new Float32Array(layout.size));

    // R-forward: directional derivatives of the activations.
    const rz1 = addRows(mm(x, v.w1, k, 1, h, false, true), v.b1, k, h);
    const ra1 = rz1.map((value, i) => value * (1 - act.a1[i] * act.a1[i]));
    const rz2 = addRows(mm(ra1, p.w2, k, h, h, false, true), v.b2, k, h);
    const rz2Weights = mm(act.a1, v.w2, k, h, h, false, true);
    for (let i = 0; i < rz2.length; i++) rz2[i] += rz2Weights[i];
    const ra2 = rz2.map((value, i) => value * (1 - act.a2[i] * act.a2[i]));
    const ry = addRows(mm(ra2, p.w3, k, h, 1, false, true), v.b3, k, 1);
    const ryWeights = mm(act.a2, v.w3, k, h, 1, false, true);
    for (let i = 0; i < k; i++) ry[i] += ryWeights[i];

    // R-backward: directional derivatives of the backward pass.
    const o = view(out);
    const rdy = ry.map((value) => (2 * value) / k);
    const w3a = mm(rdy, act.a2, 1, k, h, true, false);
    const w3b = mm(back.dy, ra2, 1, k, h, true, false);
    for (let j = 0; j < h; j++) o.w3[j] = w3a[j] + w3b[j];
    o.b3[0] = rdy.reduce((s, value) => s + value, 0);

    const rda2 = mm(rdy, p.w3, k, 1, h);
    const rda2Weights = mm(back.dy, v.w3, k, 1, h);
    const rdz2 = new Float32Array(k * h);
    for (let i = 0; i < k * h; i++) {
      const a = act.a2[i];
      rdz2[i] = (rda2[i] + rda2Weights[i]) * (1 - a * a) - 2 * back.da2[i] * a * ra2[i];
    }
    const w2a = mm(rdz2, act.a1, h, k, h, true, false);
    const w2b = mm(back.dz2, ra1, h, k, h, true, false);
    for (let i = 0; i < h * h; i++) o.w2[i] = w2a[i] + w2b[i];
    columnSums(rdz2, k, h, o.b2);

    const rda1 = mm(rdz2, p.w2, k, h, h);
    const rda1Weights = mm(back.dz2, v.w2, k, h, h);
    const rdz1 = new Float32Array(k * h);
    for (let i = 0; i < k * h; i++) {
      const a = act.a1[i];
      rdz1[i] = (rda1[i] + rda1Weights[i]) * (1 - a * a) - 2 * back.da1[i] * a * ra1[i];
    }
    o.w1.set(mm(rdz1, x, h, k, 1, true, false));
    columnSums(rdz1, k, h, o.b1);
    return out;
  }

  return { loss, gradient, hessianVector };
}
