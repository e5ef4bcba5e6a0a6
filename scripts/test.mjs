#!/usr/bin/env node
// Runs every test and prints one summary line:
//   1. builds what is stale (scripts/build.mjs);
//   2. the as-pect kernel specs, once per ISA (scalar, simd, relaxed);
//   3. the node:test suites under tests/unit and the Node conformance runner
//      (tests/conformance/node.test.js) with relaxed SIMD enabled, so all
//      three binaries run the same cases;
//   4. the conformance suites in Deno, headless Chromium and workerd, and
//      each runtime's example (tests/runtimes/run.mjs).
// Extra arguments are passed to node --test (for example a file path), and
// then only node --test runs.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const extra = process.argv.slice(2);
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";
const nodeMajor = Number(process.versions.node.split(".")[0]);
// Node 22 and later run relaxed SIMD without a flag.
const relaxedFlags = nodeMajor < 22 ? [RELAXED_FLAG] : [];

function run(command, args, env = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 256 * 1024 * 1024,
  });
  process.stdout.write(result.stdout ?? "");
  process.stderr.write(result.stderr ?? "");
  return result;
}

const stripAnsi = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");

const build = run(process.execPath, [join(root, "scripts", "build.mjs"), "--quiet"]);
if (build.status !== 0) process.exit(1);

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

// as-pect: one run per ISA; its summary line reads "[Tests]: P / T".
// The runner starts from lib/test.js rather than bin/asp.js, because the bin
// script re-spawns `node` without this process's flags, so the relaxed spec
// binaries would fail to compile there.
if (extra.length === 0) {
  for (const isa of ["scalar", "simd", "relaxed"]) {
    const result = run(
      process.execPath,
      [...relaxedFlags, join(root, "node_modules", "@as-pect", "cli", "lib", "test.js"),
        "--config", "tests/assembly/as-pect.config.js", "--as-config", `tests/assembly/as-pect.${isa}.json`,
        "--summary", "--no-logo"],
      { NO_COLOR: "1", FORCE_COLOR: "0" },
    );
    const match = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(stripAnsi(result.stdout ?? ""));
    if (!match || result.status !== 0) {
      failures.push(`as-pect (${isa}) exited with ${result.status}`);
      failed += match ? Number(match[2]) - Number(match[1]) || 1 : 1;
      if (match) passed += Number(match[1]);
      continue;
    }
    passed += Number(match[1]);
    failed += Number(match[2]) - Number(match[1]);
  }
}

// node:test: the spec reporter goes to the console, TAP to a file we count.
const tapDir = mkdtempSync(join(tmpdir(), "favor-test-"));
const tapFile = join(tapDir, "unit.tap");
const unitFiles = extra.length > 0
  ? extra
  : [
    ...readdirSync(join(root, "tests", "unit")).filter((f) => f.endsWith(".test.js")).sort().map((f) => join("tests", "unit", f)),
    join("tests", "conformance", "node.test.js"),
  ];
const unit = run(process.execPath, [
  ...relaxedFlags, "--test",
  "--test-reporter=spec", "--test-reporter-destination=stdout",
  "--test-reporter=tap", `--test-reporter-destination=${tapFile}`,
  ...unitFiles,
]);
const tap = readFileSync(tapFile, "utf8");
const count = (name) => Number((new RegExp(`^# ${name} (\\d+)$`, "m").exec(tap) ?? [])[1] ?? 0);
passed += count("pass");
failed += count("fail") + count("cancelled");
skipped += count("skipped") + count("todo");
if (unit.status !== 0) failures.push(`node --test exited with ${unit.status}`);
if (count("pass") + count("fail") === 0) failures.push("node --test ran no test");

// The other runtimes: one summary per runtime in a JSON file.
if (extra.length === 0) {
  const reportFile = join(tapDir, "runtimes.json");
  const runtimes = run(process.execPath, [join(root, "tests", "runtimes", "run.mjs"), `--json=${reportFile}`]);
  let report = {};
  try {
    report = JSON.parse(readFileSync(reportFile, "utf8"));
  } catch {
    failures.push(`tests/runtimes/run.mjs wrote no report (exit ${runtimes.status})`);
    failed++;
  }
  for (const [name, result] of Object.entries(report)) {
    passed += result.passed;
    failed += result.failed;
    skipped += result.skipped;
    if (result.passed + result.failed === 0) failures.push(`runtime ${name} ran no test`);
  }
  if (runtimes.status !== 0) failures.push(`tests/runtimes/run.mjs exited with ${runtimes.status}`);
}

rmSync(tapDir, { recursive: true, force: true });

console.log("");
for (const failure of failures) console.log(`failure: ${failure}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failures.length > 0 || failed > 0 ? 1 : 0);
