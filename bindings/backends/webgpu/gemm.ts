// WGSL tiled GEMM: C = alpha·op(A)·op(B) + beta·C for a batch of matrices.
//
// Layout: row-major, sizes, leading dimensions and batch strides in
// elements (float32), as in bindings/api/matmul.ts. Each dispatch sees A, B
// and C from element 0 of their bindings (the backend copies or binds the
// chunk it runs). A workgroup of 16×16 invocations computes a 64×64 tile of
// C; each invocation owns a 4×4 block and accumulates in float32. Per step
// of 16 along k it stages a 64×16 tile of op(A) and a 16×64 tile of op(B) in
// workgroup memory, both stored k-major. Loads along the operand's
// contiguous dimension read vec4<f32> when the plan is aligned (see
// gemmVariant); otherwise scalars. Out-of-range elements load as 0, and only
// elements with row < m and column < n are written, so C between rows and
// between batch items is never touched. With beta = 0 the shader never
// reads C (NaN in C does not leak into the result); beta is a uniform, so
// that choice does not need a second pipeline.

/** The choices that change the shader text; together they are the pipeline cache key. */
export interface GemmVariant {
  transA: boolean;
  transB: boolean;
  /** A is read as vec4<f32> along its contiguous dimension. */
  vecA: boolean;
  /** B is read as vec4<f32> along its contiguous dimension. */
  vecB: boolean;
}

/** Tile edges: rows and columns of C per workgroup, and the k step. */
export const TILE_M = 64;
export const TILE_N = 64;
export const TILE_K = 16;

/** Size of the uniform block in bytes (12 words). */
export const GEMM_UNIFORM_BYTES = 48;

/** Returns the cache key of a variant, for example "gemm:tA=0,tB=1,vA=1,vB=0". */
export function gemmKey(v: GemmVariant): string {
  const bit = (x: boolean) => (x ? 1 : 0);
  return `gemm:tA=${bit(v.transA)},tB=${bit(v.transB)},vA=${bit(v.vecA)},vB=${bit(v.vecB)}`;
}

/**
 * Picks the variant for one dispatch. A vec4 load of an operand needs its
 * contiguous dimension (k for A, m for Aᵀ, n for B, k for Bᵀ), its leading
 * dimension and, with more than one batch item, its batch stride to be
 * multiples of 4, so every vec4 starts at a multiple of 4 elements and lies
 * inside the operand's extent.
 */
export function gemmVariant(p: {
  m: number; n: number; k: number; batch: number; transA: boolean; transB: boolean;
  lda: number; ldb: number; strideA: number; strideB: number;
}): GemmVariant {
  const four = (x: number) => x % 4 === 0;
  const contigA = p.transA ? p.m : p.k;
  const contigB = p.transB ? p.k : p.n;
  return {
    transA: p.transA,
    transB: p.transB,
    vecA: four(contigA) && four(p.lda) && (p.batch === 1 || four(p.strideA)),
    vecB: four(contigB) && four(p.ldb) && (p.batch === 1 || four(p.strideB)),
  };
}

function loadA(v: GemmVariant): string {
  if (v.vecA && !v.transA) {
    return `{
      let r = tid / 4u; let kq = tid % 4u; let gr = row0 + r; let gk = k0 + kq * 4u;
      var x = vec4<f32>(0.0);
      if (gr < P.m && gk < P.k) { x = A[(baseA + gr * P.lda + gk) / 4u]; }
      As[(kq * 4u + 0u) * 64u + r] = x.x; As[(kq * 4u + 1u) * 64u + r] = x.y;
      As[(kq * 4u + 2u) * 64u + r] = x.z; As[(kq * 4u + 3u) * 64u + r] = x.w;
    }`;
  }
  if (v.vecA && v.transA) {
    return `{
      let kk = tid / 16u; let rq = tid % 16u; let gr = row0 + rq * 4u; let gk = k0 + kk;
      var x = vec4<f32>(0.0);
      if (gr < P.m && gk < P.k) { x = A[(baseA + gk * P.lda + gr) / 4u]; }
      As[kk * 64u + rq * 4u + 0u] = x.x; As[kk * 64u + rq * 4u + 1u] = x.y;
      As[kk * 64u + rq * 4u + 2u] = x.z; As[kk * 64u + rq * 4u + 3u] = x.w;
    }`;
  }
  const index = v.transA ? "baseA + gk * P.lda + gr" : "baseA + gr * P.lda + gk";
  const split = v.transA ? "let kk = idx / 64u; let r = idx % 64u;" : "let r = idx / 16u; let kk = idx % 16u;";
  return `for (var t = 0u; t < 4u; t++) {
      let idx = tid + t * 256u; ${split}
      let gr = row0 + r; let gk = k0 + kk;
      var x = 0.0;
      if (gr < P.m && gk < P.k) { x = A[${index}]; }
      As[kk * 64u + r] = x;
    }`;
}

