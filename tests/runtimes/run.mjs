#!/usr/bin/env node
// Runs the conformance suites outside Node: Deno, headless Chromium and
// workerd, each against a freshly packed copy of the package, plus each
// runtime's example. Usage:
//   node tests/runtimes/run.mjs [deno] [browser] [workerd] [--json=FILE]
// With no runtime named it runs all three. Prints one line per runtime and
// every failure; --json writes { runtime: { passed, failed, skipped,
// failures } } for scripts/test.mjs. Exits with status 1 on any failure.
// Needs `npm run build` first.

import { writeFileSync } from "node:fs";
import { runBrowser } from "./browser.mjs";
import { makeConsumer } from "./consumer.mjs";
import { runDeno } from "./deno.mjs";
import { runWorkerd } from "./workerd.mjs";

const RUNNERS = { deno: runDeno, browser: runBrowser, workerd: runWorkerd };

const args = process.argv.slice(2);
const jsonArg = args.find((arg) => arg.startsWith("--json="));
const names = args.filter((arg) => !arg.startsWith("--"));
for (const name of names) {
  if (!(name in RUNNERS)) {
    console.error(`runtimes: unknown runtime ${JSON.stringify(name)}; choose from ${Object.keys(RUNNERS).join(", ")}`);
    process.exit(2);
  }
}
const selected = names.length > 0 ? names : Object.keys(RUNNERS);

const consumer = makeConsumer();
const results = {};
try {
  for (const name of selected) {
    const start = performance.now();
    try {
      results[name] = await RUNNERS[name]({ consumerDir: consumer.dir });
    } catch (error) {
      results[name] = { passed: 0, failed: 1, skipped: 0, failures: [{ id: name, message: error.stack ?? String(error) }] };
    }
    const { passed, failed, skipped, failures } = results[name];
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    console.log(`runtime ${name}: ${passed} passed, ${failed} failed, ${skipped} skipped (${seconds} s)`);
    for (const failure of failures) console.log(`  FAIL ${name} ${failure.id}: ${failure.message}`);
    for (const reason of results[name].skipReasons ?? []) console.log(`  SKIP ${name}: ${reason}`);
  }
} finally {
  consumer.remove();
}

if (jsonArg) writeFileSync(jsonArg.slice("--json=".length), JSON.stringify(results, null, 2));
process.exit(Object.values(results).some((result) => result.failed > 0) ? 1 : 0);
