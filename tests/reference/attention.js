// Float64 references for the attention ops, written as the explicit
// quadratic formulas (every queries×keys matrix is formed), one head at a
// time. They are the readable specification the streamed, chunked and
// random-feature kernels are tested against.

import { featuresReference } from "./features.js";

/** Returns the element offset of row 0 of a head and the row stride, as bindings/api/attention.ts lays tensors out. */
export function headRows(shape, item, head, rows, width) {
  if (shape.layout === "bhld") return { offset: (item * shape.heads + head) * rows * width, ld: width };
  return { offset: (item * rows * shape.heads + head) * width, ld: shape.heads * width };
}

/** Copies one head of a layout tensor into a contiguous Float64Array of rows×width. */
export function extractHead(array, shape, item, head, rows, width) {
  const { offset, ld } = headRows(shape, item, head, rows, width);
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) out[r * width + c] = array[offset + r * ld + c];
  return out;
}

/** Writes a contiguous rows×width head into a layout tensor. */
export function storeHead(target, values, shape, item, head, rows, width) {
  const { offset, ld } = headRows(shape, item, head, rows, width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) target[offset + r * ld + c] = values[r * width + c];
}

/** Fills in the defaults of a shape the way the bindings do. */
export function fullShape(shape) {
  return {
    keyLength: shape.length,
    valueDim: shape.dim,
    keyPaddingMask: null,
    ...shape,
  };
}

/** Returns whether key j of batch item `item` is visible to query i. */
function isVisible(shape, item, causal, i, j) {
  const mask = shape.keyPaddingMask;
  if (mask && mask[item * shape.keyLength + j] === 1) return false;
  return !causal || j <= i;
}

/**
 * Exact softmax attention in float64 for every batch item and head.
 * Returns { out, bound } in the layout of the inputs, where bound is the
 * float32 error bound per output element derived in softmaxBound. A query
 * that sees no key gets 0, as the kernel does.
 */
export function softmaxAttentionReference(q, k, v, shapeIn, { causal, scale }) {
  const shape = fullShape(shapeIn);
  const { batch, heads, length, keyLength, dim, valueDim } = shape;
  const out = new Float64Array(batch * heads * length * valueDim);
  const bound = new Float64Array(out.length);
  const blocks = Math.ceil(keyLength / 256);
  for (let item = 0; item < batch; item++) {
    for (let head = 0; head < heads; head++) {
      const qh = extractHead(q, shape, item, head, length, dim);
      const kh = extractHead(k, shape, item, head, keyLength, dim);
      const vh = extractHead(v, shape, item, head, keyLength, valueDim);
      const oh = new Float64Array(length * valueDim);
      const bh = new Float64Array(length * valueDim);
      for (let i = 0; i < length; i++) {
        const scores = [];
        let maxScore = -Infinity;
        let maxAbsDot = 0;
        for (let j = 0; j < keyLength; j++) {
          if (!isVisible(shape, item, causal, i, j)) continue;
          let s = 0;
          let absDot = 0;
          for (let t = 0; t < dim; t++) {
            s += qh[i * dim + t] * kh[j * dim + t];
            absDot += Math.abs(qh[i * dim + t] * kh[j * dim + t]);
          }
          s *= scale;
          scores.push([j, s]);
          maxScore = Math.max(maxScore, s);
          maxAbsDot = Math.max(maxAbsDot, Math.abs(scale) * absDot);
        }
        if (scores.length === 0) continue;
        let sum = 0;
        const weights = scores.map(([j, s]) => {
          const w = Math.exp(s - maxScore);
          sum += w;
          return [j, w];
        });
        for (let c = 0; c < valueDim; c++) {
          let acc = 0;
          for (const [j, w] of weights) acc += w * vh[j * valueDim + c];
          oh[i * valueDim + c] = acc / sum;
        }
        // Error bound of the float32 kernel, derived in softmaxBound.
        const relWeight = softmaxWeightError(dim, blocks, maxAbsDot);
        const relSum = (scores.length + 4) * F32_EPS;
        for (let c = 0; c < valueDim; c++) {
          let spread = 0;
          for (const [j, w] of weights) spread += w * (Math.abs(vh[j * valueDim + c]) + Math.abs(oh[i * valueDim + c]));
          bh[i * valueDim + c] = (2 * relWeight + relSum) * (spread / sum) + 1e-37;
        }
      }
      storeHead(out, oh, shape, item, head, length, valueDim);
      storeHead(bound, bh, shape, item, head, length, valueDim);
    }
  }
  return { out, bound };
}

