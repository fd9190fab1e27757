#include "nn/layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "cli/error.hpp"

namespace imgpipe::nn {

using nlohmann::json;

namespace {

const std::vector<std::string> kInitializers = {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                                "lecun_uniform", "lecun_normal", "zeros", "ones"};

// ---- reading configs ------------------------------------------------------

Activation activation_from(Config& c, const std::string& name) {
    std::string n = lower_alnum(name);
    static const std::vector<std::pair<std::string, Activation>> kAliases = {
        {"none", Activation::Linear}, {"silu", Activation::Swish}, {"leakyrelu", Activation::LeakyRelu}};
    for (auto& [alias, a] : kAliases)
        if (n == alias) return a;
    const std::vector<std::string>& names = activation_names();
    for (size_t i = 0; i < names.size(); ++i)
        if (lower_alnum(names[i]) == n) return Activation(i);
    std::string hint = did_you_mean(name, names);
    c.fail("unknown activation \"" + name + "\"" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?") +
           " (choices: " + join(names) + ")");
}

Activation parse_activation(Config& c, const std::string& key) {
    if (!c.has(key)) {
        c.ignore({key.c_str()});
        return Activation::Linear;
    }
    const json& v = c.raw(key);
    if (v.is_string()) return activation_from(c, v.get<std::string>());
    if (v.is_object() && v.contains("class_name") && v["class_name"].is_string())
        return activation_from(c, v["class_name"].get<std::string>());
    c.fail("\"" + key + "\" must be an activation name, not " + v.dump());
}

std::string constant_initializer(double value) { return "constant(" + json(value).dump() + ")"; }

// Keras' initializers by name, or as the VarianceScaling they are.
std::string parse_initializer(Config& c, const std::string& key, const std::string& fallback) {
    if (!c.has(key)) {
        c.ignore({key.c_str()});
        return fallback;
    }
    const json& v = c.raw(key);
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object() && v.contains("class_name") && v["class_name"].is_string()) name = v["class_name"].get<std::string>();
    else c.fail("\"" + key + "\" must be an initializer name, not " + v.dump());
    std::string n = lower_alnum(name);
    if (n == "variancescaling" && v.is_object() && v.contains("config") && v["config"].is_object()) {
        const json& cfg = v["config"];
        auto given = [&](const char* k, const json& fallback) {
            if (!cfg.contains(k)) return fallback;
            if (cfg[k].type() != fallback.type() && !(cfg[k].is_number() && fallback.is_number()))
                c.fail("\"" + key + "\": VarianceScaling's " + k + " is " + cfg[k].dump());
            return cfg[k];
        };
        double scale = given("scale", 1.0).get<double>();
        std::string mode = given("mode", "fan_in").get<std::string>(), dist = given("distribution", "truncated_normal").get<std::string>();
        std::string kind = dist == "uniform" ? "uniform" : dist == "truncated_normal" || dist == "normal" ? "normal" : "";
        std::string base = scale == 1 && mode == "fan_avg" ? "glorot" : scale == 2 && mode == "fan_in" ? "he"
                           : scale == 1 && mode == "fan_in" ? "lecun" : "";
        if (!kind.empty() && !base.empty()) return base + "_" + kind;
    }
    if (n == "constant") {  // Keras' Constant(value), kept as "constant(value)"
        double value = 0;
        if (v.is_object() && v.contains("config") && v["config"].is_object() && v["config"].contains("value")) {
            if (!v["config"]["value"].is_number()) c.fail("\"" + key + "\": Constant's value must be a number");
            value = v["config"]["value"].get<double>();
        }
        return constant_initializer(value);
    }
    if (name.rfind("constant(", 0) == 0) {
        char* end = nullptr;
        std::strtod(name.c_str() + 9, &end);
        if (end && std::string(end) == ")") return name;
    }
    for (const std::string& k : kInitializers)
        if (lower_alnum(k) == n) return k;
    c.fail("\"" + key + "\": initializer " + (v.is_string() ? "\"" + name + "\"" : v.dump()) +
           " is not supported (choices: " + join(kInitializers) + ", constant(value))");
}

// null, "l1", "l2", "l1_l2", or {"class_name": "L1L2", "config": {"l1": 0, "l2": 1e-4}}.
Regularizer parse_regularizer(Config& c, const std::string& key) {
    Regularizer r;
    if (!c.has(key)) {
        c.ignore({key.c_str()});
        return r;
    }
    const json& v = c.raw(key);
    std::string name;
    json cfg = json::object();
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object() && v.contains("class_name") && v["class_name"].is_string()) {
        name = v["class_name"].get<std::string>();
        if (v.contains("config") && v["config"].is_object()) cfg = v["config"];
    } else if (v.is_object() && (v.contains("l1") || v.contains("l2"))) {
        name = "l1_l2";
        cfg = v;
    } else {
        c.fail("\"" + key + "\" must be a regularizer (\"l2\", or {\"l2\": 0.0001}), not " + v.dump());
    }
    std::string n = lower_alnum(name);
    if (n == "l1" || n == "l2" || n == "l1l2") {
        double d = cfg.empty() ? 0.01 : 0;  // Keras' string forms default to 0.01
        r.l1 = n == "l2" ? 0 : d;
        r.l2 = n == "l1" ? 0 : d;
        for (auto& [k, value] : cfg.items()) {
            if (!value.is_number() || value.get<double>() < 0)
                c.fail("\"" + key + "\": \"" + k + "\" must be a number >= 0, not " + value.dump());
            if (k == "l1") r.l1 = value.get<double>();
            else if (k == "l2") r.l2 = value.get<double>();
            else c.fail("\"" + key + "\": unknown key \"" + k + "\" (l1, l2)");
        }
        return r;
    }
    c.fail("\"" + key + "\": regularizer \"" + name + "\" is not supported (l1, l2, l1_l2)");
}

bool parse_padding(Config& c) { return c.choice("padding", "valid", {"valid", "same"}) == "same"; }

// ZeroPadding2D's padding and Cropping2D's cropping: n, (rows, cols) or ((top, bottom), (left, right)).
void parse_margins(Config& c, const std::string& key, LayerSpec& layer, int64_t fallback) {
    MarginOptions& l = layer.options.emplace<MarginOptions>();
    l.margins = {fallback, fallback, fallback, fallback};
    if (!c.has(key)) return c.ignore({key.c_str()});
    const json& v = c.raw(key);
    auto size = [&](const json& x) {
        if (!x.is_number_integer() || x.get<int64_t>() < 0)
            c.fail("\"" + key + "\" must hold integers >= 0, not " + v.dump());
        return x.get<int64_t>();
    };
    if (v.is_number_integer()) {
        int64_t n = size(v);
        l.margins = {n, n, n, n};
    } else if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer()) {
        l.margins = {size(v[0]), size(v[0]), size(v[1]), size(v[1])};
    } else if (v.is_array() && v.size() == 2 && v[0].is_array() && v[1].is_array() && v[0].size() == 2 &&
               v[1].size() == 2) {
        l.margins = {size(v[0][0]), size(v[0][1]), size(v[1][0]), size(v[1][1])};
    } else {
        c.fail("\"" + key + "\" must be n, [rows, cols] or [[top, bottom], [left, right]], not " + v.dump());
    }
}

