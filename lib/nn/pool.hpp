#pragma once
// Max pooling over non-overlapping windows of channels-last float tensors
// (Keras' default MaxPooling2D: strides = pool_size, "valid"), optionally with
// the ReLU that Network moves past the pooling, in one pass over the input.
// libtorch's max_pool2d keeps an int64 index per output and zero-fills the
// whole input gradient before scattering into it, then a ReLU and its
// backward make two more passes; here the window's argmax is one byte and
// the backward writes every input gradient once. Outputs and gradients are
// libtorch's bitwise: the first maximum of a window in row-major order wins
// (a NaN always wins), as in its kernel.

#include <ATen/ATen.h>

#include <cstdint>

namespace imgpipe::nn {

// Whether max_pool_relu runs this case: a 4-d float CPU tensor stored
// channels-last, a window of at most 255 pixels that fits the input.
bool max_pool_relu_runs(const at::Tensor& x, int64_t kh, int64_t kw);

// y = relu(max_pool2d(x, {kh, kw}, {kh, kw})) when relu, else the pooling
// alone; records what backward needs when x requires a gradient. bias: the
// per-channel bias the layer before added to x (its convolution adds it, and
// leaves its gradient here): the backward sums its gradient from the output's
// gradient, a quarter of the values, in the pass it makes anyway, instead of
// a pass of the convolution's over the whole of x's.
at::Tensor max_pool_relu(const at::Tensor& x, int64_t kh, int64_t kw, bool relu, const at::Tensor& bias = {});

}  // namespace imgpipe::nn
