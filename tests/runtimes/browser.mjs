// The Chromium runner. It bundles tests/conformance/browser.js with esbuild
// for the browser and serves the consumer project (see consumer.mjs) on
// 127.0.0.1. It drives the Debian chromium package headless through
// playwright-core. The bundled page and the import-map page each run the
// corpus and their WASM source checks. Then it loads the bundled browser
// example and multiplies the matrices in its form once. Last, it opens the
// threads page (tests/conformance/browser-threads.html) once from a server
// that sends the cross-origin isolation headers, where favor-wasm must run
// 2 threads, and once from the plain server, where it must fall back to one
// thread with a warning.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { startExample } from "../../examples/browser/serve.mjs";
import { serveStatic } from "../../scripts/serve-static.mjs";
import { addCheck, addSummary, compareNames, emptySummary, publicNames } from "./consumer.mjs";
import { seededFloats } from "../helpers/numeric.js";
import { favorAttentionReference } from "../reference/attention.js";

/** The headers that make a page cross-origin isolated, which SharedArrayBuffer and so threads need. */
const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
};

const CHROMIUM_PATHS = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-gpu",
  // WebGPU on SwiftShader, Chromium's software Vulkan; it works next to --disable-gpu.
  "--enable-unsafe-webgpu",
];

/** Returns the Chromium binary to use: $CHROMIUM_PATH, else the Debian package's. */
export function findChromium() {
  const candidates = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : CHROMIUM_PATHS;
  return candidates.find((path) => existsSync(path)) ?? null;
}

/** Bundles the conformance page into `outdir`; returns the bundle's input files. */
async function bundlePage(consumerDir, outdir) {
  mkdirSync(outdir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(consumerDir, "conformance", "browser.js")],
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    loader: { ".wasm": "file" },
    metafile: true,
    logLevel: "error",
  });
  copyFileSync(join(consumerDir, "conformance", "browser.html"), join(outdir, "index.html"));
  for (const file of ["corpus.json", "tolerances.json"]) copyFileSync(join(consumerDir, "conformance", file), join(outdir, file));
  return Object.keys(result.metafile.inputs);
}

/** Opens `url`, waits for favorConformance() and returns its result, or throws with the page's errors. */
async function runPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await page.goto(url);
    await page.waitForFunction(() => typeof globalThis.favorConformance === "function", null, { timeout: 30_000 });
    return await page.evaluate(() => globalThis.favorConformance());
  } catch (error) {
    throw new Error(`${error.message}${errors.length ? `; page errors: ${errors.join("; ")}` : ""}`);
  } finally {
    await page.close();
  }
}

/** Types the example's matrices, submits the form and returns null when the product is right. */
async function checkExample(context) {
  const example = await startExample();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await page.goto(example.url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    await page.fill("#a", "1 2\n3 4");
    await page.fill("#b", "5 6\n7 8");
    await page.click("#multiply button");
    await page.waitForFunction(() => document.getElementById("product").textContent !== "", null, { timeout: 10_000 });
    const product = await page.textContent("#product");
    if (!product.startsWith("19 22\n43 50\n")) return `the example printed ${JSON.stringify(product)}, expected the rows "19 22" and "43 50"`;
    await page.fill("#size", "64");
    await page.click("#benchmark button");
    await page.waitForFunction(() => document.getElementById("timing").textContent !== "", null, { timeout: 30_000 });
    const timing = await page.textContent("#timing");
    if (!/^64×64 product: [\d.]+ ms/.test(timing)) return `the example's timing read ${JSON.stringify(timing)}`;
    return errors.length ? `page errors: ${errors.join("; ")}` : null;
  } catch (error) {
    return `${error.message}${errors.length ? `; page errors: ${errors.join("; ")}` : ""}`;
  } finally {
    await page.close();
    await example.close();
  }
}

/**
 * Inputs of the threads page. Each op is large enough to use the pool:
 * 2·m·n·k and 2·rows·features·dim above 2 MFLOP, and 19 chunks of causal
 * attention for 2 threads.
 */
