// Kernels behind favor.projection: orthonormal rows from Gaussian draws, and
// row norms. The bindings draw the Gaussian numbers with f32_random_normal
// and call these per block (bindings/backends/wasm/ops/projection.ts).
//
// Determinism: every build (scalar, simd, relaxed) returns the same bits for
// the same input. The code uses only plain float32 add, sub, mul, div and
// sqrt, which WebAssembly rounds exactly as IEEE 754 prescribes, and no
// relaxed or fused instruction. The SIMD loops vectorize across independent
// columns: each lane performs exactly the operations, in the same order, that
// the scalar loop performs for its column, so the vector and scalar paths
// agree bit for bit. The QR kernel in assembly/linalg/ is not used here
// because its relaxed build fuses multiply-adds and its blocking differs
// between builds.
//
// f32_orthonormal_rows(k, d, g, ldg, out, ldo, work):
//   Input: k rows of d values at `g` (row stride ldg, k <= d), read as the
//   columns of a d×k matrix G: column j of G is row j of g. Output: k rows of
//   d values at `out` (row stride ldo), row j = s_j·(column j of Q), where
//   G = Q·R is the Householder QR of G and s_j = sign(R[j][j]) with
//   sign(0) = +1. Q·diag(s) is the QR factor with a non-negative diagonal
//   of R, which is unique for a full-rank G and equals what Gram–Schmidt
//   gives. For Gaussian G it is the first k columns of a Haar-distributed
//   orthogonal matrix (Mezzadri, "How to generate random matrices from the
//   classical compact groups", Notices AMS 54, 2007).
//   Row j of the output depends only on rows 0..j of g, so a call with a
//   larger k starts with the rows of a call with a smaller one.
//   Reflection convention (as LAPACK's xLARFG and f32_geqrf): the column
//   (alpha, x) on and below the diagonal maps to (beta, 0) with
//   beta = −sign(alpha)·‖(alpha, x)‖ (sign(±0) = +1), and when x is exactly 0
//   the step is skipped and R[j][j] = alpha keeps its sign.
//   Work: 2·d·k + d + 2·k float32 values, not overlapping g or out. g and out
//   must not overlap each other.
//   Range: the sums of squares are not rescaled, which is safe for inputs
//   of Gaussian size (|g| <= 8.58 for f32_random_normal draws) and any d
//   below about 1e36, but not for arbitrary inputs near the float32 limits.
//
// f32_rescale_rows(k, d, w, ldw, chi, ldchi):
//   Multiplies each of the k rows of d values at w (row stride ldw) by
//   target/‖w_j‖, so its norm becomes the target. The target of row j is
//   ‖chi_j‖ for row j of the k×d matrix at `chi` (row stride ldchi), or √d
//   when chi is 0. A zero row stays zero.

