// Packing for the blocked GEMM: copies a block of op(A) or op(B) into the
// panel layout the microkernels read with unit stride.
//
// A panel is `width` consecutive rows of op(A) (width = MR) or columns of
// op(B) (width = NR), stored k-step by k-step: element (r, p) of the panel
// goes to dst[p·width + r]. Rows past `rows` (the matrix edge) are written
// as zeros, so the microkernel can always compute a full tile.
//
// The source element (r, p) is at src[r·rowStride + p·kStride], sizes and
// strides in elements. The four transpose cases reduce to two layouts:
//   - kStride 1 (A not transposed, B transposed). The panel is a transpose
//     of `width` source rows, done in 4×4 blocks with shuffles in SIMD builds.
//   - rowStride 1 (A transposed, B not transposed). Each k-step is `width`
//     contiguous floats, copied with vector loads in SIMD builds.
// dst must not overlap the source.

/** Packs one panel of `width` rows (the first `rows` of them valid) and kc k-steps. */
export function packPanel(
  dst: usize, src: usize, rowStride: i32, kStride: i32,
  rows: i32, width: i32, kc: i32,
): void {
  if (ASC_FEATURE_SIMD) {
    if (rows == width && kStride == 1) {
      packTransposed(dst, src, rowStride, width, kc);
      return;
    }
    if (rows == width && rowStride == 1) {
      packContiguous(dst, src, kStride, width, kc);
      return;
    }
  }
  packScalar(dst, src, rowStride, kStride, rows, width, kc);
}

/**
 * Packs consecutive panels of `width` rows each, kc·width floats per panel,
 * from a block of `rows` × kc; the last panel is zero-padded.
 */
export function packBlock(
  dst: usize, src: usize, rowStride: i32, kStride: i32,
  rows: i32, width: i32, kc: i32,
): void {
  const panelBytes = <usize>(kc * width) << 2;
  const panelStep = <usize>(width * rowStride) << 2;
  for (let r = 0; r < rows; r += width) {
    packPanel(dst, src, rowStride, kStride, min(width, rows - r), width, kc);
    dst += panelBytes;
    src += panelStep;
  }
}

/** Packs any layout with any number of valid rows, one element at a time, zeros past `rows`. */
function packScalar(
  dst: usize, src: usize, rowStride: i32, kStride: i32,
  rows: i32, width: i32, kc: i32,
): void {
  for (let p = 0; p < kc; p++) {
    const column = src + (<usize>(p * kStride) << 2);
    const out = dst + (<usize>(p * width) << 2);
    let r = 0;
    for (; r < rows; r++) store<f32>(out + (<usize>r << 2), load<f32>(column + (<usize>(r * rowStride) << 2)));
    for (; r < width; r++) store<f32>(out + (<usize>r << 2), 0);
  }
}

/** Packs a full panel with rowStride 1: each k-step is copied as vectors, then the 1-3 float tail. */
function packContiguous(dst: usize, src: usize, kStride: i32, width: i32, kc: i32): void {
  const step = <usize>kStride << 2;
  const widthBytes = <usize>width << 2;
  const vectorBytes = widthBytes & ~15;
  for (let p = 0; p < kc; p++) {
    for (let offset: usize = 0; offset < vectorBytes; offset += 16) {
      v128.store(dst + offset, v128.load(src + offset));
    }
    for (let offset = vectorBytes; offset < widthBytes; offset += 4) {
      store<f32>(dst + offset, load<f32>(src + offset));
    }
    src += step;
    dst += widthBytes;
  }
}

/**
 * Packs a full panel with kStride 1: reads 4 rows × 4 k-steps, transposes the
 * 4×4 block in registers and writes 4 k-steps × 4 rows. Remaining rows go
 * through packRowPair (a pair, as in width 6) and packRow (a single row).
 */
function packTransposed(dst: usize, src: usize, rowStride: i32, width: i32, kc: i32): void {
  const row = <usize>rowStride << 2;
  const widthBytes = <usize>width << 2;
  const kcMain = kc & ~3;
  let r = 0;
  for (; r + 4 <= width; r += 4) {
    const in0 = src + <usize>r * row;
    const in1 = in0 + row;
    const in2 = in1 + row;
    const in3 = in2 + row;
    let out = dst + (<usize>r << 2);
    for (let p = 0; p < kcMain; p += 4) {
      const offset = <usize>p << 2;
      const r0 = v128.load(in0 + offset);
      const r1 = v128.load(in1 + offset);
      const r2 = v128.load(in2 + offset);
      const r3 = v128.load(in3 + offset);
      // t0 = [r0.0 r1.0 r0.1 r1.1], t1 = [r0.2 r1.2 r0.3 r1.3], likewise t2, t3 for rows 2 and 3.
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      v128.store(out, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(out + widthBytes, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(out + 2 * widthBytes, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(out + 3 * widthBytes, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
      out += widthBytes << 2;
    }
    for (let p = kcMain; p < kc; p++) {
      const offset = <usize>p << 2;
      store<f32>(out, load<f32>(in0 + offset));
      store<f32>(out, load<f32>(in1 + offset), 4);
      store<f32>(out, load<f32>(in2 + offset), 8);
      store<f32>(out, load<f32>(in3 + offset), 12);
      out += widthBytes;
    }
  }
  if (r + 2 <= width) {
    packRowPair(dst + (<usize>r << 2), src + <usize>r * row, row, widthBytes, kc);
    r += 2;
  }
  if (r < width) packRow(dst + (<usize>r << 2), src + <usize>r * row, widthBytes, kc);
}

/** Interleaves two source rows (row bytes apart) into float pairs, one pair per k-step, widthBytes apart. */
function packRowPair(out: usize, in0: usize, row: usize, widthBytes: usize, kc: i32): void {
  const in1 = in0 + row;
  const kcMain = kc & ~3;
  for (let p = 0; p < kcMain; p += 4) {
    const offset = <usize>p << 2;
    const r0 = v128.load(in0 + offset);
    const r1 = v128.load(in1 + offset);
    // low = [r0.0 r1.0 r0.1 r1.1], high = [r0.2 r1.2 r0.3 r1.3]: one 64-bit pair per k-step.
    const low = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
    const high = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    v128.store64_lane(out, low, 0);
    v128.store64_lane(out + widthBytes, low, 1);
    v128.store64_lane(out + 2 * widthBytes, high, 0);
    v128.store64_lane(out + 3 * widthBytes, high, 1);
    out += widthBytes << 2;
  }
  for (let p = kcMain; p < kc; p++) {
    const offset = <usize>p << 2;
    store<f32>(out, load<f32>(in0 + offset));
    store<f32>(out, load<f32>(in1 + offset), 4);
    out += widthBytes;
  }
}

/** Copies one source row into every k-step of the panel, widthBytes apart. */
function packRow(out: usize, in0: usize, widthBytes: usize, kc: i32): void {
  for (let p = 0; p < kc; p++) {
    store<f32>(out, load<f32>(in0 + (<usize>p << 2)));
    out += widthBytes;
  }
}
