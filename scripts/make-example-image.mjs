#!/usr/bin/env node
// Makes data/astronaut-256.ppm from scikit-image's astronaut.png (a NASA
// photograph in the public domain; data/README.md has the provenance):
// decodes the 8-bit RGB PNG, averages each 2×2 block of pixels, and writes
// a binary PPM (P6) that the implicit-attention example reads without a
// PNG decoder.
//
//   node scripts/make-example-image.mjs INPUT.png OUTPUT.ppm
//
// Only 8-bit, non-interlaced RGB PNGs are read, which is what this file is.

import { readFileSync, writeFileSync } from "node:fs";
import { inflateSync } from "node:zlib";

function decodePng(bytes) {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((value, i) => bytes[i] === value)) throw new Error("not a PNG file");
  let offset = 8;
  let width = 0, height = 0;
  const data = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString("latin1", offset + 4, offset + 8);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colorType, , , interlace] = body.subarray(8, 13);
      if (depth !== 8 || colorType !== 2 || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${depth}, color type ${colorType}, interlace ${interlace}`);
      }
    } else if (type === "IDAT") {
      data.push(body);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * 3;
  const pixels = new Uint8Array(height * stride);
  // Undo the per-row filters (PNG specification, section 9).
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const left = x >= 3 ? pixels[y * stride + x - 3] : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const upLeft = x >= 3 && y > 0 ? pixels[(y - 1) * stride + x - 3] : 0;
      let predictor = 0;
      if (filter === 1) predictor = left;
      else if (filter === 2) predictor = up;
      else if (filter === 3) predictor = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const pa = Math.abs(p - left), pb = Math.abs(p - up), pc = Math.abs(p - upLeft);
        predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      } else if (filter !== 0) {
        throw new Error(`invalid PNG filter ${filter} in row ${y}`);
      }
      pixels[y * stride + x] = (row[x] + predictor) & 255;
    }
  }
  return { width, height, pixels };
}

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write("usage: node scripts/make-example-image.mjs INPUT.png OUTPUT.ppm\n");
  process.exit(2);
}
const image = decodePng(readFileSync(input));
const width = image.width >> 1, height = image.height >> 1;
const half = new Uint8Array(width * height * 3);
for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
  const at = (yy, xx) => image.pixels[(yy * image.width + xx) * 3 + c];
  const sum = at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1);
  half[(y * width + x) * 3 + c] = (sum + 2) >> 2;
}
writeFileSync(output, Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`, "latin1"), half]));
console.log(`wrote ${output}: ${width}×${height} RGB`);
