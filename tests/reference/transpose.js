// Float64-free reference transpose: a plain index permutation, the
// specification f32_transpose is checked against bit for bit.

/** Returns out with out[b][j][i] = a[b][i][j] for batch row-major rows×cols matrices. */
export function transposeReference(a, { rows, cols, batch = 1 }) {
  const out = new Float32Array(batch * rows * cols);
  for (let item = 0; item < batch; item++) {
    const base = item * rows * cols;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) out[base + j * rows + i] = a[base + i * cols + j];
    }
  }
  return out;
}
