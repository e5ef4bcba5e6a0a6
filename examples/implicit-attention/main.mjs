// Implicit attention over image patches: which 16×16 patches of a photo draw
// the most attention, computed with FAVOR+ random features in O(L·r) without
// an L×L attention matrix, and checked against the exact softmax attention.
//
//   node scripts/run-node.mjs examples/implicit-attention/main.mjs [OUTPUT.png]
//
// The photo is data/astronaut-256.ppm (NASA, public domain; data/README.md).
// Each of the 256 patches is flattened (16·16·3 values), standardized, and
// mapped to queries and keys by one fixed random matrix W (so q_i·k_j
// approximates the similarity of patches i and j; W is not trained). Patch j's
// score is column j of the row-normalized attention matrix summed over all
// queries: the attention it receives. The example prints the top 16 patches,
// how many of them the exact attention also ranks in its top 16, and writes
// a PNG in which they are framed and the other patches dimmed. With this
// similarity, the patches alike to many others receive the most attention:
// in this photo, the dark background.

import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { createFavor } from "../../dist/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PATCH = 16;
const DIM = 32;
const FEATURES = 256;
const TOP = 16;
/** Scale of q and k: logits q·k/√DIM reach a few units, so the softmax is neither flat nor one-hot. */
const TEMPERATURE = 1.5;

/** Reads a binary PPM (P6, maxval 255): returns { width, height, pixels } with pixels as RGB bytes. */
function readPpm(bytes) {
  let offset = 0;
  const token = () => {
    for (;;) {
      while (/\s/.test(String.fromCharCode(bytes[offset]))) offset++;
      if (bytes[offset] !== 0x23) break; // "#" starts a comment that runs to the end of the line.
      while (bytes[offset] !== 0x0a) offset++;
    }
    const start = offset;
    while (!/\s/.test(String.fromCharCode(bytes[offset]))) offset++;
    return bytes.toString("latin1", start, offset);
  };
  const magic = token();
  const width = Number(token());
  const height = Number(token());
  const maxval = Number(token());
  if (magic !== "P6" || maxval !== 255) throw new Error(`expected a binary PPM with maxval 255, got ${magic} with maxval ${maxval}`);
  offset++; // The single whitespace byte after maxval.
  return { width, height, pixels: bytes.subarray(offset, offset + width * height * 3) };
}

/** Encodes RGB bytes as a PNG (filter 0 on every row). */
function writePng(path, width, height, rgb) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buffer) => {
    let c = 0xffffffff;
    for (const byte of buffer) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace.
  const raw = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  writeFileSync(path, Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]));
}

const image = readPpm(readFileSync(join(root, "data", "astronaut-256.ppm")));
const across = image.width / PATCH;
const down = image.height / PATCH;
const length = across * down;
const patchDim = PATCH * PATCH * 3;

// Patch vectors (length × patchDim), standardized over the whole image and scaled to unit norm on average.
const patches = new Float32Array(length * patchDim);
for (let py = 0; py < down; py++) for (let px = 0; px < across; px++) {
  const row = (py * across + px) * patchDim;
  for (let y = 0; y < PATCH; y++) for (let x = 0; x < PATCH; x++) for (let c = 0; c < 3; c++) {
    const pixel = ((py * PATCH + y) * image.width + px * PATCH + x) * 3 + c;
    patches[row + (y * PATCH + x) * 3 + c] = image.pixels[pixel] / 255;
  }
}
const mean = patches.reduce((sum, value) => sum + value, 0) / patches.length;
const std = Math.sqrt(patches.reduce((sum, value) => sum + (value - mean) ** 2, 0) / patches.length);
for (let i = 0; i < patches.length; i++) patches[i] = (patches[i] - mean) / (std * Math.sqrt(patchDim));

const favor = await createFavor();

// q = k = TEMPERATURE·DIM^{1/4}·W·x with W (DIM × patchDim) Gaussian over √DIM, so that
// q·k/√DIM ≈ TEMPERATURE²·(x_i·x_j), the scaled similarity of the patches.
const w = favor.sync.random.normal(DIM * patchDim, 2024);
const projected = favor.sync.matmul(patches, w, {
  m: length, k: patchDim, n: DIM, transB: true, alpha: (TEMPERATURE * DIM ** 0.25) / Math.sqrt(DIM),
});
const shape = { batch: 1, heads: 1, length, dim: DIM, layout: "bhld" };

// FAVOR+ implicit scores: O(L·r), no L×L matrix.
const start = performance.now();
const scores = favor.sync.attentionScores(projected, projected, { ...shape, kernel: "positive", features: FEATURES, seed: 1 });
const favorMs = performance.now() - start;
const top = favor.sync.topK(scores, TOP);

// Exact scores for comparison: softmax attention with one-hot values returns
// the attention matrix itself, whose column sums are the exact scores.
const identity = new Float32Array(length * length);
for (let i = 0; i < length; i++) identity[i * length + i] = 1;
const matrix = favor.sync.softmaxAttention(projected, projected, identity, { ...shape, valueDim: length, causal: false });
const exact = new Float32Array(length);
for (let i = 0; i < length; i++) for (let j = 0; j < length; j++) exact[j] += matrix[i * length + j];
const exactTop = new Set(favor.sync.topK(exact, TOP));

const total = scores.reduce((sum, value) => sum + value, 0);
console.log(`${length} patches of ${PATCH}×${PATCH} pixels, ${FEATURES} random features, ${favor.info.build} build`);
console.log(`FAVOR+ scores in ${favorMs.toFixed(1)} ms; they sum to ${total.toFixed(3)} (the number of queries, ${length})`);
console.log(`top ${TOP} patches (row, column: FAVOR+ score / exact score):`);
for (const j of top) {
  console.log(`  (${Math.floor(j / across)}, ${j % across}): ${scores[j].toFixed(3)} / ${exact[j].toFixed(3)}${exactTop.has(j) ? "" : "  (not in the exact top 16)"}`);
}
console.log(`${top.filter((j) => exactTop.has(j)).length} of the FAVOR+ top ${TOP} are in the exact top ${TOP}`);

// The grid: "#" selected by FAVOR+ and exact, "+" by FAVOR+ only, "o" by exact only.
const chosen = new Set(top);
for (let py = 0; py < down; py++) {
  let line = "  ";
  for (let px = 0; px < across; px++) {
    const j = py * across + px;
    line += chosen.has(j) ? (exactTop.has(j) ? "#" : "+") : exactTop.has(j) ? "o" : ".";
  }
  console.log(line);
}

const output = process.argv[2] ?? join(tmpdir(), "implicit-attention.png");
const shown = Uint8Array.from(image.pixels);
const YELLOW = [255, 220, 0];
for (let py = 0; py < down; py++) for (let px = 0; px < across; px++) {
  const selected = chosen.has(py * across + px);
  for (let y = 0; y < PATCH; y++) for (let x = 0; x < PATCH; x++) {
    const pixel = ((py * PATCH + y) * image.width + px * PATCH + x) * 3;
    const edge = y === 0 || x === 0 || y === PATCH - 1 || x === PATCH - 1;
    for (let c = 0; c < 3; c++) {
      if (selected && edge) shown[pixel + c] = YELLOW[c];
      else if (!selected) shown[pixel + c] >>= 1;
    }
  }
}
writePng(output, image.width, image.height, shown);
console.log(`wrote ${output} (the top ${TOP} patches framed in yellow, the others dimmed)`);
