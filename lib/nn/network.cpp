#include "nn/network.hpp"

#include <ATen/record_function.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>

#include "cli/error.hpp"
#include "cli/random.hpp"
#include "nn/dense.hpp"
#include "nn/layers.hpp"
#include "nn/pool.hpp"
#include "nn/table.hpp"

namespace imgpipe::nn {

namespace {

// libtorch runs a float convolution through oneDNN from this batch size on.
constexpr int64_t kOneDnnBatch = 16;

// Inserts stride-1 zeros between the rows (dim 2) or columns (dim 3) of x.
torch::Tensor spread(const torch::Tensor& x, int64_t dim, int64_t stride) {
    if (stride == 1) return x;
    int64_t n = x.size(dim);
    std::vector<int64_t> pad(size_t(2 * (3 - dim) + 2), 0);  // (left, right) pairs from the last axis to the new one
    pad.back() = stride - 1;
    torch::Tensor t = torch::constant_pad_nd(x.unsqueeze(dim + 1), pad, 0);
    std::vector<int64_t> shape = x.sizes().vec();
    shape[size_t(dim)] = n * stride;
    return t.reshape(shape).narrow(dim, 0, (n - 1) * stride + 1);
}

// TensorFlow's "same" padding: the total, with the odd pixel at the bottom/right.
std::pair<int64_t, int64_t> same_padding(int64_t n, int64_t k, int64_t s) {
    int64_t out = (n + s - 1) / s;
    int64_t total = std::max<int64_t>((out - 1) * s + k - n, 0);
    return {total / 2, total - total / 2};
}

// Keras' fan-scaled initializers: uniform in +-sqrt(3 * scale / fan); normal
// ones are truncated at two standard deviations, as Keras' are.
void initialize(torch::Tensor& t, const std::string& kind, int64_t fan_in, int64_t fan_out, Random& random) {
    if (kind == "zeros") {
        t.zero_();
        return;
    }
    if (kind == "ones") {
        t.fill_(1);
        return;
    }
    if (kind.rfind("constant(", 0) == 0) {  // Keras' Constant(value)
        t.fill_(std::strtod(kind.c_str() + 9, nullptr));
        return;
    }
    bool he = kind.rfind("he_", 0) == 0, lecun = kind.rfind("lecun_", 0) == 0;
    // 3 * variance: glorot 6 / (fan_in + fan_out), he 6 / fan_in, lecun 3 / fan_in
    double three_var = he ? 6.0 / double(fan_in) : lecun ? 3.0 / double(fan_in) : 6.0 / double(fan_in + fan_out);
    std::vector<float> values(size_t(t.numel()));
    if (kind.size() > 7 && kind.compare(kind.size() - 7, 7, "uniform") == 0) {
        double limit = std::sqrt(three_var);
        for (float& v : values) v = float(random.uniform(-limit, limit));
    } else {
        double stddev = std::sqrt(three_var / 3) / 0.87962566103423978;  // the truncated normal's own spread
        for (float& v : values) {
            double z;
            do {  // Box-Muller, redrawn beyond two standard deviations
                double u1 = 1 - random.uniform(), u2 = random.uniform();
                z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
            } while (std::fabs(z) > 2);
            v = float(z * stddev);
        }
    }
    t.copy_(torch::from_blob(values.data(), t.sizes(), torch::kFloat));
}

}  // namespace

namespace {
using SetThreads = void (*)(int);
// Looked up in the library that libtorch's sgemm_ comes from (and the
// libraries it needs): OpenBLAS's LAPACK may be loaded beside the reference BLAS.
SetThreads blas_thread_setter() {
    static const SetThreads setter = [] {
        Dl_info info;
        void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
        void* blas = sgemm && dladdr(sgemm, &info) ? dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD) : nullptr;
        if (!blas) return SetThreads(nullptr);
        for (const char* name : {"openblas_set_num_threads", "bli_thread_set_num_threads", "MKL_Set_Num_Threads"})
            if (void* f = dlsym(blas, name)) return reinterpret_cast<SetThreads>(f);
        return SetThreads(nullptr);
    }();
    return setter;
}
}  // namespace

bool optimized_blas() { return blas_thread_setter() != nullptr; }

void set_blas_threads(int threads) {
    if (SetThreads set = blas_thread_setter()) set(threads);
}

namespace {
bool& dense_via_blas() {
    static bool blas = optimized_blas();
    return blas;
}
}  // namespace

void set_dense_via_blas(bool blas) { dense_via_blas() = blas; }

torch::Tensor to_torch(const Tensor& t) {
    torch::Dtype dtype = t.dtype == DType::U8 ? torch::kUInt8 : t.dtype == DType::I32 ? torch::kInt32 : torch::kFloat;
    return torch::from_blob(const_cast<uint8_t*>(t.data.data()), t.shape, dtype);
}

