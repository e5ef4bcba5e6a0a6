// The WASI benchmark binaries (bench/wasi/gemm.ts) under Node's node:wasi
// host, run briefly through scripts/bench-wasi.mjs: the built-in check of
// f32_gemm against a float64 product must pass, and each requested size
// must print one timing line. Timings themselves are not checked.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const script = join(root, "scripts", "bench-wasi.mjs");

function bench(args) {
  return spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });
}

for (const isa of ["scalar", "simd", "relaxed"]) {
  test(`wasi gemm bench runs (${isa})`, () => {
    const result = bench([`--isa=${isa}`, "--min-ms=5", "8", "33"]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^check 37x29x41: worst error [\d.]+ of the bound \(ok\)$/m);
    assert.match(result.stdout, /^check 19x65x33 transA: worst error [\d.]+ of the bound \(ok\)$/m);
    for (const n of [8, 33]) {
      const line = new RegExp(`^f32_gemm ${isa} ${n}x${n}x${n}: \\d+ runs, best [\\d.]+ ms, [\\d.]+ GFLOP/s$`, "m");
      assert.match(result.stdout, line);
    }
  });
}

test("wasi gemm bench rejects bad sizes", () => {
  const result = bench(["--min-ms=1", "12x"]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /sizes must be integers from 1 to 4096, got 12x/);
});

test("wasi bench script rejects unknown isa", () => {
  const result = bench(["--isa=avx"]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--isa must be one of scalar, simd, relaxed, got "avx"/);
});
