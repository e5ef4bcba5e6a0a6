// Float64 references for the bilevel gradient estimators: a closed form for
// quadratic tasks, a plain recursion for any task, and the one-dimensional
// two-task problem on which the first-order method stalls.

/** Returns y = M·x for a row-major n×n matrix M (arrays of numbers). */
function matVec(matrix, x, n) {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += matrix[i * n + j] * x[j];
    y[i] = sum;
  }
  return y;
}

/** Returns the product of two row-major n×n matrices. */
function matMul(left, right, n) {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const l = left[i * n + k];
      for (let j = 0; j < n; j++) out[i * n + j] += l * right[k * n + j];
    }
  }
  return out;
}

function norm(x) {
  let sum = 0;
  for (const value of x) sum += value * value;
  return Math.sqrt(sum);
}

/**
 * Closed form for L_in = ½θᵀAθ − bᵀθ and L_out = ½θᵀCθ − dᵀθ (A, C
 * symmetric, row-major n×n). With M = I − αA every H_j = A, so
 *   θ_r = M^r·θ + (I + M + … + M^{r−1})·α·b,
 *   g_F = C·θ_r − d,   g_E = M^r·g_F.
 * Returns g_F, g_E and θ_r as Float64Arrays.
 */
export function quadraticGradients({ a, b, c, d, n }, theta, innerSteps, innerRate) {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) m[i] = -innerRate * a[i];
  for (let i = 0; i < n; i++) m[i * n + i] += 1;
  let power = new Float64Array(n * n);
  let powerSum = new Float64Array(n * n);
  for (let i = 0; i < n; i++) power[i * n + i] = 1;
  for (let j = 0; j < innerSteps; j++) {
    for (let i = 0; i < n * n; i++) powerSum[i] += power[i];
    power = matMul(power, m, n);
  }
  const drift = matVec(powerSum, b.map((value) => innerRate * value), n);
  const thetaR = matVec(power, theta, n).map((value, i) => value + drift[i]);
  const firstOrder = matVec(c, thetaR, n).map((value, i) => value - d[i]);
  const exact = matVec(power, firstOrder, n);
  return { firstOrder, exact, thetaR };
}

/**
 * Runs the inner loop and the backward recursion in float64 for callbacks
 * of the form (Float64Array) => Float64Array and returns g_F, g_E and the
 * magnitudes a float32 run accumulates error against:
 *   forwardMagnitude = max_j (‖θ_j‖ + α‖∇L_in(θ_j)‖),
 *   backwardMagnitude = max_j (‖u_j‖ + α‖H_j·u_j‖),
 * with u_j the vector of the backward recursion before step j.
 */
export function recursionGradients({ innerGrad, innerHvp, outerGrad }, theta, innerSteps, innerRate) {
  const trajectory = [Float64Array.from(theta)];
  let forwardMagnitude = 0;
  for (let j = 0; j < innerSteps; j++) {
    const current = trajectory[j];
    const gradient = innerGrad(current, j);
    forwardMagnitude = Math.max(forwardMagnitude, norm(current) + innerRate * norm(gradient));
    trajectory.push(current.map((value, i) => value - innerRate * gradient[i]));
  }
  forwardMagnitude = Math.max(forwardMagnitude, norm(trajectory[innerSteps]));
  const firstOrder = outerGrad(trajectory[innerSteps]);
  let u = Float64Array.from(firstOrder);
  let backwardMagnitude = norm(u);
  for (let j = innerSteps - 1; j >= 0; j--) {
    const product = innerHvp(trajectory[j], u, j);
    backwardMagnitude = Math.max(backwardMagnitude, norm(u) + innerRate * norm(product));
    u = u.map((value, i) => value - innerRate * product[i]);
  }
  return { firstOrder, exact: u, forwardMagnitude, backwardMagnitude };
}

/**
 * The one-dimensional task loss of the example on which the first-order
 * method stalls, as defined in the UFOM authors' toy code (repository
 * xingyousong/ufom, toy/toy.py): with z = |θ − b/a|,
 *   f(θ) = a·z²/2                                        for z ≤ A,
 *   f(θ) = −a(z − A)³/6 + a(z − A)²/2 + aAz − aA²/2      for A < z ≤ A + 1,
 *   f(θ) = (a/2 + aA)·z − a/6 − aA²/2 − aA/2             for z > A + 1,
 * a quadratic that turns linear far from its minimum b/a, with continuous
 * first and second derivatives. Returns [f', f''] at θ.
 */
export function toyDerivatives(a, b, cutoff, theta) {
  const centre = b / a;
  const z = Math.abs(theta - centre);
  const sign = Math.sign(theta - centre);
  if (z <= cutoff) return [a * theta - b, a];
  if (z <= cutoff + 1) return [(-a * (z - cutoff) ** 2 / 2 + a * z) * sign, a * (1 + cutoff - z)];
  return [(a / 2 + a * cutoff) * sign, 0];
}

/** Returns [g_F, g_E] of one toy task at θ, in float64 (inner and outer loss are the same f). */
export function toyTaskGradients(a, b, cutoff, innerSteps, innerRate, theta) {
  const trajectory = [theta];
  for (let j = 0; j < innerSteps; j++) {
    trajectory.push(trajectory[j] - innerRate * toyDerivatives(a, b, cutoff, trajectory[j])[0]);
  }
  const firstOrder = toyDerivatives(a, b, cutoff, trajectory[innerSteps])[0];
  let exact = firstOrder;
  for (let j = innerSteps - 1; j >= 0; j--) exact *= 1 - innerRate * toyDerivatives(a, b, cutoff, trajectory[j])[1];
  return [firstOrder, exact];
}

/** Returns dM/dθ for M(θ) = mean over the tasks of f_τ(θ_r(τ)), the true derivative of the toy objective. */
export function toyTrueDerivative({ as, bs, cutoff, innerSteps, innerRate }, theta) {
  let sum = 0;
  for (let t = 0; t < as.length; t++) sum += toyTaskGradients(as[t], bs[t], cutoff, innerSteps, innerRate, theta)[1];
  return sum / as.length;
}

export { norm };
