// The browser example's page script. serve.mjs bundles it with esbuild:
// "favor-wasm" resolves to the package's browser entry, and each
// favor-wasm/wasm/*.wasm import becomes a URL of a file copied next to the
// bundle (esbuild's "file" loader), handed to createFavor through `wasm`.

import { createFavor } from "favor-wasm";
import relaxed from "favor-wasm/wasm/relaxed.wasm";
import scalar from "favor-wasm/wasm/scalar.wasm";
import simd from "favor-wasm/wasm/simd.wasm";

const $ = (id) => document.getElementById(id);

/** Parses rows of space-separated numbers; returns { rows, cols, data } or throws with the bad line. */
function parseMatrix(text, name) {
  const lines = text.trim().split("\n").map((line) => line.trim()).filter((line) => line !== "");
  if (lines.length === 0) throw new Error(`${name} is empty`);
  const rows = lines.map((line, index) => line.split(/\s+/).map((token) => {
    const value = Number(token);
    if (!Number.isFinite(value)) throw new Error(`${name}, row ${index + 1}: "${token}" is not a number`);
    return value;
  }));
  const cols = rows[0].length;
  rows.forEach((row, index) => {
    if (row.length !== cols) throw new Error(`${name}, row ${index + 1} has ${row.length} numbers, row 1 has ${cols}`);
  });
  return { rows: rows.length, cols, data: Float32Array.from(rows.flat()) };
}

function formatMatrix(data, rows, cols) {
  const lines = [];
  for (let i = 0; i < rows; i++) lines.push(Array.from(data.subarray(i * cols, (i + 1) * cols), (x) => String(x)).join(" "));
  return lines.join("\n");
}

function show(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

const favor = await createFavor({ wasm: { relaxed, simd, scalar } });
$("build").textContent = favor.info.build;
for (const button of document.querySelectorAll("button")) button.disabled = false;

$("multiply").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const a = parseMatrix($("a").value, "A");
    const b = parseMatrix($("b").value, "B");
    if (a.cols !== b.rows) throw new Error(`A has ${a.cols} columns but B has ${b.rows} rows`);
    const start = performance.now();
    const c = await favor.matmul(a.data, b.data, { m: a.rows, k: a.cols, n: b.cols });
    const ms = performance.now() - start;
    show($("product"), `${formatMatrix(c, a.rows, b.cols)}\n\n(${a.rows}×${a.cols} by ${b.rows}×${b.cols} in ${ms.toFixed(3)} ms)`);
  } catch (error) {
    show($("product"), error.message, true);
  }
});

$("benchmark").addEventListener("submit", (event) => {
  event.preventDefault();
  const n = Number($("size").value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    show($("timing"), "n must be an integer from 1 to 1024", true);
    return;
  }
  const x = new Float32Array(n * n).map((_, i) => Math.sin(i));
  const y = new Float32Array(n * n).map((_, i) => Math.cos(i));
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    favor.sync.matmul(x, y, { m: n, k: n, n });
    best = Math.min(best, performance.now() - start);
  }
  show($("timing"), `${n}×${n} product: ${best.toFixed(2)} ms, best of 3 (${((2 * n ** 3) / best / 1e6).toFixed(2)} GFLOP/s)`);
});

// Lets automated checks wait until the page is ready.
document.body.dataset.ready = "true";