function loadB(v: GemmVariant): string {
  if (v.vecB && !v.transB) {
    return `{
      let kk = tid / 16u; let cq = tid % 16u; let gc = col0 + cq * 4u; let gk = k0 + kk;
      var x = vec4<f32>(0.0);
      if (gc < P.n && gk < P.k) { x = B[(baseB + gk * P.ldb + gc) / 4u]; }
      Bs[kk * 64u + cq * 4u + 0u] = x.x; Bs[kk * 64u + cq * 4u + 1u] = x.y;
      Bs[kk * 64u + cq * 4u + 2u] = x.z; Bs[kk * 64u + cq * 4u + 3u] = x.w;
    }`;
  }
  if (v.vecB && v.transB) {
    return `{
      let c = tid / 4u; let kq = tid % 4u; let gc = col0 + c; let gk = k0 + kq * 4u;
      var x = vec4<f32>(0.0);
      if (gc < P.n && gk < P.k) { x = B[(baseB + gc * P.ldb + gk) / 4u]; }
      Bs[(kq * 4u + 0u) * 64u + c] = x.x; Bs[(kq * 4u + 1u) * 64u + c] = x.y;
      Bs[(kq * 4u + 2u) * 64u + c] = x.z; Bs[(kq * 4u + 3u) * 64u + c] = x.w;
    }`;
  }
  const index = v.transB ? "baseB + gc * P.ldb + gk" : "baseB + gk * P.ldb + gc";
  const split = v.transB ? "let c = idx / 16u; let kk = idx % 16u;" : "let kk = idx / 64u; let c = idx % 64u;";
  return `for (var t = 0u; t < 4u; t++) {
      let idx = tid + t * 256u; ${split}
      let gc = col0 + c; let gk = k0 + kk;
      var x = 0.0;
      if (gc < P.n && gk < P.k) { x = B[${index}]; }
      Bs[kk * 64u + c] = x;
    }`;
}

/** Returns the WGSL source of one variant. */
export function gemmShader(v: GemmVariant): string {
  return `// ${gemmKey(v)}
struct Params {
  m: u32, n: u32, k: u32, lda: u32,
  ldb: u32, ldc: u32, strideA: u32, strideB: u32,
  strideC: u32, alpha: f32, beta: f32, pad: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<${v.vecA ? "vec4<f32>" : "f32"}>;
@group(0) @binding(2) var<storage, read> B: array<${v.vecB ? "vec4<f32>" : "f32"}>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lid.y * 16u + lid.x;
  let row0 = wid.y * 64u;
  let col0 = wid.x * 64u;
  let baseA = wid.z * P.strideA;
  let baseB = wid.z * P.strideB;
  let baseC = wid.z * P.strideC;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < P.k; k0 += 16u) {
    ${loadA(v)}
    ${loadB(v)}
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[kk * 64u + lid.y * 4u + i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = Bs[kk * 64u + lid.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = acc[i * 4u + j] + a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let gr = row0 + lid.y * 4u + i;
    if (gr >= P.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gc = col0 + lid.x * 4u + j;
      if (gc >= P.n) { continue; }
      let ci = baseC + gr * P.ldc + gc;
      // A uniform branch: with beta = 0, C is never read.
      if (P.beta == 0.0) { C[ci] = P.alpha * acc[i * 4u + j]; }
      else { C[ci] = P.alpha * acc[i * 4u + j] + P.beta * C[ci]; }
    }
  }
}
`;
}
