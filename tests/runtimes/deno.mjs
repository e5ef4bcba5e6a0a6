// The Deno runner: in the consumer project (see consumer.mjs) it
// type-checks a TypeScript consumer of every public symbol with
// `deno check`, runs tests/conformance/deno.test.js with `deno test`, and
// runs examples/deno/main.js once from the repository. It also runs
// tests/conformance/deno-webgpu.test.js, the WebGPU cases on Deno's own
// navigator.gpu (no flag), with VK_DRIVER_FILES naming lavapipe's ICD from
// Debian's mesa-vulkan-drivers when it is installed (FAVOR_DENO_VK_ICD
// overrides it). Deno comes from the `deno` npm package
// (node_modules/.bin/deno); --cached-only keeps it off the network.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { addCheck, emptySummary, root } from "./consumer.mjs";

const DENO = join(root, "node_modules", ".bin", "deno");

/** Returns the path of lavapipe's Vulkan ICD file, or null when mesa-vulkan-drivers is not installed. */
function lavapipeIcd() {
  if (process.env.FAVOR_DENO_VK_ICD) return process.env.FAVOR_DENO_VK_ICD;
  const dir = "/usr/share/vulkan/icd.d";
  if (!existsSync(dir)) return null;
  const file = readdirSync(dir).find((name) => /^lvp_icd\..*\.json$/.test(name));
  return file === undefined ? null : join(dir, file);
}

function deno(args, cwd, env = {}) {
  const result = spawnSync(DENO, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.error) return { status: null, output: `${output}\n${result.error.message}` };
  return { status: result.status, output };
}

/** Returns the last `count` characters of a tool's output, for failure messages. */
function tail(text, count = 2000) {
  return text.length > count ? `…${text.slice(-count)}` : text;
}

/** Reads "ok | 147 passed | 0 failed | 2 ignored (77ms)", Deno's closing line. */
function parseDenoSummary(output) {
  const line = /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/m.exec(output);
  if (!line) return null;
  return { passed: Number(line[2]), failed: Number(line[3]), ignored: Number(line[4] ?? 0) };
}

/** Returns the reasons in the names of ignored tests ("name [skipped: reason] ... ignored"), without repeats. */
function skipReasons(output) {
  const reasons = new Set();
  for (const match of output.matchAll(/\[skipped: (.*)\] \.\.\. ignored/g)) reasons.add(match[1]);
  return [...reasons];
}

/** Adds the counts of one `deno test` run to the summary, or a failure when its output has no summary line. */
function addDenoTest(summary, id, test) {
  const counts = parseDenoSummary(test.output);
  if (counts === null) {
    addCheck(summary, id, `no summary line in the output of deno test (exit ${test.status}): ${tail(test.output)}`);
    return;
  }
  summary.passed += counts.passed;
  summary.failed += counts.failed;
  summary.skipped += counts.ignored;
  if (counts.failed > 0 || test.status !== 0) {
    summary.failures.push({ id, message: tail(test.output, 6000) });
    if (counts.failed === 0) summary.failed++;
  }
}

/** Runs the Deno suites; resolves to a summary. */
export async function runDeno({ consumerDir }) {
  const summary = emptySummary();
  const version = deno(["--version"], root);
  if (version.status !== 0) {
    addCheck(summary, "deno", `the deno binary did not start (${DENO}); run \`npm ci\` to install the deno npm package: ${tail(version.output)}`);
    return summary;
  }

  const check = deno(["check", "--no-lock", "--cached-only", "conformance/types-consumer.ts"], consumerDir);
  addCheck(summary, "deno check of a TypeScript consumer", check.status === 0 ? null : tail(check.output));

  const test = deno(["test", "-A", "--no-lock", "--cached-only", "--no-check", "conformance/deno.test.js"], consumerDir);
  addDenoTest(summary, "deno test", test);

  const icd = lavapipeIcd();
  const gpuTest = deno(["test", "-A", "--no-lock", "--cached-only", "--no-check", "conformance/deno-webgpu.test.js"], consumerDir,
    icd === null ? {} : { VK_DRIVER_FILES: icd });
  addDenoTest(summary, "deno test (webgpu)", gpuTest);
  const reasons = skipReasons(gpuTest.output);
  if (icd === null) reasons.push("lavapipe's Vulkan ICD (lvp_icd.*.json) is not installed: apt-get install mesa-vulkan-drivers");
  summary.skipReasons = reasons.map((reason) => `webgpu: ${reason}`);

  const example = deno(["run", "--allow-read", "--no-lock", "--cached-only", "examples/deno/main.js"], root);
  const exampleOk = example.status === 0 && /C = \[\[58, 64\], \[139, 154\]\]/.test(example.output) &&
    /256×256 matmul on the \w+ build: [\d.]+ ms/.test(example.output);
  addCheck(summary, "deno example", exampleOk ? null : `exit ${example.status}: ${tail(example.output)}`);
  return summary;
}
