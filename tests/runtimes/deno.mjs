// The Deno runner: in the consumer project (see consumer.mjs) it
// type-checks a TypeScript consumer of every public symbol with
// `deno check`, runs tests/conformance/deno.test.js with `deno test`, and
// runs examples/deno/main.js once from the repository. Deno comes from the
// `deno` npm package (node_modules/.bin/deno); --cached-only keeps it off
// the network.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { addCheck, emptySummary, root } from "./consumer.mjs";

const DENO = join(root, "node_modules", ".bin", "deno");

function deno(args, cwd) {
  const result = spawnSync(DENO, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
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
  const counts = parseDenoSummary(test.output);
  if (counts === null) {
    addCheck(summary, "deno test", `no summary line in the output of deno test (exit ${test.status}): ${tail(test.output)}`);
  } else {
    summary.passed += counts.passed;
    summary.failed += counts.failed;
    summary.skipped += counts.ignored;
    if (counts.failed > 0 || test.status !== 0) {
      summary.failures.push({ id: "deno test", message: tail(test.output, 6000) });
      if (counts.failed === 0) summary.failed++;
    }
  }

  const example = deno(["run", "--allow-read", "--no-lock", "--cached-only", "examples/deno/main.js"], root);
  const exampleOk = example.status === 0 && /C = \[\[58, 64\], \[139, 154\]\]/.test(example.output) &&
    /256×256 matmul on the \w+ build: [\d.]+ ms/.test(example.output);
  addCheck(summary, "deno example", exampleOk ? null : `exit ${example.status}: ${tail(example.output)}`);
  return summary;
}
