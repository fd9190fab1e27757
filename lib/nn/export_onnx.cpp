// ONNX writer (nnexport --format onnx): the model as an ONNX graph built with
// Debian's onnx protobuf classes, checked by onnx's own checker and shape
// inference before a byte is written (doc/design.md "Models out").
//
// The graph takes the stream's layout, NHWC (U8 where the model reads bytes:
// Cast inside), runs NCHW inside, as network.cpp does, and gives NHWC images or
// [N, k] rows. Each layer type has one entry in the table below, matched once by
// name as network.cpp's forward table is; a test checks the two tables name the
// same types. Each entry computes what network.cpp's forward computes in
// inference, operator for operator where the rounding could differ.
#include "nn/export_onnx.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/error.hpp"
#include "nn/export.hpp"

namespace imgpipe::nn {

namespace {

using Node_ = onnx::NodeProto;

// A refusal: the layer cannot be computed exactly with the opset's operators.
struct Refusal : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// TensorFlow's "same" padding (network.cpp): the total, the odd pixel at the bottom/right.
std::pair<int64_t, int64_t> same_padding(int64_t n, int64_t k, int64_t s) {
    int64_t out = (n + s - 1) / s;
    int64_t total = std::max<int64_t>((out - 1) * s + k - n, 0);
    return {total / 2, total - total / 2};
}

void attr(Node_& n, const char* name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}
void attr(Node_& n, const char* name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
}
void attr(Node_& n, const char* name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
}
void attr(Node_& n, const char* name, const char* v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
}

// A value of the graph: NCHW images (rank 4) or [N, k] rows.
struct Value {
    std::string name;
    bool image = false;
};

class Builder {
public:
    Builder(onnx::GraphProto* g, const ExportModel& m) : g_(g), model_(m) {}

    std::string fresh(const std::string& hint) {
        int& n = used_[hint];
        return n++ == 0 ? hint : hint + "_" + std::to_string(n - 1);
    }
    // One node; its output's name is `hint` made unique.
    std::string op(const char* type, const std::vector<std::string>& in, const std::string& hint,
                   const std::function<void(Node_&)>& attrs = {}) {
        Node_* n = g_->add_node();
        n->set_op_type(type);
        std::string out = fresh(hint);
        n->set_name(out);
        for (const std::string& i : in) n->add_input(i);
        n->add_output(out);
        if (attrs) attrs(*n);
        return out;
    }
    std::string floats(const std::string& hint, const float* v, size_t count, const Shape& dims) {
        onnx::TensorProto* t = g_->add_initializer();
        std::string name = fresh(hint);
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : dims) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v), count * sizeof(float)));
        return name;
    }
    std::string ints(const std::string& hint, const std::vector<int64_t>& v) {
        onnx::TensorProto* t = g_->add_initializer();
        std::string name = fresh(hint);
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(int64_t(v.size()));
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t)));
        return name;
    }
    // A float scalar (0-d), one initializer per value.
    std::string scalar(float v) {
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        auto it = scalars_.find(bits);
        if (it != scalars_.end()) return it->second;
        return scalars_[bits] = floats("const", &v, 1, {});
    }
    // A layer's weight, once per layer however often it is called (shared layers).
    std::string weight(const LayerSpec& l, const char* name) {
        std::string key = l.name + "." + name;
        auto it = weights_.find(key);
        if (it != weights_.end()) return it->second;
        for (const WeightSpec& w : layer_weights(l))
            if (w.name == name) {
                const std::vector<float>& v = model_.weight(l, w);
                return weights_[key] = floats(key, v.data(), v.size(), w.shape);
            }
        return "";  // the layer has no such weight (no bias, say)
    }

    onnx::GraphProto* g_;
    const ExportModel& model_;

private:
    std::map<std::string, int> used_;
    std::map<uint32_t, std::string> scalars_;
    std::map<std::string, std::string> weights_;
};

// ---- activations and expressions (network.cpp's activate and evaluate) ----

