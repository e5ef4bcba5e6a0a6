// Character-level text handling for the language model: the vocabulary,
// encoding and decoding, the unigram and bigram baselines and batches of
// windows.

import { readFileSync } from "node:fs";

/**
 * Creates a character vocabulary: every distinct Unicode code point of
 * `text`, in code point order, so the same text always gives the same ids.
 */
export function createTokenizer(text) {
  const characters = [...new Set(Array.from(text))].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  const ids = new Map(characters.map((character, id) => [character, id]));
  return {
    size: characters.length,
    characters,
    /** Returns the ids of the characters of `value`; throws a RangeError on a character outside the vocabulary. */
    encode(value) {
      const chars = Array.from(value);
      const out = new Int32Array(chars.length);
      chars.forEach((character, i) => {
        const id = ids.get(character);
        if (id === undefined) {
          throw new RangeError(`tokenizer: character ${JSON.stringify(character)} (U+${character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}) at index ${i} is not in the vocabulary`);
        }
        out[i] = id;
      });
      return out;
    },
    /** Returns the text of a sequence of ids. */
    decode(tokens) {
      let out = "";
      for (const id of tokens) {
        if (!Number.isInteger(id) || id < 0 || id >= characters.length) {
          throw new RangeError(`tokenizer: id ${id} is outside the vocabulary of ${characters.length} characters`);
        }
        out += characters[id];
      }
      return out;
    },
  };
}

/** Returns the entropy in bits per token of the token frequencies of `tokens` (the unigram baseline). */
export function unigramEntropyBits(tokens, vocabularySize) {
  const counts = new Float64Array(vocabularySize);
  for (const token of tokens) counts[token]++;
  let bits = 0;
  for (const count of counts) {
    if (count > 0) {
      const p = count / tokens.length;
      bits -= p * Math.log2(p);
    }
  }
  return bits;
}

/**
 * Returns the conditional entropy H(X_t | X_{t−1}) in bits of the token
 * pairs of `tokens`: what a bigram model fitted to these tokens scores on
 * them. It is an in-sample figure, so a bigram model does worse on new text.
 */
export function bigramEntropyBits(tokens, vocabularySize) {
  const pairs = new Float64Array(vocabularySize * vocabularySize);
  const previous = new Float64Array(vocabularySize);
  for (let i = 1; i < tokens.length; i++) {
    pairs[tokens[i - 1] * vocabularySize + tokens[i]]++;
    previous[tokens[i - 1]]++;
  }
  let bits = 0;
  const total = tokens.length - 1;
  for (let a = 0; a < vocabularySize; a++) {
    for (let b = 0; b < vocabularySize; b++) {
      const count = pairs[a * vocabularySize + b];
      if (count > 0) bits -= (count / total) * Math.log2(count / previous[a]);
    }
  }
  return bits;
}

/** Reads the book and returns { text, tokenizer, train, validation }: the first 90 % for training, the rest for validation. */
export function loadCorpus(path) {
  const text = readFileSync(path, "utf8");
  const tokenizer = createTokenizer(text);
  const tokens = tokenizer.encode(text);
  const split = Math.floor(tokens.length * 0.9);
  return { text, tokenizer, train: tokens.subarray(0, split), validation: tokens.subarray(split) };
}

/**
 * Copies `batch` windows of `length` tokens starting at the given offsets
 * into one Int32Array (batch × length).
 */
export function windowsAt(tokens, offsets, length) {
  const out = new Int32Array(offsets.length * length);
  offsets.forEach((offset, b) => {
    if (offset < 0 || offset + length > tokens.length) {
      throw new RangeError(`windowsAt: window [${offset}, ${offset + length}) lies outside the ${tokens.length} tokens`);
    }
    out.set(tokens.subarray(offset, offset + length), b * length);
  });
  return out;
}
