import { alloc, free } from "../../assembly/memory";
import { PHILOX_M0, PHILOX_M1, mulhi32, philox4x32Round, philox4x32_10, philoxBlock } from "../../assembly/random/philox";
import { UNIFORM_TAG, f32_random_uniform, uniformFromWord } from "../../assembly/random/uniform";
import { openClosedUniform53 } from "../../assembly/random/normal";

function block(x0: u32, x1: u32, x2: u32, x3: u32): usize {
  const ptr = alloc(16);
  store<u32>(ptr, x0, 0);
  store<u32>(ptr, x1, 4);
  store<u32>(ptr, x2, 8);
  store<u32>(ptr, x3, 12);
  return ptr;
}

function word(ptr: usize, index: i32): u32 {
  return load<u32>(ptr + (<usize>index << 2));
}

describe("mulhi32", () => {
  test("known products", () => {
    // (2^32 − 1)² = 2^64 − 2^33 + 1, so the high word is 2^32 − 2.
    expect(mulhi32(0xffffffff, 0xffffffff)).toBe(0xfffffffe);
    expect(mulhi32(0x10000, 0x10000)).toBe(1);
    expect(mulhi32(0xffff, 0x10000)).toBe(0);
    expect(mulhi32(PHILOX_M0, 2)).toBe(1);
  });
});

describe("philox4x32Round", () => {
  test("zero counter passes the key through", () => {
    // All products are 0, so the output is (k0, 0, k1, 0).
    const state = block(0, 0, 0, 0);
    philox4x32Round(state, 0x12345678, 0x9abcdef0);
    expect(word(state, 0)).toBe(0x12345678);
    expect(word(state, 1)).toBe(0);
    expect(word(state, 2)).toBe(0x9abcdef0);
    expect(word(state, 3)).toBe(0);
    free(state);
  });

  test("moves each word to its place", () => {
    // x0 = 1: lo(M0·1) = M0 lands in word 3. x2 = 1: lo(M1·1) = M1 lands in
    // word 1. x1 and x3 are xored into words 0 and 2.
    const state = block(1, 0xa5a5a5a5, 1, 0x5a5a5a5a);
    philox4x32Round(state, 0, 0);
    expect(word(state, 0)).toBe(0xa5a5a5a5);
    expect(word(state, 1)).toBe(PHILOX_M1);
    expect(word(state, 2)).toBe(0x5a5a5a5a);
    expect(word(state, 3)).toBe(PHILOX_M0);
    free(state);
  });

  test("high and low product halves", () => {
    // M0·(2^32 − 1) = (M0 − 1)·2^32 + (2^32 − M0), likewise for M1.
    const state = block(0xffffffff, 0, 0xffffffff, 0);
    philox4x32Round(state, 0, 0);
    expect(word(state, 0)).toBe(PHILOX_M1 - 1);
    expect(word(state, 1)).toBe(0 - PHILOX_M1);
    expect(word(state, 2)).toBe(PHILOX_M0 - 1);
    expect(word(state, 3)).toBe(0 - PHILOX_M0);
    free(state);
  });
});

describe("philox4x32_10", () => {
  // Known-answer vectors: the three "philox4x32 10" lines of tests/kat_vectors
  // in the Random123 distribution (D. E. Shaw Research), the library that
  // accompanies Salmon et al., SC 2011. The third input is the hex digits of π.
  test("Random123 vector: zeros", () => {
    const state = block(0, 0, 0, 0);
    philox4x32_10(state, 0, 0);
    expect(word(state, 0)).toBe(0x6627e8d5);
    expect(word(state, 1)).toBe(0xe169c58d);
    expect(word(state, 2)).toBe(0xbc57ac4c);
    expect(word(state, 3)).toBe(0x9b00dbd8);
    free(state);
  });

  test("Random123 vector: all ones", () => {
    const state = block(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
    philox4x32_10(state, 0xffffffff, 0xffffffff);
    expect(word(state, 0)).toBe(0x408f276d);
    expect(word(state, 1)).toBe(0x41c83b0e);
    expect(word(state, 2)).toBe(0xa20bc7c6);
    expect(word(state, 3)).toBe(0x6d5451fd);
    free(state);
  });

  test("Random123 vector: digits of pi", () => {
    const state = block(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344);
    philox4x32_10(state, 0xa4093822, 0x299f31d0);
    expect(word(state, 0)).toBe(0xd16cfe09);
    expect(word(state, 1)).toBe(0x94fdcceb);
    expect(word(state, 2)).toBe(0x5001e420);
    expect(word(state, 3)).toBe(0x24126ea1);
    free(state);
  });

  test("philoxBlock lays out the stream counter", () => {
    // philoxBlock(block 0x1_00000002, tag 7) must equal Philox of (2, 1, 7, 0).
    const expected = block(2, 1, 7, 0);
    philox4x32_10(expected, 0xdeadbeef, 42);
    const actual = alloc(16);
    philoxBlock(actual, 2, 1, 7, 0xdeadbeef, 42);
    for (let i = 0; i < 4; i++) expect(word(actual, i)).toBe(word(expected, i));
    free(expected);
    free(actual);
  });
});

describe("uniform draws", () => {
  test("uniformFromWord keeps the top 24 bits", () => {
    expect(uniformFromWord(0)).toBe(0);
    expect(uniformFromWord(0xff)).toBe(0);
    expect(uniformFromWord(0x100)).toBe(<f32>(1.0 / 16777216.0));
    expect(uniformFromWord(0x80000000)).toBe(<f32>0.5);
    expect(uniformFromWord(0xffffffff)).toBe(<f32>(1.0 - 1.0 / 16777216.0));
  });

  test("f32_random_uniform reads block words in order", () => {
    // Draws 3 … 8 of key (5, 6): word 3 of block 0, all of block 1, word 0 of block 2.
    const out = alloc(6 << 2);
    f32_random_uniform(out, 6, 3, 0, 5, 6);
    const words = alloc(16);
    for (let draw: u32 = 3; draw < 9; draw++) {
      philoxBlock(words, draw >> 2, 0, UNIFORM_TAG, 5, 6);
      const expected = uniformFromWord(word(words, <i32>(draw & 3)));
      expect(load<f32>(out + (<usize>(draw - 3) << 2))).toBe(expected);
    }
    free(out);
    free(words);
  });
});

describe("normal draws", () => {
  test("openClosedUniform53 excludes 0 and includes 1", () => {
    expect(openClosedUniform53(0, 0)).toBe(1.0 / 9007199254740992.0);
    // The low 11 bits of the 64-bit value are dropped.
    expect(openClosedUniform53(0x7ff, 0)).toBe(1.0 / 9007199254740992.0);
    expect(openClosedUniform53(0x800, 0)).toBe(2.0 / 9007199254740992.0);
    expect(openClosedUniform53(0xffffffff, 0xffffffff)).toBe(1.0);
    expect(openClosedUniform53(0, 0x80000000)).toBe(0.5 + 1.0 / 9007199254740992.0);
  });
});
