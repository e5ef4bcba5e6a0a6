#!/usr/bin/env node
// Writes tests/conformance/corpus.json from the case generators in
// tests/conformance/cases/, with expected values from the float64
// references in tests/reference/. With --check it writes nothing and exits
// with status 1 when the committed corpus differs from what the generators
// make now (the Node conformance test runs that check).
//
// With --record-projection it records favor.projection's iid and
// orthogonal matrices in tests/conformance/cases/projection-bits.json the
// same way, for the same reason (the reference draws use the host's Math).
//
// With --record-normal it first runs random.normal on the scalar build (run
// `npm run build` before) and stores the draws of every request in
// tests/conformance/cases/random-normal-bits.json, because the float64
// normal reference uses the host's Math and cannot give exact bits. Record
// only when the requests change or the stream layout changes on purpose:
// the recording is the evidence that later builds and runtimes reproduce it.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CASE_GENERATORS } from "../tests/conformance/cases/index.js";
import { PROJECTION_REQUESTS } from "../tests/conformance/cases/projection.js";
import { RANDOM_REQUESTS } from "../tests/conformance/cases/random.js";
import { INPUT_GENERATOR } from "../tests/conformance/inputs.js";
import { CORPUS_FORMAT } from "../tests/conformance/runner.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const corpusPath = join(root, "tests", "conformance", "corpus.json");
const normalBitsPath = join(root, "tests", "conformance", "cases", "random-normal-bits.json");
const projectionBitsPath = join(root, "tests", "conformance", "cases", "projection-bits.json");

/** Builds the corpus object and checks that case ids are unique. */
export function buildCorpus() {
  const cases = CASE_GENERATORS.flatMap((generate) => generate());
  const seen = new Set();
  for (const testCase of cases) {
    if (seen.has(testCase.id)) throw new Error(`duplicate case id ${testCase.id}`);
    seen.add(testCase.id);
  }
  return { format: CORPUS_FORMAT, inputGenerator: INPUT_GENERATOR, cases };
}

/** Serializes the corpus with one case per line, so diffs stay readable. */
export function serializeCorpus(corpus) {
  const lines = corpus.cases.map((testCase) => `    ${JSON.stringify(testCase)}`);
  return `{\n  "format": ${JSON.stringify(corpus.format)},\n  "inputGenerator": ${JSON.stringify(corpus.inputGenerator)},\n` +
    `  "cases": [\n${lines.join(",\n")}\n  ]\n}\n`;
}

/** Records the scalar build's random.normal draws for every request in RANDOM_REQUESTS. */
async function recordNormalDraws() {
  const { createFavor } = await import("favor-wasm");
  const favor = await createFavor({ build: "scalar" });
  const lines = RANDOM_REQUESTS.map((request) => {
    const options = request.offset === undefined ? undefined : { offset: request.offset };
    const draws = favor.sync.random.normal(request.count, request.seed, options);
    const bits = Array.from(new Uint32Array(draws.buffer, draws.byteOffset, draws.length),
      (word) => `0x${word.toString(16).padStart(8, "0")}`);
    return `    ${JSON.stringify(`random.normal/${request.name}`)}: ${JSON.stringify(bits)}`;
  });
  const about = "random.normal draws as float32 bit patterns, recorded from the scalar WASM build in Node " +
    `${process.versions.node} by scripts/conformance-corpus.mjs --record-normal; every runtime and build must reproduce them`;
  writeFileSync(normalBitsPath, `{\n  "about": ${JSON.stringify(about)},\n  "draws": {\n${lines.join(",\n")}\n  }\n}\n`);
  console.log(`recorded ${lines.length} random.normal requests in tests/conformance/cases/random-normal-bits.json`);
}

/** Records the scalar build's projections for every request in PROJECTION_REQUESTS. */
async function recordProjections() {
  const { createFavor } = await import("favor-wasm");
  const favor = await createFavor({ build: "scalar" });
  const lines = PROJECTION_REQUESTS.map((request) => {
    const values = favor.sync.projection(request.options);
    const bits = Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length),
      (word) => `0x${word.toString(16).padStart(8, "0")}`);
    return `    ${JSON.stringify(`projection/${request.name}`)}: ${JSON.stringify(bits)}`;
  });
  const about = "projection values (kinds iid and orthogonal) as float32 bit patterns, recorded from the scalar WASM build in Node " +
    `${process.versions.node} by scripts/conformance-corpus.mjs --record-projection; every runtime and build must reproduce them`;
  writeFileSync(projectionBitsPath, `{\n  "about": ${JSON.stringify(about)},\n  "values": {\n${lines.join(",\n")}\n  }\n}\n`);
  console.log(`recorded ${lines.length} projection requests in tests/conformance/cases/projection-bits.json`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--record-normal")) await recordNormalDraws();
  if (process.argv.includes("--record-projection")) await recordProjections();
  const text = serializeCorpus(buildCorpus());
  if (process.argv.includes("--check")) {
    let committed = "";
    try {
      committed = readFileSync(corpusPath, "utf8");
    } catch {
      // A missing corpus counts as stale.
    }
    if (committed !== text) {
      console.error("tests/conformance/corpus.json is stale: run `node scripts/conformance-corpus.mjs` and commit the result");
      process.exit(1);
    }
    console.log("tests/conformance/corpus.json is up to date");
  } else {
    writeFileSync(corpusPath, text);
    const count = JSON.parse(text).cases.length;
    console.log(`wrote ${count} cases (${text.length} bytes) to tests/conformance/corpus.json`);
  }
}
