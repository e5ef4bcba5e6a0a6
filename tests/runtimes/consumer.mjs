// Builds a throwaway project that has favor-wasm installed the way users
// get it: `npm pack` of this repository unpacked into node_modules/, next
// to a copy of its one runtime dependency and of tests/conformance/. The
// Deno, Chromium and workerd runners work from there, so they test the
// published file list and package.json "exports", not the source tree.

import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}: ${result.stderr || result.error?.message}`);
  }
  return result.stdout;
}

/**
 * Runs the npm that started this process when there is one. Under `npm
 * test`, PATH starts with node_modules/.bin, which contains an old npm 6
 * pulled in by a dev dependency, so a plain "npm" would find that one.
 */
function npm(args, cwd) {
  const cli = process.env.npm_execpath;
  if (cli && /npm-cli\.c?js$/.test(cli)) return run(process.execPath, [cli, ...args], cwd);
  return run("npm", args, cwd);
}

/** Creates the consumer project; returns { dir, remove }. */
export function makeConsumer() {
  const dir = mkdtempSync(join(tmpdir(), "favor-consumer-"));
  try {
    fillConsumer(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function fillConsumer(dir) {
  const [packed] = JSON.parse(npm(["pack", "--json", "--silent", "--pack-destination", dir], root));
  const packageDir = join(dir, "node_modules", "favor-wasm");
  mkdirSync(packageDir, { recursive: true });
  run("tar", ["-xzf", join(dir, packed.filename), "-C", packageDir, "--strip-components=1"], dir);
  rmSync(join(dir, packed.filename));

  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  for (const dependency of Object.keys(manifest.dependencies ?? {})) {
    cpSync(join(root, "node_modules", dependency), join(dir, "node_modules", dependency), { recursive: true });
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify({
    name: "favor-wasm-consumer",
    private: true,
    type: "module",
    dependencies: { "favor-wasm": manifest.version, ...manifest.dependencies },
  }, null, 2));
  cpSync(join(root, "tests", "conformance"), join(dir, "conformance"), { recursive: true });
}

/** Returns an empty runtime result: counts plus one entry per failure. */
export function emptySummary() {
  return { passed: 0, failed: 0, skipped: 0, failures: [] };
}

/** Adds `part` (a summary from a page, a Worker or a test run) into `total`, prefixing failure ids. */
export function addSummary(total, part, prefix = "") {
  total.passed += part.passed;
  total.failed += part.failed;
  total.skipped += part.skipped ?? 0;
  for (const failure of part.failures ?? []) {
    const build = failure.build ? ` (${failure.build})` : "";
    total.failures.push({ id: `${prefix}${failure.id}${build}`, message: failure.message });
  }
  for (const reason of part.skipReasons ?? []) {
    total.skipReasons ??= [];
    total.skipReasons.push(`${prefix}${reason}`);
  }
}

/** Records one check: passes when `problem` is null, else fails with it as the message. */
export function addCheck(total, id, problem) {
  if (problem === null) {
    total.passed++;
  } else {
    total.failed++;
    total.failures.push({ id, message: problem });
  }
}

/** Returns null when the arrays hold the same names, else a message listing the difference. */
export function compareNames(actual, expected, what) {
  const missing = expected.filter((name) => !actual.includes(name));
  const extra = actual.filter((name) => !expected.includes(name));
  if (missing.length === 0 && extra.length === 0) return null;
  return `${what}: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`;
}

/** Returns the value exports every entry must have: those of dist/index.js. */
export async function publicNames() {
  return Object.keys(await import(pathToFileURL(join(root, "dist", "index.js")).href)).sort();
}