/** Writes k orthonormal rows from the Gaussian columns in g (see the file header). */
export function f32_orthonormal_rows(k: i32, d: i32, g: usize, ldg: i32, out: usize, ldo: i32, work: usize): void {
  // Work layout: A (d×k row-major, the matrix factored in place), Q (d×k),
  // v (d), tau (k), and the diagonal of R (k).
  const a = work;
  const q = a + ((<usize>d * <usize>k) << 2);
  const v = q + ((<usize>d * <usize>k) << 2);
  const tau = v + (<usize>d << 2);
  const rdiag = tau + (<usize>k << 2);
  const rowBytesA = <usize>k << 2;

  // A[i][j] = g[j][i]: column j of G becomes column j of A.
  for (let j = 0; j < k; j++) {
    const source = g + ((<usize>j * <usize>ldg) << 2);
    for (let i = 0; i < d; i++) {
      store<f32>(a + (<usize>i * rowBytesA) + (<usize>j << 2), load<f32>(source + (<usize>i << 2)));
    }
  }

  for (let j = 0; j < k; j++) {
    reflectColumn(d, k, j, a, v, tau, rdiag);
  }

  // Q = H_0·…·H_{k−1}·I[:, 0:k], accumulated backwards: before step j the
  // columns c < j of Q are still e_c, so H_j changes only rows >= j and
  // columns >= j.
  for (let i = 0; i < d; i++) {
    const row = q + (<usize>i * rowBytesA);
    memory.fill(row, 0, rowBytesA);
    if (i < k) store<f32>(row + (<usize>i << 2), 1);
  }
  for (let j = k - 1; j >= 0; j--) {
    const tauj = load<f32>(tau + (<usize>j << 2));
    if (tauj == 0) continue;
    store<f32>(v + (<usize>j << 2), 1);
    for (let i = j + 1; i < d; i++) {
      store<f32>(v + (<usize>i << 2), load<f32>(a + (<usize>i * rowBytesA) + (<usize>j << 2)));
    }
    applyReflection(d, k, j, j, q, v, tauj);
  }

  // Row j of the output is s_j times column j of Q.
  for (let j = 0; j < k; j++) {
    const sign: f32 = load<f32>(rdiag + (<usize>j << 2)) >= 0 ? 1 : -1;
    const target = out + ((<usize>j * <usize>ldo) << 2);
    for (let i = 0; i < d; i++) {
      store<f32>(target + (<usize>i << 2), sign * load<f32>(q + (<usize>i * rowBytesA) + (<usize>j << 2)));
    }
  }
}

/**
 * Forms reflection j from column j of the d×k matrix A on and below the
 * diagonal, stores beta in A[j][j] and the vector below it (v_j = 1 is
 * implicit), records tau_j and R[j][j], and applies the reflection to the
 * columns right of j.
 */
function reflectColumn(d: i32, k: i32, j: i32, a: usize, v: usize, tau: usize, rdiag: usize): void {
  const rowBytes = <usize>k << 2;
  const diagonal = a + (<usize>j * rowBytes) + (<usize>j << 2);
  const alpha = load<f32>(diagonal);
  let below: f32 = 0;
  for (let i = j + 1; i < d; i++) {
    const x = load<f32>(a + (<usize>i * rowBytes) + (<usize>j << 2));
    below += x * x;
  }
  if (below == 0) {
    store<f32>(tau + (<usize>j << 2), 0);
    store<f32>(rdiag + (<usize>j << 2), alpha);
    return;
  }

  const norm = sqrt<f32>(alpha * alpha + below);
  const beta: f32 = alpha >= 0 ? -norm : norm;
  const pivot = alpha - beta;
  store<f32>(v + (<usize>j << 2), 1);
  for (let i = j + 1; i < d; i++) {
    const address = a + (<usize>i * rowBytes) + (<usize>j << 2);
    const vi = load<f32>(address) / pivot;
    store<f32>(address, vi);
    store<f32>(v + (<usize>i << 2), vi);
  }
  const tauj = (beta - alpha) / beta;
  store<f32>(diagonal, beta);
  store<f32>(tau + (<usize>j << 2), tauj);
  store<f32>(rdiag + (<usize>j << 2), beta);
  applyReflection(d, k, j, j + 1, a, v, tauj);
}

/**
 * Applies H = I − tau·v·vᵀ (v zero above row `top`, v[top] = 1) to columns
 * first..k−1 of the d×k row-major matrix m: for each column c,
 * w = Σ_{i>=top} v_i·m[i][c] in row order, t = tau·w, m[i][c] = m[i][c] − v_i·t.
 * The SIMD path runs strips of 16 and then 4 columns, each lane with the
 * scalar operations in the scalar order.
 */