function threadInputs() {
  const gemm = { m: 96, n: 128, k: 160 };
  const features = { rows: 3001, dim: 16, features: 64, seed: 91 };
  const shape = { batch: 1, heads: 2, length: 300, dim: 8, valueDim: 5, layout: "blhd" };
  const values = shape.batch * shape.heads * shape.length;
  return {
    gemm: { ...gemm, a: Array.from(seededFloats(gemm.m * gemm.k, 1)), b: Array.from(seededFloats(gemm.k * gemm.n, 2)) },
    features: { ...features, x: Array.from(seededFloats(features.rows * features.dim, 3)) },
    attention: {
      shape, features: 16, chunk: 16, seed: 44,
      q: Array.from(seededFloats(values * shape.dim, 4)),
      k: Array.from(seededFloats(values * shape.dim, 5)),
      v: Array.from(seededFloats(values * shape.valueDim, 6)),
    },
  };
}

/** Returns the first index where |actual − expected| exceeds bound, as a message, or null. */
function firstOutside(actual, expected, bound, what) {
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= bound[i])) {
      return `${what}: element ${i} is ${actual[i]}, expected ${expected[i]} ± ${bound[i]}`;
    }
  }
  return null;
}

/**
 * Runs the threads page at `url` and adds its checks to `summary`. An
 * isolated page must give 2 threads, GEMM and feature maps bit-identical to
 * one thread's, and 1 thread after dispose. Its causal attention must be
 * within the float64 reference's bound for both counts, and within twice
 * that bound of each other, because 2 threads group the chunk states
 * differently. A page without isolation must give 1 thread and one warning
 * that says why.
 */
async function checkThreads(context, summary, url, isolated) {
  const name = isolated ? "threads (isolated page)" : "threads (page without isolation)";
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const inputs = threadInputs();
  let report;
  try {
    await page.goto(url);
    await page.waitForFunction(() => typeof globalThis.favorThreads === "function", null, { timeout: 30_000 });
    report = await page.evaluate((values) => globalThis.favorThreads(values), inputs);
  } catch (error) {
    addCheck(summary, name, `${error.message}${errors.length ? `; page errors: ${errors.join("; ")}` : ""}`);
    return;
  } finally {
    await page.close();
  }

  addCheck(summary, `${name}: crossOriginIsolated`, report.isolated === isolated ? null : `crossOriginIsolated is ${report.isolated}`);
  if (!isolated) {
    addCheck(summary, `${name}: one thread`, report.threads === 1 ? null : `info.threads is ${report.threads}`);
    const expected = /running on one thread instead of 2, because the page is not cross-origin isolated/;
    const warned = report.warnings.length === 1 && expected.test(report.warnings[0]);
    addCheck(summary, `${name}: warning`, warned ? null : `warnings: ${JSON.stringify(report.warnings)}`);
    return;
  }

  addCheck(summary, `${name}: two threads`, report.threads === 2 ? null : `info.threads is ${report.threads}; warnings: ${JSON.stringify(report.warnings)}`);
  if (report.threads !== 2) return;
  addCheck(summary, `${name}: no warning`, report.warnings.length === 0 ? null : `warnings: ${JSON.stringify(report.warnings)}`);
  addCheck(summary, `${name}: gemm bit-identical`, report.gemmSame ? null : "2 threads differ from 1 thread");
  addCheck(summary, `${name}: features bit-identical`, report.featuresSame ? null : "2 threads differ from 1 thread");

  const { shape, features } = inputs.attention;
  const ref = favorAttentionReference(
    Float32Array.from(inputs.attention.q), Float32Array.from(inputs.attention.k), Float32Array.from(inputs.attention.v), shape,
    { causal: true, kind: "positive", projection: Float32Array.from(report.attention.projection), features },
  );
  const twice = ref.bound.map((bound) => 2 * bound);
  addCheck(summary, `${name}: attention, 1 thread`, firstOutside(report.attention.one, ref.out, ref.bound, "1 thread against the reference"));
  addCheck(summary, `${name}: attention, 2 threads`, firstOutside(report.attention.two, ref.out, ref.bound, "2 threads against the reference"));
  addCheck(summary, `${name}: attention, 2 vs 1`, firstOutside(report.attention.two, report.attention.one, twice, "2 threads against 1"));
  addCheck(summary, `${name}: attention repeats`, report.attentionRepeats ? null : "a second run with 2 threads gave other bits");
  addCheck(summary, `${name}: dispose`, report.threadsAfterDispose === 1 ? null : `info.threads after dispose is ${report.threadsAfterDispose}`);

  // A worker terminated between calls: the next call returns one thread's result after one warning.
  const stop = report.stop;
  const stopWarned = stop.warnings.length === 1 && /running on one thread instead of 2 from now on, because worker 1 stopped/.test(stop.warnings[0]);
  addCheck(summary, `${name}: stopped worker, result`, stop.same === true ? null : `threads before ${stop.threadsBefore}, result ${stop.same}, error ${stop.error}`);
  addCheck(summary, `${name}: stopped worker, threads`, stop.threadsAfter === 1 ? null : `info.threads is ${stop.threadsAfter}`);
  addCheck(summary, `${name}: stopped worker, warning`, stopWarned ? null : `warnings: ${JSON.stringify(stop.warnings)}`);
  addCheck(summary, `${name}: page errors`, errors.length === 0 ? null : errors.join("; "));
}

