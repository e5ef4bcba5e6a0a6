#!/usr/bin/env node
// Runs a Node script with relaxed SIMD enabled, so the relaxed WASM build is
// available: Node 20 and 21 need --experimental-wasm-relaxed-simd, Node 22
// and later run relaxed SIMD without a flag. Builds stale outputs first.
// Usage: node scripts/run-node.mjs SCRIPT [ARGS...]

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error("usage: node scripts/run-node.mjs SCRIPT [ARGS...]");
  process.exit(2);
}

const build = spawnSync(process.execPath, [join(root, "scripts", "build.mjs"), "--quiet"], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

const nodeMajor = Number(process.versions.node.split(".")[0]);
const flags = nodeMajor < 22 ? ["--experimental-wasm-relaxed-simd"] : [];
const result = spawnSync(process.execPath, [...flags, script, ...args], { stdio: "inherit" });
process.exit(result.status ?? 1);
