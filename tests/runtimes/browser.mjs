// The Chromium runner. It bundles tests/conformance/browser.js with esbuild
// for the browser and serves the consumer project (see consumer.mjs) on
// 127.0.0.1. It drives the Debian chromium package headless through
// playwright-core. The bundled page and the import-map page each run the
// corpus and their WASM source checks. Then it loads the bundled browser
// example and multiplies the matrices in its form once.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { startExample } from "../../examples/browser/serve.mjs";
import { serveStatic } from "../../scripts/serve-static.mjs";
import { addCheck, addSummary, compareNames, emptySummary, publicNames } from "./consumer.mjs";

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
  } catch (error) {
    addCheck(summary, "chromium", `Chromium failed to start or crashed (${executablePath}): ${error.message}`);
  } finally {
    await context?.close();
    await server.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  return summary;
}