int64_t require_units(Config& c, const char* key) {
    int64_t n = c.integer(key, 0);
    if (!n) c.missing(key);
    return n;
}

// What the four convolutions share; `filters` first where the type has them (the order of Keras' errors).
ConvOptions& parse_conv_common(Config& c, LayerSpec& layer, bool filters) {
    ConvOptions& l = layer.options.emplace<ConvOptions>();
    if (filters) l.filters = require_units(c, "filters");
    if (!c.pair("kernel_size", l.kernel_size.data())) c.missing("kernel_size");
    c.pair("strides", l.strides.data());
    l.same = parse_padding(c);
    c.pair("dilation_rate", l.dilation_rate.data());
    if (l.dilation_rate != Pair{1, 1} && l.strides != Pair{1, 1})
        c.fail("\"strides\" > 1 and \"dilation_rate\" > 1 cannot be combined (Keras refuses it too)");
    layer.activation = parse_activation(c, "activation");
    l.use_bias = c.boolean("use_bias", true);
    l.bias_initializer = parse_initializer(c, "bias_initializer", "zeros");
    l.bias_regularizer = parse_regularizer(c, "bias_regularizer");
    return l;
}

// A preprocessing layer's factor: f for [-f, f], or [lower, upper]; fractions within [-1, 1].
std::array<double, 2> parse_factor(Config& c, const char* key, bool fraction) {
    if (!c.has(key)) c.missing(key, " (a fraction f for [-f, f], or [lower, upper])");
    const json& v = c.raw(key);
    std::array<double, 2> f;
    if (v.is_number()) f = {-std::fabs(v.get<double>()), std::fabs(v.get<double>())};
    else if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number()) f = {v[0].get<double>(), v[1].get<double>()};
    else c.fail("\"" + std::string(key) + "\" must be a number or [lower, upper], not " + v.dump());
    if (f[0] > f[1]) c.fail("\"" + std::string(key) + "\": the lower bound " + v[0].dump() + " is above the upper " + v[1].dump());
    if (fraction && (std::fabs(f[0]) > 1 || std::fabs(f[1]) > 1))
        c.fail("\"" + std::string(key) + "\" must lie within [-1, 1], not " + v.dump());
    return f;
}

// What RandomTranslation, RandomRotation and RandomZoom share: how they sample and fill.
void parse_warp(Config& c, WarpOptions& l) {
    if (c.string("fill_mode", "reflect") == "wrap")
        c.fail("\"fill_mode\": \"wrap\" is not implemented (reflect, nearest, constant)");
    l.fill_mode = c.choice("fill_mode", "reflect", {"reflect", "nearest", "constant"});
    l.interpolation = c.choice("interpolation", "bilinear", {"bilinear", "nearest"});
    l.fill_value = c.number("fill_value", 0);
    c.ignore({"seed"});  // draws follow nntrain's --seed
    c.require_default("bounding_box_format", nullptr, "bounding boxes are not supported");
}

// A list of numbers, or one number (kept as a list of one).
std::vector<double> parse_values(Config& c, const char* key) {
    const json& v = c.raw(key);
    std::vector<double> out;
    if (v.is_number()) out.push_back(v.get<double>());
    else if (v.is_array() && !v.empty())
        for (const json& x : v) {
            if (!x.is_number()) c.fail("\"" + std::string(key) + "\" must hold numbers, not " + v.dump());
            out.push_back(x.get<double>());
        }
    else c.fail("\"" + std::string(key) + "\" must be a number or a list of numbers, not " + v.dump());
    return out;
}

// ---- shapes ---------------------------------------------------------------

[[noreturn]] void shape_fail(const std::string& m) { throw ShapeError(m); }

const Shape& one_image(const std::vector<Shape>& in) {
    if (in[0].size() != 3)
        shape_fail("needs an image input (height, width, channels) but gets " + shape_tuple(in[0]) +
                   (in[0].size() == 1 ? "; add a Reshape layer before it" : ""));
    return in[0];
}

// A sliding window's output size: TensorFlow's "same" and "valid".
int64_t window_out(bool same, const Shape& in, int d, Pair k, int64_t s, Pair dilation = {1, 1}) {
    Pair span = {(k[0] - 1) * dilation[0] + 1, (k[1] - 1) * dilation[1] + 1};
    int64_t n = in[size_t(d)];
    if (same) return (n + s - 1) / s;
    if (n < span[size_t(d)])
        shape_fail("input " + shape_tuple(in) + " is smaller than the " + std::to_string(span[0]) + "x" +
                   std::to_string(span[1]) + " window; use padding \"same\" or a larger input");
    return (n - span[size_t(d)]) / s + 1;
}

// The window's output rows and columns, and `channels`.
Shape window_shape(const ConvOptions& l, const Shape& x, int64_t channels) {
    Shape out = x;
    for (int d = 0; d < 2; ++d)
        out[size_t(d)] = window_out(l.same, x, d, l.kernel_size, l.strides[size_t(d)], l.dilation_rate);
    out[2] = channels;
    return out;
}

Shape conv_shape(const LayerSpec& layer, const std::vector<Shape>& in) {
    const ConvOptions& l = layer.get<ConvOptions>();
    const Shape& x = one_image(in);
    Shape out = window_shape(l, x, l.filters);
    if (l.groups > 1 && (x[2] % l.groups || l.filters % l.groups))
        shape_fail("\"groups\": " + std::to_string(l.groups) + " must divide the input's " + std::to_string(x[2]) +
                   " channels and the " + std::to_string(l.filters) + " filters");
    return out;
}

Shape depthwise_shape(const LayerSpec& layer, const std::vector<Shape>& in) {
    const ConvOptions& l = layer.get<ConvOptions>();
    const Shape& x = one_image(in);
    return window_shape(l, x, x[2] * l.depth_multiplier);
}

Shape pool_shape(const LayerSpec& layer, const std::vector<Shape>& in) {
    const PoolOptions& l = layer.get<PoolOptions>();
    const Shape& x = one_image(in);
    Shape out = x;
    for (int d = 0; d < 2; ++d) out[size_t(d)] = window_out(l.same, x, d, l.pool_size, l.strides[size_t(d)]);
    return out;
}

Shape same_shape(const LayerSpec&, const std::vector<Shape>& in) { return in[0]; }

Shape image_same_shape(const LayerSpec&, const std::vector<Shape>& in) { return one_image(in); }