torch::Tensor activate(Activation a, const torch::Tensor& x, double negative_slope) {
    switch (a) {
        case Activation::Linear: return x;
        case Activation::Relu: return torch::relu(x);
        case Activation::Sigmoid: return torch::sigmoid(x);
        case Activation::Softmax: return torch::softmax(x, 1);  // channels: dim 1 for [n,k] and NCHW
        case Activation::Tanh: return torch::tanh(x);
        case Activation::Elu: return torch::elu(x);
        case Activation::LeakyRelu: return torch::leaky_relu(x, negative_slope);
        case Activation::Relu6: return torch::clamp(x, 0, 6);
        case Activation::Swish: return torch::silu(x);
        case Activation::Gelu: return torch::gelu(x);  // exact (erf), Keras' default
        case Activation::HardSigmoid: return torch::clamp(x / 6 + 0.5, 0, 1);  // Keras 3: relu6(x + 3) / 6
        case Activation::Softplus: return torch::softplus(x);
        case Activation::Selu: return torch::selu(x);
        case Activation::Keras2HardSigmoid: return torch::clamp(x * 0.2 + 0.5, 0, 1);  // tf.keras 2: 0.2 * x + 0.5
    }
    return x;
}

torch::Tensor evaluate(const Expr& e, const torch::Tensor& x) {
    auto arg = [&](size_t i) { return evaluate(e.args[i], x); };
    auto is_number = [&](size_t i) { return e.args[i].kind == Expr::Number; };
    switch (e.kind) {
        case Expr::Number: return torch::scalar_tensor(e.value, x.options());
        case Expr::Var: return x;
        case Expr::Neg: return -arg(0);
        case Expr::Add: return arg(0) + arg(1);
        case Expr::Sub: return arg(0) - arg(1);
        case Expr::Mul: return arg(0) * arg(1);
        case Expr::Div: return arg(0) / arg(1);
        case Expr::Pow:
            if (is_number(1)) return torch::pow(arg(0), e.args[1].value);
            return torch::pow(arg(0), arg(1));
        case Expr::Call: {
            const std::string& f = e.function;
            if (f == "abs") return torch::abs(arg(0));
            if (f == "exp") return torch::exp(arg(0));
            if (f == "log") return torch::log(arg(0));
            if (f == "sqrt") return torch::sqrt(arg(0));
            if (f == "tanh") return torch::tanh(arg(0));
            if (f == "sigmoid") return torch::sigmoid(arg(0));
            if (f == "relu") return torch::relu(arg(0));
            if (f == "square") return torch::square(arg(0));
            if (f == "clip") {
                if (is_number(1) && is_number(2)) return torch::clamp(arg(0), e.args[1].value, e.args[2].value);
                return torch::minimum(torch::maximum(arg(0), arg(1)), arg(2));
            }
            if (f == "minimum") return torch::minimum(arg(0), arg(1));
            if (f == "maximum") return torch::maximum(arg(0), arg(1));
            break;
        }
    }
    throw Error(kSoftware, "", "Lambda: unknown function " + e.function);
}

// What one call of a layer sees: its spec, its node (shapes), its weights.
struct LayerCall {
    const LayerSpec& l;
    const Node& node;
    const std::vector<Parameter>& params;
    const std::vector<size_t>& mine;
    bool training;
    torch::Tensor* logits;  // set to the input of a final sigmoid/softmax (the model's output layer)
    bool defer_activation;     // a max pooling after it applies the ReLU (Network::forward)
    bool relu_after;           // a max pooling that applies the ReLU of the layer before
    bool defer_bias_gradient;  // a max pooling after it sums the bias's gradient
    torch::Tensor bias_before;  // a max pooling's: the bias whose gradient it sums
    torch::Tensor* target = nullptr;  // NCHW floats the augmentation layers move with x (Network::Target)
    bool target_mask = false;
    double mask_fill = 0;

    torch::Tensor w(const char* what) const {
        std::string name = l.name + "." + what;
        for (size_t i : mine)
            if (params[i].name == name)
                return defer_bias_gradient && std::strcmp(what, "bias") == 0 ? params[i].value.detach()
                                                                             : params[i].value;
        return {};
    }
    torch::Tensor activated(const torch::Tensor& x) const {
        if (defer_activation) return x;
        if (logits && (l.activation == Activation::Sigmoid || l.activation == Activation::Softmax)) *logits = x;
        return activate(l.activation, x, l.negative_slope);
    }
    const Shape& in_shape() const { return node.input_shapes[0]; }
};

