// Check kinds of the conformance corpus: how one output of a case is
// compared. Plain JavaScript with no runtime APIs, shared by every runner
// through runner.js. docs/RUNTIMES.md describes the kinds and the tolerance
// table they read.
//
// Element checks compare the output's elements one by one with `expected`:
//   exact     same float32 bits (any NaN matches NaN).
//   dot       |actual − expected| ≤ (factor·terms + extra)·eps·magnitude[i] + absolute.
//   ulp       |actual − expected| ≤ ulps·ulp(expected[i]) + absolute.
//   relative  |actual − expected| ≤ (factor·terms + extra + condition[i])·eps·magnitude[i] + absolute,
//             where magnitude is a list, one number for all elements, or
//             "expected" for |expected[i]|, and condition (default 0) is a
//             per-element amplification of the input rounding.
//   sign      Math.sign(actual) equals Math.sign(expected) (expected nonzero).
//   bound     |actual − expected| ≤ factor·bound[i] + absolute, where bound
//             lists the per-element error bound that the float64 reference
//             derived for the float32 kernel (features, attention, kernels).
// In dot, ulp, relative and bound checks an expected NaN needs a NaN and an
// expected ±Infinity needs the same infinity.
//
// Property checks test a relation instead of values, for results that are
// defined only up to a convention or only within a bound:
//   orthonormal  ‖XᵀX − I‖_F (columns) or ‖XXᵀ − I‖_F (rows) ≤ (factor·terms + extra)·eps + absolute,
//                with X divided by `norm` first when the check gives one (rows of norm √dim).
//   product      ‖X·Y − T‖_F ≤ (factor·terms + extra)·eps·magnitude + absolute.
//   triangular   every element outside the upper (or lower) triangle is ±0.
// All residuals are computed in float64 from the float32 outputs.

/** Check kinds that compare elements with `expected`. */
const ELEMENT_KINDS = new Set(["exact", "dot", "ulp", "relative", "sign", "bound"]);

/** Check kinds that need no rule in the tolerance table. */
export const RULELESS_KINDS = new Set(["exact", "sign", "triangular"]);

const bitsScratch = new Float32Array(2);
const bitsView = new Uint32Array(bitsScratch.buffer);

/** Returns true when a and b round to the same float32 bit pattern. */
export function sameFloat32Bits(a, b) {
  bitsScratch[0] = a;
  bitsScratch[1] = b;
  return bitsView[0] === bitsView[1];
}

/** Returns the spacing of float32 values at |x| (2^-149 for subnormals and zero). */
export function ulpOfFloat32(x) {
  const magnitude = Math.abs(x);
  if (!(magnitude >= 2 ** -126)) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(magnitude)) - 23);
}

/** Decodes a corpus number: NaN, ±Infinity and -0 are stored as strings. */
export function decodeNumber(value) {
  if (typeof value === "number") return value;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (value === "-0") return -0;
  throw new Error(`corpus number must be a number, "NaN", "Infinity", "-Infinity" or "-0", got ${JSON.stringify(value)}`);
}

/** Picks the array a source names: "return", "return.FIELD" or "input.NAME". */
export function selectArray(from, returned, inputs) {
  if (from === "return") return returned;
  if (from.startsWith("return.")) return returned?.[from.slice("return.".length)];
  if (from.startsWith("input.")) return inputs[from.slice("input.".length)];
  throw new Error(`source ${JSON.stringify(from)} is not "return", "return.FIELD" or "input.NAME"`);
}

/** Returns magnitude i of a relative check: a list entry, a shared number, or |expected|. */
function relativeMagnitude(check, want, i) {
  if (check.magnitude === undefined) return 1;
  if (check.magnitude === "expected") return Math.abs(want);
  if (typeof check.magnitude === "number") return check.magnitude;
  return check.magnitude[i];
}

/** Returns the largest allowed |actual − expected| for element i of a dot, ulp, relative or bound check. */
function elementBound(check, rule, eps, want, i) {
  const absolute = rule.absolute ?? 0;
  switch (check.kind) {
    case "dot":
      return (rule.factor * check.terms + rule.extra) * eps * check.magnitude[i] + absolute;
    case "ulp":
      return rule.ulps * ulpOfFloat32(want) + absolute;
    case "relative": {
      const condition = check.condition === undefined ? 0 : check.condition[i];
      return (rule.factor * check.terms + rule.extra + condition) * eps * relativeMagnitude(check, want, i) + absolute;
    }
    case "bound":
      return rule.factor * check.bound[i] + absolute;
    default:
      throw new Error(`unknown check kind ${JSON.stringify(check.kind)}`);
  }
}

/** Formats a number for a message, keeping the sign of -0. */
function show(x) {
  return Object.is(x, -0) ? "-0" : String(x);
}

/** Compares element i; returns null when it passes, else a message. */
function compareElement(label, check, rule, eps, got, want, i) {
  if (check.kind === "sign") {
    if (want === 0 || Number.isNaN(want)) throw new Error(`${label}: a sign check needs a nonzero expected value, got ${want}`);
    return Math.sign(got) === Math.sign(want) ? null : `${label} is ${show(got)}, expected the sign of ${want}`;
  }
  if (Number.isNaN(want)) return Number.isNaN(got) ? null : `${label} is ${show(got)}, expected NaN`;
  if (check.kind === "exact") return sameFloat32Bits(got, want) ? null : `${label} is ${show(got)}, expected exactly ${show(want)}`;
  if (!Number.isFinite(want)) return got === want ? null : `${label} is ${show(got)}, expected ${want}`;
  const bound = elementBound(check, rule, eps, want, i);
  const error = Math.abs(got - want);
  return error <= bound ? null : `${label} is ${show(got)}, expected ${show(want)} within ${bound} (error ${error})`;
}