function applyReflection(d: i32, k: i32, top: i32, first: i32, m: usize, v: usize, tau: f32): void {
  const rowBytes = <usize>k << 2;
  let c = first;
  if (ASC_FEATURE_SIMD) {
    const tauVector = f32x4.splat(tau);
    // Strips of 16 columns read each row of the strip as one 64-byte line.
    for (; c + 16 <= k; c += 16) {
      const column = m + (<usize>c << 2);
      let w0 = f32x4.splat(0);
      let w1 = w0;
      let w2 = w0;
      let w3 = w0;
      for (let i = top; i < d; i++) {
        const vi = v128.load32_splat(v + (<usize>i << 2));
        const p = column + <usize>i * rowBytes;
        w0 = f32x4.add(w0, f32x4.mul(vi, v128.load(p)));
        w1 = f32x4.add(w1, f32x4.mul(vi, v128.load(p, 16)));
        w2 = f32x4.add(w2, f32x4.mul(vi, v128.load(p, 32)));
        w3 = f32x4.add(w3, f32x4.mul(vi, v128.load(p, 48)));
      }
      const t0 = f32x4.mul(tauVector, w0);
      const t1 = f32x4.mul(tauVector, w1);
      const t2 = f32x4.mul(tauVector, w2);
      const t3 = f32x4.mul(tauVector, w3);
      for (let i = top; i < d; i++) {
        const vi = v128.load32_splat(v + (<usize>i << 2));
        const p = column + <usize>i * rowBytes;
        v128.store(p, f32x4.sub(v128.load(p), f32x4.mul(vi, t0)));
        v128.store(p, f32x4.sub(v128.load(p, 16), f32x4.mul(vi, t1)), 16);
        v128.store(p, f32x4.sub(v128.load(p, 32), f32x4.mul(vi, t2)), 32);
        v128.store(p, f32x4.sub(v128.load(p, 48), f32x4.mul(vi, t3)), 48);
      }
    }
    for (; c + 4 <= k; c += 4) {
      const column = m + (<usize>c << 2);
      let w = f32x4.splat(0);
      for (let i = top; i < d; i++) {
        const vi = v128.load32_splat(v + (<usize>i << 2));
        w = f32x4.add(w, f32x4.mul(vi, v128.load(column + <usize>i * rowBytes)));
      }
      const t = f32x4.mul(tauVector, w);
      for (let i = top; i < d; i++) {
        const address = column + <usize>i * rowBytes;
        const vi = v128.load32_splat(v + (<usize>i << 2));
        v128.store(address, f32x4.sub(v128.load(address), f32x4.mul(vi, t)));
      }
    }
  }
  for (; c < k; c++) {
    const column = m + (<usize>c << 2);
    let w: f32 = 0;
    for (let i = top; i < d; i++) {
      w = w + load<f32>(v + (<usize>i << 2)) * load<f32>(column + <usize>i * rowBytes);
    }
    const t = tau * w;
    for (let i = top; i < d; i++) {
      const address = column + <usize>i * rowBytes;
      store<f32>(address, load<f32>(address) - load<f32>(v + (<usize>i << 2)) * t);
    }
  }
}

/** Rescales each row of w to the norm of the matching row of chi, or to √d when chi is 0 (see the file header). */
export function f32_rescale_rows(k: i32, d: i32, w: usize, ldw: i32, chi: usize, ldchi: i32): void {
  const sqrtD = sqrt<f32>(<f32>d);
  for (let j = 0; j < k; j++) {
    const row = w + ((<usize>j * <usize>ldw) << 2);
    let target = sqrtD;
    if (chi != 0) {
      const source = chi + ((<usize>j * <usize>ldchi) << 2);
      let sum: f32 = 0;
      for (let i = 0; i < d; i++) {
        const x = load<f32>(source + (<usize>i << 2));
        sum = sum + x * x;
      }
      target = sqrt<f32>(sum);
    }
    let sum: f32 = 0;
    for (let i = 0; i < d; i++) {
      const x = load<f32>(row + (<usize>i << 2));
      sum = sum + x * x;
    }
    if (sum == 0) continue;
    const factor = target / sqrt<f32>(sum);
    for (let i = 0; i < d; i++) {
      const address = row + (<usize>i << 2);
      store<f32>(address, load<f32>(address) * factor);
    }
  }
}