namespace {

using Inputs = std::vector<torch::Tensor>;

// TensorFlow's "same" padding, with the odd pixel at the bottom/right: symmetric
// padding goes to the convolution itself, the rest is padded here.
torch::Tensor pad_same(const LayerCall& c, torch::Tensor x, Pair kernel, std::vector<int64_t>& symmetric) {
    const ConvOptions& l = c.l.get<ConvOptions>();
    symmetric = {0, 0};
    if (!l.same) return x;
    auto ph = same_padding(c.in_shape()[0], (kernel[0] - 1) * l.dilation_rate[0] + 1, l.strides[0]);
    auto pw = same_padding(c.in_shape()[1], (kernel[1] - 1) * l.dilation_rate[1] + 1, l.strides[1]);
    if (ph.first == ph.second && pw.first == pw.second) symmetric = {ph.first, pw.first};
    else x = torch::constant_pad_nd(x, {pw.first, pw.second, ph.first, ph.second}, 0);
    return x;
}

torch::Tensor conv(const LayerCall& c, const torch::Tensor& input, const torch::Tensor& w, const torch::Tensor& b,
                   int64_t groups) {
    const ConvOptions& l = c.l.get<ConvOptions>();
    std::vector<int64_t> pad;
    torch::Tensor x = pad_same(c, input, l.kernel_size, pad);
    return torch::conv2d(x, w, b, {l.strides[0], l.strides[1]}, pad, {l.dilation_rate[0], l.dilation_rate[1]}, groups);
}

torch::Tensor conv2d_forward(const LayerCall& c, const Inputs& in) {
    return c.activated(conv(c, in[0], c.w("weight"), c.w("bias"), c.l.get<ConvOptions>().groups));
}

torch::Tensor depthwise_forward(const LayerCall& c, const Inputs& in) {
    return c.activated(conv(c, in[0], c.w("weight"), c.w("bias"), in[0].size(1)));
}

torch::Tensor separable_forward(const LayerCall& c, const Inputs& in) {
    torch::Tensor x = conv(c, in[0], c.w("depthwise_weight"), {}, in[0].size(1));
    return c.activated(torch::conv2d(x, c.w("pointwise_weight"), c.w("bias")));
}

torch::Tensor transpose_forward(const LayerCall& c, const Inputs& in) {
    const ConvOptions& l = c.l.get<ConvOptions>();
    torch::Tensor x = in[0], w = c.w("weight"), b = c.w("bias");
    if (x.size(0) >= kOneDnnBatch) {
        // libtorch's transposed convolution goes to the system BLAS (see Dense);
        // the same sum as a convolution over the input spread out by the stride,
        // with the kernel flipped, goes to oneDNN and runs several times faster.
        for (int d = 0; d < 2; ++d) x = spread(x, 2 + d, l.strides[size_t(d)]);
        x = torch::conv2d(x, w.transpose(0, 1).flip({2, 3}), {}, 1, {l.kernel_size[0] - 1, l.kernel_size[1] - 1});
    } else {
        x = torch::conv_transpose2d(x, w, {}, {l.strides[0], l.strides[1]});
    }
    // Crop (or extend) the full transposed output to Keras' size: the
    // transpose of TensorFlow's "same" convolution crops top/left first.
    for (int d = 0; d < 2; ++d) {
        int64_t dim = 2 + d, want = c.node.output_shape[size_t(d)];
        int64_t top = l.same ? std::max<int64_t>(l.kernel_size[size_t(d)] - l.strides[size_t(d)], 0) / 2 : 0;
        int64_t have = x.size(dim);
        if (have < top + want) {
            std::vector<int64_t> pad = {0, 0, 0, 0};
            pad[size_t(d == 0 ? 3 : 1)] = top + want - have;
            x = torch::constant_pad_nd(x, pad, 0);
        }
        if (top != 0 || x.size(dim) != want) x = x.narrow(dim, top, want);
    }
    if (b.defined()) x = x + b.view({1, -1, 1, 1});
    return c.activated(x);
}

// Elementwise: an expression without x ("2") has x's shape too. U8 pixels (the
// model's input, which Network::forward leaves as bytes for a Lambda that alone
// reads it) are looked up in the expression's values for the 256 bytes: the same
// values as converting and evaluating, one pass instead of several.
torch::Tensor lambda_forward(const LayerCall& c, const Inputs& in) {
    const torch::Tensor& x = in[0];
    const Expr& e = c.l.get<LambdaOptions>().expr;
    if (x.scalar_type() != torch::kByte) return evaluate(e, x).expand_as(x);
    torch::Tensor bytes = torch::arange(256, torch::dtype(torch::kFloat).device(x.device()));
    return look_up_bytes(evaluate(e, bytes).expand({256}), x);
}

torch::Tensor dense_forward(const LayerCall& c, const Inputs& in) {
    // Debian's libtorch sends torch::linear to the system BLAS. An optimized
    // one (OpenBLAS) runs the lecture CNN's Dense 5.8x faster than oneDNN's
    // 1x1 convolution and the whole step 1.2x (bench/results/profile.md), and
    // a batch of 16 or more goes to its sgemm on fixed blocks, one thread a
    // block (lib/nn/dense.hpp: every -j the same bytes). The reference BLAS is
    // the slow one, and then such a batch goes through oneDNN as a 1x1
    // convolution (2x faster step than reference BLAS).
    const torch::Tensor& x = in[0];
    torch::Tensor w = c.w("weight");
    if (x.size(0) >= kOneDnnBatch && dense_via_blas() && dense_blocks_runs(x, w))
        return c.activated(dense_blocks(x, w, c.w("bias")));
    if (x.size(0) >= kOneDnnBatch && !dense_via_blas())
        return c.activated(torch::conv2d(x.reshape({x.size(0), x.size(1), 1, 1}), w.view({w.size(0), w.size(1), 1, 1}),
                                         c.w("bias"))
                               .view({x.size(0), w.size(0)}));
    return c.activated(torch::linear(x, w, c.w("bias")));
}

// The pooling window's padding for "same" (left, right, top, bottom), its size and strides.
struct Window {
    std::vector<int64_t> pad = {0, 0, 0, 0}, k, s;
    bool padded() const { return pad[0] || pad[1] || pad[2] || pad[3]; }
};

Window pool_window(const LayerCall& c) {
    const PoolOptions& l = c.l.get<PoolOptions>();
    Window w;
    std::vector<int64_t> pad = {0, 0, 0, 0};
    if (l.same) {
        auto ph = same_padding(c.in_shape()[0], l.pool_size[0], l.strides[0]);
        auto pw = same_padding(c.in_shape()[1], l.pool_size[1], l.strides[1]);
        w.pad = {pw.first, pw.second, ph.first, ph.second};
    }
    w.k = {l.pool_size[0], l.pool_size[1]};
    w.s = {l.strides[0], l.strides[1]};
    return w;
}

torch::Tensor max_pool_forward(const LayerCall& c, const Inputs& in) {
    torch::Tensor x = in[0];
    const Window w = pool_window(c);
    const auto& k = w.k;
    if (!w.padded() && k == w.s && max_pool_relu_runs(x, k[0], k[1]))
        return max_pool_relu(x, k[0], k[1], c.relu_after, c.bias_before);
    // x + (b - b): the same values, and the deferred bias's gradient through autograd
    const torch::Tensor& b = c.bias_before;
    if (b.defined() && b.requires_grad() && at::GradMode::is_enabled()) x = x + (b - b.detach()).view({1, -1, 1, 1});
    if (w.padded()) x = torch::constant_pad_nd(x, w.pad, -std::numeric_limits<double>::infinity());
    x = torch::max_pool2d(x, k, w.s);
    return c.relu_after ? torch::relu(x) : x;
}

torch::Tensor average_pool_forward(const LayerCall& c, const Inputs& in) {
    const torch::Tensor& x = in[0];
    const Window w = pool_window(c);
    const auto &k = w.k, &s = w.s, &pad = w.pad;
    if (!w.padded()) return torch::avg_pool2d(x, k, s);
    // Keras averages over the window's pixels inside the image only.
    torch::Tensor ones = torch::ones({1, 1, x.size(2), x.size(3)}, x.options());
    return torch::avg_pool2d(torch::constant_pad_nd(x, pad, 0), k, s) /
           torch::avg_pool2d(torch::constant_pad_nd(ones, pad, 0), k, s);
}

torch::Tensor global_max_forward(const LayerCall& c, const Inputs& in) {
    return in[0].amax({2, 3}, c.l.get<GlobalPoolOptions>().keepdims);
}

torch::Tensor global_average_forward(const LayerCall& c, const Inputs& in) {
    return in[0].mean({2, 3}, c.l.get<GlobalPoolOptions>().keepdims);
}

torch::Tensor upsampling_forward(const LayerCall& c, const Inputs& in) {
    const torch::Tensor& x = in[0];
    const UpSamplingOptions& l = c.l.get<UpSamplingOptions>();
    if (l.interpolation == "nearest") return x.repeat_interleave(l.size[0], 2).repeat_interleave(l.size[1], 3);
    return at::upsample_bilinear2d(x, at::IntArrayRef{x.size(2) * l.size[0], x.size(3) * l.size[1]}, false,
                                   c10::nullopt, c10::nullopt);
}

torch::Tensor zero_padding_forward(const LayerCall& c, const Inputs& in) {
    const auto& m = c.l.get<MarginOptions>().margins;
    return torch::constant_pad_nd(in[0], {m[2], m[3], m[0], m[1]}, 0);
}

torch::Tensor cropping_forward(const LayerCall& c, const Inputs& in) {
    const Shape& out = c.node.output_shape;
    const auto& m = c.l.get<MarginOptions>().margins;
    return in[0].narrow(2, m[0], out[0]).narrow(3, m[2], out[1]);
}

torch::Tensor channels_last(const torch::Tensor& x) { return x.dim() == 4 ? x.permute({0, 2, 3, 1}) : x; }

torch::Tensor flatten_forward(const LayerCall&, const Inputs& in) {  // Keras flattens channels-last
    torch::Tensor x = channels_last(in[0]);
    return x.reshape({x.size(0), -1});
}

torch::Tensor reshape_forward(const LayerCall& c, const Inputs& in) {
    torch::Tensor x = channels_last(in[0]);
    std::vector<int64_t> shape = {x.size(0)};
    shape.insert(shape.end(), c.node.output_shape.begin(), c.node.output_shape.end());
    x = x.reshape(shape);
    return x.dim() == 4 ? x.permute({0, 3, 1, 2}) : x;
}

torch::Tensor dropout_forward(const LayerCall& c, const Inputs& in) {
    double rate = c.l.get<DropoutOptions>().rate;
    if (!c.training || rate <= 0) return in[0];
    return torch::dropout(in[0], rate, true);
}

torch::Tensor spatial_dropout_forward(const LayerCall& c, const Inputs& in) {
    double rate = c.l.get<DropoutOptions>().rate;
    if (!c.training || rate <= 0) return in[0];
    return torch::feature_dropout(in[0], rate, true);  // whole channels
}

torch::Tensor batch_norm_forward(const LayerCall& c, const Inputs& in) {
    const BatchNormOptions& l = c.l.get<BatchNormOptions>();
    // A frozen layer runs in inference mode, as Keras' does since TF 2.0.
    return torch::batch_norm(in[0], c.w("weight"), c.w("bias"), c.w("running_mean"), c.w("running_var"),
                             c.training && c.l.trainable, 1 - l.momentum, l.epsilon, true);
}

torch::Tensor relu_forward(const LayerCall& c, const Inputs& in) {
    const ReluOptions& l = c.l.get<ReluOptions>();
    torch::Tensor x = in[0];
    if (l.negative_slope == 0 && l.threshold == 0) x = torch::relu(x);
    else x = torch::where(x >= l.threshold, x, (x - l.threshold) * l.negative_slope);
    return l.max_value >= 0 ? torch::clamp_max(x, l.max_value) : x;
}

// Per channel: dim 1 of NCHW images and of flat [n, k] alike.
torch::Tensor channel_view(const std::vector<double>& v, const torch::Tensor& x) {
    torch::Tensor t = torch::tensor(std::vector<float>(v.begin(), v.end()), x.options().requires_grad(false));
    std::vector<int64_t> shape(size_t(x.dim()), 1);
    shape[1] = t.numel();
    return t.view(shape);
}

torch::Tensor normalization_forward(const LayerCall& c, const Inputs& in) {
    const NormalizationOptions& l = c.l.get<NormalizationOptions>();
    torch::Tensor mean = channel_view(l.mean, in[0]), var = channel_view(l.variance, in[0]);
    torch::Tensor sd = torch::clamp_min(torch::sqrt(var), 1e-7);  // Keras: max(sqrt(variance), epsilon)
    return l.invert ? mean + in[0] * sd : (in[0] - mean) / sd;
}

torch::Tensor prelu_forward(const LayerCall& c, const Inputs& in) {
    return torch::relu(in[0]) - c.w("alpha") * torch::relu(-in[0]);  // Keras' form: alpha scales the negative part
}

// The target that moves with x (LayerCall::target), when one does: it must be x's size.
torch::Tensor* moving_target(const LayerCall& c, const torch::Tensor& x) {
    if (!c.target || !c.target->defined()) return nullptr;
    if (c.target->size(2) != x.size(2) || c.target->size(3) != x.size(3))
        throw Error(kSoftware, "", "layer " + c.l.name + " transforms " + std::to_string(x.size(2)) + "x" +
                                       std::to_string(x.size(3)) + " but the target is " + std::to_string(c.target->size(2)) +
                                       "x" + std::to_string(c.target->size(3)));
    return c.target;
}

torch::Tensor random_flip_forward(const LayerCall& c, const Inputs& in) {
    torch::Tensor x = in[0];
    if (!c.training) return x;
    torch::Tensor* y = moving_target(c, x);
    auto flip = [&](int64_t dim) {  // each image, with probability 1/2; its target with it
        torch::Tensor pick = (torch::rand({x.size(0), 1, 1, 1}, x.options().requires_grad(false)) < 0.5);
        if (y) *y = torch::where(pick, y->flip({dim}), *y);
        return torch::where(pick, x.flip({dim}), x);
    };
    const std::string& mode = c.l.get<FlipOptions>().mode;
    if (mode != "vertical") x = flip(3);
    if (mode != "horizontal") x = flip(2);
    return x;
}

// Keras' image transforms, as TensorFlow's ImageProjectiveTransform runs them:
// output pixel p (centres at integers) reads the input at A (p - c) + c - t, for
// the image centre c; "reflect" mirrors about the outer pixels' edges (d c b a |
// a b c d). grid_sample's normalized coordinates (align_corners false) put c at
// the origin and scale x by 2/width, y by 2/height, so A becomes S A S^-1.
torch::Tensor warp(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& t, const WarpOptions& l) {
    double h = double(x.size(2)), w = double(x.size(3));
    torch::Tensor theta = torch::stack({torch::stack({a.select(1, 0), a.select(1, 1) * (h / w), t.select(1, 0) * (-2 / w)}, 1),
                                        torch::stack({a.select(1, 2) * (w / h), a.select(1, 3), t.select(1, 1) * (-2 / h)}, 1)},
                                       1);
    torch::Tensor grid = torch::affine_grid_generator(theta, x.sizes(), false);
    int64_t mode = l.interpolation == "nearest" ? 1 : 0;  // grid_sample: 0 bilinear, 1 nearest
    int64_t padding = l.fill_mode == "reflect" ? 2 : l.fill_mode == "nearest" ? 1 : 0;  // 0 zeros, 1 border, 2 reflection
    if (l.fill_mode == "constant" && l.fill_value != 0)  // zeros outside, shifted to fill_value
        return torch::grid_sampler(x - l.fill_value, grid, mode, padding, false) + l.fill_value;
    return torch::grid_sampler(x, grid, mode, padding, false);
}

// x warped, and the target that moves with it by the same matrix: a mask by
// nearest neighbour, filled (constant) with the mask's fill value.
torch::Tensor warp_both(const LayerCall& c, const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& t,
                        const WarpOptions& l) {
    if (torch::Tensor* y = moving_target(c, x)) {
        WarpOptions m = l;
        if (c.target_mask) {
            m.interpolation = "nearest";
            m.fill_value = c.mask_fill;
        }
        *y = warp(y->to(x.scalar_type()), a, t, m).to(y->scalar_type());  // the matrix is x's dtype
    }
    return warp(x, a, t, l);
}

// One draw per image in [lower, upper].
torch::Tensor uniform(int64_t n, const std::array<double, 2>& range, const torch::TensorOptions& o) {
    return torch::rand({n}, o) * (range[1] - range[0]) + range[0];
}

// The three random warps start from the identity: per image, matrix a and translation t (x, y).
struct WarpDraw {
    int64_t n;
    torch::TensorOptions o;
    torch::Tensor zero, a, t;
};

WarpDraw identity_warp(const torch::Tensor& x) {
    WarpDraw d{x.size(0), x.options().requires_grad(false), {}, {}, {}};
    d.zero = torch::zeros({d.n}, d.o);
    torch::Tensor one = torch::ones({d.n}, d.o);
    d.a = torch::stack({one, d.zero, d.zero, one}, 1);
    d.t = torch::stack({d.zero, d.zero}, 1);
    return d;
}

torch::Tensor random_translation_forward(const LayerCall& c, const Inputs& in) {
    const torch::Tensor& x = in[0];
    if (!c.training) return x;
    const WarpOptions& l = c.l.get<WarpOptions>();
    WarpDraw d = identity_warp(x);
    torch::Tensor dy = uniform(d.n, l.height_factor, d.o) * double(x.size(2));
    torch::Tensor dx = uniform(d.n, l.width_factor, d.o) * double(x.size(3));
    return warp_both(c, x, d.a, torch::stack({dx, dy}, 1), l);
}

torch::Tensor random_rotation_forward(const LayerCall& c, const Inputs& in) {
    const torch::Tensor& x = in[0];
    if (!c.training) return x;
    const WarpOptions& l = c.l.get<WarpOptions>();
    WarpDraw d = identity_warp(x);
    torch::Tensor angle = uniform(d.n, l.rotation, d.o) * (2 * M_PI), cos = torch::cos(angle), sin = torch::sin(angle);
    return warp_both(c, x, torch::stack({cos, -sin, sin, cos}, 1), d.t, l);
}

torch::Tensor random_zoom_forward(const LayerCall& c, const Inputs& in) {  // a zoom above 1 reads a larger area (zooms out)
    const torch::Tensor& x = in[0];
    if (!c.training) return x;
    const WarpOptions& l = c.l.get<WarpOptions>();
    WarpDraw d = identity_warp(x);
    torch::Tensor zy = uniform(d.n, {1 + l.height_factor[0], 1 + l.height_factor[1]}, d.o);
    torch::Tensor zx = l.width_follows_height ? zy : uniform(d.n, {1 + l.width_factor[0], 1 + l.width_factor[1]}, d.o);
    return warp_both(c, x, torch::stack({zx, d.zero, d.zero, zy}, 1), d.t, l);
}

// Add, Multiply, Maximum, Minimum: `op` folded over the inputs, first to last.
template <class Op> torch::Tensor fold(const Inputs& in, Op op) {
    torch::Tensor x = in[0];
    for (size_t i = 1; i < in.size(); ++i) x = op(x, in[i]);
    return x;
}

torch::Tensor add_forward(const LayerCall&, const Inputs& in) { return fold(in, std::plus<>()); }
torch::Tensor average_forward(const LayerCall&, const Inputs& in) { return fold(in, std::plus<>()) / double(in.size()); }
torch::Tensor multiply_forward(const LayerCall&, const Inputs& in) { return fold(in, std::multiplies<>()); }
torch::Tensor maximum_forward(const LayerCall&, const Inputs& in) {
    return fold(in, [](const torch::Tensor& a, const torch::Tensor& b) { return torch::maximum(a, b); });
}
torch::Tensor minimum_forward(const LayerCall&, const Inputs& in) {
    return fold(in, [](const torch::Tensor& a, const torch::Tensor& b) { return torch::minimum(a, b); });
}

torch::Tensor concatenate_forward(const LayerCall& c, const Inputs& in) {
    size_t rank = c.in_shape().size();
    int64_t a = concat_axis(c.l, rank);                      // per-sample, channels-last
    int64_t dim = rank == 3 ? (a == 2 ? 1 : a + 2) : a + 1;  // images are NCHW inside
    return torch::cat(in, dim);
}

// The engine's half of each layer table entry (layers.cpp): the type's forward
// function, matched by the type's name once, when a Network is built.

const std::vector<std::pair<std::string, LayerForward>>& forwards() {
    static const std::vector<std::pair<std::string, LayerForward>> table = {
        {"Conv2D", conv2d_forward},
        {"Conv2DTranspose", transpose_forward},
        {"DepthwiseConv2D", depthwise_forward},
        {"SeparableConv2D", separable_forward},
        {"Dense", dense_forward},
        {"MaxPooling2D", max_pool_forward},
        {"AveragePooling2D", average_pool_forward},
        {"GlobalAveragePooling2D", global_average_forward},
        {"GlobalMaxPooling2D", global_max_forward},
        {"UpSampling2D", upsampling_forward},
        {"ZeroPadding2D", zero_padding_forward},
        {"Cropping2D", cropping_forward},
        {"Flatten", flatten_forward},
        {"Reshape", reshape_forward},
        {"Dropout", dropout_forward},
        {"SpatialDropout2D", spatial_dropout_forward},
        {"BatchNormalization", batch_norm_forward},
        {"Activation", [](const LayerCall& c, const Inputs& in) { return c.activated(in[0]); }},
        {"Softmax", [](const LayerCall& c, const Inputs& in) { return c.activated(in[0]); }},
        {"ReLU", relu_forward},
        {"LeakyReLU",
         [](const LayerCall& c, const Inputs& in) { return torch::leaky_relu(in[0], c.l.get<LeakyReluOptions>().negative_slope); }},
        {"Rescaling",
         [](const LayerCall& c, const Inputs& in) {
             const RescalingOptions& l = c.l.get<RescalingOptions>();
             return in[0] * l.scale + l.offset;
         }},
        {"Normalization", normalization_forward},
        {"PReLU", prelu_forward},
        {"RandomFlip", random_flip_forward},
        {"RandomTranslation", random_translation_forward},
        {"RandomRotation", random_rotation_forward},
        {"RandomZoom", random_zoom_forward},
        {"Lambda", lambda_forward},
        {"Add", add_forward},
        {"Subtract", [](const LayerCall&, const Inputs& in) { return in[0] - in[1]; }},
        {"Multiply", multiply_forward},
        {"Average", average_forward},
        {"Maximum", maximum_forward},
        {"Minimum", minimum_forward},
        {"Concatenate", concatenate_forward},
    };
    return table;
}

LayerForward find_forward(const std::string& type) {
    for (auto& [t, f] : forwards())
        if (t == type) return f;
    return nullptr;
}

}  // namespace

