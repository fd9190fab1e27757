#include "nn/network.hpp"

#include <cmath>
#include <limits>

#include "cli/error.hpp"
#include "cli/random.hpp"

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

// Keras' fan-in/fan-out scaled uniform initializers.
void initialize(torch::Tensor& t, const std::string& kind, int64_t fan_in, int64_t fan_out, Random& random) {
    if (kind == "zeros") {
        t.zero_();
        return;
    }
    if (kind == "ones") {
        t.fill_(1);
        return;
    }
    double limit = kind == "he_uniform" ? std::sqrt(6.0 / double(fan_in))
                   : kind == "lecun_uniform" ? std::sqrt(3.0 / double(fan_in))
                                             : std::sqrt(6.0 / double(fan_in + fan_out));
    std::vector<float> values(size_t(t.numel()));
    for (float& v : values) v = float(random.uniform(-limit, limit));
    t.copy_(torch::from_blob(values.data(), t.sizes(), torch::kFloat));
}

}  // namespace

torch::Tensor activate(Activation a, const torch::Tensor& x, double alpha) {
    switch (a) {
        case Activation::Linear: return x;
        case Activation::Relu: return torch::relu(x);
        case Activation::Sigmoid: return torch::sigmoid(x);
        case Activation::Softmax: return torch::softmax(x, 1);  // channels: dim 1 for [n,k] and NCHW
        case Activation::Tanh: return torch::tanh(x);
        case Activation::Elu: return torch::elu(x);
        case Activation::LeakyRelu: return torch::leaky_relu(x, alpha);
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

Network::Network(const Spec& spec, uint64_t seed, torch::Dtype dtype) : spec_(spec) {
    torch::NoGradGuard no_grad;
    layer_params_.resize(spec_.layers.size());
    for (size_t i = 0; i < spec_.layers.size(); ++i) {
        const LayerSpec& l = spec_.layers[i];
        Random random(seed, 0, i, Purpose::Init);
        auto add = [&](const char* what, std::vector<int64_t> shape, const std::string& init, int64_t fan_in,
                       int64_t fan_out, bool trainable) {
            torch::Tensor t = torch::empty(shape, torch::kFloat);
            initialize(t, init, fan_in, fan_out, random);
            layer_params_[i].push_back(params_.size());
            params_.push_back({l.name + "." + what, t.to(dtype), trainable});
        };
        if (l.type == "Conv2D" || l.type == "Conv2DTranspose") {
            int64_t in = l.input_shape[2], rf = l.kernel[0] * l.kernel[1];
            if (l.type == "Conv2D")
                add("weight", {l.units, in, l.kernel[0], l.kernel[1]}, l.kernel_initializer, rf * in, rf * l.units, true);
            else  // Keras' transposed kernel is (kh, kw, filters, in): its fan-in counts filters
                add("weight", {in, l.units, l.kernel[0], l.kernel[1]}, l.kernel_initializer, rf * l.units, rf * in, true);
            if (l.use_bias) add("bias", {l.units}, l.bias_initializer, 0, 0, true);
        } else if (l.type == "Dense") {
            int64_t in = l.input_shape[0];
            add("weight", {l.units, in}, l.kernel_initializer, in, l.units, true);
            if (l.use_bias) add("bias", {l.units}, l.bias_initializer, 0, 0, true);
        } else if (l.type == "BatchNormalization") {
            int64_t c = l.input_shape.back();
            if (l.scale) add("weight", {c}, "ones", 0, 0, true);
            if (l.center) add("bias", {c}, "zeros", 0, 0, true);
            add("running_mean", {c}, "zeros", 0, 0, false);
            add("running_var", {c}, "ones", 0, 0, false);
        }
    }
    for (Parameter& p : params_)
        if (p.trainable) p.value.set_requires_grad(true);
}

Parameter* Network::find(const std::string& name) {
    for (Parameter& p : params_)
        if (p.name == name) return &p;
    return nullptr;
}

torch::Tensor& Network::param(size_t layer, const char* what) {
    static torch::Tensor none;
    std::string name = spec_.layers[layer].name + "." + what;
    for (size_t i : layer_params_[layer])
        if (params_[i].name == name) return params_[i].value;
    return none;
}

void Network::to(torch::Device device, torch::Dtype dtype) {
    torch::NoGradGuard no_grad;
    for (Parameter& p : params_) {
        p.value = p.value.to(device, dtype).detach();
        if (p.trainable) p.value.set_requires_grad(true);
    }
}

Network::Output Network::forward(const torch::Tensor& input, bool training) {
    Output out;
    torch::Tensor x = input.dim() == 4 ? input.permute({0, 3, 1, 2}) : input;
    for (size_t i = 0; i < spec_.layers.size(); ++i) {
        bool last = i + 1 == spec_.layers.size();
        x = layer_forward(i, x, training, last ? &out.logits : nullptr);
    }
    if (out.logits.defined()) out.final_activation = spec_.layers.back().activation;
    if (x.dim() == 4) {
        x = x.permute({0, 2, 3, 1}).contiguous();
        if (out.logits.defined()) out.logits = out.logits.permute({0, 2, 3, 1}).contiguous();
    }
    out.y = x;
    return out;
}

torch::Tensor Network::layer_forward(size_t index, const torch::Tensor& input, bool training, torch::Tensor* logits) {
    const LayerSpec& l = spec_.layers[index];
    const std::string& t = l.type;
    torch::Tensor x = input;
    bool has_activation = t == "Conv2D" || t == "Conv2DTranspose" || t == "Dense" || t == "Activation";
    if (t == "Conv2D") {
        torch::Tensor& w = param(index, "weight");
        torch::Tensor& b = param(index, "bias");
        std::vector<int64_t> pad = {0, 0};
        if (l.same) {
            auto ph = same_padding(l.input_shape[0], l.kernel[0], l.strides[0]);
            auto pw = same_padding(l.input_shape[1], l.kernel[1], l.strides[1]);
            if (ph.first == ph.second && pw.first == pw.second) pad = {ph.first, pw.first};
            else x = torch::constant_pad_nd(x, {pw.first, pw.second, ph.first, ph.second}, 0);
        }
        x = torch::conv2d(x, w, b, {l.strides[0], l.strides[1]}, pad);
    } else if (t == "Conv2DTranspose") {
        torch::Tensor& w = param(index, "weight");
        torch::Tensor& b = param(index, "bias");
        if (x.size(0) >= kOneDnnBatch) {
            // libtorch's transposed convolution goes to the system BLAS (see Dense);
            // the same sum as a convolution over the input spread out by the stride,
            // with the kernel flipped, goes to oneDNN and runs several times faster.
            for (int d = 0; d < 2; ++d) x = spread(x, 2 + d, l.strides[d]);
            x = torch::conv2d(x, w.transpose(0, 1).flip({2, 3}), {}, 1, {l.kernel[0] - 1, l.kernel[1] - 1});
        } else {
            x = torch::conv_transpose2d(x, w, {}, {l.strides[0], l.strides[1]});
        }
        // Crop (or extend) the full transposed output to Keras' size: the
        // transpose of TensorFlow's "same" convolution crops top/left first.
        for (int d = 0; d < 2; ++d) {
            int64_t dim = 2 + d, want = l.output_shape[size_t(d)];
            int64_t top = l.same ? std::max<int64_t>(l.kernel[d] - l.strides[d], 0) / 2 : 0;
            int64_t have = x.size(dim);
            if (have < top + want) {
                std::vector<int64_t> pad = {0, 0, 0, 0};
                pad[size_t(d == 0 ? 3 : 1)] = top + want - have;
                x = torch::constant_pad_nd(x, pad, 0);
            }
            if (top != 0 || x.size(dim) != want) x = x.narrow(dim, top, want);
        }
        if (b.defined()) x = x + b.view({1, -1, 1, 1});
    } else if (t == "Dense") {
        // A batch of 16 or more goes through oneDNN as a 1x1 convolution: Debian's
        // libtorch sends torch::linear to the system BLAS, which is the slow
        // reference BLAS unless OpenBLAS is installed (2x faster lecture CNN step).
        torch::Tensor& w = param(index, "weight");
        if (x.size(0) >= kOneDnnBatch)
            x = torch::conv2d(x.reshape({x.size(0), x.size(1), 1, 1}), w.view({w.size(0), w.size(1), 1, 1}),
                              param(index, "bias"))
                    .view({x.size(0), w.size(0)});
        else
            x = torch::linear(x, w, param(index, "bias"));
    } else if (t == "MaxPooling2D" || t == "AveragePooling2D") {
        bool max = t == "MaxPooling2D";
        std::vector<int64_t> pad = {0, 0, 0, 0};
        if (l.same) {
            auto ph = same_padding(l.input_shape[0], l.kernel[0], l.strides[0]);
            auto pw = same_padding(l.input_shape[1], l.kernel[1], l.strides[1]);
            pad = {pw.first, pw.second, ph.first, ph.second};
        }
        bool padded = pad[0] || pad[1] || pad[2] || pad[3];
        if (max) {
            if (padded) x = torch::constant_pad_nd(x, pad, -std::numeric_limits<double>::infinity());
            x = torch::max_pool2d(x, {l.kernel[0], l.kernel[1]}, {l.strides[0], l.strides[1]});
        } else if (!padded) {
            x = torch::avg_pool2d(x, {l.kernel[0], l.kernel[1]}, {l.strides[0], l.strides[1]});
        } else {  // Keras averages over the window's pixels inside the image only
            torch::Tensor ones = torch::ones({1, 1, x.size(2), x.size(3)}, x.options());
            torch::Tensor sums = torch::avg_pool2d(torch::constant_pad_nd(x, pad, 0), {l.kernel[0], l.kernel[1]},
                                                   {l.strides[0], l.strides[1]});
            torch::Tensor counts = torch::avg_pool2d(torch::constant_pad_nd(ones, pad, 0), {l.kernel[0], l.kernel[1]},
                                                     {l.strides[0], l.strides[1]});
            x = sums / counts;
        }
    } else if (t == "GlobalAveragePooling2D") {
        x = x.mean({2, 3});
    } else if (t == "UpSampling2D") {
        if (l.interpolation == "nearest")
            x = x.repeat_interleave(l.kernel[0], 2).repeat_interleave(l.kernel[1], 3);
        else
            x = at::upsample_bilinear2d(x, at::IntArrayRef{x.size(2) * l.kernel[0], x.size(3) * l.kernel[1]}, false,
                                        c10::nullopt, c10::nullopt);
    } else if (t == "Flatten") {
        if (x.dim() == 4) x = x.permute({0, 2, 3, 1});  // Keras flattens channels-last
        x = x.reshape({x.size(0), -1});
    } else if (t == "Reshape") {
        if (x.dim() == 4) x = x.permute({0, 2, 3, 1});
        std::vector<int64_t> shape = {x.size(0)};
        shape.insert(shape.end(), l.target_shape.begin(), l.target_shape.end());
        x = x.reshape(shape);
        if (x.dim() == 4) x = x.permute({0, 3, 1, 2});
    } else if (t == "Dropout") {
        if (training && l.rate > 0) x = torch::dropout(x, l.rate, true);
    } else if (t == "BatchNormalization") {
        x = torch::batch_norm(x, param(index, "weight"), param(index, "bias"), param(index, "running_mean"),
                              param(index, "running_var"), training, 1 - l.momentum, l.epsilon, true);
    } else if (t == "Rescaling") {
        x = x * l.rescale + l.offset;
    } else if (t == "Lambda") {
        x = evaluate(l.expr, x);
    }
    if (has_activation && l.activation != Activation::Linear) {
        if (logits && (l.activation == Activation::Sigmoid || l.activation == Activation::Softmax)) *logits = x;
        x = activate(l.activation, x, l.alpha);
    }
    return x;
}

}  // namespace imgpipe::nn