std::string activate(Builder& b, Activation a, double slope, const std::string& x, const std::string& hint) {
    auto one = [&](const char* type) { return b.op(type, {x}, hint + "/" + type); };
    auto clip = [&](const std::string& v, float lo, float hi) {
        return b.op("Clip", {v, b.scalar(lo), b.scalar(hi)}, hint + "/Clip");
    };
    switch (a) {
        case Activation::Linear: return x;
        case Activation::Relu: return one("Relu");
        case Activation::Sigmoid: return one("Sigmoid");
        case Activation::Softmax:  // over the channels: axis 1 of [N, k] and of NCHW
            return b.op("Softmax", {x}, hint + "/Softmax", [](Node_& n) { attr(n, "axis", int64_t(1)); });
        case Activation::Tanh: return one("Tanh");
        case Activation::Elu: return b.op("Elu", {x}, hint + "/Elu", [](Node_& n) { attr(n, "alpha", 1.0f); });
        case Activation::LeakyRelu:
            return b.op("LeakyRelu", {x}, hint + "/LeakyRelu", [&](Node_& n) { attr(n, "alpha", float(slope)); });
        case Activation::Relu6: return clip(x, 0, 6);
        case Activation::Swish: return b.op("Mul", {x, one("Sigmoid")}, hint + "/Mul");
        case Activation::Gelu: {  // exact: x * 0.5 * (1 + erf(x / sqrt 2)), as torch's gelu (ONNX's Gelu is opset 20)
            std::string e = b.op("Erf", {b.op("Mul", {x, b.scalar(float(M_SQRT1_2))}, hint + "/Mul")}, hint + "/Erf");
            std::string half = b.op("Mul", {x, b.scalar(0.5f)}, hint + "/Mul");
            return b.op("Mul", {half, b.op("Add", {e, b.scalar(1.0f)}, hint + "/Add")}, hint + "/Mul");
        }
        case Activation::HardSigmoid:  // clamp(x / 6 + 0.5, 0, 1): HardSigmoid's alpha * x rounds otherwise
            return clip(b.op("Add", {b.op("Div", {x, b.scalar(6)}, hint + "/Div"), b.scalar(0.5f)}, hint + "/Add"), 0, 1);
        case Activation::Softplus: return one("Softplus");
        case Activation::Selu: return one("Selu");  // ONNX's default alpha and gamma are torch's
        case Activation::Keras2HardSigmoid:  // ONNX's HardSigmoid is Keras 2's: alpha * x + beta, clipped
            return b.op("HardSigmoid", {x}, hint + "/HardSigmoid", [](Node_& n) {
                attr(n, "alpha", 0.2f);
                attr(n, "beta", 0.5f);
            });
    }
    throw Error(kSoftware, "", std::string("onnx: activation ") + activation_name(a) + " has no entry");
}

bool reads_x(const Expr& e) {
    if (e.kind == Expr::Var) return true;
    for (const Expr& a : e.args)
        if (reads_x(a)) return true;
    return false;
}

std::string evaluate(Builder& b, const Expr& e, const std::string& x, const std::string& hint) {
    auto arg = [&](size_t i) { return evaluate(b, e.args[i], x, hint); };
    auto bin = [&](const char* type) { return b.op(type, {arg(0), arg(1)}, hint + "/" + type); };
    auto is_number = [&](size_t i) { return e.args[i].kind == Expr::Number; };
    switch (e.kind) {
        case Expr::Number: return b.scalar(float(e.value));
        case Expr::Var: return x;
        case Expr::Neg: return b.op("Neg", {arg(0)}, hint + "/Neg");
        case Expr::Add: return bin("Add");
        case Expr::Sub: return bin("Sub");
        case Expr::Mul: return bin("Mul");
        case Expr::Div: return bin("Div");
        case Expr::Pow: return bin("Pow");
        case Expr::Call: {
            const std::string& f = e.function;
            static const std::map<std::string, const char*> unary = {
                {"abs", "Abs"}, {"exp", "Exp"}, {"log", "Log"}, {"sqrt", "Sqrt"},
                {"tanh", "Tanh"}, {"sigmoid", "Sigmoid"}, {"relu", "Relu"}};
            if (auto it = unary.find(f); it != unary.end()) return b.op(it->second, {arg(0)}, hint + "/" + it->second);
            if (f == "square") {  // torch's square is x * x
                std::string a = arg(0);
                return b.op("Mul", {a, a}, hint + "/Mul");
            }
            if (f == "clip") {
                if (is_number(1) && is_number(2)) return b.op("Clip", {arg(0), arg(1), arg(2)}, hint + "/Clip");
                return b.op("Min", {b.op("Max", {arg(0), arg(1)}, hint + "/Max"), arg(2)}, hint + "/Min");
            }
            if (f == "minimum") return bin("Min");
            if (f == "maximum") return bin("Max");
            break;
        }
    }
    throw Refusal("no operator for the function " + e.function);
}

