// The Deno conformance runner: every corpus case on every WASM build, one
// Deno.test per case, through the package's "deno" entry (imported by
// name, resolved through package.json "exports"). Also checks the WASM
// sources createFavor accepts on Deno. tests/runtimes/deno.mjs copies this
// folder next to an installed copy of the packed package and runs
//   deno test -A --no-lock conformance/deno.test.js
// there; inside the repository the same command finds the package through
// its own package.json.

import * as favorWasm from "favor-wasm";
import { BUILDS, backendKey, checkCorpus, runCase } from "./runner.js";
import { checkSource, standardSources } from "./sources.js";

const { createFavor } = favorWasm;
const here = new URL(".", import.meta.url);
const corpus = JSON.parse(await Deno.readTextFile(new URL("corpus.json", here)));
const tolerances = JSON.parse(await Deno.readTextFile(new URL("tolerances.json", here)));
checkCorpus(corpus, tolerances);
const probe = await createFavor({ build: "scalar" });

function fail(message) {
  throw new Error(message);
}

Deno.test("favor-wasm resolves to the deno entry", () => {
  const resolved = import.meta.resolve("favor-wasm");
  if (!resolved.endsWith("/dist/runtime/deno.js")) fail(`favor-wasm resolved to ${resolved}`);
});

for (const build of BUILDS) {
  const ignore = !probe.info.supportedBuilds.includes(build);
  let favor;
  for (const testCase of corpus.cases) {
    Deno.test({
      name: `conformance (deno, ${build}) ${testCase.id}`,
      ignore,
      async fn() {
        favor ??= await createFavor({ build });
        if (!tolerances.backends[backendKey(favor)]) fail(`no tolerances for ${backendKey(favor)}`);
        const result = await runCase(favor, testCase, tolerances);
        if (!result.ok) fail(result.message);
      },
    });
  }
}

const scalarUrl = new URL(import.meta.resolve("favor-wasm/wasm/scalar.wasm"));
const binaryDir = new URL(".", scalarUrl);
const sources = standardSources({
  binaryUrl: scalarUrl.href,
  readBytes: () => Deno.readFile(scalarUrl),
  // Deno's fetch reads file: URLs.
  fetchBinary: () => fetch(scalarUrl),
  relativeString: "favor.scalar.wasm",
  extra: [
    { name: "absolute-path", options: () => ({ build: "scalar", wasm: decodeURIComponent(scalarUrl.pathname) }) },
    { name: "missing-file", options: () => ({ build: "scalar", wasm: "no-such.wasm" }), rejects: /NotFound|No such file/ },
  ],
});
for (const source of sources) {
  Deno.test(`wasm source (deno) ${source.name}`, async () => {
    // Relative string sources resolve against the current directory.
    const previous = Deno.cwd();
    Deno.chdir(binaryDir);
    try {
      const problem = await checkSource(createFavor, source);
      if (problem !== null) fail(problem);
    } finally {
      Deno.chdir(previous);
    }
  });
}