Shape merge_shape(const LayerSpec& l, const std::vector<Shape>& in) {
    for (size_t i = 1; i < in.size(); ++i)
        if (in[i] != in[0])
            shape_fail(l.type + " needs inputs of one shape, but gets " + shape_tuple(in[0]) + " and " +
                       shape_tuple(in[i]));
    return in[0];
}

}  // namespace

int64_t concat_axis(const LayerSpec& layer, size_t rank) {
    int64_t axis = layer.get<ConcatOptions>().axis;
    int64_t a = axis < 0 ? int64_t(rank) + 1 + axis : axis;
    if (a < 1 || a > int64_t(rank))
        shape_fail("\"axis\": " + std::to_string(axis) + " is out of range for inputs of rank " +
                   std::to_string(rank + 1) + " (the batch counts)");
    return a - 1;
}

namespace {

Shape concat_shape(const LayerSpec& l, const std::vector<Shape>& in) {
    int64_t axis = concat_axis(l, in[0].size());
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
        bool fits = in[i].size() == in[0].size();
        for (size_t d = 0; fits && d < in[0].size(); ++d)
            if (int64_t(d) != axis && in[i][d] != in[0][d]) fits = false;
        if (!fits)
            shape_fail("Concatenate on axis " + std::to_string(l.get<ConcatOptions>().axis) + " needs inputs that differ only there, but "
                       "gets " + shape_tuple(in[0]) + " and " + shape_tuple(in[i]));
        out[size_t(axis)] += in[i][size_t(axis)];
    }
    return out;
}

// ---- weights --------------------------------------------------------------
// Each weight's Keras layout (name, shape, and the permutation to ours) sits
// beside ours. Sources: keras/src/layers (Keras 3) and tf-keras' layers
// (Keras 2): Conv2D's kernel (kh, kw, in/groups, out), Conv2DTranspose's
// (kh, kw, out, in), DepthwiseConv2D's (kh, kw, in, multiplier), SeparableConv2D's
// depthwise_kernel then pointwise_kernel (1, 1, in*multiplier, out), Dense's
// (in, out), BatchNormalization's gamma, beta, moving_mean, moving_variance,
// PReLU's alpha the input's shape with 1 on the shared axes; the same as
// ../shared/reference/keras-models/weights/torch_crosscheck.py reads them.

WeightSpec weight(const char* name, Shape shape, const std::string& init, int64_t fan_in = 0, int64_t fan_out = 0,
                  Regularizer r = {}, bool trainable = true) {
    return {name, std::move(shape), init, fan_in, fan_out, trainable, r, {}, {}, {}};
}

WeightSpec keras(WeightSpec w, const char* keras_name, Shape keras_shape, std::vector<int> perm = {}) {
    w.keras_name = keras_name;
    w.keras_shape = std::move(keras_shape);
    w.keras_perm = std::move(perm);
    return w;
}

// Keras' kernels are (kh, kw, a, b); ours [b, a, kh, kw].
const std::vector<int> kKernelPerm = {3, 2, 0, 1};

WeightSpec bias_weight(const ConvOptions& l, int64_t n) {
    return keras(weight("bias", {n}, l.bias_initializer, 0, 0, l.bias_regularizer), "bias", {n});
}

std::vector<WeightSpec> conv_weights(const LayerSpec& layer) {
    const ConvOptions& l = layer.get<ConvOptions>();
    int64_t in = layer.input_shape[2], rf = l.kernel_size[0] * l.kernel_size[1];
    Shape k = {l.filters, in / l.groups, l.kernel_size[0], l.kernel_size[1]};
    std::vector<WeightSpec> w = {keras(weight("weight", k, l.kernel_initializer, rf * in / l.groups, rf * l.filters,
                                              l.kernel_regularizer),
                                       "kernel", {l.kernel_size[0], l.kernel_size[1], in / l.groups, l.filters}, kKernelPerm)};
    if (l.use_bias) w.push_back(bias_weight(l, l.filters));
    return w;
}

std::vector<WeightSpec> transpose_weights(const LayerSpec& layer) {
    const ConvOptions& l = layer.get<ConvOptions>();
    int64_t in = layer.input_shape[2], rf = l.kernel_size[0] * l.kernel_size[1];
    // Keras' transposed kernel is (kh, kw, filters, in): its fan-in counts filters.
    std::vector<WeightSpec> w = {keras(weight("weight", {in, l.filters, l.kernel_size[0], l.kernel_size[1]},
                                              l.kernel_initializer, rf * l.filters, rf * in, l.kernel_regularizer),
                                       "kernel", {l.kernel_size[0], l.kernel_size[1], l.filters, in}, kKernelPerm)};
    if (l.use_bias) w.push_back(bias_weight(l, l.filters));
    return w;
}

// Keras' depthwise kernel is (kh, kw, in, multiplier); ours [in * multiplier, 1, kh, kw], channel c*m + j:
// (in, multiplier, kh, kw) reshaped. Keras 2 and TF.js name it depthwise_kernel (Keras 3's DepthwiseConv2D: kernel).
WeightSpec depthwise_weight(const LayerSpec& layer, const char* name) {
    const ConvOptions& l = layer.get<ConvOptions>();
    int64_t in = layer.input_shape[2], rf = l.kernel_size[0] * l.kernel_size[1];
    return keras(weight(name, {in * l.depth_multiplier, 1, l.kernel_size[0], l.kernel_size[1]}, l.kernel_initializer,
                        rf * in, rf * l.depth_multiplier, l.kernel_regularizer),
                 "depthwise_kernel", {l.kernel_size[0], l.kernel_size[1], in, l.depth_multiplier}, {2, 3, 0, 1});
}

std::vector<WeightSpec> depthwise_weights(const LayerSpec& layer) {
    const ConvOptions& l = layer.get<ConvOptions>();
    std::vector<WeightSpec> w = {depthwise_weight(layer, "weight")};
    if (l.use_bias) w.push_back(bias_weight(l, layer.input_shape[2] * l.depth_multiplier));
    return w;
}

std::vector<WeightSpec> separable_weights(const LayerSpec& layer) {
    const ConvOptions& l = layer.get<ConvOptions>();
    int64_t mid = layer.input_shape[2] * l.depth_multiplier;
    std::vector<WeightSpec> w = {depthwise_weight(layer, "depthwise_weight"),
                                 keras(weight("pointwise_weight", {l.filters, mid, 1, 1}, l.pointwise_initializer, mid,
                                              l.filters, l.pointwise_regularizer),
                                       "pointwise_kernel", {1, 1, mid, l.filters}, kKernelPerm)};
    if (l.use_bias) w.push_back(bias_weight(l, l.filters));
    return w;
}

std::vector<WeightSpec> dense_weights(const LayerSpec& layer) {
    const DenseOptions& l = layer.get<DenseOptions>();
    int64_t in = layer.input_shape[0];
    std::vector<WeightSpec> w = {keras(weight("weight", {l.units, in}, l.kernel_initializer, in, l.units, l.kernel_regularizer),
                                       "kernel", {in, l.units}, {1, 0})};
    if (l.use_bias)
        w.push_back(keras(weight("bias", {l.units}, l.bias_initializer, 0, 0, l.bias_regularizer), "bias", {l.units}));
    return w;
}

