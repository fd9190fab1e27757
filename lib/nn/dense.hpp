#pragma once
// Dense (x W^T + b) through the BLAS's sgemm on fixed blocks of the output,
// the blocks spread over -j threads. The BLAS itself runs on one thread
// (set_blas_threads): OpenBLAS rounds differently per thread count, so its
// own threads would make results depend on -j. Fixed blocks give every -j
// the same bytes and still use the cores.

#include <ATen/ATen.h>

namespace imgpipe::nn {

// Whether dense_blocks runs this case: float CPU tensors, x [batch, in],
// W [out, in], sizes a Fortran int holds, and a BLAS exporting sgemm_. W is
// read as it lies when row-major or the transposed view of a row-major [in, out]
// (a Keras kernel, doc/design.md "Keras files in"), and its gradient comes in W's layout.
bool dense_blocks_runs(const at::Tensor& x, const at::Tensor& w);

// x W^T + b (b may be undefined), differentiable in x, W and b.
at::Tensor dense_blocks(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

}  // namespace imgpipe::nn
