// The main job behind `npm start`: Performer attention on real data, end to
// end, on the CPU.
//
//   1. Approximates the attention of a pretrained transformer (the PP-OCRv4
//      text recognizer reading lines of Moby-Dick; data/README.md) with
//      FAVOR+, trigonometric and angular-hybrid random features at
//      m = 16 … 256, against the model's own softmax attention, and times
//      FAVOR+ against exact attention.
//   2. Trains a small causal Performer language model on the characters of
//      Moby-Dick with favor.sync.slim's exact sub-linear-memory (SLiM)
//      gradients, and prints bits per character against the unigram and
//      bigram baselines, the memory of the backward pass and a sample.
//   3. Writes report.json, report.md and two SVG plots to the output folder.
//
//   node scripts/run-node.mjs examples/main-job/main.mjs [--quick | --full | --smoke] [--out DIR]

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createFavor } from "../../dist/index.js";
import { runApproximation } from "./approximation.mjs";
import { loadAttentionFixture } from "./fixture.mjs";
import { createProgress } from "./progress.mjs";
import { errorPlot, lossPlot, markdownReport, textSummary } from "./report.mjs";
import { loadCorpus } from "./text.mjs";
import { trainLanguageModel } from "./train.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dataDir = join(root, "data");

const USAGE = `usage: npm start -- [--quick | --full | --smoke] [--out DIR]

  --quick    the default: 5 seeds, timings up to L = 2048 and 300 training
             steps, stopped early at 35 s (under a minute on 2 cores)
  --full     10 seeds, timings up to L = 16384 and 3000 training steps with
             no time limit (several minutes on 2 cores)
  --smoke    a few seconds in all, for tests: one attention block, 2 seeds and
             a tiny model trained for 20 steps
  --out DIR  folder for report.json, report.md and the SVG plots
             (default: out/main-job)
  --help     print this text`;

/** favor.sync.slim.createModel options (vocab and seed are added from the text and the settings). */
const LANGUAGE_MODEL = { dModel: 64, heads: 4, layers: 2, features: 32, chunk: 16, tokenShift: 4 };
const SAMPLE = { prompt: "Call me Ishmael. ", length: 120, temperature: 0.7 };

/** Settings of each mode; the fixtures are named here and loaded in main(). */
const MODES = {
  smoke: {
    approximation: {
      fixtures: [{ file: "ocr-attention-L80.bin", blocks: ["block0"], attentionHeads: [0, 1] }],
      featureCounts: [16, 64], seeds: 2, timing: [{ file: "ocr-attention-L80.bin", tile: 1 }], timingRepeats: 1,
    },
    training: {
      model: { dModel: 16, heads: 2, layers: 1, features: 8, mlp: 32, chunk: 16, tokenShift: 2 }, context: 64, batch: 2, slice: 16,
      learningRate: 0.01, maxSteps: 20, timeLimitSeconds: 60, validationWindows: 2, validationEvery: 10, seed: 1,
      sample: { ...SAMPLE, length: 40 },
    },
  },
  quick: {
    approximation: {
      fixtures: [
        { file: "ocr-attention-L80.bin", blocks: null, attentionHeads: null },
        { file: "ocr-attention-L512.bin", blocks: null, attentionHeads: null },
      ],
      featureCounts: [16, 32, 64, 128, 256], seeds: 5,
      timing: [{ file: "ocr-attention-L80.bin", tile: 1 }, ...[1, 2, 4].map((tile) => ({ file: "ocr-attention-L512.bin", tile }))],
      timingRepeats: 3,
    },
    training: {
      model: LANGUAGE_MODEL, context: 256, batch: 2, slice: 16, learningRate: 3e-3, maxSteps: 300, timeLimitSeconds: 35,
      validationWindows: 8, validationEvery: 50, seed: 1, sample: SAMPLE,
    },
  },
  full: {
    approximation: {
      fixtures: [
        { file: "ocr-attention-L80.bin", blocks: null, attentionHeads: null },
        { file: "ocr-attention-L512.bin", blocks: null, attentionHeads: null },
      ],
      featureCounts: [16, 32, 64, 128, 256], seeds: 10,
      timing: [{ file: "ocr-attention-L80.bin", tile: 1 }, ...[1, 2, 4, 8, 16, 32].map((tile) => ({ file: "ocr-attention-L512.bin", tile }))],
      timingRepeats: 5,
    },
    training: {
      model: LANGUAGE_MODEL, context: 256, batch: 2, slice: 16, learningRate: 3e-3, maxSteps: 3000, timeLimitSeconds: Infinity,
      validationWindows: 16, validationEvery: 250, seed: 1, sample: SAMPLE,
    },
  },
};

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: "boolean", default: false },
        full: { type: "boolean", default: false },
        smoke: { type: "boolean", default: false },
        out: { type: "string", default: join(root, "out", "main-job") },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    return { error: `${error.message}\n\n${USAGE}` };
  }
  const { quick, full, smoke, out, help } = parsed.values;
  if (help) return { help: true };
  const chosen = [quick && "quick", full && "full", smoke && "smoke"].filter(Boolean);
  if (chosen.length > 1) return { error: `choose one of --quick, --full and --smoke, got ${chosen.map((m) => `--${m}`).join(" and ")}\n\n${USAGE}` };
  return { mode: chosen[0] ?? "quick", out: resolve(out) };
}