// Keras: gamma and beta only when scale and center are on; the moving statistics are not trained.
std::vector<WeightSpec> batch_norm_weights(const LayerSpec& layer) {
    const BatchNormOptions& l = layer.get<BatchNormOptions>();
    int64_t c = layer.input_shape.back();
    std::vector<WeightSpec> w;
    if (l.scale) w.push_back(keras(weight("weight", {c}, "ones"), "gamma", {c}));
    if (l.center) w.push_back(keras(weight("bias", {c}, "zeros"), "beta", {c}));
    w.push_back(keras(weight("running_mean", {c}, "zeros", 0, 0, {}, false), "moving_mean", {c}));
    w.push_back(keras(weight("running_var", {c}, "ones", 0, 0, {}, false), "moving_variance", {c}));
    return w;
}

// One alpha per value of a sample, but one for all along the shared axes; images
// channels-first [c, h, w] (1 where shared), to broadcast against NCHW. Keras'
// alpha is the channels-last (h, w, c) with the same 1s.
std::vector<WeightSpec> prelu_weights(const LayerSpec& layer) {
    const PReluOptions& l = layer.get<PReluOptions>();
    Shape s = layer.input_shape;
    for (int64_t a : l.shared_axes) s[size_t(a - 1)] = 1;
    Shape ours = s.size() == 3 ? Shape{s[2], s[0], s[1]} : s;
    return {keras(weight("alpha", ours, l.alpha_initializer, 0, 0, l.alpha_regularizer), "alpha", s,
                  s.size() == 3 ? std::vector<int>{2, 0, 1} : std::vector<int>{})};
}

// ---- writing back ---------------------------------------------------------

json pair_json(const Pair& p) { return json::array({p[0], p[1]}); }

json regularizer_json(const Regularizer& r) { return {{"l1", r.l1}, {"l2", r.l2}}; }

// What the four convolutions write alike; `kernel` names the kernel's keys ("kernel", "depthwise").
void save_window(const LayerSpec& layer, json& j, const std::string& kernel) {
    const ConvOptions& l = layer.get<ConvOptions>();
    j["kernel_size"] = pair_json(l.kernel_size);
    j["strides"] = pair_json(l.strides);
    j["padding"] = l.same ? "same" : "valid";
    if (l.dilation_rate != Pair{1, 1}) j["dilation_rate"] = pair_json(l.dilation_rate);
    if (l.groups != 1) j["groups"] = l.groups;
    j["activation"] = activation_name(layer.activation);
    j["use_bias"] = l.use_bias;
    j[kernel + "_initializer"] = l.kernel_initializer;
    j["bias_initializer"] = l.bias_initializer;
    if (l.kernel_regularizer.active()) j[kernel + "_regularizer"] = regularizer_json(l.kernel_regularizer);
    if (l.bias_regularizer.active()) j["bias_regularizer"] = regularizer_json(l.bias_regularizer);
}

void save_conv(const LayerSpec& l, json& j) {
    save_window(l, j, "kernel");
    j["filters"] = l.get<ConvOptions>().filters;
}

void save_depthwise(const LayerSpec& l, json& j) {
    save_window(l, j, "depthwise");
    j["depth_multiplier"] = l.get<ConvOptions>().depth_multiplier;
}

void save_separable(const LayerSpec& layer, json& j) {
    const ConvOptions& l = layer.get<ConvOptions>();
    save_depthwise(layer, j);
    j["filters"] = l.filters;
    j["pointwise_initializer"] = l.pointwise_initializer;
    if (l.pointwise_regularizer.active()) j["pointwise_regularizer"] = regularizer_json(l.pointwise_regularizer);
}

void save_nothing(const LayerSpec&, json&) {}

void save_warp(const WarpOptions& l, json& j) {
    j["fill_mode"] = l.fill_mode;
    j["interpolation"] = l.interpolation;
    j["fill_value"] = l.fill_value;
}

void save_pool(const LayerSpec& layer, json& j) {
    const PoolOptions& l = layer.get<PoolOptions>();
    j["pool_size"] = pair_json(l.pool_size);
    j["strides"] = pair_json(l.strides);
    j["padding"] = l.same ? "same" : "valid";
}

json margins_json(const LayerSpec& layer) {
    const auto& m = layer.get<MarginOptions>().margins;
    return json::array({json::array({m[0], m[1]}), json::array({m[2], m[3]})});
}

// ---- the table ------------------------------------------------------------

void parse_conv(Config& c, LayerSpec& layer) {
    ConvOptions& l = parse_conv_common(c, layer, true);
    l.groups = c.integer("groups", 1);
    l.kernel_initializer = parse_initializer(c, "kernel_initializer", "glorot_uniform");
    l.kernel_regularizer = parse_regularizer(c, "kernel_regularizer");
}

std::optional<std::array<double, 2>> rescaling_range(const LayerSpec& layer) {
    const RescalingOptions& l = layer.get<RescalingOptions>();
    return std::array<double, 2>{l.offset, l.scale * 255 + l.offset};
}

// An expression linear over 0..255 (its middle value the mean of its ends).
std::optional<std::array<double, 2>> lambda_range(const LayerSpec& layer) {
    const Expr& e = layer.get<LambdaOptions>().expr;
    double a = eval_expr(e, 0), m = eval_expr(e, 127.5), b = eval_expr(e, 255);
    if (!std::isfinite(a) || !std::isfinite(b) || std::fabs(m - (a + b) / 2) > 1e-6 * (1 + std::fabs(b - a)))
        return std::nullopt;
    return std::array<double, 2>{a, b};
}

