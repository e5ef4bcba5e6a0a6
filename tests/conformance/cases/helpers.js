// Building blocks for case generators: input specs with their hashes,
// argument references and the encoding of expected values. Used only when
// scripts/conformance-corpus.mjs writes the corpus, never by the runners.

import { generateInput, hashInput } from "../inputs.js";

/** Adds the hash of the generated values to an input spec. */
function withHash(spec) {
  return { ...spec, hash: hashInput(generateInput(spec)) };
}

/** Uniform float32 values in [low, high). */
export function uniform(length, seed, low = -1, high = 1) {
  return withHash({ kind: "uniform", length, seed, low, high });
}

/** Uniform integers in [low, high], exact in float32 and in float32 sums of modest size. */
export function integers(length, seed, low, high) {
  return withHash({ kind: "integers", length, seed, low, high });
}

/** `length` copies of one value (NaN, ±Infinity and -0 included). */
export function fill(length, value) {
  return withHash({ kind: "fill", length, value: encodeNumber(value) });
}

/** Literal values (NaN, ±Infinity and -0 included). */
export function values(list) {
  return withHash({ kind: "values", values: Array.from(list, encodeNumber) });
}

/**
 * A rows×cols matrix that takes the elements in `region` ("lower",
 * "strictLower", "upper", "strictUpper" or "diagonal") from the spec
 * `inside` and the others from `outside`; both make rows·cols values.
 */
export function where(rows, cols, region, inside, outside) {
  const nested = ({ hash, ...spec }) => spec;
  return withHash({ kind: "where", rows, cols, region, inside: nested(inside), outside: nested(outside) });
}

/** A Uint8Array of the listed bytes, such as a key padding mask (1 masks a key out). */
export function bytes(list) {
  return withHash({ kind: "bytes", values: Array.from(list) });
}

/** Returns a reference to a named input, for use inside a case's arguments. */
export function input(name) {
  return { $input: name };
}

/** Encodes a bigint argument, which JSON cannot store, for the runner to rebuild. */
export function bigint(value) {
  return { $bigint: BigInt(value).toString() };
}

/** Generates the Float32Array of a spec, for computing expected values. */
export function materialize(spec) {
  return generateInput(spec);
}

/**
 * Encodes a float64 value for JSON: NaN, ±Infinity and -0 become strings
 * because JSON has no literal for them (JSON.stringify writes -0 as 0).
 */
export function encodeNumber(x) {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Object.is(x, -0)) return "-0";
  return x;
}

/** Encodes expected values for an "exact" check; each must be a float32 value. */
export function exactValues(list) {
  return Array.from(list, (x) => {
    if (!Number.isNaN(x) && Math.fround(x) !== x) {
      throw new RangeError(`exact expected value ${x} is not a float32 value`);
    }
    return encodeNumber(x);
  });
}

/** Encodes float64 expected values for a "dot", "ulp" or "relative" check. */
export function referenceValues(list) {
  return Array.from(list, encodeNumber);
}

/** Encodes per-element error bounds for a "bound" check, rounded up like magnitudes. */
export function boundValues(list) {
  return magnitudeValues(list);
}

/**
 * Rounds magnitudes up to 4 significant digits. Rounding up only widens a
 * bound (by less than 0.1 %), and the short form keeps the corpus small.
 */
export function magnitudeValues(list) {
  return Array.from(list, (x) => {
    if (x === 0) return 0;
    const rounded = Number(x.toPrecision(4));
    return rounded >= x ? rounded : Number((rounded + 10 ** (Math.floor(Math.log10(x)) - 3)).toPrecision(4));
  });
}
