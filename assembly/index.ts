// The kernel table: every function the bindings call. Kernels take raw
// pointers into linear memory and sizes in elements, and assume their
// arguments were validated by the bindings.

export { alloc, free } from "./memory";
export { isaName } from "./isa";
export { f32_gemm_reference } from "./gemm/reference";
export { f32_gemm, f32_gemm_reserve } from "./gemm/blocked";
export { f32_gemm_use_buffers, f32_gemm_pack_a_bytes, f32_gemm_pack_b_bytes, SCRATCH_TILE_BYTES as f32_gemm_scratch_bytes } from "./gemm/blocked";
export { f32_peak_madd, f32_peak_madd_flops } from "./gemm/peak";
// Block and tile sizes of the f32_gemm build, for tests that sweep around them.
export { MR as f32_gemm_MR, NR as f32_gemm_NR, KC as f32_gemm_KC, MC as f32_gemm_MC, NC as f32_gemm_NC } from "./gemm/blocked";
export { f32_random_uniform } from "./random/uniform";
export { f32_random_normal } from "./random/normal";
export { f32_geqrf, f32_orgqr } from "./linalg/qr";
export { f32_trsm } from "./linalg/trsm";
export { f32_attention_softmax, f32_attention_softmax_work } from "./attention/softmax";
export {
  f32_attention_gather_rows, f32_attention_masked_product, f32_attention_divide_rows, f32_attention_scale,
  f32_attention_reciprocal_rows,
} from "./attention/rows";
export { f32_exp, f32_exp_fast, f32_sin, f32_cos } from "./math/elementwise";
export { f32_transpose } from "./transpose/transpose";
export { f32_gemv } from "./gemv/gemv";
export { f32_softmax_rows, f32_logsumexp_rows } from "./softmax/softmax";
export { f32_orthonormal_rows, f32_rescale_rows } from "./features/projection";
export { f32_half_squared_norms, f32_features_exp, f32_features_trig, f32_features_pointwise } from "./features/maps";
export { f32_features_projected } from "./features/projected";
export {
  f32_features_backward, f32_attention_output_gradient, f32_attention_causal_mask, f32_attention_scatter_rows,
  f32_rows_add_scaled, f64_state_accumulate, f64_state_read, f64_state_scale, f64_max_abs, f32_max_abs,
  f32_axpy, f32_scale_copy, f32_attention_chunk_gradient, f32_weighted_column_sums,
} from "./attention/backward";
export {
  f32_softmax_backward_stats, f32_softmax_backward_finish, f32_softmax_backward_scores,
} from "./attention/softmax-backward";
export { f32_csrmm, f32_csr_sddmm } from "./sparse/csr";
export { f32_getrf, f32_getrs } from "./linalg/lu";
export {
  f32_matrix_norm1, f32_sum_squares, f32_axpby, f32_fill, f32_sum_difference,
  f32_skew_part, f32_symmetric_part, f32_add_identity, f32_copy_block,
} from "./linalg/combine";
export { f32_expm_pade_terms, f32_cayley_operands, f32_expm_frechet_block } from "./linalg/expm";
export { f32_ode_euler_step, f32_ode_activation_adjoint } from "./ode/activation";
export { f32_householder_normalize, f32_householder_scatter_gradient } from "./householder/columns";
export { f32_householder_p, f32_householder_mirror_upper, f32_householder_subtract, f32_householder_eye } from "./householder/triangle";
export { f32_householder_product_sequential, f32_householder_apply_sequential } from "./householder/sequential";
export { f32_householder_reflect_to_axes, f32_householder_haar_vectors } from "./householder/vectors";
export { f32_kernel_exact, f32_scale_by_exp, f32_hybrid_combine } from "./features/estimate";
export { f32_features_sign, f32_hybrid_tensor, f32_hybrid_tensor_backward } from "./features/hybrid";
export { f32_state_add_scaled, f32_thread_use_scratch } from "./threads/state";
