// Writes the gradient-norm plot of train.mjs as a hand-written SVG: one
// line per model and time (before and after training) of
// ‖∂L/∂x_i‖ / ‖∂L/∂x_N‖ on a log scale against the step i, over the band
// [(1 − h)^(N−i), (1 + h)^(N−i)] that bounds the ratio for orthogonal
// weights and |f′| ≤ 1.

const WIDTH = 640;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 200, top: 30, bottom: 50 };
const SERIES = [
  { model: "ODEtoODE", key: "gradientNormsInitial", label: "ODEtoODE, initial", color: "#1f77b4", dash: "6 4" },
  { model: "ODEtoODE", key: "gradientNormsFinal", label: "ODEtoODE, trained", color: "#1f77b4", dash: "" },
  { model: "unconstrained", key: "gradientNormsInitial", label: "unconstrained, initial", color: "#d62728", dash: "6 4" },
  { model: "unconstrained", key: "gradientNormsFinal", label: "unconstrained, trained", color: "#d62728", dash: "" },
];

/** Returns the SVG text for results[model][key] = norms over steps 0 … steps with step size h. */
export function gradientNormsSvg(results, steps, h) {
  const ratios = (norms) => norms.map((v) => v / norms[steps]);
  const bandLow = Array.from({ length: steps + 1 }, (_, i) => (1 - h) ** (steps - i));
  const bandHigh = Array.from({ length: steps + 1 }, (_, i) => (1 + h) ** (steps - i));
  const values = [...SERIES.flatMap(({ model, key }) => ratios(results[model][key])), ...bandLow, ...bandHigh];
  const low = Math.floor(Math.log10(Math.min(...values)));
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(...values))));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (i) => MARGIN.left + (i / steps) * plotWidth;
  const y = (v) => MARGIN.top + ((high - Math.log10(v)) / (high - low)) * plotHeight;

  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(`<text x="${MARGIN.left}" y="18" font-size="14">‖∂L/∂x_i‖ / ‖∂L/∂x_N‖ across depth (training set, N = ${steps})</text>`);
  const band = [...bandHigh.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`),
    ...bandLow.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).reverse()].join(" ");
  parts.push(`<polygon points="${band}" fill="#eee" stroke="none"/>`);
  // Axes, decade grid lines and step ticks.
  for (let e = low; e <= high; e++) {
    const yy = y(10 ** e).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle">1e${e}</text>`);
  }
  const tickEvery = Math.max(1, Math.round(steps / 8));
  for (let i = 0; i <= steps; i += tickEvery) {
    parts.push(`<text x="${x(i).toFixed(1)}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${i}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 10}" text-anchor="middle">step i (0 = input, ${steps} = output)</text>`);

  SERIES.forEach(({ model, key, label, color, dash }, index) => {
    const norms = ratios(results[model][key]);
    const points = norms.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
    const legendY = MARGIN.top + 10 + index * 20;
    const legendX = MARGIN.left + plotWidth + 12;
    parts.push(`<line x1="${legendX}" x2="${legendX + 24}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
    parts.push(`<text x="${legendX + 30}" y="${legendY}" dominant-baseline="middle">${label}</text>`);
  });
  const bandY = MARGIN.top + 10 + SERIES.length * 20;
  const bandX = MARGIN.left + plotWidth + 12;
  parts.push(`<rect x="${bandX}" y="${bandY - 6}" width="24" height="12" fill="#eee"/>`);
  parts.push(`<text x="${bandX + 30}" y="${bandY}" dominant-baseline="middle">bound for orthogonal W</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