function loadFixtures(settings) {
  const cache = new Map();
  const load = (file) => {
    if (!cache.has(file)) {
      const path = join(dataDir, file);
      cache.set(file, loadAttentionFixture(readFileSync(path), relative(root, path)));
    }
    return cache.get(file);
  };
  return {
    ...settings,
    fixtures: settings.fixtures.map((f) => ({ ...f, fixture: load(f.file) })),
    timing: settings.timing.map((t) => {
      const fixture = load(t.file);
      return { fixture, tile: t.tile, length: fixture.header.length * t.tile };
    }),
  };
}

/** Returns a path relative to the working directory when it lies inside it, else the absolute path. */
function displayPath(path) {
  const inside = relative(process.cwd(), path);
  return inside.startsWith("..") ? path : inside;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (options.error) {
    console.error(`main-job: ${options.error}`);
    return 2;
  }
  const started = performance.now();
  const mode = MODES[options.mode];
  const favor = await createFavor();
  const machine = { build: favor.info.build, cpu: cpus()[0]?.model ?? "unknown CPU", cores: cpus().length, node: process.versions.node };
  console.log(`favor-wasm main job, ${options.mode} mode (${machine.build} build); progress on stderr`);

  const approximationSettings = loadFixtures(mode.approximation);
  const approximation = runApproximation(favor, approximationSettings, createProgress({ label: "1/2 attention", total: 100 }));

  // A fresh instance, so that its WebAssembly memory size reflects training alone.
  const trainingFavor = await createFavor();
  const corpus = loadCorpus(join(dataDir, "moby-dick.txt"));
  const training = trainLanguageModel(trainingFavor, corpus, mode.training, createProgress({ label: "2/2 training", total: 100 }));

  mkdirSync(options.out, { recursive: true });
  const names = { json: "report.json", markdown: "report.md", errorPlot: "attention-error.svg", lossPlot: "training-loss.svg" };
  const report = {
    mode: options.mode,
    command: `npm start -- --${options.mode}`,
    date: new Date().toISOString(),
    machine,
    seconds: 0,
    approximation,
    training,
    files: Object.values(names).map((name) => displayPath(join(options.out, name))),
  };
  report.seconds = (performance.now() - started) / 1000;
  writeFileSync(join(options.out, names.errorPlot), errorPlot(approximation));
  writeFileSync(join(options.out, names.lossPlot), lossPlot(training));
  writeFileSync(join(options.out, names.markdown), markdownReport(report));
  writeFileSync(join(options.out, names.json), `${JSON.stringify(report, null, 1)}\n`);
  console.log("");
  console.log(textSummary(report));
  return 0;
}

process.exitCode = await main();