// ---- the table: one entry per layer type ----

struct Call {
    const LayerSpec& l;
    const Node& node;
    std::vector<Value> in;
    std::string hint;  // the layer's name: its nodes are named "layer/Op"
    const Shape& in_shape() const { return node.input_shapes[0]; }
};
using Emit = Value (*)(Builder& b, const Call& c);

Value image(std::string name) { return {std::move(name), true}; }
Value like(const Call& c, std::string name) { return {std::move(name), c.in[0].image}; }
Value activated(Builder& b, const Call& c, const std::string& x) {
    return like(c, activate(b, c.l.activation, c.l.negative_slope, x, c.hint));
}

// Conv with TensorFlow's padding; `kernel` the weight's name, `groups`, the bias if any.
std::string conv(Builder& b, const Call& c, const std::string& x, const char* kernel, int64_t groups, const char* bias) {
    const ConvOptions& l = c.l.get<ConvOptions>();
    std::vector<int64_t> pads = {0, 0, 0, 0};  // top, left, bottom, right
    if (l.same) {
        auto ph = same_padding(c.in_shape()[0], (l.kernel_size[0] - 1) * l.dilation_rate[0] + 1, l.strides[0]);
        auto pw = same_padding(c.in_shape()[1], (l.kernel_size[1] - 1) * l.dilation_rate[1] + 1, l.strides[1]);
        pads = {ph.first, pw.first, ph.second, pw.second};
    }
    std::vector<std::string> in = {x, b.weight(c.l, kernel)};
    if (bias && !b.weight(c.l, bias).empty()) in.push_back(b.weight(c.l, bias));
    return b.op("Conv", in, c.hint + "/Conv", [&](Node_& n) {
        attr(n, "kernel_shape", std::vector<int64_t>{l.kernel_size[0], l.kernel_size[1]});
        attr(n, "strides", std::vector<int64_t>{l.strides[0], l.strides[1]});
        attr(n, "dilations", std::vector<int64_t>{l.dilation_rate[0], l.dilation_rate[1]});
        attr(n, "pads", pads);
        attr(n, "group", groups);
    });
}

Value conv2d(Builder& b, const Call& c) {
    return activated(b, c, conv(b, c, c.in[0].name, "weight", c.l.get<ConvOptions>().groups, "bias"));
}
Value depthwise(Builder& b, const Call& c) {
    return activated(b, c, conv(b, c, c.in[0].name, "weight", c.in_shape()[2], "bias"));
}
Value separable(Builder& b, const Call& c) {
    std::string x = conv(b, c, c.in[0].name, "depthwise_weight", c.in_shape()[2], nullptr);
    std::vector<std::string> in = {x, b.weight(c.l, "pointwise_weight")};
    if (!b.weight(c.l, "bias").empty()) in.push_back(b.weight(c.l, "bias"));
    return activated(b, c, b.op("Conv", in, c.hint + "/Conv", [](Node_& n) {
        attr(n, "kernel_shape", std::vector<int64_t>{1, 1});
    }));
}

