#!/usr/bin/env node
// Runs the WASI GEMM benchmark (bench/wasi/gemm.ts) under Node's node:wasi
// host. Usage:
//   node scripts/bench-wasi.mjs [--isa=scalar|simd|relaxed] [--min-ms=MS] [N ...]
// The ISA defaults to simd; relaxed needs --experimental-wasm-relaxed-simd
// on Node 20, so this script restarts itself with that flag when asked for
// it. Other arguments go to the benchmark (see bench/wasi/gemm.ts). The exit
// status is the benchmark's: 1 when its correctness check fails.

import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WASI } from "node:wasi";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ISAS = ["scalar", "simd", "relaxed"];
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

let isa = "simd";
const benchArgs = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith("--isa=")) isa = arg.slice("--isa=".length);
  else benchArgs.push(arg);
}
if (!ISAS.includes(isa)) {
  console.error(`bench-wasi: --isa must be one of ${ISAS.join(", ")}, got ${JSON.stringify(isa)}`);
  process.exit(2);
}

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (isa === "relaxed" && nodeMajor < 22 && !process.execArgv.includes(RELAXED_FLAG)) {
  const child = spawnSync(process.execPath, [RELAXED_FLAG, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const path = join(root, "build", "wasi", `gemm-bench.${isa}.wasm`);
let bytes;
try {
  bytes = await readFile(path);
} catch (error) {
  console.error(`bench-wasi: cannot read ${path} (${error.code}); run \`npm run build\` first`);
  process.exit(1);
}

// No preopened directories and an empty environment: the benchmark only
// writes to stdout and stderr and reads its arguments.
const wasi = new WASI({ version: "preview1", args: [`gemm-bench.${isa}.wasm`, ...benchArgs], env: {}, returnOnExit: true });
const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject());
process.exitCode = wasi.start(instance);
