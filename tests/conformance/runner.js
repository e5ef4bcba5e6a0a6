// Runs conformance cases against a loaded Favor instance. Plain JavaScript
// with no runtime APIs, so the Node, Deno, Chromium and workerd runners all
// share it: each runner only loads the corpus and tolerance table, creates
// Favor instances and reports what this file returns. checks.js compares the
// outputs. The case format and the tolerance rules are described in
// docs/RUNTIMES.md.

import { RULELESS_KINDS, compareOutput, sameFloat32Bits, selectArray } from "./checks.js";
import { INPUT_GENERATOR, generateInput, hashInput } from "./inputs.js";

/** The corpus format this runner reads. */
export const CORPUS_FORMAT = "favor-conformance/2";

/** The WASM builds, in the order runners try them. */
export const BUILDS = ["scalar", "simd", "relaxed"];

/** Ops whose corpus cases the runners also run on backend "webgpu" (the ops with a WGSL path). */
export const WEBGPU_OPS = ["matmul", "features", "attention", "householder.apply", "attentionBackward"];

/** Rejects a corpus or tolerance table this runner cannot read. */
export function checkCorpus(corpus, tolerances) {
  if (corpus?.format !== CORPUS_FORMAT) {
    throw new Error(`conformance: corpus format is ${JSON.stringify(corpus?.format)}, expected ${JSON.stringify(CORPUS_FORMAT)}`);
  }
  if (corpus.inputGenerator !== INPUT_GENERATOR) {
    throw new Error(`conformance: corpus inputs come from ${JSON.stringify(corpus.inputGenerator)}, this runner makes ${JSON.stringify(INPUT_GENERATOR)}`);
  }
  if (tolerances?.format !== "favor-tolerances/1") {
    throw new Error(`conformance: tolerance table format is ${JSON.stringify(tolerances?.format)}, expected "favor-tolerances/1"`);
  }
}

/** Returns the backend key of the tolerance table for a Favor instance, for example "wasm-simd". */
export function backendKey(favor) {
  // A WebGPU instance has one row: its GPU ops share a contract whatever WASM build runs the rest.
  if (favor.info.backend === "webgpu") return "webgpu";
  return `${favor.info.backend}-${favor.info.build}`;
}

/**
 * Replaces every { "$input": name } inside `value` with that generated input
 * and every { "$bigint": "digits" } with that bigint (JSON has no bigints).
 */
function resolveArgument(value, inputs) {
  if (Array.isArray(value)) return value.map((item) => resolveArgument(item, inputs));
  if (value !== null && typeof value === "object") {
    if (typeof value.$input === "string") {
      const array = inputs[value.$input];
      if (array === undefined) throw new Error(`argument refers to the unknown input ${JSON.stringify(value.$input)}`);
      return array;
    }
    if (typeof value.$bigint === "string") return BigInt(value.$bigint);
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = resolveArgument(item, inputs);
    return out;
  }
  return value;
}

/** Generates a case's inputs and checks their hashes. */
function makeInputs(testCase) {
  const inputs = {};
  for (const [name, spec] of Object.entries(testCase.inputs ?? {})) {
    const array = generateInput(spec);
    const hash = hashInput(array);
    if (hash !== spec.hash) {
      throw new Error(`input ${name} hashes to ${hash}, the corpus says ${spec.hash}: this runtime generated different inputs`);
    }
    inputs[name] = array;
  }
  return inputs;
}

/** Finds the method an op names, such as "qr" or "random.normal", with the object it belongs to. */
function resolveOp(favor, op) {
  const path = op.split(".");
  let owner = favor;
  for (const key of path.slice(0, -1)) owner = owner?.[key];
  const fn = owner?.[path[path.length - 1]];
  return typeof fn === "function" ? { owner, fn } : null;
}

/** Finds the tolerance rule for one op and check kind on one backend. */
function ruleFor(tolerances, backend, op, kind) {
  const table = tolerances.backends[backend];
  if (table === undefined) throw new Error(`the tolerance table has no backend ${JSON.stringify(backend)}`);
  if (RULELESS_KINDS.has(kind)) return {};
  const rule = table[op]?.[kind];
  if (rule === undefined) {
    throw new Error(`the tolerance table has no "${kind}" rule for ${op} on ${backend}; add one to tests/conformance/tolerances.json`);
  }
  return rule;
}