// The full transposed output cropped (or extended with zeros) to Keras' size,
// as network.cpp's transpose_forward: "same" crops top/left first.
Value transpose(Builder& b, const Call& c) {
    const ConvOptions& l = c.l.get<ConvOptions>();
    if (l.dilation_rate != Pair{1, 1} || l.groups != 1)
        throw Refusal("dilation and groups are not implemented for Conv2DTranspose");
    std::vector<int64_t> begin(2), end(2), extra(2);
    for (size_t d = 0; d < 2; ++d) {
        int64_t k = l.kernel_size[d], s = l.strides[d];
        int64_t have = (c.in_shape()[d] - 1) * s + k, want = c.node.output_shape[d];
        begin[d] = l.same ? std::max<int64_t>(k - s, 0) / 2 : 0;
        end[d] = std::max<int64_t>(have - begin[d] - want, 0);
        extra[d] = std::max<int64_t>(begin[d] + want - have, 0);  // ONNX's output_padding: zeros (plus the bias) at the end
    }
    std::vector<std::string> in = {c.in[0].name, b.weight(c.l, "weight")};
    if (!b.weight(c.l, "bias").empty()) in.push_back(b.weight(c.l, "bias"));
    return activated(b, c, b.op("ConvTranspose", in, c.hint + "/ConvTranspose", [&](Node_& n) {
        attr(n, "kernel_shape", std::vector<int64_t>{l.kernel_size[0], l.kernel_size[1]});
        attr(n, "strides", std::vector<int64_t>{l.strides[0], l.strides[1]});
        attr(n, "pads", std::vector<int64_t>{begin[0], begin[1], end[0], end[1]});
        attr(n, "output_padding", extra);
    }));
}

Value dense(Builder& b, const Call& c) {
    std::vector<std::string> in = {c.in[0].name, b.weight(c.l, "weight")};
    if (!b.weight(c.l, "bias").empty()) in.push_back(b.weight(c.l, "bias"));
    return activated(b, c, b.op("Gemm", in, c.hint + "/Gemm", [](Node_& n) { attr(n, "transB", int64_t(1)); }));
}

// Pooling's window; "same" pads (max: with -inf; average: over the pixels inside, as Keras).
Value pool(Builder& b, const Call& c, const char* type) {
    const PoolOptions& l = c.l.get<PoolOptions>();
    std::vector<int64_t> pads = {0, 0, 0, 0};
    if (l.same) {
        auto ph = same_padding(c.in_shape()[0], l.pool_size[0], l.strides[0]);
        auto pw = same_padding(c.in_shape()[1], l.pool_size[1], l.strides[1]);
        pads = {ph.first, pw.first, ph.second, pw.second};
    }
    return image(b.op(type, {c.in[0].name}, c.hint + "/" + type, [&](Node_& n) {
        attr(n, "kernel_shape", std::vector<int64_t>{l.pool_size[0], l.pool_size[1]});
        attr(n, "strides", std::vector<int64_t>{l.strides[0], l.strides[1]});
        attr(n, "pads", pads);
    }));
}
Value max_pool(Builder& b, const Call& c) { return pool(b, c, "MaxPool"); }
Value average_pool(Builder& b, const Call& c) { return pool(b, c, "AveragePool"); }

Value global_pool(Builder& b, const Call& c, const char* type) {
    std::string x = b.op(type, {c.in[0].name}, c.hint + "/" + type);  // [N, C, 1, 1]
    if (c.l.get<GlobalPoolOptions>().keepdims) return image(x);
    return {b.op("Flatten", {x}, c.hint + "/Flatten"), false};
}
Value global_average(Builder& b, const Call& c) { return global_pool(b, c, "GlobalAveragePool"); }
Value global_max(Builder& b, const Call& c) { return global_pool(b, c, "GlobalMaxPool"); }

// Nearest: each pixel repeated (asymmetric, floor); bilinear: torch's align_corners
// false, ONNX's half_pixel (both clamp at the edges).
Value upsampling(Builder& b, const Call& c) {
    const UpSamplingOptions& l = c.l.get<UpSamplingOptions>();
    const float scales[4] = {1, 1, float(l.size[0]), float(l.size[1])};
    std::string s = b.floats(c.hint + "/scales", scales, 4, {4});
    bool nearest = l.interpolation == "nearest";
    return image(b.op("Resize", {c.in[0].name, "", s}, c.hint + "/Resize", [&](Node_& n) {
        attr(n, "mode", nearest ? "nearest" : "linear");
        attr(n, "coordinate_transformation_mode", nearest ? "asymmetric" : "half_pixel");
        if (nearest) attr(n, "nearest_mode", "floor");
    }));
}

