#include "nn/dense.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <dlfcn.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <climits>

namespace imgpipe::nn {

namespace {

// Fortran sgemm: column-major C = op(A) op(B) + beta C.
using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                       const int*, const float*, const int*, const float*, float*, const int*);

Sgemm sgemm() {
    static const auto f = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "sgemm_"));
    return f;
}

// The m columns of row-major C (W's rows, or the input's features) in up to
// 16 blocks of at least 128, multiples of 16: a function of the shape alone,
// so that the sums are the same whatever the thread count. Every block packs
// the other operand again: blocks of 64 made the lecture CNN's Dense 256
// forward 18 ms against 14 for 128 (1 thread, batch 128, 12544 inputs).
// For each block, in parallel: call(first column, count), one column-major
// sgemm (row-major C^T is column-major C).
template <typename F>
void for_blocks(int64_t m, const F& call) {
    const int64_t size = std::max<int64_t>(128, ((m + 15) / 16 + 15) / 16 * 16);
    const int64_t blocks = (m + size - 1) / size;
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) call(b * size, std::min(size, m - b * size));
    });
}

void gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float beta, float* c, int64_t ldc) {
    const int im = int(m), in = int(n), ik = int(k), ila = int(lda), ilb = int(ldb), ilc = int(ldc);
    const float one = 1.0f;
    sgemm()(&ta, &tb, &im, &in, &ik, &one, a, &ila, b, &ilb, &beta, c, &ilc);
}

// Whether W [out, in] is the transposed view of a row-major [in, out] array
// (Keras' kernel as it lies, doc/design.md "Keras files in"): then the sgemm
// reads it with the other trans flag, and no copy of W is made.
bool transposed(const at::Tensor& w) { return !w.is_contiguous() && w.t().is_contiguous(); }

// W as the blocks read it: as it lies when row-major or transposed, else a row-major copy.
at::Tensor as_blocks_read(const at::Tensor& w) { return transposed(w) ? w : w.contiguous(); }

// y [n, out] = x [n, in] W^T + b: y^T = W x^T, blocks of W's rows.
at::Tensor forward_blocks(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    RECORD_FUNCTION("imgpipe::dense", std::vector<c10::IValue>());  // named in --profile
    const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
    at::Tensor y = b.defined() ? b.expand({n, out}).contiguous() : at::empty({n, out}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const float beta = b.defined() ? 1.0f : 0.0f;
    if (transposed(w))  // W^T row-major [in, out] is W column-major: rows o.. start at column o
        for_blocks(out, [&](int64_t o, int64_t m) { gemm('N', 'N', m, n, in, wp + o, out, xp, in, beta, yp + o, out); });
    else
        for_blocks(out, [&](int64_t o, int64_t m) { gemm('T', 'N', m, n, in, wp + o * in, in, xp, in, beta, yp + o, out); });
    return y;
}

struct DenseBlocks : torch::autograd::Function<DenseBlocks> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                              const at::Tensor& b) {
        at::Tensor xc = x.contiguous(), wc = as_blocks_read(w);
        ctx->save_for_backward({xc, wc});
        ctx->saved_data["bias"] = b.numel() > 0;
        return forward_blocks(xc, wc, b.numel() > 0 ? b : at::Tensor());
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        RECORD_FUNCTION("imgpipe::dense_backward", std::vector<c10::IValue>());
        auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &w = saved[1];
        at::Tensor gy = grads[0].contiguous();
        const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
        const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *gp = gy.data_ptr<float>();
        at::Tensor gx, gw, gb;
        // W transposed (W^T row-major): the same products with the other trans
        // flags, and W's gradient in W's layout, which autograd adds into the
        // parameter's gradient (the same layout: nn/optimizer.hpp) in memory order.
        const bool wt = transposed(w);
        if (ctx->needs_input_grad(0)) {  // gx [n, in] = gy W: gx^T = W^T gy^T, blocks of features
            gx = at::empty({n, in}, x.options());
            float* p = gx.data_ptr<float>();
            if (wt)
                for_blocks(in, [&](int64_t i, int64_t m) { gemm('T', 'N', m, n, out, wp + i * out, out, gp, out, 0, p + i, in); });
            else
                for_blocks(in, [&](int64_t i, int64_t m) { gemm('N', 'N', m, n, out, wp + i, in, gp, out, 0, p + i, in); });
        }
        if (ctx->needs_input_grad(1) && wt) {  // gw^T [in, out] = x^T gy: gw = gy^T x column-major, blocks of features
            at::Tensor gwt = at::empty({in, out}, w.options());
            float* p = gwt.data_ptr<float>();
            for_blocks(in, [&](int64_t i, int64_t m) { gemm('N', 'T', out, m, n, gp, out, xp + i, in, 0, p + i * out, out); });
            gw = gwt.t();
        } else if (ctx->needs_input_grad(1)) {  // gw [out, in] = gy^T x: gw^T = x^T gy, blocks of features
            gw = at::empty({out, in}, w.options());
            float* p = gw.data_ptr<float>();
            for_blocks(in, [&](int64_t i, int64_t m) { gemm('N', 'T', m, out, n, xp + i, in, gp, out, 0, p + i, in); });
        }
        if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) gb = gy.sum(0);
        return {gx, gw, gb};
    }
};

}  // namespace

bool dense_blocks_runs(const at::Tensor& x, const at::Tensor& w) {
    auto fits = [](int64_t v) { return v > 0 && v < INT_MAX; };
    return sgemm() && x.dim() == 2 && w.dim() == 2 && x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat &&
           x.device().is_cpu() && w.device().is_cpu() && x.size(1) == w.size(1) && fits(x.size(0)) &&
           fits(x.size(1)) && fits(w.size(0));
}

at::Tensor dense_blocks(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad())))
        return DenseBlocks::apply(x, w, b.defined() ? b : at::empty({0}, w.options()));  // apply wants a defined tensor
    return forward_blocks(x.contiguous(), as_blocks_read(w), b);
}

}  // namespace imgpipe::nn