/** Runs the Chromium suites; resolves to a summary. */
export async function runBrowser({ consumerDir }) {
  const summary = emptySummary();
  const executablePath = findChromium();
  if (executablePath === null) {
    addCheck(summary, "chromium", `Chromium is not installed (looked for ${process.env.CHROMIUM_PATH ?? CHROMIUM_PATHS.join(" and ")}); ` +
      "install it with `apt-get update && apt-get install -y chromium` (as root), or set CHROMIUM_PATH");
    return summary;
  }

  const inputs = await bundlePage(consumerDir, join(consumerDir, "www"));
  const usesBrowserEntry = inputs.some((path) => path.endsWith("node_modules/favor-wasm/dist/runtime/browser.js")) &&
    !inputs.some((path) => /dist\/runtime\/(node|deno|workerd)\.js$/.test(path));
  addCheck(summary, "esbuild picks the browser entry", usesBrowserEntry ? null : `bundle inputs: ${inputs.join(", ")}`);

  const server = await serveStatic(consumerDir);
  const isolatedServer = await serveStatic(consumerDir, { headers: ISOLATION_HEADERS });
  const userDataDir = mkdtempSync(join(tmpdir(), "favor-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: CHROMIUM_ARGS });
    const expectedNames = await publicNames();
    for (const [name, path] of [["bundled", "www/index.html"], ["import map", "conformance/browser-unbundled.html"]]) {
      try {
        const result = await runPage(context, new URL(path, server.url).href);
        addSummary(summary, result.corpus, `${name}: `);
        addSummary(summary, result.sources, `${name}: `);
        if (result.webgpu !== undefined) addSummary(summary, result.webgpu, `${name}: webgpu: `);
        addCheck(summary, `${name}: exports`, compareNames(result.exports, expectedNames, "favor-wasm in Chromium"));
      } catch (error) {
        addCheck(summary, `${name} page`, error.message);
      }
    }
    addCheck(summary, "browser example", await checkExample(context));
    const threadsPage = "conformance/browser-threads.html";
    await checkThreads(context, summary, new URL(threadsPage, isolatedServer.url).href, true);
    await checkThreads(context, summary, new URL(threadsPage, server.url).href, false);
  } catch (error) {
    addCheck(summary, "chromium", `Chromium failed to start or crashed (${executablePath}): ${error.message}`);
  } finally {
    await context?.close();
    await server.close();
    await isolatedServer.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  return summary;
}
