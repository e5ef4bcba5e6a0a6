// The kernel table: every function the bindings call. Kernels take raw
// pointers into linear memory and sizes in elements, and assume their
// arguments were validated by the bindings.

export { alloc, free } from "./memory";
export { isaName } from "./isa";
export { f32_gemm_reference } from "./gemm/reference";
// TODO: replace with the blocked SIMD GEMM; until then the fast entry point
// runs the reference loop.
export { f32_gemm_reference as f32_gemm } from "./gemm/reference";
export { f32_random_uniform } from "./random/uniform";
export { f32_random_normal } from "./random/normal";
export { f32_geqrf, f32_orgqr } from "./linalg/qr";
export { f32_trsm } from "./linalg/trsm";
export { f32_householder_normalize, f32_householder_scatter_gradient } from "./householder/columns";
export { f32_householder_p, f32_householder_mirror_upper, f32_householder_subtract, f32_householder_eye } from "./householder/triangle";
export { f32_householder_product_sequential, f32_householder_apply_sequential } from "./householder/sequential";
export { f32_householder_reflect_to_axes, f32_householder_haar_vectors } from "./householder/vectors";