std::vector<LayerKind> make_kinds() {
    std::vector<LayerKind> k;
    auto add = [&](LayerKind kind) { k.push_back(std::move(kind)); };
    add({"Conv2D", 1, 1, parse_conv, conv_shape, conv_weights, save_conv, kConvolution | kFoldsNorm, {"Convolution2D"}});
    add({"Conv2DTranspose", 1, 1,
         [](Config& c, LayerSpec& layer) {
             ConvOptions& l = parse_conv_common(c, layer, true);
             if (l.dilation_rate != Pair{1, 1}) c.fail("\"dilation_rate\" > 1 is not supported on Conv2DTranspose");
             l.kernel_initializer = parse_initializer(c, "kernel_initializer", "glorot_uniform");
             l.kernel_regularizer = parse_regularizer(c, "kernel_regularizer");
             c.require_default("output_padding", nullptr, "use padding \"same\" or \"valid\"");
             c.require_default("groups", 1, "grouped transposed convolutions are not implemented");
         },
         [](const LayerSpec& layer, const std::vector<Shape>& in) {
             const ConvOptions& l = layer.get<ConvOptions>();
             const Shape& x = one_image(in);
             Shape out = {0, 0, l.filters};
             for (size_t d = 0; d < 2; ++d) {
                 int64_t n = x[d], k = l.kernel_size[d], s = l.strides[d];
                 out[d] = l.same ? n * s : n * s + std::max<int64_t>(k - s, 0);
             }
             return out;
         },
         transpose_weights, save_conv, kConvolution, {"Convolution2DTranspose"}});
    add({"DepthwiseConv2D", 1, 1,
         [](Config& c, LayerSpec& layer) {
             ConvOptions& l = parse_conv_common(c, layer, false);
             l.depth_multiplier = c.integer("depth_multiplier", 1);
             l.kernel_initializer = parse_initializer(c, "depthwise_initializer", "glorot_uniform");
             l.kernel_regularizer = parse_regularizer(c, "depthwise_regularizer");
             c.require_default("depthwise_constraint", nullptr, "constraints are not implemented");
             c.require_default("groups", 1, "a depthwise convolution groups by channel already");
         },
         depthwise_shape, depthwise_weights, save_depthwise, kConvolution | kFoldsNorm});
    add({"SeparableConv2D", 1, 1,
         [](Config& c, LayerSpec& layer) {
             ConvOptions& l = parse_conv_common(c, layer, true);
             l.depth_multiplier = c.integer("depth_multiplier", 1);
             l.kernel_initializer = parse_initializer(c, "depthwise_initializer", "glorot_uniform");
             l.pointwise_initializer = parse_initializer(c, "pointwise_initializer", "glorot_uniform");
             l.kernel_regularizer = parse_regularizer(c, "depthwise_regularizer");
             l.pointwise_regularizer = parse_regularizer(c, "pointwise_regularizer");
             for (const char* k : {"depthwise_constraint", "pointwise_constraint"})
                 c.require_default(k, nullptr, "constraints are not implemented");
             c.require_default("groups", 1, "not implemented");
         },
         conv_shape, separable_weights, save_separable, kConvolution, {"SeparableConvolution2D"}});
    add({"Dense", 1, 1,
         [](Config& c, LayerSpec& layer) {
             DenseOptions& l = layer.options.emplace<DenseOptions>();
             l.units = require_units(c, "units");
             layer.activation = parse_activation(c, "activation");
             l.use_bias = c.boolean("use_bias", true);
             l.kernel_initializer = parse_initializer(c, "kernel_initializer", "glorot_uniform");
             l.bias_initializer = parse_initializer(c, "bias_initializer", "zeros");
             l.kernel_regularizer = parse_regularizer(c, "kernel_regularizer");
             l.bias_regularizer = parse_regularizer(c, "bias_regularizer");
         },
         [](const LayerSpec& l, const std::vector<Shape>& in) {
             if (in[0].size() != 1)
                 shape_fail("needs a flat input but gets " + shape_tuple(in[0]) + "; add a Flatten layer before it");
             return Shape{l.get<DenseOptions>().units};
         },
         dense_weights,
         [](const LayerSpec& layer, json& j) {
             const DenseOptions& l = layer.get<DenseOptions>();
             j["units"] = l.units;
             j["activation"] = activation_name(layer.activation);
             j["use_bias"] = l.use_bias;
             j["kernel_initializer"] = l.kernel_initializer;
             j["bias_initializer"] = l.bias_initializer;
             if (l.kernel_regularizer.active()) j["kernel_regularizer"] = regularizer_json(l.kernel_regularizer);
             if (l.bias_regularizer.active()) j["bias_regularizer"] = regularizer_json(l.bias_regularizer);
         }});
    auto parse_pool = [](Config& c, LayerSpec& layer) {
        PoolOptions& l = layer.options.emplace<PoolOptions>();
        c.pair("pool_size", l.pool_size.data());
        l.strides = l.pool_size;  // Keras: strides default to the pool size
        c.pair("strides", l.strides.data());
        l.same = parse_padding(c);
    };
    add({"MaxPooling2D", 1, 1, parse_pool, pool_shape, nullptr, save_pool, kKeepsValues | kMaxPooling, {"MaxPool2D"}});
    add({"AveragePooling2D", 1, 1, parse_pool, pool_shape, nullptr, save_pool, kKeepsValues, {"AvgPool2D"}});
    auto parse_global = [](Config& c, LayerSpec& l) {
        l.options.emplace<GlobalPoolOptions>().keepdims = c.boolean("keepdims", false);
    };
    auto global_shape = [](const LayerSpec& l, const std::vector<Shape>& in) {
        const Shape& x = one_image(in);
        return l.get<GlobalPoolOptions>().keepdims ? Shape{1, 1, x[2]} : Shape{x[2]};
    };
    auto save_global = [](const LayerSpec& l, json& j) {
        if (l.get<GlobalPoolOptions>().keepdims) j["keepdims"] = true;
    };
    add({"GlobalAveragePooling2D", 1, 1, parse_global, global_shape, nullptr, save_global, 0, {"GlobalAvgPool2D"}});
    add({"GlobalMaxPooling2D", 1, 1, parse_global, global_shape, nullptr, save_global, 0, {"GlobalMaxPool2D"}});
    add({"UpSampling2D", 1, 1,
         [](Config& c, LayerSpec& layer) {
             UpSamplingOptions& l = layer.options.emplace<UpSamplingOptions>();
             c.pair("size", l.size.data());
             l.interpolation = c.choice("interpolation", "nearest", {"nearest", "bilinear"});
         },
         [](const LayerSpec& l, const std::vector<Shape>& in) {
             const Shape& x = one_image(in);
             const Pair& size = l.get<UpSamplingOptions>().size;
             return Shape{x[0] * size[0], x[1] * size[1], x[2]};
         },
         nullptr,
         [](const LayerSpec& l, json& j) {
             j["size"] = pair_json(l.get<UpSamplingOptions>().size);
             j["interpolation"] = l.get<UpSamplingOptions>().interpolation;
         },
         kKeepsValues});
    add({"ZeroPadding2D", 1, 1, [](Config& c, LayerSpec& l) { parse_margins(c, "padding", l, 1); },
         [](const LayerSpec& l, const std::vector<Shape>& in) {
             const Shape& x = one_image(in);
             const auto& m = l.get<MarginOptions>().margins;
             return Shape{x[0] + m[0] + m[1], x[1] + m[2] + m[3], x[2]};
         },
         nullptr, [](const LayerSpec& l, json& j) { j["padding"] = margins_json(l); }, kKeepsValues});
    add({"Cropping2D", 1, 1, [](Config& c, LayerSpec& l) { parse_margins(c, "cropping", l, 0); },
         [](const LayerSpec& l, const std::vector<Shape>& in) {
             const Shape& x = one_image(in);
             const auto& m = l.get<MarginOptions>().margins;
             Shape out = {x[0] - m[0] - m[1], x[1] - m[2] - m[3], x[2]};
             if (out[0] < 1 || out[1] < 1) shape_fail("crops all of its input " + shape_tuple(x));
             return out;
         },
         nullptr, [](const LayerSpec& l, json& j) { j["cropping"] = margins_json(l); }, kKeepsValues});
    add({"Flatten", 1, 1, [](Config&, LayerSpec&) {},
         [](const LayerSpec&, const std::vector<Shape>& in) {
             int64_t n = 1;
             for (int64_t d : in[0]) n *= d;
             return Shape{n};
         },
         nullptr, save_nothing, kKeepsValues});
    add({"Reshape", 1, 1,
         [](Config& c, LayerSpec& layer) {
             ReshapeOptions& l = layer.options.emplace<ReshapeOptions>();
             if (!c.has("target_shape")) c.missing("target_shape");
             const json& v = c.raw("target_shape");
             if (!v.is_array() || v.empty()) c.fail("\"target_shape\" must be a list of sizes");
             for (const json& d : v) {
                 if (!d.is_number_integer() || (d.get<int64_t>() < 1 && d.get<int64_t>() != -1))
                     c.fail("\"target_shape\" must hold positive sizes (or one -1), not " + v.dump());
                 l.target_shape.push_back(d.get<int64_t>());
             }
         },
         [](const LayerSpec& l, const std::vector<Shape>& in) {
             int64_t total = 1, known = 1, unknown = -1;
             for (int64_t d : in[0]) total *= d;
             Shape out = l.get<ReshapeOptions>().target_shape;
             for (size_t k = 0; k < out.size(); ++k) {
                 if (out[k] != -1) known *= out[k];
                 else if (unknown >= 0) shape_fail("\"target_shape\" may hold only one -1");
                 else unknown = int64_t(k);
             }
             if (unknown >= 0) {
                 if (known == 0 || total % known) shape_fail("cannot reshape " + shape_tuple(in[0]) + " to " + shape_tuple(out));
                 out[size_t(unknown)] = total / known;
             }
             int64_t n = 1;
             for (int64_t d : out) n *= d;
             if (n != total)
                 shape_fail("cannot reshape " + shape_tuple(in[0]) + " (" + std::to_string(total) + " values) to " +
                            shape_tuple(out) + " (" + std::to_string(n) + " values)");
             if (out.size() != 1 && out.size() != 3) shape_fail("\"target_shape\" must be (k) or (height, width, channels)");
             return out;
         },
         nullptr, [](const LayerSpec& l, json& j) { j["target_shape"] = l.get<ReshapeOptions>().target_shape; },
         kKeepsValues});
    auto parse_dropout = [](Config& c, LayerSpec& l) {
        double& rate = l.options.emplace<DropoutOptions>().rate;
        rate = c.number("rate", -1);
        if (rate < 0 || rate >= 1) c.missing("rate", " in [0, 1)");
        c.ignore({"seed"});
        c.require_default("noise_shape", nullptr, "noise_shape is not implemented; SpatialDropout2D drops whole channels");
    };
    auto save_dropout = [](const LayerSpec& l, json& j) { j["rate"] = l.get<DropoutOptions>().rate; };
    add({"Dropout", 1, 1, parse_dropout, same_shape, nullptr, save_dropout, kKeepsValues});
    add({"SpatialDropout2D", 1, 1, parse_dropout, image_same_shape, nullptr, save_dropout, kKeepsValues});
    add({"BatchNormalization", 1, 1,
         [](Config& c, LayerSpec& layer) {
             BatchNormOptions& l = layer.options.emplace<BatchNormOptions>();
             l.momentum = c.number("momentum", 0.99);
             l.epsilon = c.number("epsilon", 1e-3);
             l.center = c.boolean("center", true);
             l.scale = c.boolean("scale", true);
             if (c.has("axis")) {  // checked against the input's rank in the shape step
                 const json& a = c.raw("axis");
                 const json& n = a.is_array() && a.size() == 1 ? a[0] : a;
                 if (!n.is_number_integer()) c.fail("\"axis\" must be the channel axis (-1), not " + a.dump());
                 l.axis = n.get<int64_t>();
             }
             for (const char* k : {"beta_initializer", "moving_mean_initializer"})
                 if (parse_initializer(c, k, "zeros") != "zeros") c.fail(std::string("\"") + k + "\" must be zeros");
             for (const char* k : {"gamma_initializer", "moving_variance_initializer"})
                 if (parse_initializer(c, k, "ones") != "ones") c.fail(std::string("\"") + k + "\" must be ones");
             for (const char* k : {"beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"})
                 c.require_default(k, nullptr, "not implemented");
             c.require_default("renorm", false, "batch renormalization is not implemented");
             c.require_default("synchronized", false, "each rank normalizes with its own batch's statistics");
             c.require_default("virtual_batch_size", nullptr, "ghost batch normalization is not implemented");
             c.require_default("adjustment", nullptr, "not implemented");
             c.ignore({"fused", "renorm_clipping", "renorm_momentum"});
         },
         [](const LayerSpec& layer, const std::vector<Shape>& in) {
             // Keras counts the batch: the channels are axis 3 of an image, 1 of a flat input.
             int64_t axis = layer.get<BatchNormOptions>().axis;
             if (axis != -1 && axis != int64_t(in[0].size()))
                 shape_fail("\"axis\": " + std::to_string(axis) + " is not the channel axis of " + shape_tuple(in[0]) +
                            " (-1 or " + std::to_string(in[0].size()) + "); only per-channel normalization is implemented");
             return in[0];
         },
         batch_norm_weights,
         [](const LayerSpec& layer, json& j) {
             const BatchNormOptions& l = layer.get<BatchNormOptions>();
             j["momentum"] = l.momentum;
             j["epsilon"] = l.epsilon;
             j["center"] = l.center;
             j["scale"] = l.scale;
         },
         kScalesInput});
    add({"Activation", 1, 1,
         [](Config& c, LayerSpec& l) {
             if (!c.has("activation")) c.missing("activation");
             l.activation = parse_activation(c, "activation");
         },
         same_shape, nullptr, [](const LayerSpec& l, json& j) { j["activation"] = activation_name(l.activation); }});
    add({"ReLU", 1, 1,
         [](Config& c, LayerSpec& layer) {
             ReluOptions& l = layer.options.emplace<ReluOptions>();
             l.max_value = c.number("max_value", -1);  // null: none
             if (c.has("max_value") && l.max_value < 0) c.fail("\"max_value\" must be >= 0");
             l.negative_slope = c.number("negative_slope", 0);
             l.threshold = c.number("threshold", 0);
         },
         same_shape, nullptr,
         [](const LayerSpec& layer, json& j) {
             const ReluOptions& l = layer.get<ReluOptions>();
             j["max_value"] = l.max_value < 0 ? json(nullptr) : json(l.max_value);
             j["negative_slope"] = l.negative_slope;
             j["threshold"] = l.threshold;
         }});
    add({"LeakyReLU", 1, 1,
         [](Config& c, LayerSpec& l) {  // Keras 2 calls the slope alpha; both default to 0.3
             l.options.emplace<LeakyReluOptions>().negative_slope = c.number(c.has("alpha") ? "alpha" : "negative_slope", 0.3);
             c.ignore({"alpha", "negative_slope"});
         },
         same_shape, nullptr,
         [](const LayerSpec& l, json& j) { j["negative_slope"] = l.get<LeakyReluOptions>().negative_slope; }});
    add({"Softmax", 1, 1,
         [](Config& c, LayerSpec& l) {
             c.require_default("axis", -1, "softmax runs over the last (channel) axis");
             l.activation = Activation::Softmax;
         },
         same_shape, nullptr, save_nothing});
    add({"Rescaling", 1, 1,
         [](Config& c, LayerSpec& layer) {
             RescalingOptions& l = layer.options.emplace<RescalingOptions>();
             l.scale = c.number("scale", 1);
             l.offset = c.number("offset", 0);
         },
         same_shape, nullptr,
         [](const LayerSpec& layer, json& j) {
             j["scale"] = layer.get<RescalingOptions>().scale;
             j["offset"] = layer.get<RescalingOptions>().offset;
         },
         kScalesInput, {}, rescaling_range});
    add({"Normalization", 1, 1,
         [](Config& c, LayerSpec& layer) {
             NormalizationOptions& l = layer.options.emplace<NormalizationOptions>();
             if (!c.has("mean") || !c.has("variance"))
                 c.fail("needs \"mean\" and \"variance\": Keras' adapt() keeps them in the weights file, which a "
                        "model's JSON does not carry (imgstats(1) prints each channel's mean and std; variance = std^2)");
             l.mean = parse_values(c, "mean");
             l.variance = parse_values(c, "variance");
             for (double v : l.variance)
                 if (v < 0) c.fail("\"variance\" must hold values >= 0");
             if (l.mean.size() != l.variance.size())
                 c.fail("\"mean\" and \"variance\" must have one value each per channel");
             l.invert = c.boolean("invert", false);
             if (c.has("axis")) {
                 const json& a = c.raw("axis");
                 if (!(a == json(-1) || a == json::array({-1})))
                     c.fail("\"axis\" must be -1 (per channel) or null (one mean for all), not " + a.dump());
             }
         },
         [](const LayerSpec& layer, const std::vector<Shape>& in) {
             size_t means = layer.get<NormalizationOptions>().mean.size();
             if (means != 1 && int64_t(means) != in[0].back())
                 shape_fail("has " + std::to_string(means) + " means for " + std::to_string(in[0].back()) + " channels");
             return in[0];
         },
         nullptr,
         [](const LayerSpec& layer, json& j) {
             const NormalizationOptions& l = layer.get<NormalizationOptions>();
             j["mean"] = l.mean;
             j["variance"] = l.variance;
             j["invert"] = l.invert;
         },
         kScalesInput});
    add({"PReLU", 1, 1,
         [](Config& c, LayerSpec& layer) {
             PReluOptions& l = layer.options.emplace<PReluOptions>();
             l.alpha_initializer = parse_initializer(c, "alpha_initializer", "zeros");
             l.alpha_regularizer = parse_regularizer(c, "alpha_regularizer");
             c.require_default("alpha_constraint", nullptr, "constraints are not implemented");
             if (c.has("shared_axes")) {
                 const json& v = c.raw("shared_axes");
                 for (const json& a : v.is_array() ? v : json::array({v})) {
                     if (!a.is_number_integer() || a.get<int64_t>() < 1 || a.get<int64_t>() > 3)
                         c.fail("\"shared_axes\" must hold axes 1 to 3 (the batch is 0), not " + v.dump());
                     l.shared_axes.push_back(a.get<int64_t>());
                 }
             }
         },
         [](const LayerSpec& l, const std::vector<Shape>& in) {
             for (int64_t a : l.get<PReluOptions>().shared_axes)
                 if (a > int64_t(in[0].size()))
                     shape_fail("\"shared_axes\": axis " + std::to_string(a) + " is beyond the input " + shape_tuple(in[0]));
             return in[0];
         },
         prelu_weights,
         [](const LayerSpec& layer, json& j) {
             const PReluOptions& l = layer.get<PReluOptions>();
             j["alpha_initializer"] = l.alpha_initializer;
             if (l.alpha_regularizer.active()) j["alpha_regularizer"] = regularizer_json(l.alpha_regularizer);
             if (!l.shared_axes.empty()) j["shared_axes"] = l.shared_axes;
         }});
    // Keras 3's augmentation layers: random in training, the identity otherwise.
    add({"RandomFlip", 1, 1,
         [](Config& c, LayerSpec& l) {
             l.options.emplace<FlipOptions>().mode = c.choice("mode", "horizontal_and_vertical", {"horizontal", "vertical", "horizontal_and_vertical"});
             c.ignore({"seed"});
             c.require_default("bounding_box_format", nullptr, "bounding boxes are not supported");
         },
         image_same_shape, nullptr, [](const LayerSpec& l, json& j) { j["mode"] = l.get<FlipOptions>().mode; },
         kAugmentation | kKeepsValues});
    add({"RandomTranslation", 1, 1,
         [](Config& c, LayerSpec& layer) {
             WarpOptions& l = layer.options.emplace<WarpOptions>();
             l.height_factor = parse_factor(c, "height_factor", true);
             l.width_factor = parse_factor(c, "width_factor", true);
             parse_warp(c, l);
         },
         image_same_shape, nullptr,
         [](const LayerSpec& layer, json& j) {
             const WarpOptions& l = layer.get<WarpOptions>();
             j["height_factor"] = l.height_factor;
             j["width_factor"] = l.width_factor;
             save_warp(l, j);
         },
         kAugmentation | kKeepsValues});
    add({"RandomRotation", 1, 1,
         [](Config& c, LayerSpec& layer) {
             WarpOptions& l = layer.options.emplace<WarpOptions>();
             l.rotation = parse_factor(c, "factor", false);
             parse_warp(c, l);
             // Keras 3.0-3.5 wrote it, and never read it: it changes no rotation (gone since 3.6).
             c.ignore({"value_range"});
         },
         image_same_shape, nullptr,
         [](const LayerSpec& layer, json& j) {
             j["factor"] = layer.get<WarpOptions>().rotation;
             save_warp(layer.get<WarpOptions>(), j);
         },
         kAugmentation | kKeepsValues});
    add({"RandomZoom", 1, 1,
         [](Config& c, LayerSpec& layer) {
             WarpOptions& l = layer.options.emplace<WarpOptions>();
             l.height_factor = parse_factor(c, "height_factor", true);
             l.width_follows_height = !c.has("width_factor");
             if (l.width_follows_height) c.ignore({"width_factor"});
             else l.width_factor = parse_factor(c, "width_factor", true);
             parse_warp(c, l);
         },
         image_same_shape, nullptr,
         [](const LayerSpec& layer, json& j) {
             const WarpOptions& l = layer.get<WarpOptions>();
             j["height_factor"] = l.height_factor;
             j["width_factor"] = l.width_follows_height ? json(nullptr) : json(l.width_factor);
             save_warp(l, j);
         },
         kAugmentation | kKeepsValues});
    add({"Lambda", 1, 1,
         [](Config& c, LayerSpec& layer) {
             LambdaOptions& l = layer.options.emplace<LambdaOptions>();
             const char* key = c.has("function") ? "function" : "expression";
             if (!c.has(key)) c.missing("function", ": a text expression over x, such as \"x/255.\"");
             const json& f = c.raw(key);
             if (!f.is_string())
                 c.fail("the function is Python bytecode, which is neither portable nor safe to run; write it as text "
                        "instead, e.g. \"function\": \"x/255.\" for lambda x: x/255. (operators + - * / **, abs exp log "
                        "sqrt tanh sigmoid relu clip minimum maximum)");
             l.expression = f.get<std::string>();
             try {
                 l.expr = parse_expr(l.expression);
             } catch (const std::invalid_argument& e) {
                 c.fail("expression \"" + l.expression + "\": " + e.what());
             }
             c.require_default("arguments", json::object(), "arguments are not supported");
             c.require_default("mask", nullptr, "masks are not supported");
             c.ignore({"function_type", "output_shape", "output_shape_type", "output_shape_module"});
         },
         same_shape, nullptr, [](const LayerSpec& l, json& j) { j["function"] = l.get<LambdaOptions>().expression; },
         kScalesInput, {}, lambda_range});
    for (const char* merge : {"Add", "Multiply", "Average", "Maximum", "Minimum"})
        add({merge, 2, 1 << 20, [](Config&, LayerSpec&) {}, merge_shape, nullptr, save_nothing});
    add({"Subtract", 2, 2, [](Config&, LayerSpec&) {}, merge_shape, nullptr, save_nothing});
    add({"Concatenate", 2, 1 << 20,
         [](Config& c, LayerSpec& l) {
             int64_t& axis = l.options.emplace<ConcatOptions>().axis;
             axis = c.integer("axis", -1, -1000);
             if (axis == 0) c.fail("\"axis\": 0 is the batch axis");
         },
         concat_shape, nullptr, [](const LayerSpec& l, json& j) { j["axis"] = l.get<ConcatOptions>().axis; }});
    return k;
}

}  // namespace

