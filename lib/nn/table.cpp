#include "nn/table.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

namespace imgpipe::nn {

at::Tensor look_up_bytes(const at::Tensor& table, const at::Tensor& bytes) {
    RECORD_FUNCTION("imgpipe::look_up_bytes", std::vector<c10::IValue>());  // named in --profile
    if (!bytes.device().is_cpu() || table.scalar_type() != at::kFloat)
        return table.index_select(0, bytes.flatten().to(at::kLong)).view(bytes.sizes());
    // In memory order, into the same layout (a channels-last batch stays channels-last).
    const at::Tensor b = bytes.is_non_overlapping_and_dense() ? bytes : bytes.contiguous(), t = table.contiguous();
    at::Tensor out = at::empty_like(b, t.options());
    const uint8_t* in = b.data_ptr<uint8_t>();
    const float* values = t.data_ptr<float>();
    float* o = out.data_ptr<float>();
    at::parallel_for(0, b.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) o[i] = values[in[i]];
    });
    return out;
}

}  // namespace imgpipe::nn