const F32_EPS = 2 ** -24;

/**
 * Relative error of one softmax weight p_ij = exp(s_ij − m_i) as the float32
 * kernel forms it, for |s_ij| <= A (A = max_j scale·Σ_t |q_it·k_jt|):
 *   - s_ij is a dim-term float32 dot product scaled once: absolute error
 *     <= (dim + 1)·eps·A;
 *   - s − m rounds once more: <= 2·eps·A;
 *   - exp adds at most 2 ULP (2·eps relative), and an absolute error e in its
 *     argument becomes a relative error of about e in the weight;
 *   - each of the `blocks` rescalings exp(m_old − m_new) multiplies the
 *     earlier weights by a factor whose argument has error <= 2·eps·A and
 *     whose exp adds 2 ULP.
 * So |Δp/p| <= eps·((dim + 3 + 2·blocks)·A + 2 + 2·blocks). A weight error ε
 * moves a weighted mean by at most 2ε·Σ p_j(|v_j| + |out|)/Σ p_j, and the two
 * sums of up to n terms add (n + 4)·eps relative to the same magnitude.
 */
export function softmaxWeightError(dim, blocks, maxAbsScore) {
  return F32_EPS * ((dim + 3 + 2 * blocks) * maxAbsScore + 2 + 2 * blocks);
}

/**
 * Explicit linear attention out = D⁻¹·(A·V), A = Q′K′ᵀ, D = diag(A·1) for one
 * head, given its feature matrices in float64: qf (length×r), kf
 * (keyLength×r), v (keyLength×valueDim). Keys with keep[j] false are
 * removed; with `causal`, A is masked to j <= i. A row whose denominator is
 * not above floor (2^-126, the kernel's guard) is 0.
 *
 * Returns { out, num, den, absNum, absDen, errNum, errDen }: absNum[i][c] =
 * Σ_j |A|_ij·|v_jc| and absDen[i] = Σ_j |A|_ij with |A|_ij = Σ_f |qf_if·kf_jf|,
 * the magnitudes that bound the float32 rounding of the products; errNum and
 * errDen are the same sums over E_ij = Σ_f (|qf|·kb + qb·|kf| + qb·kb)_f, the
 * effect of feature errors bounded per element by qBound and kBound (both
 * optional, zero when omitted). See linearAttentionBound.
 */
export function linearAttentionHead(qf, kf, v, { length, keyLength, features, valueDim, causal, keep, qBound = null, kBound = null }) {
  const out = new Float64Array(length * valueDim);
  const num = new Float64Array(length * valueDim);
  const den = new Float64Array(length);
  const absNum = new Float64Array(length * valueDim);
  const absDen = new Float64Array(length);
  const errNum = new Float64Array(length * valueDim);
  const errDen = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    for (let j = 0; j < keyLength; j++) {
      if (keep && !keep[j]) continue;
      if (causal && j > i) continue;
      let a = 0;
      let absA = 0;
      let errA = 0;
      for (let f = 0; f < features; f++) {
        const q = qf[i * features + f];
        const k = kf[j * features + f];
        a += q * k;
        absA += Math.abs(q * k);
        if (qBound || kBound) {
          const qb = qBound ? qBound[i * features + f] : 0;
          const kb = kBound ? kBound[j * features + f] : 0;
          errA += Math.abs(q) * kb + qb * Math.abs(k) + qb * kb;
        }
      }
      den[i] += a;
      absDen[i] += absA;
      errDen[i] += errA;
      for (let c = 0; c < valueDim; c++) {
        num[i * valueDim + c] += a * v[j * valueDim + c];
        absNum[i * valueDim + c] += absA * Math.abs(v[j * valueDim + c]);
        errNum[i * valueDim + c] += errA * Math.abs(v[j * valueDim + c]);
      }
    }
    if (den[i] > DENOMINATOR_FLOOR) {
      for (let c = 0; c < valueDim; c++) out[i * valueDim + c] = num[i * valueDim + c] / den[i];
    }
  }
  return { out, num, den, absNum, absDen, errNum, errDen };
}

