#!/usr/bin/env node
// Runs one benchmark suite: `npm run bench -- <suite> [options]`, which
// builds first and then imports bench/<suite>.mjs and calls its default
// export with the remaining arguments. Add a suite by adding a file that
// exports `default async function (args)`. Benchmarks are never part of
// `npm test`.

import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(benchDir)
  .filter((file) => file.endsWith(".mjs") && file !== "run.mjs")
  .map((file) => file.slice(0, -".mjs".length))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (name === undefined || !suites.includes(name)) {
  const problem = name === undefined ? "no suite given" : `unknown suite "${name}"`;
  console.error(`bench: ${problem}; run \`npm run bench -- <suite>\` with one of: ${suites.join(", ")}`);
  process.exit(2);
}

const suite = await import(new URL(`./${name}.mjs`, import.meta.url).href);
if (typeof suite.default !== "function") {
  console.error(`bench: bench/${name}.mjs has no default export function`);
  process.exit(2);
}
await suite.default(args);