/** Returns ‖XᵀX − I‖_F for the columns of a rows×cols X, or ‖XXᵀ − I‖_F for its rows. */
function orthonormalityError(x, rows, cols, axis, norm = 1) {
  const byRows = axis === "rows";
  const count = byRows ? rows : cols;
  const length = byRows ? cols : rows;
  const at = (vector, p) => (byRows ? x[vector * cols + p] : x[p * cols + vector]);
  let sum = 0;
  for (let u = 0; u < count; u++) {
    for (let v = 0; v < count; v++) {
      let dot = 0;
      for (let p = 0; p < length; p++) dot += at(u, p) * at(v, p);
      dot /= norm * norm;
      const entry = dot - (u === v ? 1 : 0);
      sum += entry * entry;
    }
  }
  return Math.sqrt(sum);
}

/** Returns ‖X·Y − T‖_F for X rows×inner, Y inner×cols and T rows×cols. */
function productError(x, y, target, rows, inner, cols) {
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let dot = 0;
      for (let p = 0; p < inner; p++) dot += x[i * inner + p] * y[p * cols + j];
      const entry = dot - target[i * cols + j];
      sum += entry * entry;
    }
  }
  return Math.sqrt(sum);
}

function requireLength(label, array, length, what) {
  if (!(array instanceof Float32Array)) return `${label} is not a Float32Array`;
  if (array.length !== length) return `${label} has length ${array.length}, expected ${length} (${what})`;
  return null;
}

/** Runs a property check on the whole output; returns null when it passes, else a message. */
function compareProperty(name, actual, output, context) {
  const { check } = output;
  const { rule, eps } = context;
  const label = `output ${name} (${output.from})`;
  const { rows, cols } = check;
  switch (check.kind) {
    case "orthonormal": {
      const problem = requireLength(label, actual, rows * cols, `${rows}×${cols}`);
      if (problem !== null) return problem;
      const axis = check.axis ?? "columns";
      if (axis !== "columns" && axis !== "rows") throw new Error(`orthonormal axis must be "columns" or "rows", got ${JSON.stringify(axis)}`);
      const error = orthonormalityError(actual, rows, cols, axis, check.norm ?? 1);
      const bound = (rule.factor * check.terms + rule.extra) * eps + (rule.absolute ?? 0);
      const formula = axis === "rows" ? "‖XXᵀ − I‖_F" : "‖XᵀX − I‖_F";
      return error <= bound ? null : `output ${name}: ${formula} with X = ${output.from} is ${error}, above ${bound}`;
    }
    case "product": {
      const { inner } = check;
      const right = selectArray(check.right, context.returned, context.inputs);
      const target = selectArray(check.target, context.returned, context.inputs);
      const problem = requireLength(label, actual, rows * inner, `${rows}×${inner}`) ??
        requireLength(`${check.right}`, right, inner * cols, `${inner}×${cols}`) ??
        requireLength(`${check.target}`, target, rows * cols, `${rows}×${cols}`);
      if (problem !== null) return problem;
      const error = productError(actual, right, target, rows, inner, cols);
      const bound = (rule.factor * check.terms + rule.extra) * eps * check.magnitude + (rule.absolute ?? 0);
      return error <= bound
        ? null
        : `output ${name}: ‖X·Y − T‖_F with X = ${output.from}, Y = ${check.right}, T = ${check.target} is ${error}, above ${bound}`;
    }
    case "triangular": {
      const problem = requireLength(label, actual, rows * cols, `${rows}×${cols}`);
      if (problem !== null) return problem;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          const outside = check.lower ? j > i : j < i;
          if (outside && actual[i * cols + j] !== 0) {
            return `${label}[${i}][${j}] is ${actual[i * cols + j]}, expected 0 outside the ${check.lower ? "lower" : "upper"} triangle`;
          }
        }
      }
      return null;
    }
    default:
      throw new Error(`unknown check kind ${JSON.stringify(check.kind)}`);
  }
}

/**
 * Compares one output of a case. `context` contains the returned value, the
 * generated inputs, the tolerance rule for this op and check kind, and eps.
 * Returns null when the output passes, else a message naming the first
 * failing element or property.
 */
export function compareOutput(name, output, context) {
  const actual = selectArray(output.from, context.returned, context.inputs);
  if (!ELEMENT_KINDS.has(output.check.kind)) return compareProperty(name, actual, output, context);

  const label = `output ${name} (${output.from})`;
  if (!(actual instanceof Float32Array)) return `${label} is not a Float32Array`;
  const indices = output.indices;
  const expected = output.expected;
  const count = indices === undefined ? actual.length : indices.length;
  if (count !== expected.length) {
    const what = indices === undefined ? "length" : "number of selected elements";
    return `${label} has ${what} ${count}, expected ${expected.length}`;
  }
  for (let i = 0; i < expected.length; i++) {
    const index = indices === undefined ? i : indices[i];
    if (!(index < actual.length)) return `${label} has length ${actual.length}, too short for element ${index}`;
    const problem = compareElement(`${label}[${index}]`, output.check, context.rule, context.eps,
      actual[index], decodeNumber(expected[i]), i);
    if (problem !== null) return problem;
  }
  return null;
}