Value zero_padding(Builder& b, const Call& c) {
    const auto& m = c.l.get<MarginOptions>().margins;
    std::string pads = b.ints(c.hint + "/pads", {0, 0, m[0], m[2], 0, 0, m[1], m[3]});
    return image(b.op("Pad", {c.in[0].name, pads}, c.hint + "/Pad"));
}

Value cropping(Builder& b, const Call& c) {
    const auto& m = c.l.get<MarginOptions>().margins;
    const Shape& out = c.node.output_shape;
    std::string starts = b.ints(c.hint + "/starts", {m[0], m[2]});
    std::string ends = b.ints(c.hint + "/ends", {m[0] + out[0], m[2] + out[1]});
    std::string axes = b.ints(c.hint + "/axes", {2, 3});
    return image(b.op("Slice", {c.in[0].name, starts, ends, axes}, c.hint + "/Slice"));
}

// Keras flattens and reshapes channels-last.
std::string channels_last(Builder& b, const Value& v, const std::string& hint) {
    if (!v.image) return v.name;
    return b.op("Transpose", {v.name}, hint + "/Transpose", [](Node_& n) { attr(n, "perm", std::vector<int64_t>{0, 2, 3, 1}); });
}
std::string channels_first(Builder& b, const std::string& x, const std::string& hint) {
    return b.op("Transpose", {x}, hint + "/Transpose", [](Node_& n) { attr(n, "perm", std::vector<int64_t>{0, 3, 1, 2}); });
}

Value flatten(Builder& b, const Call& c) {
    if (!c.in[0].image) return c.in[0];
    return {b.op("Flatten", {channels_last(b, c.in[0], c.hint)}, c.hint + "/Flatten"), false};
}

Value reshape(Builder& b, const Call& c) {
    std::vector<int64_t> shape = {0};  // 0: the batch, as it is
    for (int64_t d : c.node.output_shape) shape.push_back(d);
    std::string x = b.op("Reshape", {channels_last(b, c.in[0], c.hint), b.ints(c.hint + "/shape", shape)}, c.hint + "/Reshape");
    if (c.node.output_shape.size() == 3) return image(channels_first(b, x, c.hint));
    return {x, false};
}

// Training-only layers: the identity in inference (Dropout, SpatialDropout2D, Random*).
Value identity(Builder&, const Call& c) { return c.in[0]; }

// Per channel: axis 1 of NCHW and of [N, k] alike.
Shape channel_dims(const Call& c, size_t count) {
    return c.in[0].image ? Shape{1, int64_t(count), 1, 1} : Shape{1, int64_t(count)};
}

Value batch_norm(Builder& b, const Call& c) {
    const BatchNormOptions& l = c.l.get<BatchNormOptions>();
    int64_t channels = c.in_shape().back();
    std::string scale = b.weight(c.l, "weight"), bias = b.weight(c.l, "bias");
    if (scale.empty()) {  // scale false: gamma 1; center false: beta 0
        std::vector<float> ones(size_t(channels), 1.0f);
        scale = b.floats(c.hint + "/gamma", ones.data(), ones.size(), {channels});
    }
    if (bias.empty()) {
        std::vector<float> zeros(size_t(channels), 0.0f);
        bias = b.floats(c.hint + "/beta", zeros.data(), zeros.size(), {channels});
    }
    return like(c, b.op("BatchNormalization",
                        {c.in[0].name, scale, bias, b.weight(c.l, "running_mean"), b.weight(c.l, "running_var")},
                        c.hint + "/BatchNormalization", [&](Node_& n) { attr(n, "epsilon", float(l.epsilon)); }));
}

Value activation(Builder& b, const Call& c) { return activated(b, c, c.in[0].name); }