const std::vector<LayerKind>& layer_kinds() {
    static const std::vector<LayerKind> kinds = make_kinds();
    return kinds;
}

const LayerKind* find_layer_kind(const std::string& type) {
    for (const LayerKind& k : layer_kinds())
        if (k.type == type) return &k;
    return nullptr;
}

const LayerKind& LayerSpec::kind() const { return *find_layer_kind(type); }

const std::vector<std::string>& layer_types() {
    static const std::vector<std::string> types = [] {
        std::vector<std::string> t = {"InputLayer"};
        for (const LayerKind& k : layer_kinds()) t.push_back(k.type);
        return t;
    }();
    return types;
}

void parse_common_keys(Config& c, LayerSpec& l) {
    c.ignore({"name", "dtype", "build_config", "registered_name", "module", "autocast", "input_dtype"});
    l.trainable = c.boolean("trainable", true);
    c.require_default("data_format", "channels_last", "batch streams are channels-last");
    for (const char* k : {"activity_regularizer", "kernel_constraint", "bias_constraint", "quantization_config"})
        c.require_default(k, nullptr, "activity regularizers, constraints and quantization are not implemented");
    for (const char* k : {"lora_rank", "lora_alpha"}) c.require_default(k, nullptr, "LoRA adapters are not implemented");
}

