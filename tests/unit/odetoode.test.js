// odeToOde.forward and odeToOde.backward against the float64 reference
// (tests/reference/ode.js) on every WASM build: the flows themselves, the
// orthogonality of W after 10⁴ steps, the Jacobian's singular values,
// gradients against central finite differences, checkpointed against
// stored-trajectory gradients, memory, and the argument checks.
// u = 2⁻²⁴ is the float32 unit roundoff; docs/odetoode.md derives the
// bounds in more detail.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFavor } from "../../dist/index.js";
import { jacobianReference, odeForwardReference, orthogonalityError, singularValues } from "../reference/ode.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { fillNewBuffersWithNaN } from "../helpers/memory.js";
import { F32_EPS, assertSameBits, seededFloats } from "../helpers/numeric.js";

const GENERATORS = ["constant", "time-varying", "isospectral"];
const STEPPERS = ["cayley", "exp"];
const ACTIVATIONS = ["tanh", "relu", "gelu", "identity"];
/** max |f′| over the activations (gelu's 1.129); the others have 1. */
const LIPSCHITZ = 1.13;

/** Returns a random orthogonal dim×dim matrix, the Q of the library's QR. */
async function orthogonal(favor, dim, seed) {
  return favor.sync.qr(seededFloats(dim * dim, seed), { rows: dim, cols: dim }).q;
}

function paramsLength(generator, dim, pieces) {
  return generator === "isospectral" ? 2 * dim * dim : (generator === "constant" ? 1 : pieces) * dim * dim;
}

function maxAbs(values) {
  let largest = 0;
  for (const v of values) largest = Math.max(largest, Math.abs(v));
  return largest;
}

function frobenius(values) {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

/** Builds the problem of the gradient and forward checks: batch 3, dim 4, 7 steps of 0.1. */
async function smallProblem(favor, generator, stepper, activation, overrides = {}) {
  const batch = 3;
  const dim = 4;
  const steps = overrides.steps ?? 7;
  const pieces = generator === "time-varying" ? (overrides.pieces ?? 3) : undefined;
  const scale = overrides.paramScale ?? 1;
  return {
    x0: seededFloats(batch * dim, 11, 1.5),
    gradXT: seededFloats(batch * dim, 13),
    options: {
      batch, dim, steps, h: overrides.h ?? 0.1, w0: await orthogonal(favor, dim, 21),
      generator, params: seededFloats(paramsLength(generator, dim, pieces), 5, scale), pieces, activation, stepper,
    },
  };
}

// Forward tolerance. Per step, Z = X·Wᵀ rounds each d-term dot product
// (γ_d·|x|·|w| ≤ d·u·‖x‖ for rows of an orthogonal W), x + h·f(z) adds one
// rounding, and W_i itself drifts from the exact flow by at most 4·i·d·u
// (the orthogonality bound below). An error e in x grows by at most
// (1 + h·L) per step with L = max|f′|, so after N steps
//   |Δx_N| ≤ e^(L·T)·N·(u + h·L·(d·u + 4·N·d·u))·max|x|.
// The check uses 4 times that, and 4·N·d·u·max|W| for W_N.
function forwardTolerance({ steps, h, dim }, scale) {
  const t = steps * h;
  return 4 * Math.exp(LIPSCHITZ * t) * steps * F32_EPS * (1 + h * LIPSCHITZ * (dim + 4 * steps * dim)) * scale;
}

// Finite differences of the float64 reference, shared by the builds.
const fdCache = new Map();

/** Central differences with step 1e-5 of L = ⟨gradXT, x_N⟩ with respect to x0, w0 and params, in float64. */
function finiteDifferences(key, x0, gradXT, options) {
  if (fdCache.has(key)) return fdCache.get(key);
  const loss = (inputs) => {
    const { xT } = odeForwardReference(inputs.x0, { ...options, w0: inputs.w0, params: inputs.params });
    let sum = 0;
    for (let i = 0; i < xT.length; i++) sum += gradXT[i] * xT[i];
    return sum;
  };
  const base = { x0: Float64Array.from(x0), w0: Float64Array.from(options.w0), params: Float64Array.from(options.params) };
  const eps = 1e-5;
  const result = {};
  for (const name of ["x0", "w0", "params"]) {
    result[name] = new Float64Array(base[name].length);
    for (let i = 0; i < base[name].length; i++) {
      const plus = { ...base, [name]: base[name].slice() };
      const minus = { ...base, [name]: base[name].slice() };
      plus[name][i] += eps;
      minus[name][i] -= eps;
      result[name][i] = (loss(plus) - loss(minus)) / (2 * eps);
    }
  }
  fdCache.set(key, result);
  return result;
}

/** Returns ∂x_N/∂x_0 of one sample, row k from a backward pass with gradXT = e_k. */
function libraryJacobian(favor, x0, options) {
  const d = options.dim;
  const jacobian = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const unit = new Float32Array(d);
    unit[k] = 1;
    const { dx0 } = favor.sync.odeToOde.backward(x0, unit, options);
    for (let j = 0; j < d; j++) jacobian[k * d + j] = dx0[j];
  }
  return jacobian;
}