/** The kernels' denominator guard: the smallest positive normal float32. */
export const DENOMINATOR_FLOOR = 2 ** -126;

/**
 * Float32 error bound of one output of linear attention, for `terms` keys
 * along the sequence. num and den are sums of products of three factors
 * (Q′, K′, [V 1]); formed as Q′(K′ᵀ[V 1]) or as masked Q′K′ᵀ·[V 1] plus
 * Q′·state, each is accurate to (r + n + 4)·eps of its absolute magnitude
 * (Higham, Accuracy and Stability of Numerical Algorithms, §3.5, for the
 * product of matrices), plus errNum and errDen from the feature errors, so
 *   |Δout| <= (|Δnum| + |out|·|Δden|) / |den| + eps·|out|.
 */
export function linearAttentionBound(head, i, c, valueDim, { features, terms }) {
  // A row that sees no key is exactly 0 in both; a denominator of exactly 0
  // (signed features cancelling) bounds nothing.
  if (head.absDen[i] === 0) return 0;
  if (head.den[i] === 0) return Infinity;
  const gamma = (features + terms + 4) * F32_EPS;
  const den = Math.abs(head.den[i]);
  const out = Math.abs(head.out[i * valueDim + c]);
  const numError = gamma * head.absNum[i * valueDim + c] + head.errNum[i * valueDim + c];
  const denError = gamma * head.absDen[i] + head.errDen[i];
  return (numError + out * denError) / den + F32_EPS * out;
}

/**
 * Implicit attention scores of one head as explicit column sums:
 * s_j = Σ_i A_ij / n_i with A = Q′K′ᵀ over the kept keys and n_i = Σ_j A_ij;
 * a row with n_i <= 2^-126 adds nothing (the kernels' guard), and removed
 * keys score 0. Returns { scores, bound }: the float32 kernel forms n (r + n
 * terms), u = Q′ᵀ(1/n) (length terms) and s = K′u (r terms), so each score
 * is accurate to (2r + length + keyLength + 8)·eps of
 * Σ_i (|A|_ij/|n_i|)·(1 + Σ_l |A|_il/|n_i|), the same three-factor argument
 * as linearAttentionBound.
 */
export function attentionScoresHead(qf, kf, { length, keyLength, features, keep }) {
  const scores = new Float64Array(keyLength);
  const magnitude = new Float64Array(keyLength);
  for (let i = 0; i < length; i++) {
    const a = new Float64Array(keyLength);
    const absA = new Float64Array(keyLength);
    let n = 0;
    let absN = 0;
    for (let j = 0; j < keyLength; j++) {
      if (keep && !keep[j]) continue;
      for (let f = 0; f < features; f++) {
        a[j] += qf[i * features + f] * kf[j * features + f];
        absA[j] += Math.abs(qf[i * features + f] * kf[j * features + f]);
      }
      n += a[j];
      absN += absA[j];
    }
    if (!(n > DENOMINATOR_FLOOR)) continue;
    for (let j = 0; j < keyLength; j++) {
      scores[j] += a[j] / n;
      magnitude[j] += (absA[j] / n) * (1 + absN / n);
    }
  }
  const gamma = (2 * features + length + keyLength + 8) * F32_EPS;
  return { scores, bound: magnitude.map((value) => gamma * value) };
}