Value relu(Builder& b, const Call& c) {
    const ReluOptions& l = c.l.get<ReluOptions>();
    std::string x = c.in[0].name;
    if (l.negative_slope == 0 && l.threshold == 0) {
        x = b.op("Relu", {x}, c.hint + "/Relu");
    } else {  // where(x >= t, x, (x - t) * slope)
        std::string t = b.scalar(float(l.threshold));
        std::string below = b.op("Mul", {b.op("Sub", {x, t}, c.hint + "/Sub"), b.scalar(float(l.negative_slope))}, c.hint + "/Mul");
        x = b.op("Where", {b.op("GreaterOrEqual", {x, t}, c.hint + "/GreaterOrEqual"), x, below}, c.hint + "/Where");
    }
    if (l.max_value >= 0) x = b.op("Min", {x, b.scalar(float(l.max_value))}, c.hint + "/Min");
    return like(c, x);
}

Value leaky_relu(Builder& b, const Call& c) {
    float slope = float(c.l.get<LeakyReluOptions>().negative_slope);
    return like(c, b.op("LeakyRelu", {c.in[0].name}, c.hint + "/LeakyRelu", [&](Node_& n) { attr(n, "alpha", slope); }));
}

Value rescaling(Builder& b, const Call& c) {  // x * scale + offset
    const RescalingOptions& l = c.l.get<RescalingOptions>();
    std::string x = b.op("Mul", {c.in[0].name, b.scalar(float(l.scale))}, c.hint + "/Mul");
    return like(c, b.op("Add", {x, b.scalar(float(l.offset))}, c.hint + "/Add"));
}

// (x - mean) / max(sqrt(variance), 1e-7), or mean + x * sd inverted; the
// standard deviations worked out in float, as torch does.
Value normalization(Builder& b, const Call& c) {
    const NormalizationOptions& l = c.l.get<NormalizationOptions>();
    std::vector<float> mean, sd;
    for (double m : l.mean) mean.push_back(float(m));
    for (double v : l.variance) sd.push_back(std::max(std::sqrt(float(v)), 1e-7f));
    Shape dims = channel_dims(c, mean.size());
    std::string m = b.floats(c.hint + "/mean", mean.data(), mean.size(), dims);
    std::string s = b.floats(c.hint + "/sd", sd.data(), sd.size(), dims);
    if (l.invert) return like(c, b.op("Add", {m, b.op("Mul", {c.in[0].name, s}, c.hint + "/Mul")}, c.hint + "/Add"));
    return like(c, b.op("Div", {b.op("Sub", {c.in[0].name, m}, c.hint + "/Sub"), s}, c.hint + "/Div"));
}

Value prelu(Builder& b, const Call& c) {  // alpha [c, h, w] (1 on shared axes) broadcasts against NCHW
    return like(c, b.op("PRelu", {c.in[0].name, b.weight(c.l, "alpha")}, c.hint + "/PRelu"));
}

Value lambda(Builder& b, const Call& c) {
    const Expr& e = c.l.get<LambdaOptions>().expr;
    std::string y = evaluate(b, e, c.in[0].name, c.hint);
    if (!reads_x(e))  // an expression without x ("2") has x's shape too
        y = b.op("Expand", {y, b.op("Shape", {c.in[0].name}, c.hint + "/Shape")}, c.hint + "/Expand");
    return like(c, y);
}

// Add, Multiply, Maximum, Minimum: folded over the inputs, first to last.
Value fold(Builder& b, const Call& c, const char* type) {
    std::string x = c.in[0].name;
    for (size_t i = 1; i < c.in.size(); ++i) x = b.op(type, {x, c.in[i].name}, c.hint + "/" + type);
    return like(c, x);
}
Value add(Builder& b, const Call& c) { return fold(b, c, "Add"); }
Value multiply(Builder& b, const Call& c) { return fold(b, c, "Mul"); }
Value maximum(Builder& b, const Call& c) { return fold(b, c, "Max"); }
Value minimum(Builder& b, const Call& c) { return fold(b, c, "Min"); }
Value subtract(Builder& b, const Call& c) { return fold(b, c, "Sub"); }
Value average(Builder& b, const Call& c) {
    return like(c, b.op("Div", {fold(b, c, "Add").name, b.scalar(float(c.in.size()))}, c.hint + "/Div"));
}

