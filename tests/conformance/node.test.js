// The Node.js conformance runner: every corpus case on every WASM build,
// one node:test test per case, through the package's "node" entry
// (imported by name, so package.json "exports" is what resolves it). Also
// checks the committed corpus against its generators, the WASM sources
// createFavor accepts on Node, the export conditions and the declarations.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as favorWasm from "favor-wasm";
import { buildCorpus, serializeCorpus } from "../../scripts/conformance-corpus.mjs";
import { BUILDS, backendKey, checkCorpus, runCase } from "./runner.js";
import { runSourceChecks, standardSources } from "./sources.js";

const { createFavor } = favorWasm;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const corpusText = readFileSync(join(root, "tests", "conformance", "corpus.json"), "utf8");
const corpus = JSON.parse(corpusText);
const tolerances = JSON.parse(readFileSync(join(root, "tests", "conformance", "tolerances.json"), "utf8"));
const probe = await createFavor({ build: "scalar" });

test("corpus matches its generators", () => {
  checkCorpus(corpus, tolerances);
  assert.ok(serializeCorpus(buildCorpus()) === corpusText,
    "tests/conformance/corpus.json is stale: run `node scripts/conformance-corpus.mjs` and commit it");
});

for (const build of BUILDS) {
  const skip = probe.info.supportedBuilds.includes(build)
    ? false
    : `the engine rejects the ${build} build (npm test enables relaxed SIMD on Node 20)`;
  describe(`conformance (node, ${build})`, { skip }, () => {
    let favor;
    test("tolerance table has this backend", async () => {
      favor = await createFavor({ build });
      assert.ok(tolerances.backends[backendKey(favor)], `no tolerances for ${backendKey(favor)}`);
    });
    for (const testCase of corpus.cases) {
      test(testCase.id, async () => {
        favor ??= await createFavor({ build });
        const result = await runCase(favor, testCase, tolerances);
        assert.ok(result.ok, result.message);
      });
    }
  });
}

describe("wasm sources (node)", () => {
  const scalarPath = join(root, "build", "favor.scalar.wasm");
  const readBytes = async () => new Uint8Array(readFileSync(scalarPath));
  const wasmResponse = async (type) => new Response(await readBytes(), { headers: { "content-type": type } });
  const sources = standardSources({
    binaryUrl: pathToFileURL(scalarPath).href,
    readBytes,
    // Node's fetch does not read file: URLs, so the Response is built from the bytes.
    fetchBinary: () => wasmResponse("application/wasm"),
    relativeString: "build/favor.scalar.wasm",
    extra: [
      { name: "absolute-path", options: () => ({ build: "scalar", wasm: scalarPath }) },
      { name: "response-without-wasm-type", options: async () => ({ build: "scalar", wasm: await wasmResponse("application/octet-stream") }) },
      { name: "failed-response", options: () => ({ build: "scalar", wasm: new Response("missing", { status: 404 }) }),
        rejects: /failed with HTTP 404/ },
      { name: "not-a-source", options: () => ({ build: "scalar", wasm: 42 }), rejects: /TypeError: createFavor: the scalar binary must be/ },
      { name: "missing-file", options: () => ({ build: "scalar", wasm: "build/no-such.wasm" }), rejects: /ENOENT/ },
    ],
  });
  for (const source of sources) {
    test(source.name, async () => {
      const previous = process.cwd();
      process.chdir(root);
      try {
        const summary = await runSourceChecks(createFavor, [source]);
        assert.equal(summary.failed, 0, summary.failures.map((f) => f.message).join("\n"));
      } finally {
        process.chdir(previous);
      }
    });
  }
});

describe("package entries", () => {
  const expectations = {
    node: "dist/runtime/node.js",
    deno: "dist/runtime/deno.js",
    workerd: "dist/runtime/workerd.js",
  };
  for (const [condition, file] of Object.entries(expectations)) {
    test(`"${condition}" condition resolves to ${file}`, () => {
      const result = spawnSync(process.execPath, ["-C", condition, "--input-type=module", "-e",
        "process.stdout.write(import.meta.resolve('favor-wasm'))"], { cwd: root, encoding: "utf8" });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, pathToFileURL(join(root, file)).href);
    });
  }

  test("wasm subpaths resolve to build/", () => {
    for (const build of BUILDS) {
      assert.equal(import.meta.resolve(`favor-wasm/wasm/${build}.wasm`), pathToFileURL(join(root, "build", `favor.${build}.wasm`)).href);
    }
  });

  test("entries export the same names", async () => {
    const generic = Object.keys(await import("../../dist/index.js")).sort();
    for (const entry of ["node", "deno", "browser"]) {
      const names = Object.keys(await import(`../../dist/runtime/${entry}.js`)).sort();
      assert.deepEqual(names, generic, `dist/runtime/${entry}.js`);
    }
    assert.deepEqual(Object.keys(favorWasm).sort(), generic, "favor-wasm in Node");
  });

  test("deno entry fails clearly outside Deno", async () => {
    const deno = await import("../../dist/runtime/deno.js");
    await assert.rejects(deno.createFavor({ build: "scalar", wasm: "build/favor.scalar.wasm" }), /loaded outside Deno/);
  });

  test("declarations type-check a consumer", () => {
    for (const entry of ["index", "runtime/node", "runtime/deno", "runtime/browser", "runtime/workerd"]) {
      assert.ok(existsSync(join(root, "dist", `${entry}.d.ts`)), `dist/${entry}.d.ts is missing`);
    }
    // A consumer that names every public symbol, resolved through
    // package.json the way a TypeScript project resolves a dependency.
    const dir = mkdtempSync(join(tmpdir(), "favor-types-"));
    try {
      const consumer = join(root, "tests", "conformance", "types-consumer.ts");
      const config = {
        compilerOptions: {
          target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true,
          lib: ["ES2022", "DOM"], types: [], skipLibCheck: false,
        },
        files: [consumer],
      };
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config));
      const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(dir, "tsconfig.json")],
        { cwd: root, encoding: "utf8" });
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("node example runs", () => {
  const result = spawnSync(process.execPath, [join(root, "examples", "node", "main.mjs")], { cwd: root, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /C = \[\[58, 64\], \[139, 154\]\]/);
  assert.match(result.stdout, /256×256 matmul on the \w+ build: [\d.]+ ms/);
});
