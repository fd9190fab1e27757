#include "nn/pool.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "nn/clones.hpp"

namespace imgpipe::nn {

namespace {

constexpr uint8_t kNoGradient = 255;  // the ReLU zeroed the window: no input gets a gradient

struct Geometry {
    int64_t n, h, w, c, kh, kw, oh, ow;
};

// x's sizes [n, c, h, w]; the windows that fit, floor (as libtorch's).
Geometry geometry(at::IntArrayRef x, int64_t kh, int64_t kw) {
    return {x[0], x[2], x[3], x[1], kh, kw, x[2] / kh, x[3] / kw};
}

// Output rows a task takes: about 32k input values each (libtorch's grain).
int64_t grain(const Geometry& g) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.ow * g.c * g.kh * g.kw)); }

// One output pixel's channels: libtorch's rule, "greater, or NaN", in
// row-major order over the window. Written per channel with the window
// inside, so that the compiler vectorizes across channels (KH, KW > 0: a
// window known at compile time, unrolled; 0: the geometry's).
template <int KH, int KW, bool kArg, bool kRelu>
void forward_pixel(const Geometry& g, const float* __restrict x, float* __restrict y, uint8_t* __restrict arg) {
    const int64_t kh = KH ? KH : g.kh, kw = KW ? KW : g.kw, row = g.w * g.c, c = g.c;
    for (int64_t k = 0; k < c; ++k) {
        float m = -std::numeric_limits<float>::infinity();
        uint8_t a = 0;
        for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
                float v = x[i * row + j * c + k];
                bool take = v > m || v != v;
                m = take ? v : m;
                a = take ? uint8_t(i * kw + j) : a;
            }
        if (kRelu) {  // relu passes a positive value or a NaN, and so does its gradient
            bool pass = m > 0 || m != m;
            m = pass ? m : 0.0f;
            a = pass ? a : kNoGradient;
        }
        y[k] = m;
        if (kArg) arg[k] = a;
    }
}

// The row kernels are cloned for AVX2 (nn/clones.hpp): with SSE2 alone, the
// argmax's masks, selects and byte packing took about twice the instructions
// and held the training forward to 60% of the memory's speed.
template <int KH, int KW, bool kArg, bool kRelu>
VECTOR_CLONES void forward_row(const Geometry& g, const float* x, float* y, uint8_t* arg, int64_t row) {
    const int64_t n = row / g.oh, oh = row % g.oh, c = g.c;
    for (int64_t ow = 0; ow < g.ow; ++ow)
        forward_pixel<KH, KW, kArg, kRelu>(g, x + ((n * g.h + oh * g.kh) * g.w + ow * g.kw) * c,
                                           y + (row * g.ow + ow) * c,
                                           kArg ? arg + (row * g.ow + ow) * c : nullptr);
}

template <bool kArg, bool kRelu>
void forward_rows(const Geometry& g, const float* x, float* y, uint8_t* arg) {
    const bool two = g.kh == 2 && g.kw == 2;  // Keras' default pool_size
    at::parallel_for(0, g.n * g.oh, grain(g), [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row)
            two ? forward_row<2, 2, kArg, kRelu>(g, x, y, arg, row) : forward_row<0, 0, kArg, kRelu>(g, x, y, arg, row);
    });
}

