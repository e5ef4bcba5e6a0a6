#!/usr/bin/env node
// Builds what is missing or stale: the three WASM binaries (scalar, simd,
// relaxed) and the debug binary from assembly/, the WASI benchmark
// binaries from bench/wasi/, and dist/ from bindings/.
// `--force` rebuilds everything. npm test, npm start and npm run bench call
// this first, so a fresh checkout needs no separate build step.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { moveDataSegmentsInFile } from "./move-data-segments.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const force = process.argv.includes("--force");
const quiet = process.argv.includes("--quiet");

function newestMtime(paths) {
  let newest = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      newest = Math.max(newest, newestMtime(readdirSync(path).map((name) => join(path, name))));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  }
  return newest;
}

function isStale(outputs, inputs) {
  if (force) return true;
  if (outputs.some((output) => !existsSync(output))) return true;
  const oldestOutput = Math.min(...outputs.map((output) => statSync(output).mtimeMs));
  return newestMtime(inputs) > oldestOutput;
}

function run(command, args) {
  if (!quiet) console.log(`> ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (result.status !== 0) {
    console.error(`build failed: ${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`);
    process.exit(1);
  }
}

const asc = join(root, "node_modules", ".bin", "asc");
const tsc = join(root, "node_modules", ".bin", "tsc");
const wasmInputs = [join(root, "assembly"), join(root, "asconfig.json")];
for (const target of ["scalar", "simd", "relaxed", "debug"]) {
  const output = join(root, "build", `favor.${target}.wasm`);
  if (isStale([output], wasmInputs)) run(asc, ["--config", "asconfig.json", "--target", target]);
}

// The threaded builds (shared imported memory, atomics). Their data segments
// move into a custom section that only the main thread copies into memory,
// so a worker's instantiation writes nothing (scripts/move-data-segments.mjs).
const threadedInputs = [...wasmInputs, join(root, "scripts", "move-data-segments.mjs")];
for (const target of ["threads-simd", "threads-relaxed"]) {
  const output = join(root, "build", `favor.${target}.wasm`);
  if (isStale([output], threadedInputs)) {
    run(asc, ["--config", "asconfig.json", "--target", target]);
    moveDataSegmentsInFile(output);
  }
}

// The WASI benchmark: the same kernels linked into a WASI command through
// @assemblyscript/wasi-shim (bench/wasi/asconfig.json extends its config).
const wasiInputs = [...wasmInputs, join(root, "bench", "wasi")];
for (const target of ["scalar", "simd", "relaxed"]) {
  const output = join(root, "build", "wasi", `gemm-bench.${target}.wasm`);
  if (isStale([output], wasiInputs)) run(asc, ["--config", "bench/wasi/asconfig.json", "--target", target]);
}

const distOutputs = [join(root, "dist", "index.js"), join(root, "dist", "index.d.ts")];
if (isStale(distOutputs, [join(root, "bindings"), join(root, "tsconfig.json")])) run(tsc, ["-p", "tsconfig.json"]);
