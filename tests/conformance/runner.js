// Runs conformance cases against a loaded Favor instance. Plain JavaScript
// with no runtime APIs, so the Node, Deno, Chromium and workerd runners all
// share it: each runner only loads the corpus and tolerance table, creates
// Favor instances and reports what this file returns. The case format and
// the tolerance rules are described in docs/RUNTIMES.md.

import { INPUT_GENERATOR, generateInput, hashFloat32 } from "./inputs.js";

/** The corpus format this runner reads. */
export const CORPUS_FORMAT = "favor-conformance/1";

/** The WASM builds, in the order runners try them. */
export const BUILDS = ["scalar", "simd", "relaxed"];

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
  return `${favor.info.backend}-${favor.info.build}`;
}

/** Replaces every { "$input": name } inside `value` with that generated input. */
function resolveArgument(value, inputs) {
  if (Array.isArray(value)) return value.map((item) => resolveArgument(item, inputs));
  if (value !== null && typeof value === "object") {
    if (typeof value.$input === "string") {
      const array = inputs[value.$input];
      if (array === undefined) throw new Error(`argument refers to the unknown input ${JSON.stringify(value.$input)}`);
      return array;
    }
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
    const hash = hashFloat32(array);
    if (hash !== spec.hash) {
      throw new Error(`input ${name} hashes to ${hash}, the corpus says ${spec.hash}: this runtime generated different inputs`);
    }
    inputs[name] = array;
  }
  return inputs;
}

/** Picks the array an output names: "return", "return.FIELD" or "input.NAME". */
function selectOutput(from, returned, inputs) {
  if (from === "return") return returned;
  if (from.startsWith("return.")) return returned?.[from.slice("return.".length)];
  if (from.startsWith("input.")) return inputs[from.slice("input.".length)];
  throw new Error(`output source ${JSON.stringify(from)} is not "return", "return.FIELD" or "input.NAME"`);
}

function asNumber(value) {
  return typeof value === "number" ? value : Number(value);
}

/**
 * Returns the largest allowed |actual − expected| for element i, or null
 * for a bit-exact check. The rules:
 *   exact: same float32 bits (expected is stored as a float32 value).
 *   dot:   (factor·terms + extra)·eps·magnitude[i] + absolute, the
 *          standard bound for a sum of `terms` float32 products whose
 *          absolute values add up to magnitude[i].
 *   ulp:   ulps·ulp(expected[i]) + absolute, where ulp(x) is the spacing
 *          of float32 values at |x| (2^-149 for subnormals and zero).
 */
function boundFor(check, rule, eps, expected, i) {
  switch (check.kind) {
    case "exact":
      return null;
    case "dot":
      return (rule.factor * check.terms + rule.extra) * eps * check.magnitude[i] + (rule.absolute ?? 0);
    case "ulp":
      return rule.ulps * ulpOfFloat32(expected) + (rule.absolute ?? 0);
    default:
      throw new Error(`unknown check kind ${JSON.stringify(check.kind)}`);
  }
}

/** Returns the spacing of float32 values at |x|. */
export function ulpOfFloat32(x) {
  const magnitude = Math.abs(x);
  if (!(magnitude >= 2 ** -126)) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(magnitude)) - 23);
}

const bitsScratch = new Float32Array(2);
const bitsView = new Uint32Array(bitsScratch.buffer);

function sameFloat32Bits(a, b) {
  bitsScratch[0] = a;
  bitsScratch[1] = b;
  return bitsView[0] === bitsView[1];
}

/** Compares one output; returns null when it passes, else a message naming the first bad element. */
function compareOutput(name, actual, output, rule, eps) {
  if (!(actual instanceof Float32Array)) {
    return `output ${name} (${output.from}) is not a Float32Array`;
  }
  const expected = output.expected;
  if (actual.length !== expected.length) {
    return `output ${name} has length ${actual.length}, expected ${expected.length}`;
  }
  for (let i = 0; i < expected.length; i++) {
    const want = asNumber(expected[i]);
    const got = actual[i];
    const bound = boundFor(output.check, rule, eps, want, i);
    if (bound === null) {
      if (!sameFloat32Bits(got, want)) return `output ${name}[${i}] is ${got}, expected exactly ${want}`;
    } else if (!(Math.abs(got - want) <= bound)) {
      return `output ${name}[${i}] is ${got}, expected ${want} within ${bound} (error ${Math.abs(got - want)})`;
    }
  }
  return null;
}

/** Finds the tolerance rule for one op and check kind on one backend. */
function ruleFor(tolerances, backend, op, kind) {
  const table = tolerances.backends[backend];
  if (table === undefined) throw new Error(`the tolerance table has no backend ${JSON.stringify(backend)}`);
  if (kind === "exact") return {};
  const rule = table[op]?.[kind];
  if (rule === undefined) {
    throw new Error(`the tolerance table has no "${kind}" rule for ${op} on ${backend}; add one to tests/conformance/tolerances.json`);
  }
  return rule;
}

/**
 * Runs one case on one Favor instance through the Promise API. Returns
 * { ok: true } or { ok: false, message }. Inputs that the case does not
 * list in `writes` must come back bit-identical.
 */
export async function runCase(favor, testCase, tolerances) {
  const backend = backendKey(favor);
  try {
    const fn = favor[testCase.op];
    if (typeof fn !== "function") return { ok: false, message: `favor.${testCase.op} does not exist` };
    const inputs = makeInputs(testCase);
    const pristine = Object.fromEntries(Object.entries(inputs).map(([name, array]) => [name, array.slice()]));
    const args = resolveArgument(testCase.args, inputs);
    const returned = await fn.apply(favor, args);
    for (const [name, output] of Object.entries(testCase.outputs)) {
      const rule = ruleFor(tolerances, backend, testCase.op, output.check.kind);
      const problem = compareOutput(name, selectOutput(output.from, returned, inputs), output, rule, tolerances.eps);
      if (problem !== null) return { ok: false, message: problem };
    }
    const writes = new Set(testCase.writes ?? []);
    for (const [name, array] of Object.entries(inputs)) {
      if (writes.has(name)) continue;
      for (let i = 0; i < array.length; i++) {
        if (!sameFloat32Bits(array[i], pristine[name][i])) {
          return { ok: false, message: `input ${name}[${i}] changed from ${pristine[name][i]} to ${array[i]}` };
        }
      }
    }
    return { ok: true };
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
