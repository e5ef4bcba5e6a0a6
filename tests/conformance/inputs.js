// Input arrays of the conformance corpus. The corpus stores how to make
// each input (a small spec), not its values, and every runtime rebuilds the
// values with this file, so Node, Deno, Chromium and workerd feed the ops
// identical bits. Plain JavaScript with no imports, so it runs anywhere.
//
// Spec kinds (all lengths in elements):
//   { "kind": "uniform",  "length": n, "seed": s, "low": a, "high": b }
//       float32 values in [a, b): a + u·(b − a) rounded to float32, where u
//       is the next mulberry32 output divided by 2^32.
//   { "kind": "integers", "length": n, "seed": s, "low": a, "high": b }
//       integers in [a, b] from the same generator: a + floor(u·(b − a + 1)).
//   { "kind": "fill",     "length": n, "value": x }
//       n copies of x; x may be the string "NaN", "Infinity", "-Infinity" or "-0".
//   { "kind": "values",   "values": [x, ...] }
//       the listed values, rounded to float32, with the same strings allowed.
//   { "kind": "where", "rows": r, "cols": c, "region": name, "inside": spec, "outside": spec }
//       a row-major r×c matrix whose element (i, j) comes from `inside` where
//       it lies in the region and from `outside` elsewhere. Both nested specs
//       (without hashes) make r·c values, and may be "where" specs in turn.
//       Regions: "lower" (j ≤ i), "strictLower" (j < i), "upper" (j ≥ i),
//       "strictUpper" (j > i) and "diagonal" (j = i). Triangular matrices
//       with NaN in the unread triangle and causal masks use it.
// Every spec also carries "hash", the FNV-1a hash of the generated float32
// bit patterns, so a runtime whose arithmetic differs reports that instead
// of a numeric mismatch further down.

/** Names the generator version; a corpus made with another version is rejected. */
export const INPUT_GENERATOR = "mulberry32/1";

/** Returns a function that yields the next mulberry32 output as a uint32. */
function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function parseNumber(value) {
  if (typeof value === "number") return value;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (value === "-0") return -0;
  throw new TypeError(`conformance input: value must be a number, "NaN", "Infinity", "-Infinity" or "-0", got ${JSON.stringify(value)}`);
}

const REGIONS = {
  lower: (i, j) => j <= i,
  strictLower: (i, j) => j < i,
  upper: (i, j) => j >= i,
  strictUpper: (i, j) => j > i,
  diagonal: (i, j) => j === i,
};

function generateWhere({ rows, cols, region, inside, outside }) {
  const contains = REGIONS[region];
  if (contains === undefined) {
    throw new TypeError(`conformance input: unknown region ${JSON.stringify(region)}; use one of ${Object.keys(REGIONS).join(", ")}`);
  }
  const insideValues = generateInput(inside);
  const outsideValues = generateInput(outside);
  for (const [name, values] of [["inside", insideValues], ["outside", outsideValues]]) {
    if (values.length !== rows * cols) {
      throw new RangeError(`conformance input: "where" needs ${rows * cols} values from ${name}, got ${values.length}`);
    }
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = contains(i, j) ? insideValues[i * cols + j] : outsideValues[i * cols + j];
  }
  return out;
}

/** Builds the Float32Array that `spec` describes (without checking its hash). */
export function generateInput(spec) {
  switch (spec.kind) {
    case "uniform": {
      const next = mulberry32(spec.seed);
      const out = new Float32Array(spec.length);
      for (let i = 0; i < out.length; i++) out[i] = spec.low + (next() / 4294967296) * (spec.high - spec.low);
      return out;
    }
    case "integers": {
      const next = mulberry32(spec.seed);
      const out = new Float32Array(spec.length);
      const span = spec.high - spec.low + 1;
      for (let i = 0; i < out.length; i++) out[i] = spec.low + Math.floor((next() / 4294967296) * span);
      return out;
    }
    case "fill":
      return new Float32Array(spec.length).fill(parseNumber(spec.value));
    case "values":
      return Float32Array.from(spec.values, parseNumber);
    case "where":
      return generateWhere(spec);
    default:
      throw new TypeError(`conformance input: unknown kind ${JSON.stringify(spec.kind)}`);
  }
}

/** Returns the 32-bit FNV-1a hash of the array's float32 bit patterns (little-endian bytes) as 8 hex digits. */
export function hashFloat32(array) {
  const bits = new Uint32Array(array.buffer, array.byteOffset, array.length);
  let hash = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) {
    const word = bits[i];
    for (let shift = 0; shift < 32; shift += 8) {
      hash ^= (word >>> shift) & 0xff;
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
  }
  return hash.toString(16).padStart(8, "0");
}