/** Returns null when the call failed as the case's `rejects` expects, else a message. */
function checkRejection(expected, error) {
  if (error === undefined) return `resolved, but was expected to reject with a ${expected.name}`;
  const name = error?.name ?? typeof error;
  const message = error?.message ?? String(error);
  if (name !== expected.name || !message.includes(expected.message)) {
    return `rejected with ${name}: ${message}; expected a ${expected.name} whose message contains ${JSON.stringify(expected.message)}`;
  }
  return null;
}

/** Returns null when every input not listed in `writes` kept its bits, else a message. */
function checkUnchanged(testCase, inputs, pristine) {
  const writes = new Set(testCase.writes ?? []);
  for (const [name, array] of Object.entries(inputs)) {
    if (writes.has(name)) continue;
    for (let i = 0; i < array.length; i++) {
      if (!sameFloat32Bits(array[i], pristine[name][i])) {
        return `input ${name}[${i}] changed from ${pristine[name][i]} to ${array[i]}`;
      }
    }
  }
  return null;
}

/**
 * Runs one case on one Favor instance through the Promise API. Returns
 * { ok: true } or { ok: false, message }. Each pair in `identical` must
 * name the same object (an op that writes into a given output returns that
 * array). Inputs that the case does not list in `writes` must come back
 * bit-identical, also when the case expects the call to reject.
 */
export async function runCase(favor, testCase, tolerances) {
  const backend = backendKey(favor);
  try {
    const method = resolveOp(favor, testCase.op);
    if (method === null) return { ok: false, message: `favor.${testCase.op} does not exist` };
    const inputs = makeInputs(testCase);
    const pristine = Object.fromEntries(Object.entries(inputs).map(([name, array]) => [name, array.slice()]));
    const args = resolveArgument(testCase.args, inputs);

    if (testCase.rejects !== undefined) {
      let error;
      try {
        await method.fn.apply(method.owner, args);
      } catch (caught) {
        error = caught ?? new Error(`threw ${caught}`);
      }
      const problem = checkRejection(testCase.rejects, error) ?? checkUnchanged(testCase, inputs, pristine);
      return problem === null ? { ok: true } : { ok: false, message: problem };
    }

    const returned = await method.fn.apply(method.owner, args);
    for (const [first, second] of testCase.identical ?? []) {
      if (selectArray(first, returned, inputs) !== selectArray(second, returned, inputs)) {
        return { ok: false, message: `${first} is not the same object as ${second}` };
      }
    }
    for (const [name, output] of Object.entries(testCase.outputs)) {
      const rule = ruleFor(tolerances, backend, testCase.op, output.check.kind);
      const problem = compareOutput(name, output, { returned, inputs, rule, eps: tolerances.eps });
      if (problem !== null) return { ok: false, message: problem };
    }
    const problem = checkUnchanged(testCase, inputs, pristine);
    return problem === null ? { ok: true } : { ok: false, message: problem };
  } catch (error) {
    return { ok: false, message: `threw ${error?.name ?? "an error"}: ${error?.message ?? String(error)}` };
  }
}

/**
 * Runs every case on every build the engine supports. `createFavor` is the
 * runtime's entry; `favorOptions` is merged into each createFavor call (a
 * browser page passes its `wasm` URLs there). Returns
 * { passed, failed, skipped, failures: [{ id, build, message }] }.
 */
export async function runCorpus({ corpus, tolerances, createFavor, favorOptions = {}, builds = BUILDS }) {
  checkCorpus(corpus, tolerances);
  const summary = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const probe = await createFavor({ ...favorOptions, build: "scalar" });
  for (const build of builds) {
    if (!probe.info.supportedBuilds.includes(build)) {
      summary.skipped += corpus.cases.length;
      continue;
    }
    const favor = await createFavor({ ...favorOptions, build });
    for (const testCase of corpus.cases) {
      const result = await runCase(favor, testCase, tolerances);
      if (result.ok) {
        summary.passed++;
      } else {
        summary.failed++;
        summary.failures.push({ id: testCase.id, build, message: result.message });
      }
    }
  }
  return summary;
}