for (const build of ALL_BUILDS) {
  describe(`odeToOde (${build})`, { skip: skipReason(build) }, () => {
    test("forward against the float64 reference", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      for (const generator of GENERATORS) {
        for (const stepper of STEPPERS) {
          for (const activation of ACTIVATIONS) {
            const { x0, options } = await smallProblem(favor, generator, stepper, activation);
            const copies = [x0.slice(), options.w0.slice(), options.params.slice()];
            const result = await favor.odeToOde.forward(x0, { ...options, returnTrajectory: true });
            const ref = odeForwardReference(x0, options);
            const context = `${generator} ${stepper} ${activation}`;
            const xBound = forwardTolerance(options, Math.max(1, ...ref.xs.map(maxAbs)));
            for (let i = 0; i <= options.steps; i++) {
              const row = result.trajectory.subarray(i * x0.length, (i + 1) * x0.length);
              for (let j = 0; j < x0.length; j++) {
                assert.ok(Math.abs(row[j] - ref.xs[i][j]) <= xBound, `${context}: x_${i}[${j}] = ${row[j]}, expected ${ref.xs[i][j]} ± ${xBound}`);
              }
            }
            assertSameBits(result.xT, result.trajectory.subarray(options.steps * x0.length), `${context}: xT is the last trajectory row`);
            const wBound = 4 * options.steps * options.dim * F32_EPS;
            for (let j = 0; j < result.wT.length; j++) {
              assert.ok(Math.abs(result.wT[j] - ref.wT[j]) <= wBound, `${context}: wT[${j}] = ${result.wT[j]}, expected ${ref.wT[j]}`);
            }
            assert.deepEqual([x0, options.w0, options.params], copies, `${context}: inputs changed`);
            assert.equal(result.trajectory.length, (options.steps + 1) * x0.length);
            assert.equal((await favor.odeToOde.forward(x0, options)).trajectory, undefined);
          }
        }
      }
    });

    // Orthogonality after 10⁴ steps. Each step forms W·Γ̂ with d-term dot
    // products of unit rows and columns (error ≤ d·u per entry), and Γ̂'s
    // own defect ‖Γ̂ᵀΓ̂ − I‖ is a few d·u (expm.test.js). So the defect grows
    // by about c·d·u per step. With the constant generator the same Γ̂
    // repeats, and the growth is linear rather than a random walk. The check uses
    // the linear bound ‖W_NᵀW_N − I‖_F ≤ ‖W_0ᵀW_0 − I‖_F + 4·N·d·u. The
    // rigorous worst case (2·d²·u plus Γ̂'s defect per step) is far looser.
    // Measured: at most 1.16·N·d·u (constant generator, d = 2 … 12,
    // h = 0.001 … 0.1), about 0.1·N·d·u for time-varying and isospectral.
    test("W stays orthogonal for 10⁴ steps", async () => {
      const favor = await favorFor(build);
      const steps = 10000;
      for (const dim of [3, 8]) {
        const w0 = await orthogonal(favor, dim, 31 + dim);
        const initial = orthogonalityError(w0, dim);
        for (const generator of GENERATORS) {
          for (const stepper of STEPPERS) {
            const pieces = generator === "time-varying" ? 50 : undefined;
            const { wT } = favor.sync.odeToOde.forward(seededFloats(2 * dim, 3), {
              batch: 2, dim, steps, h: 0.01, w0, generator, params: seededFloats(paramsLength(generator, dim, pieces), 7 + dim),
              pieces, activation: "tanh", stepper,
            });
            const defect = orthogonalityError(wT, dim);
            const bound = initial + 4 * steps * dim * F32_EPS;
            assert.ok(defect <= bound, `d=${dim} ${generator} ${stepper}: ‖WᵀW − I‖ = ${defect} > ${bound}`);
          }
        }
      }
    });

    // With W_i orthogonal and |f′| ≤ 1, each step's Jacobian
    // I + h·diag(f′(z))·W_i has singular values in [1 − h, 1 + h], so
    // ∂x_N/∂x_0 has them in [(1 − h)^N, (1 + h)^N]. The library's Jacobian
    // (rows from d backward passes) differs from the float64 forward-mode one
    // by the forward error above, at most 2·N·d·u·max|J| per entry here, and
    // by Weyl's inequality its singular values move by at most d times that.
    test("Jacobian singular values stay in [(1−h)^N, (1+h)^N]", async () => {
      const favor = await favorFor(build);
      const dim = 5;
      const q = await orthogonal(favor, dim, 77);
      for (const steps of [10, 100, 1000]) {
        const h = 1 / steps;
        const lower = (1 - h) ** steps;
        const upper = (1 + h) ** steps;
        for (const activation of ["tanh", "relu", "identity"]) {
          for (const generator of ["constant", "isospectral"]) {
            const options = {
              batch: 1, dim, steps, h, w0: q, generator, params: seededFloats(paramsLength(generator, dim), 3, 2),
              activation, stepper: steps === 100 ? "exp" : "cayley",
            };
            const x0 = seededFloats(dim, 9);
            const reference = jacobianReference(odeForwardReference(x0, options), options);
            const jacobian = libraryJacobian(favor, x0, options);
            const entryBound = 2 * steps * dim * F32_EPS * maxAbs(reference);
            for (let i = 0; i < jacobian.length; i++) {
              assert.ok(Math.abs(jacobian[i] - reference[i]) <= entryBound, `N=${steps} ${activation} ${generator}: J[${i}] = ${jacobian[i]}, expected ${reference[i]}`);
            }
            const context = `N=${steps} ${activation} ${generator}`;
            for (const sigma of singularValues(reference, dim)) {
              assert.ok(sigma >= lower, `${context}: float64 σ = ${sigma} below ${lower}`);
              assert.ok(sigma <= upper, `${context}: float64 σ = ${sigma} above ${upper}`);
            }
            for (const sigma of singularValues(jacobian, dim)) {
              const slack = dim * entryBound;
              assert.ok(sigma >= lower - slack, `${context}: σ = ${sigma} below ${lower} − ${slack}`);
              assert.ok(sigma <= upper + slack, `${context}: σ = ${sigma} above ${upper} + ${slack}`);
            }
          }
        }
      }
    });

    // The contrast: W_0 = 3·Q makes every W_i three times an orthogonal
    // matrix (the flow keeps WᵀW = 9·I), like unconstrained weights of norm
    // 3, and the singular values leave [e^(−T), e^T] (T = 1).
    test("Jacobian of weights scaled by 3 leaves [e^(−T), e^T]", async () => {
      const favor = await favorFor(build);
      const dim = 5;
      const w0 = (await orthogonal(favor, dim, 77)).map((v) => 3 * v);
      for (const steps of [10, 100, 1000]) {
        for (const activation of ["tanh", "identity"]) {
          const options = {
            batch: 1, dim, steps, h: 1 / steps, w0, generator: "constant", params: seededFloats(dim * dim, 3, 2), activation, stepper: "cayley",
          };
          const sigma = singularValues(libraryJacobian(favor, seededFloats(dim, 9), options), dim);
          const outside = sigma[0] < Math.exp(-1) || sigma[dim - 1] > Math.exp(1);
          assert.ok(outside, `N=${steps} ${activation}: σ in [${sigma[0]}, ${sigma[dim - 1]}] did not leave [e^-1, e]`);
        }
      }
    });

    // Gradients against central differences (step 1e-5) of the float64
    // reference forward: the difference quotient's error is about
    // 1e-10·|L‴| + 1e-16·|L|/1e-5, below 1e-9 here. The float32 backward
    // pass accumulates rounding like the forward pass, once more through
    // the adjoint, so each block (dx0, dw0, dparams) is checked to
    // 8·(N + 1)·(d + batch)·u·max|block| + 1e-8.
    test("gradients against finite differences", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      const cases = [];
      for (const generator of GENERATORS) {
        for (const stepper of STEPPERS) {
          for (const activation of ACTIVATIONS) cases.push({ generator, stepper, activation, overrides: {} });
        }
      }
      // One ψ per step, and steps long enough for expm to square (‖A‖₁ > θ_7).
      cases.push({ generator: "time-varying", stepper: "exp", activation: "tanh", overrides: { pieces: 7 } });
      cases.push({ generator: "constant", stepper: "exp", activation: "tanh", overrides: { h: 0.5, paramScale: 4, steps: 3 } });
      cases.push({ generator: "isospectral", stepper: "exp", activation: "gelu", overrides: { h: 0.5, paramScale: 2, steps: 3 } });
      for (const { generator, stepper, activation, overrides } of cases) {
        const { x0, gradXT, options } = await smallProblem(favor, generator, stepper, activation, overrides);
        const key = JSON.stringify({ generator, stepper, activation, overrides });
        const fd = finiteDifferences(key, x0, gradXT, options);
        const copies = [x0.slice(), gradXT.slice(), options.w0.slice(), options.params.slice()];
        const result = await favor.odeToOde.backward(x0, gradXT, { ...options, checkpointEvery: 3 });
        assert.deepEqual([x0, gradXT, options.w0, options.params], copies, `${key}: inputs changed`);
        for (const [name, grad] of [["x0", result.dx0], ["w0", result.dw0], ["params", result.dparams]]) {
          const expected = fd[name];
          const bound = 8 * (options.steps + 1) * (options.dim + options.batch) * F32_EPS * maxAbs(expected) + 1e-8;
          assert.equal(grad.length, expected.length);
          for (let i = 0; i < expected.length; i++) {
            assert.ok(Math.abs(grad[i] - expected[i]) <= bound, `${key}: d${name}[${i}] = ${grad[i]}, finite difference ${expected[i]} ± ${bound}`);
          }
        }
      }
    });

    // Checkpointed runs that recompute segments forward from stored x and W
    // run the same kernels on the same inputs as the stored trajectory, so
    // the gradients agree bit for bit. Reverse recovery W_i = W_{i+1}·Γ_iᵀ
    // rounds differently: the recovered W_i differs by the drift bound
    // 4·(N − i)·d·u, and the gradients by at most 4·N·d·u·max|block|
    // (measured 0.8·N·d·u for d = 2 … 12, N = 50 … 1000).
    test("checkpointed and stored-trajectory gradients agree", async () => {
      const favor = await favorFor(build);
      for (const generator of GENERATORS) {
        for (const stepper of STEPPERS) {
          const { x0, gradXT, options } = await smallProblem(favor, generator, stepper, "tanh", { steps: 23, pieces: 5 });
          const stored = favor.sync.odeToOde.backward(x0, gradXT, { ...options, storeTrajectory: true });
          for (const checkpointEvery of [1, 4, 5, 23]) {
            const exact = favor.sync.odeToOde.backward(x0, gradXT, { ...options, checkpointEvery, wRecovery: "checkpoints" });
            for (const name of ["dx0", "dw0", "dparams"]) {
              assertSameBits(exact[name], stored[name], `${generator} ${stepper} checkpointEvery ${checkpointEvery}: ${name}`);
            }
          }
        }
      }
      for (const generator of ["constant", "time-varying"]) {
        for (const stepper of STEPPERS) {
          const steps = 400;
          const { x0, gradXT, options } = await smallProblem(favor, generator, stepper, "tanh", { steps, h: 0.005, pieces: 10 });
          const stored = favor.sync.odeToOde.backward(x0, gradXT, { ...options, storeTrajectory: true });
          const recovered = favor.sync.odeToOde.backward(x0, gradXT, options);
          for (const name of ["dx0", "dw0", "dparams"]) {
            const bound = 4 * steps * options.dim * F32_EPS * maxAbs(stored[name]);
            for (let i = 0; i < stored[name].length; i++) {
              assert.ok(Math.abs(recovered[name][i] - stored[name][i]) <= bound,
                `${generator} ${stepper}: reverse-recovered ${name}[${i}] = ${recovered[name][i]}, stored ${stored[name][i]} ± ${bound}`);
            }
          }
        }
      }
    });

    // gradNorms[i] = ‖∂L/∂x_i‖_F. For the constant generator the tail of the
    // flow from step i is itself a flow from (x_i, W_i), so a backward pass
    // over the last N − i steps from there gives the same ∂L/∂x_i.
    test("gradient norms across depth", async () => {
      const favor = await favorFor(build);
      const { x0, gradXT, options } = await smallProblem(favor, "constant", "cayley", "tanh", { steps: 12 });
      const { gradNorms, dx0 } = favor.sync.odeToOde.backward(x0, gradXT, { ...options, returnGradNorms: true });
      assert.equal(gradNorms.length, options.steps + 1);
      assert.equal(gradNorms[options.steps], Math.fround(frobenius(gradXT)));
      assert.equal(gradNorms[0], Math.fround(frobenius(dx0)));
      const { trajectory } = favor.sync.odeToOde.forward(x0, { ...options, returnTrajectory: true });
      for (const i of [3, 8]) {
        const { wT: wi } = favor.sync.odeToOde.forward(x0, { ...options, steps: i });
        const xi = trajectory.slice(i * x0.length, (i + 1) * x0.length);
        const tail = favor.sync.odeToOde.backward(xi, gradXT, { ...options, steps: options.steps - i, w0: wi });
        const expected = frobenius(tail.dx0);
        const bound = 8 * (options.steps + 1) * (options.dim + options.batch) * F32_EPS * expected;
        assert.ok(Math.abs(gradNorms[i] - expected) <= bound, `gradNorms[${i}] = ${gradNorms[i]}, expected ${expected}`);
      }
    });

    // Memory: with the constant generator, checkpointed storage is about
    // (N/C)·batch·d + C·(batch·d + 2·d²) values against N·(batch·d + 2·d²)
    // for the stored trajectory (x_i, W_i and Γ_i per step). Fresh
    // instances start from the same memory size, so the growth compares
    // the two strategies.
    test("checkpointing keeps memory below the stored trajectory's", async () => {
      const problem = {
        batch: 16, dim: 8, steps: 16384, h: 1 / 16384, generator: "constant", activation: "tanh", stepper: "cayley",
      };
      const x0 = seededFloats(problem.batch * problem.dim, 1);
      const gradXT = seededFloats(problem.batch * problem.dim, 2);
      const measure = async (extra) => {
        const favor = await createFavor({ build });
        const options = { ...problem, w0: await orthogonal(favor, problem.dim, 5), params: seededFloats(64, 6), ...extra };
        const before = favor.info.memoryBytes;
        favor.sync.odeToOde.backward(x0, gradXT, options);
        return favor.info.memoryBytes - before;
      };
      const perStep = (problem.batch * problem.dim + 2 * problem.dim * problem.dim) * 4;
      const checkpointed = await measure({});
      const stored = await measure({ storeTrajectory: true });
      assert.ok(stored >= problem.steps * perStep, `stored trajectory grew memory by ${stored} bytes, less than ${problem.steps * perStep}`);
      // C = √N = 128: 128 checkpoints of 512 bytes and segments of 128 steps,
      // under 0.2 MB, against 16.8 MB stored.
      assert.ok(checkpointed <= stored / 8, `checkpointed run grew memory by ${checkpointed} bytes (stored: ${stored})`);
    });
  });
}

