// Reads and writes the binary tensor fixtures under data/ (the OCR model's
// attention tensors). A fixture file is
//
//   bytes 0..7    ASCII magic "FAVORFX1"
//   bytes 8..11   uint32 little-endian: byte length H of the JSON header
//   bytes 12..    H bytes of UTF-8 JSON, padded with spaces so that the data
//                 section starts at a multiple of 4
//   data section  the tensors, float32 little-endian, back to back
//
// The header is { format: "favor-fixture", version: 1, ..., tensors: [...] }
// with one entry per tensor: { name, shape, dtype: "float32", byteOffset
// (from the start of the data section), byteLength, sha256 (hex digest of
// the tensor's bytes), description }. Every other header field is metadata
// that the loader passes through.

import { createHash } from "node:crypto";

export const FIXTURE_MAGIC = "FAVORFX1";
const PREFIX_BYTES = 12;

/** Returns the hex SHA-256 digest of a byte range. */
export function sha256Hex(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

function productOf(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Encodes a fixture. `tensors` is a list of { name, shape, data: Float32Array,
 * description }; `metadata` is merged into the header. Returns a Uint8Array.
 */
export function encodeFixture(metadata, tensors) {
  const entries = [];
  let byteOffset = 0;
  for (const tensor of tensors) {
    const count = productOf(tensor.shape);
    if (tensor.data.length !== count) {
      throw new RangeError(`encodeFixture: tensor ${tensor.name} has ${tensor.data.length} values, shape [${tensor.shape}] needs ${count}`);
    }
    const bytes = littleEndianBytes(tensor.data);
    entries.push({
      name: tensor.name,
      shape: tensor.shape,
      dtype: "float32",
      byteOffset,
      byteLength: bytes.length,
      sha256: sha256Hex(bytes),
      description: tensor.description ?? "",
    });
    byteOffset += bytes.length;
  }
  let headerText = JSON.stringify({ format: "favor-fixture", version: 1, ...metadata, tensors: entries }, null, 1);
  while ((PREFIX_BYTES + Buffer.byteLength(headerText)) % 4 !== 0) headerText += " ";
  const header = new TextEncoder().encode(headerText);

  const out = new Uint8Array(PREFIX_BYTES + header.length + byteOffset);
  out.set(new TextEncoder().encode(FIXTURE_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, PREFIX_BYTES);
  let at = PREFIX_BYTES + header.length;
  for (const tensor of tensors) {
    const bytes = littleEndianBytes(tensor.data);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

function littleEndianBytes(values) {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/**
 * Decodes and validates a fixture: magic, header JSON, every tensor's shape
 * against its byte length, the byte ranges against the file size, and every
 * SHA-256. Returns { header, tensors: Map<name, { shape, data: Float32Array,
 * description }> }. Throws an Error naming `label` and the failed check.
 */
export function decodeFixture(bytes, label = "fixture") {
  const fail = (message) => {
    throw new Error(`${label}: ${message}`);
  };
  if (bytes.length < PREFIX_BYTES) fail(`file is ${bytes.length} bytes, shorter than the ${PREFIX_BYTES}-byte prefix`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== FIXTURE_MAGIC) fail(`magic is ${JSON.stringify(magic)}, expected ${JSON.stringify(FIXTURE_MAGIC)}`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  const dataStart = PREFIX_BYTES + headerLength;
  if (dataStart > bytes.length) fail(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file`);
  if (dataStart % 4 !== 0) fail(`data section starts at byte ${dataStart}, not a multiple of 4`);

  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX_BYTES, dataStart)));
  } catch (error) {
    fail(`header is not valid JSON (${error.message})`);
  }
  if (header.format !== "favor-fixture" || header.version !== 1) {
    fail(`header format ${JSON.stringify(header.format)} version ${header.version}, expected "favor-fixture" version 1`);
  }
  if (!Array.isArray(header.tensors)) fail("header has no tensors list");

  const tensors = new Map();
  for (const entry of header.tensors) {
    const where = `tensor ${JSON.stringify(entry.name)}`;
    if (entry.dtype !== "float32") fail(`${where} has dtype ${JSON.stringify(entry.dtype)}, expected "float32"`);
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isInteger(d) && d >= 1)) {
      fail(`${where} has shape ${JSON.stringify(entry.shape)}, expected a list of positive integers`);
    }
    const count = productOf(entry.shape);
    if (entry.byteLength !== count * 4) fail(`${where} has byteLength ${entry.byteLength}, shape [${entry.shape}] needs ${count * 4}`);
    const start = dataStart + entry.byteOffset;
    if (!Number.isInteger(entry.byteOffset) || entry.byteOffset < 0 || start + entry.byteLength > bytes.length) {
      fail(`${where} bytes ${entry.byteOffset}..${entry.byteOffset + entry.byteLength} lie outside the data section`);
    }
    const raw = bytes.subarray(start, start + entry.byteLength);
    const digest = sha256Hex(raw);
    if (digest !== entry.sha256) fail(`${where} has SHA-256 ${digest}, the header records ${entry.sha256}`);
    const data = new Float32Array(count);
    const tensorView = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) data[i] = tensorView.getFloat32(i * 4, true);
    tensors.set(entry.name, { shape: entry.shape, data, description: entry.description });
  }
  return { header, tensors };
}

/**
 * Loads an OCR attention fixture (data/ocr-attention-L*.bin) and checks that
 * every block has q, k, v and output of shape [heads, length, headDim], an
 * attention of shape [attentionHeads.length, length, length] and an input of
 * shape [length, modelDim]. Returns { header, blocks: { name: { input, q, k,
 * v, attention, output } } } with Float32Array values.
 */
export function loadAttentionFixture(bytes, label) {
  const { header, tensors } = decodeFixture(bytes, label);
  const { length, heads, headDim, modelDim, attentionHeads, blocks: blockNames } = header;
  for (const [name, value] of Object.entries({ length, heads, headDim, modelDim })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${label}: header field ${name} is ${value}, expected a positive integer`);
  }
  if (!Array.isArray(attentionHeads) || !attentionHeads.every((h) => Number.isInteger(h) && h >= 0 && h < heads)) {
    throw new Error(`${label}: header field attentionHeads is ${JSON.stringify(attentionHeads)}, expected head indices below ${heads}`);
  }
  if (!Array.isArray(blockNames) || blockNames.length === 0) throw new Error(`${label}: header lists no blocks`);
  const expected = {
    input: [length, modelDim],
    q: [heads, length, headDim],
    k: [heads, length, headDim],
    v: [heads, length, headDim],
    attention: [attentionHeads.length, length, length],
    output: [heads, length, headDim],
  };
  const blocks = {};
  for (const blockName of blockNames) {
    const block = {};
    for (const [part, shape] of Object.entries(expected)) {
      const tensor = tensors.get(`${blockName}.${part}`);
      if (!tensor) throw new Error(`${label}: tensor ${blockName}.${part} is missing`);
      if (tensor.shape.join(",") !== shape.join(",")) {
        throw new Error(`${label}: tensor ${blockName}.${part} has shape [${tensor.shape}], expected [${shape}] from the header`);
      }
      block[part] = tensor.data;
    }
    blocks[blockName] = block;
  }
  return { header, blocks };
}
