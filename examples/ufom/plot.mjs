// Minimal SVG line charts for the UFOM demo: one panel per chart, linear
// or logarithmic axes, a legend, no dependencies.

const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

/** Returns about `count` round tick values covering [low, high]. */
function linearTicks(low, high, count = 5) {
  const span = high - low || Math.abs(high) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) ticks.push(+value.toPrecision(12));
  return ticks;
}

/** Returns the powers of `base` inside [low, high] (positive bounds). */
function logTicks(low, high, base) {
  const ticks = [];
  for (let e = Math.floor(Math.log(low) / Math.log(base)); base ** e <= high * (1 + 1e-9); e++) {
    if (base ** e >= low * (1 - 1e-9)) ticks.push(base ** e);
  }
  return ticks;
}

function format(value) {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e4 || magnitude < 1e-2) return value.toExponential(0);
  return String(+value.toPrecision(3));
}

const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/**
 * Returns the SVG markup of one chart at (left, top) of size width×height.
 * series: [{ name, points: [[x, y], …], dashed? }]; logX/logY take a base (10 or 2) or false;
 * legend is "left" or "right" (the top corner it sits in).
 */
export function chart({ left, top, width, height, title, xLabel, yLabel, series, logX = false, logY = false, legend = "right" }) {
  const margin = { left: 64, right: 12, top: 28, bottom: 44 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]).filter((v) => !logX || v > 0);
  const ys = all.map((p) => p[1]).filter((v) => !logY || v > 0);
  let [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  let [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  if (!logY) {
    const pad = (yMax - yMin) * 0.05 || 1;
    yMin = yMin >= 0 ? Math.max(0, yMin - pad) : yMin - pad;
    yMax += pad;
  }
  const xTicks = logX ? logTicks(xMin, xMax, logX) : linearTicks(xMin, xMax);
  const yTicks = logY ? logTicks(yMin, yMax, logY) : linearTicks(yMin, yMax);
  if (logY) {
    yMin = Math.min(yMin, yTicks[0] ?? yMin);
    yMax = Math.max(yMax, yTicks.at(-1) ?? yMax);
  }
  const tx = logX ? (v) => Math.log(v) : (v) => v;
  const ty = logY ? (v) => Math.log(v) : (v) => v;
  const sx = (v) => margin.left + ((tx(v) - tx(xMin)) / (tx(xMax) - tx(xMin) || 1)) * plotWidth;
  const sy = (v) => margin.top + plotHeight - ((ty(v) - ty(yMin)) / (ty(yMax) - ty(yMin) || 1)) * plotHeight;

  const parts = [`<g transform="translate(${left},${top})" font-family="sans-serif" font-size="11">`];
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escape(title)}</text>`);
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`);
  for (const v of xTicks) {
    const x = sx(v);
    parts.push(`<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#ddd"/>`);
    parts.push(`<text x="${x}" y="${margin.top + plotHeight + 14}" text-anchor="middle">${format(v)}</text>`);
  }
  for (const v of yTicks) {
    const y = sy(v);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${margin.left - 4}" y="${y + 4}" text-anchor="end">${format(v)}</text>`);
  }
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">${escape(xLabel)}</text>`);
  parts.push(`<text transform="translate(14,${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
  series.forEach((s, index) => {
    const color = s.color ?? COLORS[index % COLORS.length];
    const points = s.points.filter(([x, y]) => (!logX || x > 0) && (!logY || y > 0));
    const path = points.map(([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    const dash = s.dashed ? ` stroke-dasharray="5,3"` : "";
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.8"${dash}/>`);
    const legendY = margin.top + 14 + index * 14;
    if (legend === "left") {
      parts.push(`<line x1="${margin.left + 8}" x2="${margin.left + 28}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"${dash}/>`);
      parts.push(`<text x="${margin.left + 32}" y="${legendY}">${escape(s.name)}</text>`);
    } else {
      const right = margin.left + plotWidth;
      parts.push(`<line x1="${right - 28}" x2="${right - 8}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"${dash}/>`);
      parts.push(`<text x="${right - 32}" y="${legendY}" text-anchor="end">${escape(s.name)}</text>`);
    }
  });
  parts.push("</g>");
  return parts.join("\n");
}

/** Wraps charts into one SVG document. */
export function svgDocument(width, height, charts) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${charts.join("\n")}\n</svg>\n`;
}
