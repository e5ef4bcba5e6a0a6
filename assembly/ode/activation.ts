// The elementwise parts of the ODEtoODE main flow x_{i+1} = x_i + h·f(W_i·x_i)
// and of its adjoint. The bindings form Z = X·W_iᵀ with f32_gemm (one row per
// batch item) and call these on the batch×dim arrays as flat arrays:
//
//   f32_ode_euler_step:        out = x + h·f(z)
//   f32_ode_activation_adjoint: out = h·g·f′(z)   (g = ∂L/∂x_{i+1}, out = ∂L/∂z)
//
// Activation codes (bindings/api/ode.ts maps the names):
//   0 identity  f(z) = z
//   1 tanh      f(z) = tanh z, f′ = 1 − tanh² z
//   2 relu      f(z) = max(z, 0), f′(z) = 1 for z > 0 and 0 otherwise (also at 0)
//   3 gelu      the tanh form f(z) = z·(1 + tanh(c·(z + k·z³)))/2 with
//               c = √(2/π), k = 0.044715. Its f′ ranges over about
//               [−0.129, 1.129] (minimum at z ≈ −1.42, maximum at z ≈ 1.42),
//               so gelu is the one activation with |f′| > 1 somewhere.
// tanh is AssemblyScript's Mathf.tanh (a port of musl's tanhf). The loops
// are scalar with no fused multiply-add, so every build returns the same
// bits. Sizes in elements; out may be x (or g) but must not partly overlap
// an input. No argument is checked.

// @ts-ignore: decorator
@inline const GELU_C: f32 = 0.7978845608028654; // √(2/π)
// @ts-ignore: decorator
@inline const GELU_K: f32 = 0.044715;

// @ts-ignore: decorator
@inline function activate(activation: i32, z: f32): f32 {
  if (activation == 1) return Mathf.tanh(z);
  if (activation == 2) return z > 0 ? z : 0;
  if (activation == 3) {
    const t = Mathf.tanh(GELU_C * (z + GELU_K * z * z * z));
    return <f32>0.5 * z * (<f32>1 + t);
  }
  return z;
}

// @ts-ignore: decorator
@inline function derivative(activation: i32, z: f32): f32 {
  if (activation == 1) {
    const t = Mathf.tanh(z);
    return <f32>1 - t * t;
  }
  if (activation == 2) return z > 0 ? <f32>1 : <f32>0;
  if (activation == 3) {
    const t = Mathf.tanh(GELU_C * (z + GELU_K * z * z * z));
    const inner: f32 = GELU_C * (<f32>1 + <f32>3 * GELU_K * z * z);
    return <f32>0.5 * (<f32>1 + t) + <f32>0.5 * z * (<f32>1 - t * t) * inner;
  }
  return 1;
}

/** out[i] = x[i] + h·f(z[i]) for the activation code (see the file header). */
export function f32_ode_euler_step(count: i32, activation: i32, h: f32, x: usize, z: usize, out: usize): void {
  for (let i = 0; i < count; i++) {
    const offset = <usize>i << 2;
    store<f32>(out + offset, load<f32>(x + offset) + h * activate(activation, load<f32>(z + offset)));
  }
}

/** out[i] = h·g[i]·f′(z[i]) for the activation code (see the file header). */
export function f32_ode_activation_adjoint(count: i32, activation: i32, h: f32, g: usize, z: usize, out: usize): void {
  for (let i = 0; i < count; i++) {
    const offset = <usize>i << 2;
    store<f32>(out + offset, h * load<f32>(g + offset) * derivative(activation, load<f32>(z + offset)));
  }
}