/**
 * FAVOR+ attention in float64 for every batch item and head: the feature
 * maps of tests/reference/features.js applied to d^{-1/4}·q and d^{-1/4}·k
 * (scaled in float32, as the kernels scale them), then the explicit
 * quadratic linearAttentionHead. Queries are shifted by their own largest
 * exponent and keys by the largest exponent of the kept keys, so the float64
 * features are on the kernels' scale; the shifts cancel in the ratio.
 *
 * Returns { out, bound } in the layout of the inputs. The bound adds to the
 * per-feature bounds of featuresReference the rescaling of key blocks to the
 * running shift S: a factor exp(s_b − S) whose argument rounds with error
 * <= 2u·max|exponent| and whose exp and product add 3u, so each key feature
 * gets u·(2·max|exponent| + 3) of its value.
 */
export function favorAttentionReference(q, k, v, shapeIn, { causal, kind, projection, features }) {
  const shape = fullShape(shapeIn);
  const { batch, heads, length, keyLength, dim, valueDim } = shape;
  const out = new Float64Array(batch * heads * length * valueDim);
  const bound = new Float64Array(out.length);
  const inputScale = Math.fround(dim ** -0.25);
  const perHead = projection !== null && projection.length === heads * features * dim && heads > 1;
  for (let item = 0; item < batch; item++) {
    const mask = shape.keyPaddingMask;
    const keep = mask ? Array.from({ length: keyLength }, (_, j) => mask[item * keyLength + j] === 0) : null;
    for (let head = 0; head < heads; head++) {
      const xq = extractHead(q, shape, item, head, length, dim).map((x) => Math.fround(x * inputScale));
      const xk = extractHead(k, shape, item, head, keyLength, dim).map((x) => Math.fround(x * inputScale));
      const w = projection === null ? null
        : Float64Array.from(perHead ? projection.subarray(head * features * dim, (head + 1) * features * dim) : projection);
      const base = { dim, projection: w, kind };
      const queryExponents = featuresReference(xq, { ...base, rows: length }).exponents;
      const qRef = featuresReference(xq, { ...base, rows: length, shift: queryExponents.map((e) => (Number.isFinite(e) ? e : 0)) });
      const keyExponents = featuresReference(xk, { ...base, rows: keyLength }).exponents;
      let keyShift = -Infinity;
      let largest = 0;
      for (let j = 0; j < keyLength; j++) {
        if (keep && !keep[j]) continue;
        keyShift = Math.max(keyShift, keyExponents[j]);
        if (Number.isFinite(keyExponents[j])) largest = Math.max(largest, Math.abs(keyExponents[j]));
      }
      if (!Number.isFinite(keyShift)) keyShift = 0;
      const kRef = featuresReference(xk, { ...base, rows: keyLength, shift: new Float64Array(keyLength).fill(keyShift) });
      const rescale = F32_EPS * (2 * largest + 3);
      const kBound = kRef.bounds.map((b, index) => b + rescale * Math.abs(kRef.values[index]));
      const vh = extractHead(v, shape, item, head, keyLength, valueDim);
      const r = qRef.outputs;
      const result = linearAttentionHead(qRef.values, kRef.values, vh, {
        length, keyLength, features: r, valueDim, causal, keep, qBound: qRef.bounds, kBound,
      });
      const bh = result.out.map((_, index) =>
        linearAttentionBound(result, Math.floor(index / valueDim), index % valueDim, valueDim, { features: r, terms: keyLength }));
      storeHead(out, result.out, shape, item, head, length, valueDim);
      storeHead(bound, bh, shape, item, head, length, valueDim);
    }
  }
  return { out, bound };
}
