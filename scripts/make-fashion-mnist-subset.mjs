#!/usr/bin/env node
// Writes data/fashion-mnist-subset.bin, the small Fashion-MNIST subset of
// the ODEtoODE example, from the Debian package dataset-fashion-mnist
// (`apt-get install dataset-fashion-mnist`; the IDX files land in
// /usr/share/datasets/fashion-mnist/).
//
// Selection: the first 200 training images of each of the 10 classes and
// the first 50 test images of each class, in file order (2,000 and 500).
// Each 28×28 image is downsampled to 14×14 by averaging 2×2 blocks, rounded
// to nearest. Layout of the output (all integers little-endian):
//   bytes 0–3   "FMN1"
//   u16 side (14), u16 train count (2000), u16 test count (500), u16 0
//   train labels (u8 each), train pixels (side² u8 per image, row-major),
//   test labels, test pixels.
// Usage: node scripts/make-fashion-mnist-subset.mjs [SOURCE_DIR] [OUTPUT]

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { createHash } from "node:crypto";

const sourceDir = process.argv[2] ?? "/usr/share/datasets/fashion-mnist";
const output = process.argv[3] ?? "data/fashion-mnist-subset.bin";
const SIDE = 28;
const SMALL = 14;
const CLASSES = 10;

/** Reads an IDX file (big-endian header, magic 0x00000801 labels or 0x00000803 images). */
function readIdx(name, expectedMagic) {
  const bytes = gunzipSync(readFileSync(join(sourceDir, name)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expectedMagic) throw new Error(`${name}: magic ${magic.toString(16)}, expected ${expectedMagic.toString(16)}`);
  const count = view.getUint32(4);
  const headerBytes = expectedMagic === 0x803 ? 16 : 8;
  if (expectedMagic === 0x803 && (view.getUint32(8) !== SIDE || view.getUint32(12) !== SIDE)) {
    throw new Error(`${name}: images are not ${SIDE}×${SIDE}`);
  }
  return { count, data: bytes.subarray(headerBytes) };
}

/** Picks the first `perClass` images of each class in file order, downsampled. */
function select(imagesName, labelsName, perClass) {
  const images = readIdx(imagesName, 0x803);
  const labels = readIdx(labelsName, 0x801);
  const taken = new Array(CLASSES).fill(0);
  const chosen = [];
  for (let i = 0; i < labels.count && chosen.length < perClass * CLASSES; i++) {
    const label = labels.data[i];
    if (taken[label] === perClass) continue;
    taken[label]++;
    chosen.push(i);
  }
  const outLabels = new Uint8Array(chosen.length);
  const outPixels = new Uint8Array(chosen.length * SMALL * SMALL);
  chosen.forEach((index, k) => {
    outLabels[k] = labels.data[index];
    const image = images.data.subarray(index * SIDE * SIDE, (index + 1) * SIDE * SIDE);
    for (let r = 0; r < SMALL; r++) {
      for (let c = 0; c < SMALL; c++) {
        const top = 2 * r * SIDE + 2 * c;
        const sum = image[top] + image[top + 1] + image[top + SIDE] + image[top + SIDE + 1];
        outPixels[k * SMALL * SMALL + r * SMALL + c] = (sum + 2) >> 2;
      }
    }
  });
  return { labels: outLabels, pixels: outPixels };
}

const train = select("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 200);
const test = select("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 50);
const header = new Uint8Array(12);
header.set([0x46, 0x4d, 0x4e, 0x31]);
const headerView = new DataView(header.buffer);
headerView.setUint16(4, SMALL, true);
headerView.setUint16(6, train.labels.length, true);
headerView.setUint16(8, test.labels.length, true);
const file = Buffer.concat([header, train.labels, train.pixels, test.labels, test.pixels]);
writeFileSync(output, file);
console.log(`wrote ${output}: ${train.labels.length} training and ${test.labels.length} test images of ${SMALL}×${SMALL}, ` +
  `${file.length} bytes, SHA-256 ${createHash("sha256").update(file).digest("hex")}`);
