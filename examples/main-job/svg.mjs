// Hand-written SVG line plots for the report: axes with ticks, one polyline
// per series, a legend, optional log scales and dashed reference lines.

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

function escapeXml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

/** Returns about `count` round tick values covering [min, max] on a linear axis. */
export function linearTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Returns the powers of `base` covering [min, max] (positive values only). */
export function logTicks(min, max, base = 10) {
  const ticks = [];
  for (let e = Math.floor(Math.log(min) / Math.log(base)); e <= Math.ceil(Math.log(max) / Math.log(base)); e++) ticks.push(base ** e);
  return ticks;
}

function formatTick(value) {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

/**
 * Returns an SVG document. `series` is [{ name, points: [[x, y], ...] }];
 * points with a non-finite or (on a log axis) non-positive coordinate are
 * skipped. `references` is [{ name, y, color? }], drawn as dashed
 * horizontal lines over the series.
 */
export function linePlot({ title, xLabel, yLabel, series, references = [], xLog = false, yLog = false, logBaseX = 2, width = 860, height = 400 }) {
  // The legend sits in the right margin, so it never covers a line.
  const legendWidth = 210;
  const margin = { left: 70, right: 20 + legendWidth, top: 40, bottom: 50 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const usable = ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!xLog || x > 0) && (!yLog || y > 0);
  const points = series.flatMap((s) => s.points.filter(usable));
  const ys = [...points.map((p) => p[1]), ...references.map((r) => r.y).filter((y) => Number.isFinite(y) && (!yLog || y > 0))];
  const xs = points.map((p) => p[0]);
  if (xs.length === 0) throw new RangeError(`linePlot: "${title}" has no plottable points`);

  let [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  let [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  if (xMin === xMax) [xMin, xMax] = xLog ? [xMin / 2, xMax * 2] : [xMin - 1, xMax + 1];
  if (yMin === yMax) [yMin, yMax] = yLog ? [yMin / 2, yMax * 2] : [yMin - 1, yMax + 1];
  if (!yLog) {
    const pad = (yMax - yMin) * 0.05;
    yMin -= pad;
    yMax += pad;
  }
  const xTicks = xLog ? logTicks(xMin, xMax, logBaseX).filter((t) => t >= xMin / 1.0001 && t <= xMax * 1.0001) : linearTicks(xMin, xMax);
  const yTicks = yLog ? logTicks(yMin, yMax, 10) : linearTicks(yMin, yMax);
  if (yLog) {
    yMin = Math.min(yMin, yTicks[0]);
    yMax = Math.max(yMax, yTicks[yTicks.length - 1]);
  }
  const sx = (x) => margin.left + (xLog ? Math.log(x / xMin) / Math.log(xMax / xMin) : (x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = (y) => margin.top + plotHeight - (yLog ? Math.log(y / yMin) / Math.log(yMax / yMin) : (y - yMin) / (yMax - yMin)) * plotHeight;

  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`);
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotHeight}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  for (const t of yTicks) {
    if (t < yMin || t > yMax) continue;
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotWidth}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`);
  }
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);

  const legend = [];
  const referenceLegend = [];
  series.forEach((s, index) => {
    const color = s.color ?? COLORS[index % COLORS.length];
    const path = s.points.filter(usable).map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="${s.width ?? 2}"${s.opacity ? ` stroke-opacity="${s.opacity}"` : ""}/>`);
    if (s.markers !== false) {
      for (const [x, y] of s.points.filter(usable)) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    legend.push({ name: s.name, color });
  });
  references.forEach((reference) => {
    if (!Number.isFinite(reference.y) || (yLog && reference.y <= 0)) return;
    const y = sy(reference.y).toFixed(1);
    const color = reference.color ?? "#555";
    parts.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotWidth}" y2="${y}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    referenceLegend.push({ name: reference.name, color, dashed: true });
  });
  legend.unshift(...referenceLegend);
  legend.forEach((entry, i) => {
    const y = margin.top + 14 + i * 16;
    const x = margin.left + plotWidth + 16;
    parts.push(`<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${entry.color}" stroke-width="2"${entry.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    parts.push(`<text x="${x + 28}" y="${y}" dominant-baseline="middle">${escapeXml(entry.name)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
