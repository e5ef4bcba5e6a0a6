// Float64 references for row-wise softmax and logsumexp, with the special
// rows handled as the kernels document: NaN anywhere gives NaN; otherwise
// +Infinity anywhere gives a NaN softmax row and logsumexp +Infinity; a row
// of only -Infinity gives a zero softmax row and logsumexp -Infinity.

/**
 * Returns, for each row of the row-major rows×cols matrix x:
 *   softmax   (rows·cols) exp(x_j - m) / Σ_l exp(x_l - m), m the row maximum;
 *   logsumexp (rows)      m + log Σ_l exp(x_l - m);
 *   distance  (rows·cols) |x_j - m|, which scales the error that rounding
 *                          x_j - m to float32 passes into exp;
 *   spread    (rows)      Σ_j softmax_j·|x_j - m|, the same error weighted
 *                          as the terms enter the sum.
 */
export function softmaxReference(x, { rows, cols }) {
  const softmax = new Float64Array(rows * cols);
  const logsumexp = new Float64Array(rows);
  const distance = new Float64Array(rows * cols);
  const spread = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const row = Array.from(x.subarray(i * cols, (i + 1) * cols));
    const out = softmax.subarray(i * cols, (i + 1) * cols);
    if (row.some(Number.isNaN)) {
      out.fill(NaN);
      logsumexp[i] = NaN;
      continue;
    }
    const m = Math.max(...row);
    if (m === Infinity) {
      out.fill(NaN);
      logsumexp[i] = Infinity;
      continue;
    }
    if (m === -Infinity) {
      out.fill(0);
      logsumexp[i] = -Infinity;
      continue;
    }
    let sum = 0;
    for (const value of row) sum += Math.exp(value - m);
    let weightedDistance = 0;
    row.forEach((value, j) => {
      out[j] = Math.exp(value - m) / sum;
      distance[i * cols + j] = Math.abs(value - m);
      if (out[j] > 0) weightedDistance += out[j] * Math.abs(value - m);
    });
    logsumexp[i] = m + Math.log(sum);
    spread[i] = weightedDistance;
  }
  return { softmax, logsumexp, distance, spread };
}