at::Tensor pool_forward(const at::Tensor& input, int64_t kh, int64_t kw, bool relu, at::Tensor* arg) {
    RECORD_FUNCTION(relu ? "imgpipe::max_pool_relu" : "imgpipe::max_pool", std::vector<c10::IValue>());  // named in --profile
    const Geometry g = geometry(input.sizes(), kh, kw);
    at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor y = at::empty({g.n, g.c, g.oh, g.ow}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    if (arg) {
        *arg = at::empty({g.n, g.oh, g.ow, g.c}, x.options().dtype(at::kByte));
        uint8_t* ap = arg->data_ptr<uint8_t>();
        relu ? forward_rows<true, true>(g, xp, yp, ap) : forward_rows<true, false>(g, xp, yp, ap);
    } else {
        relu ? forward_rows<false, true>(g, xp, yp, nullptr) : forward_rows<false, false>(g, xp, yp, nullptr);
    }
    return y;
}

void backward_pixel(int64_t c, uint8_t pos, const float* __restrict grad, const uint8_t* __restrict arg,
                    float* __restrict out) {
    for (int64_t k = 0; k < c; ++k) {  // g or +0 by a bit mask: GCC vectorizes this, not "? :"
        float g = 0.0f + grad[k];
        uint32_t bits;
        std::memcpy(&bits, &g, sizeof bits);
        bits &= 0u - uint32_t(arg[k] == pos);
        std::memcpy(out + k, &bits, sizeof bits);
    }
}

// Adds the gradient of the windows that passed one (not zeroed by the ReLU).
void backward_pixel_sum(int64_t c, const float* __restrict grad, const uint8_t* __restrict arg,
                        float* __restrict sum) {
    for (int64_t k = 0; k < c; ++k) {  // g or +0 by a bit mask, as backward_pixel
        uint32_t bits;
        std::memcpy(&bits, grad + k, sizeof bits);
        bits &= 0u - uint32_t(arg[k] != kNoGradient);
        float g;
        std::memcpy(&g, &bits, sizeof g);
        sum[k] += g;
    }
}

// One output row's input gradients, and with sum its bias-gradient sums.
VECTOR_CLONES void backward_row(const Geometry& g, const float* gop, const uint8_t* ap, float* gip, float* sum,
                                int64_t row) {
    const int64_t n = row / g.oh, oh = row % g.oh, c = g.c;
    for (int64_t i = 0; i < g.kh; ++i) {
        float* line = gip + (n * g.h + oh * g.kh + i) * g.w * c;
        for (int64_t ow = 0; ow < g.ow; ++ow) {
            const float* gp = gop + (row * g.ow + ow) * c;
            const uint8_t* ao = ap + (row * g.ow + ow) * c;
            for (int64_t j = 0; j < g.kw; ++j)
                backward_pixel(c, uint8_t(i * g.kw + j), gp, ao, line + (ow * g.kw + j) * c);
        }
        std::fill(line + g.ow * g.kw * c, line + g.w * c, 0.0f);
    }
    if (oh == g.oh - 1)  // the rows below the last window
        std::fill(gip + (n * g.h + g.oh * g.kh) * g.w * c, gip + (n + 1) * g.h * g.w * c, 0.0f);
    if (sum)
        for (int64_t ow = 0; ow < g.ow; ++ow)
            backward_pixel_sum(c, gop + (row * g.ow + ow) * c, ap + (row * g.ow + ow) * c, sum);
}

// Every input gradient is written once: the output's gradient where the
// window's argmax is, zero elsewhere and in the rows and columns no window
// covers. "0 + g", as libtorch adds into its zero-filled gradient (-0 -> +0).
// With bias_grad, also the gradient of the bias the layer before added to
// every pixel: the sum of the input gradient per channel, which is the sum of
// the output gradient over the windows that passed one. Summed per output row
// in parallel, then over the rows in their order: the same bytes at any -j.
at::Tensor pool_backward(const Geometry& g, const at::Tensor& grad, const at::Tensor& arg, at::Tensor* bias_grad) {
    RECORD_FUNCTION("imgpipe::max_pool_backward", std::vector<c10::IValue>());
    at::Tensor go = grad.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor gi = at::empty({g.n, g.c, g.h, g.w}, go.options().memory_format(at::MemoryFormat::ChannelsLast));
    const float* gop = go.data_ptr<float>();
    const uint8_t* ap = arg.data_ptr<uint8_t>();
    float* gip = gi.data_ptr<float>();
    const int64_t c = g.c;
    std::vector<float> row_sums(bias_grad ? size_t(g.n * g.oh * c) : 0);
    at::parallel_for(0, g.n * g.oh, grain(g), [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row)
            backward_row(g, gop, ap, gip, bias_grad ? row_sums.data() + row * c : nullptr, row);
    });
    if (bias_grad) {
        std::vector<double> total(size_t(c), 0.0);
        for (int64_t row = 0; row < g.n * g.oh; ++row)
            for (int64_t k = 0; k < c; ++k) total[size_t(k)] += row_sums[size_t(row * c + k)];
        *bias_grad = at::empty({c}, go.options());
        float* bp = bias_grad->data_ptr<float>();
        for (int64_t k = 0; k < c; ++k) bp[k] = float(total[size_t(k)]);
    }
    return gi;
}

struct MaxPoolRelu : torch::autograd::Function<MaxPoolRelu> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias,
                              int64_t kh, int64_t kw, bool relu) {
        at::Tensor arg;
        at::Tensor y = pool_forward(x, kh, kw, relu, &arg);
        ctx->save_for_backward({arg});
        ctx->saved_data["sizes"] = x.sizes().vec();
        ctx->saved_data["kh"] = kh;
        ctx->saved_data["kw"] = kw;
        return y;
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
        const Geometry g = geometry(sizes, ctx->saved_data["kh"].toInt(), ctx->saved_data["kw"].toInt());
        at::Tensor bias_grad;
        at::Tensor gi = pool_backward(g, grads[0], ctx->get_saved_variables()[0],
                                      ctx->needs_input_grad(1) ? &bias_grad : nullptr);
        return {gi, bias_grad, at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

}  // namespace

bool max_pool_relu_runs(const at::Tensor& x, int64_t kh, int64_t kw) {
    return x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
           x.is_contiguous(at::MemoryFormat::ChannelsLast) && kh >= 1 && kw >= 1 && kh * kw <= kNoGradient &&
           x.size(2) >= kh && x.size(3) >= kw && x.numel() > 0;
}

at::Tensor max_pool_relu(const at::Tensor& x, int64_t kh, int64_t kw, bool relu, const at::Tensor& bias) {
    bool bias_learns = bias.defined() && bias.requires_grad();
    if ((x.requires_grad() || bias_learns) && at::GradMode::is_enabled())
        // libtorch 1.13's Function takes no undefined tensor: an empty one stands for no bias
        return MaxPoolRelu::apply(x, bias_learns ? bias : at::empty({0}, x.options()), kh, kw, relu);
    return pool_forward(x, kh, kw, relu, nullptr);
}

}  // namespace imgpipe::nn