bool has_forward(const std::string& type) { return find_forward(type) != nullptr; }

Network::Network(const Spec& spec, uint64_t seed, torch::Dtype dtype, bool initialize_weights) : spec_(spec) {
    torch::NoGradGuard no_grad;
    layer_params_.resize(spec_.layers.size());
    for (size_t i = 0; i < spec_.layers.size(); ++i) {
        const LayerSpec& l = spec_.layers[i];
        forward_.push_back(find_forward(l.type));
        if (!forward_.back()) throw Error(kSoftware, "", "no engine for layer type " + l.type);
        Random random(seed, 0, i, Purpose::Init);
        for (const WeightSpec& w : layer_weights(l)) {
            torch::Tensor t = torch::empty(w.shape, torch::kFloat);
            if (initialize_weights) initialize(t, w.initializer, w.fan_in, w.fan_out, random);
            layer_params_[i].push_back(params_.size());
            params_.push_back({l.name + "." + w.name, t.to(dtype), w.trainable, w.regularizer.l1, w.regularizer.l2});
        }
    }
    for (Parameter& p : params_)
        if (p.trainable) p.value.set_requires_grad(true);
    folding_ = Folding(spec_, params_, layer_params_);
    const size_t n = spec_.nodes.size();
    last_reader_.assign(n, 0);
    std::vector<int> readers(n, 0);
    std::vector<size_t> input_readers;
    for (size_t k = 0; k < n; ++k)
        for (int i : spec_.nodes[k].inputs)
            if (i != kModelInput) last_reader_[size_t(i)] = k, ++readers[size_t(i)];
            else input_readers.push_back(k);
    input_lambda_ =
        input_readers.size() == 1 && spec_.layers[spec_.nodes[input_readers[0]].layer].find<LambdaOptions>() != nullptr;
    // relu then max pooling = max pooling then relu, bitwise, and so are the
    // gradients (max commutes with a monotonic function, and relu's gradient
    // is zero wherever the window's maximum is not positive); after the
    // pooling the ReLU touches a quarter of the values, forward and backward.
    // The pooling's backward also sums the gradient of the bias a convolution
    // added before it (lib/nn/pool.hpp): libtorch's convolution backward
    // would make a pass over the whole of the convolution's output for it.
    relu_deferred_.assign(n, 0);
    relu_after_.assign(n, 0);
    bias_deferred_.assign(n, 0);
    bias_after_.assign(n, -1);
    for (size_t k = 0; k < n; ++k) {
        const Node& node = spec_.nodes[k];
        if (!spec_.layers[node.layer].kind().is(kMaxPooling) || node.inputs.size() != 1 || node.inputs[0] == kModelInput)
            continue;
        const size_t i = size_t(node.inputs[0]);
        if (readers[i] != 1) continue;
        const LayerSpec& before = spec_.layers[spec_.nodes[i].layer];
        // (A ReLU layer leaves `activation` linear: its own forward runs it.)
        const bool relu = before.activation == Activation::Relu;
        if (relu) relu_deferred_[i] = relu_after_[k] = 1;
        const bool convolution = before.kind().is(kConvolution);
        if (!convolution || !(relu || before.activation == Activation::Linear)) continue;
        for (size_t p : layer_params_[spec_.nodes[i].layer])
            if (params_[p].name == before.name + ".bias" && params_[p].trainable) {
                bias_deferred_[i] = 1;
                bias_after_[k] = int64_t(p);
            }
    }
}

