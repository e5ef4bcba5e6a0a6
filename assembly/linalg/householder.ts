// Application of one Householder reflection H = I − tau·v·vᵀ from the left,
// shared by the QR factorization (f32_geqrf) and the formation of Q
// (f32_orgqr).
//
// Layout: the block is `rows`×`cols`, row-major, starting at `block`, with a
// row stride of `ld` elements. `v` is a contiguous vector of `rows` elements
// whose first element is stored (the callers store 1 there). `v` must not
// alias the block.
//
// Work: block ← block − v·wᵀ with w = tau·(blockᵀ·v). The columns are
// processed in strips (16 or 4 columns on SIMD builds, 4 or 1 otherwise):
// one pass down the strip accumulates w in registers, a second pass
// updates it. A strip of 16 columns of a 512-row block is 32 KiB, so the
// second pass mostly reads from the first-level cache. Every column gets
// the same operations in the same order whichever strip it falls in,
// except on the relaxed build, where the vector strips may fuse the
// multiply-add and the remainder columns do not.

import { madd } from "../isa";

/** Applies H = I − tau·v·vᵀ to the rows×cols block at `block` (row stride `ld`). */
export function applyReflectorLeft(rows: i32, cols: i32, block: usize, ld: i32, v: usize, tau: f32): void {
  const rowBytes = <usize>ld << 2;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const t = f32x4.splat(tau);
    for (; c + 16 <= cols; c += 16) {
      const top = block + (<usize>c << 2);
      let w0 = f32x4.splat(0);
      let w1 = w0;
      let w2 = w0;
      let w3 = w0;
      let p = top;
      for (let i = 0; i < rows; i++) {
        const s = v128.load32_splat(v + (<usize>i << 2));
        w0 = madd(s, v128.load(p), w0);
        w1 = madd(s, v128.load(p, 16), w1);
        w2 = madd(s, v128.load(p, 32), w2);
        w3 = madd(s, v128.load(p, 48), w3);
        p += rowBytes;
      }
      w0 = f32x4.mul(w0, t);
      w1 = f32x4.mul(w1, t);
      w2 = f32x4.mul(w2, t);
      w3 = f32x4.mul(w3, t);
      p = top;
      for (let i = 0; i < rows; i++) {
        const s = f32x4.neg(v128.load32_splat(v + (<usize>i << 2)));
        v128.store(p, madd(s, w0, v128.load(p)));
        v128.store(p, madd(s, w1, v128.load(p, 16)), 16);
        v128.store(p, madd(s, w2, v128.load(p, 32)), 32);
        v128.store(p, madd(s, w3, v128.load(p, 48)), 48);
        p += rowBytes;
      }
    }
    for (; c + 4 <= cols; c += 4) {
      const top = block + (<usize>c << 2);
      let w0 = f32x4.splat(0);
      let p = top;
      for (let i = 0; i < rows; i++) {
        w0 = madd(v128.load32_splat(v + (<usize>i << 2)), v128.load(p), w0);
        p += rowBytes;
      }
      w0 = f32x4.mul(w0, t);
      p = top;
      for (let i = 0; i < rows; i++) {
        const s = f32x4.neg(v128.load32_splat(v + (<usize>i << 2)));
        v128.store(p, madd(s, w0, v128.load(p)));
        p += rowBytes;
      }
    }
  } else {
    // Four scalar accumulators give the scalar build the same strip order.
    for (; c + 4 <= cols; c += 4) {
      const top = block + (<usize>c << 2);
      let w0: f32 = 0;
      let w1: f32 = 0;
      let w2: f32 = 0;
      let w3: f32 = 0;
      let p = top;
      for (let i = 0; i < rows; i++) {
        const s = load<f32>(v + (<usize>i << 2));
        w0 += s * load<f32>(p);
        w1 += s * load<f32>(p, 4);
        w2 += s * load<f32>(p, 8);
        w3 += s * load<f32>(p, 12);
        p += rowBytes;
      }
      w0 *= tau;
      w1 *= tau;
      w2 *= tau;
      w3 *= tau;
      p = top;
      for (let i = 0; i < rows; i++) {
        const s = -load<f32>(v + (<usize>i << 2));
        store<f32>(p, load<f32>(p) + s * w0);
        store<f32>(p, load<f32>(p, 4) + s * w1, 4);
        store<f32>(p, load<f32>(p, 8) + s * w2, 8);
        store<f32>(p, load<f32>(p, 12) + s * w3, 12);
        p += rowBytes;
      }
    }
  }
  for (; c < cols; c++) {
    const top = block + (<usize>c << 2);
    let w: f32 = 0;
    let p = top;
    for (let i = 0; i < rows; i++) {
      w += load<f32>(v + (<usize>i << 2)) * load<f32>(p);
      p += rowBytes;
    }
    w *= tau;
    p = top;
    for (let i = 0; i < rows; i++) {
      const s = -load<f32>(v + (<usize>i << 2));
      store<f32>(p, load<f32>(p) + s * w);
      p += rowBytes;
    }
  }
}
