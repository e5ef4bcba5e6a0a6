// Argument checks shared by every op. Each check throws a TypeError (wrong
// type) or RangeError (right type, invalid value) whose message names the
// op, the argument, the value received and the rule it broke. Kernels do
// not check anything, so every public op validates here first.

import { log } from "./log.js";

/** The largest number of bytes a 32-bit WebAssembly memory can address. */
export const WASM_MEMORY_LIMIT_BYTES = 4 * 1024 * 1024 * 1024;

/** Returns "an" or "a" for a type name: "an Int8Array", "an Object", but "a Uint8Array". */
function article(name: string): string {
  return /^[AEIO]/.test(name) ? "an" : "a";
}

/** Formats a value for an error message without dumping large arrays. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const length = (value as unknown as { length?: number }).length;
    return `${article(value.constructor.name)} ${value.constructor.name}${length === undefined ? "" : ` of length ${length}`}`;
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "function") return "a function";
  const name = (value as object).constructor?.name;
  if (name === undefined) return "a value";
  return `${article(name)} ${name}`;
}

/** Requires a Float32Array; returns it. */
export function requireFloat32Array(op: string, name: string, value: unknown): Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new TypeError(`${op}: ${name} must be a Float32Array, got ${describe(value)}`);
  }
  return value;
}

/** Requires a Float32Array of exactly `length` elements, explaining where the length comes from. */
export function requireFloat32Length(op: string, name: string, value: unknown, length: number, rule: string): Float32Array {
  const array = requireFloat32Array(op, name, value);
  if (array.length !== length) {
    throw new RangeError(`${op}: ${name} has length ${array.length}, expected ${length} (${rule})`);
  }
  return array;
}

/** Requires a Float32Array of at least `length` elements. */
export function requireFloat32MinLength(op: string, name: string, value: unknown, length: number, rule: string): Float32Array {
  const array = requireFloat32Array(op, name, value);
  if (array.length < length) {
    throw new RangeError(`${op}: ${name} has length ${array.length}, expected at least ${length} (${rule})`);
  }
  return array;
}

/** Requires a non-negative integer (or at least `min`); returns it. */
export function requireInteger(op: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== "number") {
    throw new TypeError(`${op}: ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${op}: ${name} must be an integer >= ${min}, got ${value}`);
  }
  if (value > 0x7fffffff) {
    throw new RangeError(`${op}: ${name} is ${value}, larger than the largest supported size 2147483647`);
  }
  return value;
}

/** Returns `value`, or `fallback` when it is undefined, checked as an integer >= min. */
export function optionalInteger(op: string, name: string, value: unknown, fallback: number, min = 0): number {
  return value === undefined ? fallback : requireInteger(op, name, value, min);
}

/** Requires a finite number; returns it. */
export function requireFinite(op: string, name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${op}: ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new RangeError(`${op}: ${name} must be finite, got ${value}`);
  }
  return value;
}

/** Returns a boolean option, or `fallback` when it is undefined. */
export function optionalBoolean(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`${op}: ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

/** Requires one of the listed strings; returns it. */
export function requireChoice<T extends string>(op: string, name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== "string" || !(choices as readonly string[]).includes(value)) {
    throw new RangeError(`${op}: ${name} must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, got ${describe(value)}`);
  }
  return value as T;
}

/** Returns the number of single-letter edits between a and b, stopping at limit + 1. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = current;
  }
  return previous[b.length];
}

/** Pairs of op and option name already warned about, so that a loop of calls warns once. */
const warnedOptions = new Set<string>();

/**
 * Logs a warning, once per op and name, for each key of opts that the op
 * does not read, naming a known option it resembles (same letters in
 * another case, or at most 2 edits away). Unknown keys are not errors,
 * because callers often pass one options object to several ops.
 */
export function warnUnknownOptions(op: string, opts: object, known: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key) || warnedOptions.has(`${op}\0${key}`)) continue;
    warnedOptions.add(`${op}\0${key}`);
    const near = known.find((name) => name.toLowerCase() === key.toLowerCase())
      ?? known.find((name) => editDistance(name.toLowerCase(), key.toLowerCase(), 2) <= 2);
    log.warn(() => `${op}: ignored the option ${JSON.stringify(key)}, which it does not read` +
      (near === undefined ? "" : `; did you mean ${JSON.stringify(near)}?`));
  }
}

/** Requires an options object; returns it. */
export function requireOptions<T extends object>(op: string, value: unknown): T {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${op}: options must be an object, got ${describe(value)}`);
  }
  return value as T;
}

/**
 * Checks that buffers totalling `elements` float32 values fit in a 32-bit
 * WebAssembly memory, before anything is allocated.
 */
export function requireFitsInMemory(op: string, elements: number, what: string): void {
  const bytes = elements * 4;
  if (!Number.isSafeInteger(bytes) || bytes >= WASM_MEMORY_LIMIT_BYTES) {
    throw new RangeError(
      `${op}: ${what} need ${bytes} bytes, more than the 4 GiB a WebAssembly memory can hold; split the problem into smaller calls`,
    );
  }
}

/** Requires that `out` shares no memory with `input` (both views of one buffer may still be disjoint). */
export function requireNoOverlap(op: string, outName: string, out: Float32Array, inputName: string, input: Float32Array): void {
  if (out.buffer !== input.buffer) return;
  const disjoint = out.byteOffset >= input.byteOffset + input.byteLength || input.byteOffset >= out.byteOffset + out.byteLength;
  if (!disjoint && out.byteLength > 0 && input.byteLength > 0) {
    throw new RangeError(`${op}: ${outName} overlaps ${inputName} in memory; pass a separate output array`);
  }
}

/** Requires every element of `array` to be finite, naming the first one that is not. */
export function requireAllFinite(op: string, name: string, array: Float32Array): void {
  for (let i = 0; i < array.length; i++) {
    if (!Number.isFinite(array[i])) {
      throw new RangeError(`${op}: ${name}[${i}] is ${array[i]}; every entry must be finite`);
    }
  }
}