describe("odeToOde argument checks", () => {
  const base = () => ({
    batch: 1, dim: 2, steps: 3, h: 0.1, w0: new Float32Array([1, 0, 0, 1]), generator: "constant",
    params: new Float32Array(4), activation: "tanh", stepper: "cayley",
  });
  const x0 = new Float32Array(2);
  const forwardCases = [
    ["a plain Array x0", [[0, 0], base()], TypeError, /^odeToOde\.forward: x0 must be a Float32Array, got an Array of length 2$/],
    ["a wrong x0 length", [new Float32Array(3), base()], RangeError, /^odeToOde\.forward: x0 has length 3, expected 2 \(batch 1 × dim 2\)$/],
    ["a NaN in x0", [new Float32Array([0, NaN]), base()], RangeError, /^odeToOde\.forward: x0\[1\] is NaN; every entry must be finite$/],
    ["steps of 0", [x0, { ...base(), steps: 0 }], RangeError, /^odeToOde\.forward: steps must be an integer >= 1, got 0$/],
    ["a zero h", [x0, { ...base(), h: 0 }], RangeError, /^odeToOde\.forward: h must be positive, got 0$/],
    ["an infinite h", [x0, { ...base(), h: Infinity }], RangeError, /^odeToOde\.forward: h must be finite, got Infinity$/],
    ["a missing w0", [x0, { ...base(), w0: undefined }], TypeError, /^odeToOde\.forward: w0 must be a Float32Array, got undefined$/],
    ["a wrong w0 length", [x0, { ...base(), w0: new Float32Array(3) }], RangeError, /^odeToOde\.forward: w0 has length 3, expected 4 \(dim 2 × dim 2\)$/],
    ["an unknown generator", [x0, { ...base(), generator: "free" }], RangeError, /^odeToOde\.forward: generator must be one of "constant", "time-varying", "isospectral", got "free"$/],
    ["an unknown activation", [x0, { ...base(), activation: "sigmoid" }], RangeError, /^odeToOde\.forward: activation must be one of "tanh", "relu", "gelu", "identity", got "sigmoid"$/],
    ["an unknown stepper", [x0, { ...base(), stepper: "euler" }], RangeError, /^odeToOde\.forward: stepper must be one of "cayley", "exp", got "euler"$/],
    ["constant params of the wrong length", [x0, { ...base(), params: new Float32Array(8) }], RangeError, /^odeToOde\.forward: params has length 8, expected 4 \(one ψ of dim 2 × dim 2 for the constant generator\)$/],
    ["time-varying params without pieces", [x0, { ...base(), generator: "time-varying" }], RangeError, /^odeToOde\.forward: params has length 4, expected 12 \(pieces 3 × dim 2 × dim 2 for the time-varying generator\)$/],
    ["isospectral params of the wrong length", [x0, { ...base(), generator: "isospectral" }], RangeError, /^odeToOde\.forward: params has length 4, expected 8 \(P_N and P_Λ, 2 × dim 2 × dim 2, for the isospectral generator\)$/],
    ["more pieces than steps", [x0, { ...base(), generator: "time-varying", pieces: 4, params: new Float32Array(16) }], RangeError, /^odeToOde\.forward: pieces is 4, but a schedule cannot have more pieces than the 3 steps$/],
    ["pieces for the constant generator", [x0, { ...base(), pieces: 1 }], RangeError, /^odeToOde\.forward: pieces is 1, but only the "time-varying" generator has pieces \(generator is "constant"\)$/],
    ["an infinite param", [x0, { ...base(), params: new Float32Array([0, -Infinity, 0, 0]) }], RangeError, /^odeToOde\.forward: params\[1\] is -Infinity; every entry must be finite$/],
    ["a string returnTrajectory", [x0, { ...base(), returnTrajectory: "yes" }], TypeError, /^odeToOde\.forward: returnTrajectory must be a boolean, got "yes"$/],
    ["missing options", [x0], TypeError, /^odeToOde\.forward: options must be an object, got undefined$/],
  ];
  for (const [name, args, type, pattern] of forwardCases) {
    test(`forward rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.odeToOde.forward(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.odeToOde.forward(...args), type);
    });
  }

  const grad = new Float32Array(2);
  const backwardCases = [
    ["a wrong gradXT length", [x0, new Float32Array(4), base()], RangeError, /^odeToOde\.backward: gradXT has length 4, expected 2 \(batch 1 × dim 2, like x_T\)$/],
    ["a NaN gradXT", [x0, new Float32Array([NaN, 0]), base()], RangeError, /^odeToOde\.backward: gradXT\[0\] is NaN; every entry must be finite$/],
    ["checkpointEvery of 0", [x0, grad, { ...base(), checkpointEvery: 0 }], RangeError, /^odeToOde\.backward: checkpointEvery must be an integer >= 1, got 0$/],
    ["checkpointEvery above steps", [x0, grad, { ...base(), checkpointEvery: 4 }], RangeError, /^odeToOde\.backward: checkpointEvery is 4, more than the 3 steps$/],
    ["checkpointEvery with storeTrajectory", [x0, grad, { ...base(), checkpointEvery: 2, storeTrajectory: true }], RangeError, /^odeToOde\.backward: checkpointEvery and wRecovery apply to checkpointed runs; leave them out with storeTrajectory: true$/],
    ["an unknown wRecovery", [x0, grad, { ...base(), wRecovery: "none" }], RangeError, /^odeToOde\.backward: wRecovery must be one of "reverse", "checkpoints", got "none"$/],
    ["reverse recovery for isospectral", [x0, grad, { ...base(), generator: "isospectral", params: new Float32Array(8), wRecovery: "reverse" }], RangeError, /^odeToOde\.backward: wRecovery "reverse" needs Γ_i before W_i is known, but the isospectral generator's Γ_i depends on W_i; use "checkpoints"$/],
    ["returnTrajectory", [x0, grad, { ...base(), returnTrajectory: true }], RangeError, /^odeToOde\.backward: returnTrajectory is a forward option; backward returns gradients \(use returnGradNorms for per-step norms\)$/],
    ["a numeric storeTrajectory", [x0, grad, { ...base(), storeTrajectory: 1 }], TypeError, /^odeToOde\.backward: storeTrajectory must be a boolean, got 1$/],
    ["a missing gradXT", [x0, undefined, base()], TypeError, /^odeToOde\.backward: gradXT must be a Float32Array, got undefined$/],
    ["sizes past 4 GiB", [new Float32Array(0), new Float32Array(0), { ...base(), batch: 1, dim: 40000 }], RangeError, /^odeToOde\.backward: x, w, params and workspace \(\d+ float32 values\) need \d+ bytes, more than the 4 GiB/],
  ];
  for (const [name, args, type, pattern] of backwardCases) {
    test(`backward rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.odeToOde.backward(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.odeToOde.backward(...args), type);
    });
  }
});
