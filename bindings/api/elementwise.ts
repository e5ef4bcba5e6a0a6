// exp, sin and cos (and expFast, the faster exp of the feature maps) applied to every element of a Float32Array. These are
// internal ops (see bindings/internal.ts): the random-feature maps and the
// accuracy tests use them, and they are not on the public Favor type.

import { requireFitsInMemory, requireFloat32Array, requireFloat32Length, requireNoOverlap } from "../validate.js";

/** The elementwise functions with a kernel. */
export type ElementwiseFunction = "exp" | "expFast" | "sin" | "cos";

/** A validated elementwise call. */
export interface ElementwisePlan {
  fn: ElementwiseFunction;
  x: Float32Array;
  out: Float32Array;
}

/** Validates an elementwise call; out may be x itself (in place) but must not partly overlap it. */
export function planElementwise(fn: ElementwiseFunction, x: unknown, out?: unknown): ElementwisePlan {
  const op = fn;
  const arrayX = requireFloat32Array(op, "x", x);
  requireFitsInMemory(op, arrayX.length, `x (${arrayX.length} float32 values)`);
  let arrayOut: Float32Array;
  if (out === undefined) {
    arrayOut = new Float32Array(arrayX.length);
  } else {
    arrayOut = requireFloat32Length(op, "out", out, arrayX.length, "one output per element of x");
    const sameView = arrayOut.buffer === arrayX.buffer && arrayOut.byteOffset === arrayX.byteOffset;
    if (!sameView) requireNoOverlap(op, "out", arrayOut, "x", arrayX);
  }
  return { fn, x: arrayX, out: arrayOut };
}