Parameter* Network::find(const std::string& name) {
    for (Parameter& p : params_)
        if (p.name == name) return &p;
    return nullptr;
}

void Network::to(torch::Device device, torch::Dtype dtype) {
    torch::NoGradGuard no_grad;
    for (Parameter& p : params_) {
        p.value = p.value.to(device, dtype).detach();
        if (p.trainable) p.value.set_requires_grad(true);
    }
}

Network::Output Network::forward(const torch::Tensor& input, bool training, Target* target) {
    Output out;
    // Pixels go to floats, unless a Lambda alone reads them (lambda_forward looks them up).
    const bool keep_bytes = input.scalar_type() == torch::kByte && input_lambda_;
    torch::Tensor x = keep_bytes || input.is_floating_point() ? input : input.to(torch::kFloat);
    if (x.dim() == 4) x = x.permute({0, 3, 1, 2});
    const bool cpu = x.is_cpu();  // the pooling's kernel that sums a deferred bias gradient is the CPU's
    // The target that moves with x, NCHW floats as x (a mask: one channel of class indices).
    torch::Tensor moving;
    if (target && training && target->value.defined())
        moving = target->mask ? target->value.unsqueeze(1).to(x.options().dtype(torch::kFloat))
                              : target->value.permute({0, 3, 1, 2}).to(torch::kFloat);
    size_t last = spec_.nodes.size() - 1;
    std::vector<torch::Tensor> values(spec_.nodes.size());
    for (size_t k = 0; k < spec_.nodes.size(); ++k) {
        const Node& node = spec_.nodes[k];
        Inputs in;
        for (int i : node.inputs) in.push_back(i == kModelInput ? x : values[size_t(i)]);
        const LayerSpec& layer = spec_.layers[node.layer];
        LayerCall call{layer,
                       node,
                       params_,
                       layer_params_[node.layer],
                       training,
                       k == last ? &out.logits : nullptr,
                       relu_deferred_[k] != 0,
                       relu_after_[k] != 0,
                       cpu && bias_deferred_[k] != 0,
                       cpu && bias_after_[k] >= 0 ? params_[size_t(bias_after_[k])].value : torch::Tensor()};
        if (moving.defined()) {
            call.target = &moving;
            call.target_mask = target->mask;
            call.mask_fill = target->mask_fill;
        }
        // A frozen convolution, its BatchNormalization and ReLU as one convolution (lib/nn/fold.hpp).
        const FoldedChain* f = in.size() == 1 ? folding_.at(k, in[0], training, params_) : nullptr;
        {
            RECORD_USER_SCOPE(layer.name + " (" + layer.type + ")");  // a span in a Profile's trace; free otherwise
            if (f)
                values[f->last] = Folding::finish(
                    *f, conv(call, in[0], f->weight, f->bias, in[0].size(1) / f->weight.size(1)));
            else
                values[k] = forward_[node.layer](call, in);
        }
        for (int i : node.inputs)  // a value no later call reads is freed now
            if (i != kModelInput && last_reader_[size_t(i)] == k) values[size_t(i)] = torch::Tensor();
        if (f) k = f->last;  // the chain's other nodes are done
    }
    x = values[last];
    if (out.logits.defined()) out.final_activation = spec_.layers[spec_.nodes[last].layer].activation;
    if (x.dim() == 4) {
        x = x.permute({0, 2, 3, 1}).contiguous();
        if (out.logits.defined()) out.logits = out.logits.permute({0, 2, 3, 1}).contiguous();
    }
    out.y = x;
    if (moving.defined())
        target->value = target->mask ? moving.squeeze(1).round().to(torch::kLong)
                                     : moving.permute({0, 2, 3, 1}).contiguous().to(target->value.scalar_type());
    return out;
}

}  // namespace imgpipe::nn
