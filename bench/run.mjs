#!/usr/bin/env node
// Runs benchmark suites: `npm run bench -- <suite> [options]` runs one, and
// `npm run bench [-- options]` runs all of them in name order. The npm
// script builds first; this file imports bench/<suite>.mjs and calls its
// default export with the options. Add a suite by adding a file that
// exports `default async function (args)`. Benchmarks are never part of
// `npm test`.

import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));
// A suite is a file with a default export; the others in bench/ are shared
// modules (benchmarks-doc.mjs) or scripts run on their own (their first
// comment says how), which a plain `npm run bench` must not try to run.
const suites = readdirSync(benchDir)
  .filter((file) => file.endsWith(".mjs") && file !== "run.mjs")
  .filter((file) => /^export default\b/m.test(readFileSync(join(benchDir, file), "utf8")))
  .map((file) => file.slice(0, -".mjs".length))
  .sort();

const argv = process.argv.slice(2);

// With no suite name (nothing, or only options), every suite runs in turn
// with the same options. A suite that fails does not stop the others.
if (argv.length === 0 || argv[0].startsWith("--")) {
  const failed = [];
  for (const suiteName of suites) {
    console.log(`bench: running ${suiteName}`);
    try {
      await runSuite(suiteName, argv);
    } catch (error) {
      console.error(`bench: ${suiteName} failed: ${error.stack ?? error}`);
      failed.push(suiteName);
    }
  }
  if (failed.length > 0) {
    console.error(`bench: ${failed.length} of ${suites.length} suites failed: ${failed.join(", ")}`);
    process.exit(1);
  }
} else {
  const [name, ...args] = argv;
  if (!suites.includes(name)) {
    console.error(`bench: unknown suite "${name}"; run \`npm run bench\` for every suite or \`npm run bench -- <suite>\` with one of: ${suites.join(", ")}`);
    process.exit(2);
  }
  await runSuite(name, args);
}

/** Imports bench/<name>.mjs and awaits its default export with the arguments. */
async function runSuite(name, args) {
  const suite = await import(new URL(`./${name}.mjs`, import.meta.url).href);
  if (typeof suite.default !== "function") throw new TypeError(`bench/${name}.mjs has no default export function`);
  await suite.default(args);
}
