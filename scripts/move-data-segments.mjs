// Rewrites a threaded build so that instantiating it writes nothing into
// memory: its active data segments move out of the data section into a
// custom section named "favor.data", which the main thread copies into the
// shared memory once (bindings/backends/wasm/threads/binary.ts). Every
// worker instantiates the same module on the same memory, and an active
// segment would be written again by each one, over data the main thread may
// already have changed (the GEMM scratch tile, for one).
//
// Custom section payload: a u32 LEB128 segment count, then per segment its
// u32 LEB128 byte offset in memory, its u32 LEB128 length and its bytes.
// Only the segment form asc 0.27 emits is accepted: flag 0 (active, memory
// 0) with an `i32.const` offset. Anything else stops the build.

import { readFileSync, writeFileSync } from "node:fs";

const DATA_SECTION = 11;
const DATA_COUNT_SECTION = 12;
const CUSTOM_SECTION = 0;
export const DATA_SECTION_NAME = "favor.data";

function readU32(bytes, position) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[position++];
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value: result, position };
    shift += 7;
  }
}

function readI32(bytes, position) {
  let result = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[position++];
    result |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  if (shift < 32 && (byte & 0x40)) result |= -1 << shift;
  return { value: result, position };
}

function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Parses the data section payload into [{ offset, bytes }]. */
function parseDataSection(payload, file) {
  let { value: count, position } = readU32(payload, 0);
  const segments = [];
  for (let i = 0; i < count; i++) {
    const flag = readU32(payload, position);
    position = flag.position;
    if (flag.value !== 0 || payload[position] !== 0x41) {
      throw new Error(`${file}: data segment ${i} is not an active segment with an i32.const offset (flag ${flag.value})`);
    }
    const offset = readI32(payload, position + 1);
    position = offset.position;
    if (payload[position] !== 0x0b) throw new Error(`${file}: data segment ${i} has an offset expression longer than i32.const`);
    const length = readU32(payload, position + 1);
    position = length.position;
    segments.push({ offset: offset.value >>> 0, bytes: payload.subarray(position, position + length.value) });
    position += length.value;
  }
  return segments;
}

/** Moves the data segments of a WASM binary into a "favor.data" custom section; returns the new bytes. */
export function moveDataSegments(bytes, file = "binary") {
  const header = bytes.subarray(0, 8);
  const kept = [];
  let segments = null;
  let position = 8;
  while (position < bytes.length) {
    const id = bytes[position];
    const size = readU32(bytes, position + 1);
    const end = size.position + size.value;
    if (id === DATA_SECTION) {
      segments = parseDataSection(bytes.subarray(size.position, end), file);
    } else if (id !== DATA_COUNT_SECTION) {
      kept.push(bytes.subarray(position, end));
    }
    position = end;
  }
  if (segments === null) segments = [];

  const name = new TextEncoder().encode(DATA_SECTION_NAME);
  const payload = [...u32(name.length), ...name, ...u32(segments.length)];
  for (const segment of segments) payload.push(...u32(segment.offset), ...u32(segment.bytes.length), ...segment.bytes);
  const custom = Uint8Array.from([CUSTOM_SECTION, ...u32(payload.length), ...payload]);

  const parts = [header, ...kept, custom];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Rewrites a file in place. */
export function moveDataSegmentsInFile(file) {
  writeFileSync(file, moveDataSegments(readFileSync(file), file));
}
