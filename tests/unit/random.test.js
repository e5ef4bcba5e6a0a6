// random.uniform and random.normal: the Philox4x32-10 generator against the
// published known-answer vectors, the WASM streams against the JavaScript
// reference (tests/reference/philox.js), bit identity across builds, the
// prefix and offset properties, a golden list, and the argument checks.
// Statistical properties are in random-stats.test.js.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NORMAL_TAG, UNIFORM_TAG, normalReference, philox4x32_10, seedToKey, uniformReference } from "../reference/philox.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertSameBits } from "../helpers/numeric.js";

const TWO_POW_64 = 2n ** 64n;

/** Returns the raw float32 bit patterns of `values` as hex strings. */
function hexBits(values) {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length), (bits) => `0x${bits.toString(16).padStart(8, "0")}`);
}

function concat(...parts) {
  const out = new Float32Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Returns the spacing of float32 values at |x|: 2^(exponent − 23), or 2^-149 for subnormals. */
function ulp32(x) {
  const magnitude = Math.abs(x);
  if (magnitude < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(magnitude)) - 23);
}

describe("Philox4x32-10 JavaScript reference", () => {
  // Known-answer vectors: the three "philox4x32 10" lines of tests/kat_vectors
  // in the Random123 distribution (D. E. Shaw Research), the library that
  // accompanies Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
  // SC 2011. Format: counter words 0-3, key words 0-1, output words 0-3. The
  // third input is the hex digits of π. tests/assembly/philox.spec.ts checks
  // the AssemblyScript generator against the same vectors.
  const vectors = [
    ["zeros", [0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    ["all ones", [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    ["digits of pi", [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ];
  for (const [name, counter, key, expected] of vectors) {
    test(`Random123 vector: ${name}`, () => {
      assert.deepEqual(philox4x32_10(counter, key), expected);
    });
  }

  test("seed to key mapping", () => {
    assert.deepEqual(seedToKey(0), [0, 0]);
    assert.deepEqual(seedToKey(42), [42, 0]);
    assert.deepEqual(seedToKey(2 ** 32 + 5), [5, 1]);
    assert.deepEqual(seedToKey(Number.MAX_SAFE_INTEGER), [0xffffffff, 0x1fffff]);
    assert.deepEqual(seedToKey(TWO_POW_64 - 1n), [0xffffffff, 0xffffffff]);
  });

  test("stream tags differ", () => {
    assert.notEqual(UNIFORM_TAG, NORMAL_TAG);
  });
});

// Golden values: the first 8 draws of seed 42, as float32 bit patterns,
// produced once by this implementation (scalar build, Node 20) and committed,
// so that any later change of the stream in any runtime or build fails here.
const GOLDEN_SEED_42 = {
  uniform: ["0x3f1ceaf0", "0x3eefea92", "0x3d95fa80", "0x3eae8566", "0x3f7cdb21", "0x3ea774d8", "0x3f038f5a", "0x3ee89c0c"],
  normal: ["0xbef8ceed", "0xbffcdf1f", "0x3ca2fd7d", "0x3e0456ce", "0xbf8bcbe2", "0x3fddc0d5", "0x3f5c38a5", "0x3e3037ca"],
};

// The seeds exercise both key words, the largest safe number and the
// largest bigint. The offsets start mid-block, cross the carry from counter
// word 0 to word 1 at block 2^32, and reach the end of the stream.
const REFERENCE_CASES = [
  { seed: 0, count: 37, offset: 0 },
  { seed: 1, count: 16, offset: 3 },
  { seed: 42, count: 9, offset: 0 },
  { seed: 2 ** 32, count: 11, offset: 5 },
  { seed: Number.MAX_SAFE_INTEGER, count: 13, offset: 1 },
  { seed: TWO_POW_64 - 1n, count: 10, offset: 2 },
  { seed: 7, count: 12, offset: 4 * 2 ** 32 - 6 },
  { seed: 7, count: 6, offset: 2 * 2 ** 32 - 3 },
  { seed: 9, count: 3, offset: Number.MAX_SAFE_INTEGER - 1 },
  { seed: 9, count: 7, offset: TWO_POW_64 - 7n },
];

for (const build of ALL_BUILDS) {
  describe(`random (${build})`, { skip: skipReason(build) }, () => {
    test("uniform matches the reference bit for bit", async () => {
      const favor = await favorFor(build);
      for (const { seed, count, offset } of REFERENCE_CASES) {
        // A call with another seed first leaves different values in the
        // scratch buffer, so an element the kernel skips would not match.
        favor.sync.random.uniform(count, 12345);
        const actual = favor.sync.random.uniform(count, seed, { offset });
        assertSameBits(actual, uniformReference(count, seed, offset), `seed ${seed} offset ${offset}`);
      }
    });

    test("normal matches the float64 reference", async () => {
      // The kernel and the reference compute the same float64 formula with
      // different log, sin and cos implementations: AssemblyScript's versus
      // the host's, each within about 1 float64 ulp. After the final rounding
      // to float32, a draw is within half a float32 ulp of the reference plus
      // a few float64 ulps, so 1 float32 ulp bounds the difference.
      const favor = await favorFor(build);
      for (const { seed, count, offset } of REFERENCE_CASES) {
        favor.sync.random.normal(count, 12345);
        const actual = favor.sync.random.normal(count, seed, { offset });
        const expected = normalReference(count, seed, offset);
        for (let i = 0; i < count; i++) {
          const error = Math.abs(actual[i] - expected[i]);
          assert.ok(error <= ulp32(expected[i]), `seed ${seed} offset ${offset} index ${i}: got ${actual[i]}, expected ${expected[i]}`);
        }
      }
    });

    test("longer reference run", async () => {
      const favor = await favorFor(build);
      const count = 4001;
      assertSameBits(favor.sync.random.uniform(count, 2024), uniformReference(count, 2024), "uniform");
      const normal = favor.sync.random.normal(count, 2024);
      const expected = normalReference(count, 2024);
      for (let i = 0; i < count; i++) {
        assert.ok(Math.abs(normal[i] - expected[i]) <= ulp32(expected[i]), `index ${i}: got ${normal[i]}, expected ${expected[i]}`);
      }
    });

    test("golden values for seed 42", async () => {
      const favor = await favorFor(build);
      assert.deepEqual(hexBits(favor.sync.random.uniform(8, 42)), GOLDEN_SEED_42.uniform);
      assert.deepEqual(hexBits(favor.sync.random.normal(8, 42)), GOLDEN_SEED_42.normal);
      assert.deepEqual(hexBits(await favor.random.uniform(8, 42n)), GOLDEN_SEED_42.uniform);
      assert.deepEqual(hexBits(await favor.random.normal(8, 42n)), GOLDEN_SEED_42.normal);
    });

    test("count 0 returns an empty array", async () => {
      const favor = await favorFor(build);
      for (const distribution of ["uniform", "normal"]) {
        const sync = favor.sync.random[distribution](0, 1);
        assert.ok(sync instanceof Float32Array);
        assert.equal(sync.length, 0);
        const promised = await favor.random[distribution](0, 1, { offset: TWO_POW_64 - 1n });
        assert.ok(promised instanceof Float32Array);
        assert.equal(promised.length, 0);
      }
    });

    test("count 1 and odd counts", async () => {
      const favor = await favorFor(build);
      for (const count of [1, 3, 5, 7, 9, 31]) {
        for (const offset of [0, 1, 2, 3]) {
          assertSameBits(favor.sync.random.uniform(count, 77, { offset }), uniformReference(count, 77, offset), `uniform count ${count} offset ${offset}`);
          const normal = favor.sync.random.normal(count, 77, { offset });
          const expected = normalReference(count, 77, offset);
          assert.equal(normal.length, count);
          for (let i = 0; i < count; i++) {
            assert.ok(Math.abs(normal[i] - expected[i]) <= ulp32(expected[i]), `normal count ${count} offset ${offset} index ${i}`);
          }
        }
      }
    });

    test("shorter requests are prefixes", async () => {
      const favor = await favorFor(build);
      for (const distribution of ["uniform", "normal"]) {
        const long = favor.sync.random[distribution](1000, 5);
        for (const count of [1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 999]) {
          assertSameBits(favor.sync.random[distribution](count, 5), long.subarray(0, count), `${distribution} count ${count}`);
        }
      }
    });

    test("offset continues the stream", async () => {
      const favor = await favorFor(build);
      for (const distribution of ["uniform", "normal"]) {
        const generate = favor.sync.random[distribution];
        const whole = generate(100, 6);
        for (const split of [0, 1, 2, 3, 4, 5, 7, 8, 13, 99, 100]) {
          const joined = concat(generate(split, 6), generate(100 - split, 6, { offset: split }));
          assertSameBits(joined, whole, `${distribution} split at ${split}`);
        }
        const threeParts = concat(generate(7, 6), generate(30, 6, { offset: 7 }), generate(63, 6, { offset: 37n }));
        assertSameBits(threeParts, whole, `${distribution} three parts`);
      }
    });

    test("number and bigint arguments agree", async () => {
      const favor = await favorFor(build);
      for (const distribution of ["uniform", "normal"]) {
        const generate = favor.sync.random[distribution];
        for (const seed of [0, 42, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) {
          assertSameBits(generate(17, BigInt(seed)), generate(17, seed), `${distribution} seed ${seed}`);
          assertSameBits(generate(17, seed, { offset: 2n ** 40n }), generate(17, seed, { offset: 2 ** 40 }), `${distribution} offset 2^40`);
        }
      }
    });

    test("seeds give different streams", async () => {
      // Seeds that differ in one bit of either key word. Equal first draws
      // would be a collision of probability about 2^-24 per pair.
      const favor = await favorFor(build);
      const seeds = [0, 1, 2, 2 ** 31, 2 ** 32, 2 ** 33, 2 ** 52, TWO_POW_64 - 1n, 2n ** 63n];
      for (const distribution of ["uniform", "normal"]) {
        const firsts = seeds.map((seed) => favor.sync.random[distribution](4, seed));
        for (let a = 0; a < seeds.length; a++) {
          for (let b = a + 1; b < seeds.length; b++) {
            for (let i = 0; i < 4; i++) {
              assert.notEqual(firsts[a][i], firsts[b][i], `${distribution}: seeds ${seeds[a]} and ${seeds[b]} agree at ${i}`);
            }
          }
        }
      }
    });

    test("uniform draws are multiples of 2^-24", async () => {
      const favor = await favorFor(build);
      const values = favor.sync.random.uniform(100000, 3);
      for (let i = 0; i < values.length; i++) {
        const scaled = values[i] * 2 ** 24;
        if (!(Number.isInteger(scaled) && scaled >= 0 && scaled < 2 ** 24)) assert.fail(`index ${i}: ${values[i]}`);
      }
    });

    test("repeated calls keep memory size", async () => {
      const favor = await favorFor(build);
      favor.sync.random.normal(100000, 1);
      const before = favor.info.memoryBytes;
      for (let i = 0; i < 20; i++) {
        favor.sync.random.normal(100000, i);
        favor.sync.random.uniform(100000, i);
      }
      assert.equal(favor.info.memoryBytes, before);
    });
  });
}

describe("random builds agree bit for bit", () => {
  const others = ALL_BUILDS.filter((build) => build !== "scalar");
  for (const build of others) {
    test(`${build} equals scalar`, { skip: skipReason(build) }, async () => {
      const scalar = await favorFor("scalar");
      const favor = await favorFor(build);
      const cases = [
        { count: 1000000, seed: 11, offset: 0 },
        { count: 4099, seed: TWO_POW_64 - 1n, offset: 3 },
        { count: 777, seed: 2 ** 40, offset: TWO_POW_64 - 777n },
      ];
      for (const distribution of ["uniform", "normal"]) {
        for (const { count, seed, offset } of cases) {
          assertSameBits(
            favor.sync.random[distribution](count, seed, { offset }),
            scalar.sync.random[distribution](count, seed, { offset }),
            `${distribution} count ${count} seed ${seed} offset ${offset}`,
          );
        }
      }
    });
  }
});

describe("random argument checks", () => {
  const cases = [
    ["a negative count", [-1, 1], RangeError, /count must be an integer >= 0, got -1$/],
    ["a fractional count", [2.5, 1], RangeError, /count must be an integer >= 0, got 2.5$/],
    ["a NaN count", [NaN, 1], RangeError, /count must be an integer >= 0, got NaN$/],
    ["a string count", ["8", 1], TypeError, /count must be a number, got "8"$/],
    ["a bigint count", [8n, 1], TypeError, /count must be a number, got 8$/],
    ["a count past WASM memory", [2 ** 30, 1], RangeError, /1073741824 float32 outputs need 4294967296 bytes, more than the 4 GiB/],
    ["a count past 2^31 - 1", [2 ** 31, 1], RangeError, /count is 2147483648, larger than the largest supported size 2147483647$/],
    ["a missing seed", [4], TypeError, /seed is missing; pass a number in \[0, 2\^53 − 1\] or a bigint in \[0, 2\^64 − 1\]$/],
    ["a string seed", [4, "42"], TypeError, /seed must be a number or a bigint, got "42"$/],
    ["a null seed", [4, null], TypeError, /seed must be a number or a bigint, got null$/],
    ["a negative seed", [4, -1], RangeError, /seed must be an integer in \[0, 2\^53 − 1\] \(or a bigint up to 2\^64 − 1\), got -1$/],
    ["a fractional seed", [4, 0.5], RangeError, /seed must be an integer in .*, got 0.5$/],
    ["a NaN seed", [4, NaN], RangeError, /seed must be an integer in .*, got NaN$/],
    ["an infinite seed", [4, Infinity], RangeError, /seed must be an integer in .*, got Infinity$/],
    ["a number seed above 2^53 - 1", [4, 2 ** 53], RangeError, /seed is 9007199254740992, larger than Number.MAX_SAFE_INTEGER \(2\^53 − 1\) and possibly rounded; pass it as a bigint/],
    ["a negative bigint seed", [4, -1n], RangeError, /seed must be a bigint in \[0, 2\^64 − 1\], got -1n$/],
    ["a bigint seed of 2^64", [4, 2n ** 64n], RangeError, /seed must be a bigint in \[0, 2\^64 − 1\], got 18446744073709551616n$/],
    ["non-object options", [4, 1, "x"], TypeError, /options must be an object, got "x"$/],
    ["a negative offset", [4, 1, { offset: -4 }], RangeError, /offset must be an integer in .*, got -4$/],
    ["a fractional offset", [4, 1, { offset: 0.5 }], RangeError, /offset must be an integer in .*, got 0.5$/],
    ["a string offset", [4, 1, { offset: "1" }], TypeError, /offset must be a number or a bigint, got "1"$/],
    ["a number offset above 2^53 - 1", [4, 1, { offset: 2 ** 60 }], RangeError, /offset is 1152921504606847000, larger than Number.MAX_SAFE_INTEGER/],
    ["an offset past the stream end", [5, 1, { offset: TWO_POW_64 - 4n }], RangeError, /offset 18446744073709551612n plus count 5 runs past the end of the stream \(2\^64 draws per seed\)/],
  ];
  for (const distribution of ["uniform", "normal"]) {
    for (const [name, args, type, pattern] of cases) {
      test(`${distribution} rejects ${name}`, async () => {
        const favor = await favorFor("scalar");
        const matches = (error) => error instanceof type && error.message.startsWith(`random.${distribution}: `) && pattern.test(error.message);
        assert.throws(() => favor.sync.random[distribution](...args), matches);
        await assert.rejects(favor.random[distribution](...args), matches);
      });
    }

    test(`${distribution} accepts the boundary values`, async () => {
      const favor = await favorFor("scalar");
      const generate = favor.sync.random[distribution];
      assert.equal(generate(2, Number.MAX_SAFE_INTEGER).length, 2);
      assert.equal(generate(2, TWO_POW_64 - 1n).length, 2);
      assert.equal(generate(4, 0, { offset: TWO_POW_64 - 4n }).length, 4);
      assert.equal(generate(1, 0, { offset: Number.MAX_SAFE_INTEGER }).length, 1);
      assert.equal(generate(3, -0).length, 3);
      assert.equal(generate(3, 1, {}).length, 3);
    });
  }
});
