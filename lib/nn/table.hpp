#pragma once
// U8 pixels through a table of 256 values: one pass over the bytes where a
// conversion to float and an elementwise expression (the usual first layer,
// Lambda x/255) would take a pass each.

#include <ATen/ATen.h>

namespace imgpipe::nn {

// table [256] of any dtype, bytes U8 of any shape (on the table's device):
// table[bytes], bytes' shape (on the CPU, and when the bytes are dense, their layout too).
at::Tensor look_up_bytes(const at::Tensor& table, const at::Tensor& bytes);

}  // namespace imgpipe::nn