std::vector<WeightSpec> layer_weights(const LayerSpec& layer) {
    const LayerKind* kind = find_layer_kind(layer.type);
    if (!kind || !kind->weights || layer.input_shape.empty()) return {};
    std::vector<WeightSpec> w = kind->weights(layer);
    if (!layer.trainable)
        for (WeightSpec& s : w) s.trainable = false;
    return w;
}

namespace {

int64_t count(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

// Calls f(ours, keras) for every value's index in our layout and in Keras'
// (row-major both): our axis i before the reshape is Keras' axis perm[i].
template <class F> void each_index(const WeightSpec& w, F f) {
    const Shape& k = w.keras_shape;
    size_t rank = k.size();
    std::vector<int64_t> stride(rank, 1), dims(rank), at(rank, 0), step(rank);
    for (size_t i = rank; i-- > 1;) stride[i - 1] = stride[i] * k[i];
    for (size_t i = 0; i < rank; ++i) {
        size_t from = w.keras_perm.empty() ? i : size_t(w.keras_perm[i]);
        dims[i] = k[from];
        step[i] = stride[from];
    }
    int64_t n = count(k), offset = 0;
    for (int64_t ours = 0; ours < n; ++ours) {
        f(size_t(ours), size_t(offset));
        for (size_t i = rank; i-- > 0;) {  // the next index, the last axis fastest
            offset += step[i];
            if (++at[i] < dims[i]) break;
            offset -= step[i] * dims[i];
            at[i] = 0;
        }
    }
}

void check_size(const WeightSpec& w, size_t given, const Shape& shape, const char* whose) {
    if (int64_t(given) != count(shape) || count(w.keras_shape) != count(w.shape))
    {
        std::string dims;
        for (int64_t d : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
        throw DataError("", "weight " + w.keras_name + ": " + std::to_string(given) + " values for " + whose +
                                " shape (" + dims + ") of " + std::to_string(count(shape)));
    }
}

}  // namespace

std::vector<float> from_keras_layout(const WeightSpec& w, const std::vector<float>& keras_values) {
    check_size(w, keras_values.size(), w.keras_shape, "Keras'");
    std::vector<float> out(keras_values.size());
    each_index(w, [&](size_t ours, size_t keras) { out[ours] = keras_values[keras]; });
    return out;
}

std::vector<float> to_keras_layout(const WeightSpec& w, const std::vector<float>& values) {
    check_size(w, values.size(), w.shape, "our");
    std::vector<float> out(values.size());
    each_index(w, [&](size_t ours, size_t keras) { out[keras] = values[ours]; });
    return out;
}

const char* activation_name(Activation a) { return activation_names()[size_t(a)].c_str(); }

const std::vector<std::string>& activation_names() {
    // In the order of enum Activation.
    static const std::vector<std::string> names = {"linear", "relu", "sigmoid", "softmax", "tanh", "elu", "leaky_relu",
                                                   "relu6", "swish", "gelu", "hard_sigmoid", "softplus", "selu",
                                                   "keras2_hard_sigmoid"};
    return names;
}

}  // namespace imgpipe::nn