Value concatenate(Builder& b, const Call& c) {
    size_t rank = c.in_shape().size();
    int64_t a = concat_axis(c.l, rank);                      // per sample, channels-last
    int64_t dim = rank == 3 ? (a == 2 ? 1 : a + 2) : a + 1;  // images are NCHW inside
    std::vector<std::string> in;
    for (const Value& v : c.in) in.push_back(v.name);
    return like(c, b.op("Concat", in, c.hint + "/Concat", [&](Node_& n) { attr(n, "axis", dim); }));
}

struct Entry {
    const char* type;
    Emit emit;            // nullptr: refused
    const char* refusal;  // why, when refused
};

// Every type of network.cpp's forward table (tests/nn/test_export_onnx.cpp checks it).
const std::vector<Entry>& table() {
    static const std::vector<Entry> t = {
        {"Conv2D", conv2d, nullptr},
        {"Conv2DTranspose", transpose, nullptr},
        {"DepthwiseConv2D", depthwise, nullptr},
        {"SeparableConv2D", separable, nullptr},
        {"Dense", dense, nullptr},
        {"MaxPooling2D", max_pool, nullptr},
        {"AveragePooling2D", average_pool, nullptr},
        {"GlobalAveragePooling2D", global_average, nullptr},
        {"GlobalMaxPooling2D", global_max, nullptr},
        {"UpSampling2D", upsampling, nullptr},
        {"ZeroPadding2D", zero_padding, nullptr},
        {"Cropping2D", cropping, nullptr},
        {"Flatten", flatten, nullptr},
        {"Reshape", reshape, nullptr},
        {"Dropout", identity, nullptr},
        {"SpatialDropout2D", identity, nullptr},
        {"BatchNormalization", batch_norm, nullptr},
        {"Activation", activation, nullptr},
        {"Softmax", activation, nullptr},
        {"ReLU", relu, nullptr},
        {"LeakyReLU", leaky_relu, nullptr},
        {"Rescaling", rescaling, nullptr},
        {"Normalization", normalization, nullptr},
        {"PReLU", prelu, nullptr},
        {"RandomFlip", identity, nullptr},
        {"RandomTranslation", identity, nullptr},
        {"RandomRotation", identity, nullptr},
        {"RandomZoom", identity, nullptr},
        {"Lambda", lambda, nullptr},
        {"Add", add, nullptr},
        {"Subtract", subtract, nullptr},
        {"Multiply", multiply, nullptr},
        {"Average", average, nullptr},
        {"Maximum", maximum, nullptr},
        {"Minimum", minimum, nullptr},
        {"Concatenate", concatenate, nullptr},
    };
    return t;
}

const Entry* find_entry(const std::string& type) {
    for (const Entry& e : table())
        if (type == e.type) return &e;
    return nullptr;
}

void declare(onnx::ValueInfoProto* v, const std::string& name, int elem_type, const Shape& per_sample) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem_type);
    auto* s = t->mutable_shape();
    s->add_dim()->set_dim_param("N");  // any batch size
    for (int64_t d : per_sample) s->add_dim()->set_dim_value(d);
}

}  // namespace

std::vector<std::string> onnx_layer_types() {
    std::vector<std::string> types;
    for (const Entry& e : table()) types.push_back(e.type);
    return types;
}

std::vector<uint8_t> write_onnx(const ExportModel& m, const ExportOptions& options) {
    const Spec& spec = m.spec;
    if (options.opset < 13 || options.opset > 17)
        throw UsageError("--opset " + std::to_string(options.opset) + ": 13 to 17 (Debian's onnx 1.12 knows up to 17)");
    // Each layer's entry, matched once by name; a refused layer is named before anything is built.
    std::vector<const Entry*> entries;
    for (const LayerSpec& l : spec.layers) {
        const Entry* e = find_entry(l.type);
        if (!e) throw Error(kSoftware, "", "onnx: no entry for layer type " + l.type);
        if (!e->emit) throw DataError(m.source, "layer '" + l.name + "' (" + l.type + "): " + e->refusal);
        entries.push_back(e);
    }

    onnx::ModelProto model;
    model.set_ir_version(options.opset <= 14 ? 7 : 8);  // ONNX's table: opsets 13-14 IR 7, 15-18 IR 8
    model.set_producer_name("imgpipe");
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(options.opset);
    auto meta = [&](const char* key, const std::string& value) {
        auto* p = model.add_metadata_props();
        p->set_key(key);
        p->set_value(value);
    };
    const bool bytes = m.input_dtype == "U8";
    meta("classes", nlohmann::json(m.classes).dump());
    meta("spec", m.spec_json);
    meta("input_dtype", bytes ? "U8" : "F32");

    onnx::GraphProto* g = model.mutable_graph();
    g->set_name(spec.name);
    Builder b(g, m);
    // The input's and the output's names first: no node or initializer may take them.
    const LayerSpec& last = spec.layers[spec.nodes.back().layer];
    b.fresh(spec.input_name);
    b.fresh(last.name);
    const bool image_input = spec.input_shape.size() == 3;
    declare(g->add_input(), spec.input_name, bytes ? onnx::TensorProto::UINT8 : onnx::TensorProto::FLOAT, spec.input_shape);
    // Pixels go to floats (a deployed model takes raw bytes, as nnpredict does), then NCHW.
    std::string x = spec.input_name;
    if (bytes) x = b.op("Cast", {x}, spec.input_name + "/Cast", [](Node_& n) { attr(n, "to", int64_t(onnx::TensorProto::FLOAT)); });
    Value input = image_input ? image(channels_first(b, x, spec.input_name)) : Value{x, false};

    std::vector<Value> values(spec.nodes.size());
    for (size_t k = 0; k < spec.nodes.size(); ++k) {
        const Node& node = spec.nodes[k];
        const LayerSpec& l = spec.layers[node.layer];
        Call c{l, node, {}, l.name};
        for (int i : node.inputs) c.in.push_back(i == kModelInput ? input : values[size_t(i)]);
        try {
            values[k] = entries[node.layer]->emit(b, c);
        } catch (const Refusal& r) {
            throw DataError(m.source, "layer '" + l.name + "' (" + l.type + "): " + r.what());
        }
    }
    // The output, named as the last layer, NHWC as nnpredict gives it.
    const Value& y = values.back();
    std::string out = last.name;
    if (y.image) {
        g->add_node()->CopyFrom([&] {
            Node_ n;
            n.set_op_type("Transpose");
            n.set_name(out + "/Transpose");
            n.add_input(y.name);
            n.add_output(out);
            attr(n, "perm", std::vector<int64_t>{0, 2, 3, 1});
            return n;
        }());
    } else {
        Node_* n = g->add_node();
        n->set_op_type("Identity");
        n->set_name(out + "/Identity");
        n->add_input(y.name);
        n->add_output(out);
    }
    declare(g->add_output(), out, onnx::TensorProto::FLOAT, spec.output_shape());

    if (model.ByteSizeLong() > size_t(INT_MAX))
        throw DataError(m.source, "the model is " + std::to_string(model.ByteSizeLong() >> 20) +
                                      " MiB, beyond protobuf's 2 GiB; ONNX's external data is not written");
    // onnx's checker and its shape inference (strict) must accept it: a failure is our bug.
    try {
        onnx::checker::check_model(model);
        onnx::ModelProto inferred = model;
        onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                           onnx::ShapeInferenceOptions(true, 1, false));
    } catch (const std::exception& e) {
        std::string what = e.what();
        for (char& ch : what)
            if (ch == '\n') ch = ' ';
        throw Error(kSoftware, m.source, "onnx's checker refuses the graph written: " + what);
    }
    std::string s;
    if (!model.SerializeToString(&s)) throw Error(kSoftware, m.source, "onnx: the model does not serialize");
    return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace imgpipe::nn
