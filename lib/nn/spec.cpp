#include "nn/spec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "cli/error.hpp"

namespace imgpipe::nn {

using nlohmann::json;

namespace {

const std::vector<std::string> kLayerTypes = {
    "InputLayer", "Lambda", "Rescaling", "Conv2D", "Conv2DTranspose", "MaxPooling2D", "AveragePooling2D",
    "GlobalAveragePooling2D", "UpSampling2D", "Flatten", "Dense", "Dropout", "BatchNormalization", "Activation",
    "Reshape",
};
const std::vector<std::string> kActivations = {"linear", "relu", "sigmoid", "softmax", "tanh", "elu", "leaky_relu"};
const std::vector<std::string> kLosses = {"binary_crossentropy", "categorical_crossentropy",
                                          "sparse_categorical_crossentropy", "mse", "mae"};
const std::vector<std::string> kMetrics = {"accuracy", "binary_accuracy", "categorical_accuracy",
                                           "sparse_categorical_accuracy", "mae", "mse"};
const std::vector<std::string> kOptimizers = {"adam", "sgd", "rmsprop"};
const std::vector<std::string> kInitializers = {"glorot_uniform", "he_uniform", "lecun_uniform", "zeros", "ones"};

std::string lower_alnum(const std::string& s) {
    std::string out;
    for (char c : s)
        if (std::isalnum(static_cast<unsigned char>(c))) out += char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// "MaxPooling2D" -> "max_pooling2d", as Keras names layers.
std::string snake_name(const std::string& type) {
    std::string out;
    for (size_t i = 0; i < type.size(); ++i) {
        char c = type[i];
        bool upper = std::isupper(static_cast<unsigned char>(c));
        if (upper && i > 0 && (std::islower(static_cast<unsigned char>(type[i - 1])) ||
                               (i + 1 < type.size() && std::islower(static_cast<unsigned char>(type[i + 1])) &&
                                !std::isdigit(static_cast<unsigned char>(type[i - 1])))))
            out += '_';
        out += char(std::tolower(static_cast<unsigned char>(c)));
    }
    // Keras' own spellings
    if (out == "conv2_d") out = "conv2d";
    if (out == "conv2_d_transpose") out = "conv2d_transpose";
    return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
    std::string s;
    for (size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
    return s;
}

std::string shape_tuple(const std::vector<int64_t>& shape) {
    std::string s = "(None";
    for (int64_t d : shape) s += ", " + std::to_string(d);
    return s + ")";
}

// One layer's config: every key must be used, or the layer names the stray one.
class Config {
public:
    Config(const json& object, std::string context, std::string where)
        : j_(object), context_(std::move(context)), where_(std::move(where)) {
        if (!j_.is_object()) fail("config is not a JSON object");
    }

    [[noreturn]] void fail(const std::string& message) const { throw DataError(where_, context_ + ": " + message); }
    // A required key is absent: a misspelt key is the likelier story, so name that first.
    [[noreturn]] void missing(const std::string& key, const std::string& detail = "") const {
        for (auto& [given, value] : j_.items())
            if (!used_.count(given) && !allowed_.count(given) && did_you_mean(given, {key}) == key)
                fail("unknown key \"" + given + "\"; did you mean \"" + key + "\"?");
        fail("needs \"" + key + "\"" + detail);
    }

    bool has(const std::string& key) {
        allowed_.insert(key);
        return j_.contains(key) && !j_[key].is_null();
    }
    const json& raw(const std::string& key) {
        allowed_.insert(key);
        used_.insert(key);
        return j_.at(key);
    }
    void ignore(std::initializer_list<const char*> keys) {
        for (const char* k : keys) {
            allowed_.insert(k);
            used_.insert(k);
        }
    }
    // Keys Keras writes that we accept only at their default (null, false, 0, ...).
    void require_default(const std::string& key, const json& fine, const std::string& why) {
        allowed_.insert(key);
        used_.insert(key);
        if (!j_.contains(key) || j_[key].is_null() || j_[key] == fine) return;
        fail("\"" + key + "\": " + j_[key].dump() + " is not supported (" + why + ")");
    }

    double number(const std::string& key, double fallback) {
        if (!has(key)) return used(key), fallback;
        const json& v = raw(key);
        if (!v.is_number()) fail("\"" + key + "\" must be a number, not " + v.dump());
        return v.get<double>();
    }
    int64_t integer(const std::string& key, int64_t fallback, int64_t min = 1) {
        if (!has(key)) return used(key), fallback;
        const json& v = raw(key);
        if (!v.is_number_integer() || v.get<int64_t>() < min)
            fail("\"" + key + "\" must be an integer >= " + std::to_string(min) + ", not " + v.dump());
        return v.get<int64_t>();
    }
    bool boolean(const std::string& key, bool fallback) {
        if (!has(key)) return used(key), fallback;
        const json& v = raw(key);
        if (!v.is_boolean()) fail("\"" + key + "\" must be true or false, not " + v.dump());
        return v.get<bool>();
    }
    std::string string(const std::string& key, const std::string& fallback) {
        if (!has(key)) return used(key), fallback;
        const json& v = raw(key);
        if (!v.is_string()) fail("\"" + key + "\" must be a string, not " + v.dump());
        return v.get<std::string>();
    }
    // An int or a pair of ints (kernel_size, strides, pool_size, size).
    bool pair(const std::string& key, int64_t out[2]) {
        if (!has(key)) return used(key), false;
        const json& v = raw(key);
        if (v.is_number_integer() && v.get<int64_t>() >= 1) {
            out[0] = out[1] = v.get<int64_t>();
            return true;
        }
        if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() &&
            v[0].get<int64_t>() >= 1 && v[1].get<int64_t>() >= 1) {
            out[0] = v[0].get<int64_t>();
            out[1] = v[1].get<int64_t>();
            return true;
        }
        fail("\"" + key + "\" must be a positive integer or a pair of them, not " + v.dump());
    }
    // [64, 64, 3] or Keras' [null, 64, 64, 3] (batch shapes).
    std::vector<int64_t> shape(const std::string& key, bool batch) {
        const json& v = raw(key);
        if (!v.is_array() || v.empty()) fail("\"" + key + "\" must be a list of sizes, not " + v.dump());
        std::vector<int64_t> s;
        for (size_t i = 0; i < v.size(); ++i) {
            if (batch && i == 0) {
                if (!v[0].is_null() && !v[0].is_number_integer()) fail("\"" + key + "\": bad batch size " + v[0].dump());
                continue;
            }
            if (!v[i].is_number_integer() || v[i].get<int64_t>() < 1)
                fail("\"" + key + "\" must hold positive sizes (every dimension known), not " + v.dump());
            s.push_back(v[i].get<int64_t>());
        }
        if (s.empty()) fail("\"" + key + "\" holds no per-sample dimension: " + v.dump());
        return s;
    }

    void finish() const {
        for (auto& [key, value] : j_.items()) {
            if (used_.count(key)) continue;
            std::vector<std::string> choices(allowed_.begin(), allowed_.end());
            std::string hint = did_you_mean(key, choices);
            fail("unknown key \"" + key + "\"" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
        }
    }

private:
    void used(const std::string& key) { used_.insert(key); }
    const json& j_;
    std::string context_, where_;
    std::set<std::string> allowed_, used_;
};

Activation parse_activation(Config& c, const std::string& key, LayerSpec& layer) {
    if (!c.has(key)) {
        c.ignore({key.c_str()});
        return Activation::Linear;
    }
    const json& v = c.raw(key);
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object() && v.contains("class_name") && v["class_name"].is_string()) name = v["class_name"].get<std::string>();
    else c.fail("\"" + key + "\" must be an activation name, not " + v.dump());
    std::string n = lower_alnum(name);
    if (n == "linear" || n == "none") return Activation::Linear;
    if (n == "relu") return Activation::Relu;
    if (n == "sigmoid") return Activation::Sigmoid;
    if (n == "softmax") return Activation::Softmax;
    if (n == "tanh") return Activation::Tanh;
    if (n == "elu") return Activation::Elu;
    if (n == "leakyrelu") {
        layer.alpha = 0.2;
        return Activation::LeakyRelu;
    }
    std::string hint = did_you_mean(name, kActivations);
    c.fail("unknown activation \"" + name + "\"" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?") +
           " (choices: " + join(kActivations) + ")");
}

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
    for (const std::string& k : kInitializers)
        if (lower_alnum(k) == n) return k;
    c.fail("\"" + key + "\": initializer \"" + name + "\" is not supported (choices: " + join(kInitializers) + ")");
}

void parse_padding(Config& c, LayerSpec& l) {
    std::string p = c.string("padding", "valid");
    if (p != "valid" && p != "same") c.fail("\"padding\" must be \"valid\" or \"same\", not \"" + p + "\"");
    l.same = p == "same";
}

// Keys Keras writes on every layer, or on many, that carry nothing we need.
void common_keys(Config& c) {
    c.ignore({"name", "dtype", "build_config", "registered_name", "module", "autocast", "input_dtype"});
    c.require_default("trainable", true, "every layer is trained");
    c.require_default("data_format", "channels_last", "batch streams are channels-last");
    for (const char* k : {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                          "bias_constraint", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint", "lora_rank", "quantization_config"})
        c.require_default(k, nullptr, "regularizers and constraints are not implemented");
}

std::string canonical_type(const std::string& given, const std::string& context, const std::string& where) {
    for (const std::string& t : kLayerTypes)
        if (t == given) return t;
    std::string g = lower_alnum(given);
    for (const std::string& t : kLayerTypes)
        if (lower_alnum(t) == g) return t;
    if (g == "input") return "InputLayer";
    if (g == "maxpool2d") return "MaxPooling2D";
    if (g == "avgpool2d" || g == "averagepool2d") return "AveragePooling2D";
    if (g == "globalavgpool2d") return "GlobalAveragePooling2D";
    std::string hint = did_you_mean(given, kLayerTypes);
    throw DataError(where, context + ": unsupported layer \"" + given + "\"" +
                               (hint.empty() ? "" : "; did you mean \"" + hint + "\"?") + " (supported: " +
                               join(kLayerTypes) + ")");
}

// Parses one layer's config into `layer`; an InputLayer (or an input_shape on
// the first layer) sets `input_shape` instead.
void parse_layer(const std::string& type, const json& config, const std::string& context, const std::string& where,
                 LayerSpec& l, std::vector<int64_t>& input_shape) {
    Config c(config, context, where);
    common_keys(c);
    l.type = type;
    l.name = c.string("name", "");
    c.ignore({"type", "class_name"});
    // Keras 2 puts the input shape on the first layer; Keras 3 on an InputLayer.
    for (const char* key : {"batch_input_shape", "batch_shape"})
        if (c.has(key)) input_shape = c.shape(key, true);
    for (const char* key : {"input_shape", "shape"})
        if (c.has(key)) input_shape = c.shape(key, false);
    if (type == "InputLayer") {
        c.ignore({"sparse", "ragged", "input_tensor", "batch_size", "optional"});
        c.finish();
        return;
    }
    if (type == "Conv2D" || type == "Conv2DTranspose") {
        l.units = c.integer("filters", 0);
        if (!l.units) c.missing("filters");
        if (!c.pair("kernel_size", l.kernel)) c.missing("kernel_size");
        c.pair("strides", l.strides);
        parse_padding(c, l);
        l.activation = parse_activation(c, "activation", l);
        l.use_bias = c.boolean("use_bias", true);
        l.kernel_initializer = parse_initializer(c, "kernel_initializer", "glorot_uniform");
        l.bias_initializer = parse_initializer(c, "bias_initializer", "zeros");
        if (c.has("dilation_rate") && config["dilation_rate"] != json(1) && config["dilation_rate"] != json::array({1, 1}))
            c.fail("\"dilation_rate\": " + config["dilation_rate"].dump() + " is not supported (dilated convolutions are not implemented)");
        c.ignore({"dilation_rate"});
        c.require_default("groups", 1, "grouped convolutions are not implemented");
        c.require_default("output_padding", nullptr, "use padding \"same\" or \"valid\"");
    } else if (type == "Dense") {
        l.units = c.integer("units", 0);
        if (!l.units) c.missing("units");
        l.activation = parse_activation(c, "activation", l);
        l.use_bias = c.boolean("use_bias", true);
        l.kernel_initializer = parse_initializer(c, "kernel_initializer", "glorot_uniform");
        l.bias_initializer = parse_initializer(c, "bias_initializer", "zeros");
    } else if (type == "MaxPooling2D" || type == "AveragePooling2D") {
        l.kernel[0] = l.kernel[1] = 2;
        c.pair("pool_size", l.kernel);
        l.strides[0] = l.kernel[0];
        l.strides[1] = l.kernel[1];
        c.pair("strides", l.strides);
        parse_padding(c, l);
    } else if (type == "UpSampling2D") {
        l.kernel[0] = l.kernel[1] = 2;
        c.pair("size", l.kernel);
        l.interpolation = c.string("interpolation", "nearest");
        if (l.interpolation != "nearest" && l.interpolation != "bilinear")
            c.fail("\"interpolation\" must be \"nearest\" or \"bilinear\", not \"" + l.interpolation + "\"");
    } else if (type == "GlobalAveragePooling2D") {
        c.require_default("keepdims", false, "use a Reshape layer");
    } else if (type == "Flatten") {
    } else if (type == "Dropout") {
        l.rate = c.number("rate", -1);
        if (l.rate < 0 || l.rate >= 1) c.missing("rate", " in [0, 1)");
        c.ignore({"seed"});
        c.require_default("noise_shape", nullptr, "noise_shape is not implemented");
    } else if (type == "BatchNormalization") {
        l.momentum = c.number("momentum", 0.99);
        l.epsilon = c.number("epsilon", 1e-3);
        l.center = c.boolean("center", true);
        l.scale = c.boolean("scale", true);
        if (c.has("axis")) {
            const json& a = c.raw("axis");
            if (!(a == json(-1) || a == json(3) || a == json::array({3}) || a == json::array({-1}) || a == json(1) ||
                  a == json::array({1})))
                c.fail("\"axis\" must be the channel axis (-1), not " + a.dump());
        }
        for (const char* k : {"beta_initializer", "moving_mean_initializer"})
            if (parse_initializer(c, k, "zeros") != "zeros") c.fail(std::string("\"") + k + "\" must be zeros");
        for (const char* k : {"gamma_initializer", "moving_variance_initializer"})
            if (parse_initializer(c, k, "ones") != "ones") c.fail(std::string("\"") + k + "\" must be ones");
        c.require_default("renorm", false, "batch renormalization is not implemented");
        c.require_default("synchronized", false, "one process trains");
        c.require_default("virtual_batch_size", nullptr, "ghost batch normalization is not implemented");
        c.require_default("adjustment", nullptr, "not implemented");
        c.ignore({"fused", "renorm_clipping", "renorm_momentum"});
    } else if (type == "Activation") {
        if (!c.has("activation")) c.missing("activation");
        l.activation = parse_activation(c, "activation", l);
    } else if (type == "Rescaling") {
        l.rescale = c.number("scale", 1);
        l.offset = c.number("offset", 0);
    } else if (type == "Reshape") {
        if (!c.has("target_shape")) c.missing("target_shape");
        const json& v = c.raw("target_shape");
        if (!v.is_array() || v.empty()) c.fail("\"target_shape\" must be a list of sizes");
        for (const json& d : v) {
            if (!d.is_number_integer() || (d.get<int64_t>() < 1 && d.get<int64_t>() != -1))
                c.fail("\"target_shape\" must hold positive sizes (or one -1), not " + v.dump());
            l.target_shape.push_back(d.get<int64_t>());
        }
    } else if (type == "Lambda") {
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
    }
    c.finish();
}

void parse_optimizer(const json& v, const std::string& where, OptimizerSpec& o) {
    std::string context = "optimizer";
    if (v.is_string()) {
        o = OptimizerSpec{};
        o.name = v.get<std::string>();
    } else if (v.is_object()) {
        json config = v.contains("config") ? v["config"] : v;
        std::string name;
        if (v.contains("class_name") && v["class_name"].is_string()) name = v["class_name"].get<std::string>();
        else if (v.contains("type") && v["type"].is_string()) name = v["type"].get<std::string>();
        else throw DataError(where, "optimizer: needs \"type\" (adam, sgd or rmsprop)");
        o = OptimizerSpec{};
        o.name = name;
        try {
            o.name = canonical_optimizer(name);
        } catch (const UsageError& e) {
            throw DataError(where, std::string("optimizer: ") + e.what());
        }
        if (o.name == "sgd") o.learning_rate = 0.01;
        Config c(config, context, where);
        c.ignore({"type", "class_name", "name", "module", "registered_name", "config", "decay", "is_legacy_optimizer",
                  "jit_compile", "ema_overwrite_frequency", "ema_momentum", "loss_scale_factor",
                  "gradient_accumulation_steps", "amsgrad", "centered"});
        for (const char* k : {"weight_decay", "clipnorm", "global_clipnorm", "clipvalue"})
            c.require_default(k, nullptr, "not implemented");
        c.require_default("use_ema", false, "not implemented");
        if (config.contains("amsgrad") && config["amsgrad"] == true) c.fail("amsgrad is not implemented");
        if (config.contains("centered") && config["centered"] == true) c.fail("centered rmsprop is not implemented");
        o.learning_rate = c.number(c.has("lr") ? "lr" : "learning_rate", o.learning_rate);
        o.beta_1 = c.number("beta_1", o.beta_1);
        o.beta_2 = c.number("beta_2", o.beta_2);
        o.epsilon = c.number("epsilon", o.epsilon);
        o.momentum = c.number("momentum", o.momentum);
        o.nesterov = c.boolean("nesterov", o.nesterov);
        o.rho = c.number("rho", o.rho);
        c.finish();
        return;
    } else {
        throw DataError(where, "optimizer: must be a name or an object, not " + v.dump());
    }
    try {
        o.name = canonical_optimizer(o.name);
    } catch (const UsageError& e) {
        throw DataError(where, std::string("optimizer: ") + e.what());
    }
    if (o.name == "sgd") o.learning_rate = 0.01;
}

std::vector<std::string> parse_metrics(const json& v, const std::string& where) {
    std::vector<std::string> out;
    if (v.is_null()) return out;
    if (!v.is_array()) throw DataError(where, "\"metrics\" must be a list, not " + v.dump());
    for (const json& m : v) {
        std::string name;
        if (m.is_string()) name = m.get<std::string>();
        else if (m.is_object() && m.contains("class_name") && m["class_name"].is_string()) name = m["class_name"].get<std::string>();
        else if (m.is_array()) {  // Keras 3 nests per-output lists
            for (const std::string& s : parse_metrics(m, where)) out.push_back(s);
            continue;
        } else throw DataError(where, "bad metric " + m.dump());
        try {
            out.push_back(canonical_metric(name));
        } catch (const UsageError& e) {
            throw DataError(where, std::string("metrics: ") + e.what());
        }
    }
    return out;
}

std::string parse_loss(const json& v, const std::string& where) {
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object() && v.contains("class_name") && v["class_name"].is_string()) name = v["class_name"].get<std::string>();
    else throw DataError(where, "\"loss\" must be a name, not " + v.dump());
    try {
        return canonical_loss(name);
    } catch (const UsageError& e) {
        throw DataError(where, std::string("loss: ") + e.what());
    }
}

void name_layers(Spec& spec, const std::string& where) {
    std::map<std::string, int> counts;
    std::set<std::string> seen;
    for (LayerSpec& l : spec.layers)
        if (!l.name.empty()) seen.insert(l.name);
    for (LayerSpec& l : spec.layers) {
        if (!l.name.empty()) continue;
        std::string base = snake_name(l.type);
        for (;;) {
            int n = counts[base]++;
            std::string name = n ? base + "_" + std::to_string(n) : base;
            if (!seen.count(name)) {
                l.name = name;
                seen.insert(name);
                break;
            }
        }
    }
    std::set<std::string> names;
    for (size_t i = 0; i < spec.layers.size(); ++i)
        if (!names.insert(spec.layers[i].name).second)
            throw DataError(where, "layer " + std::to_string(i + 1) + ": the name \"" + spec.layers[i].name +
                                       "\" is used twice");
}

}  // namespace

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::Linear: return "linear";
        case Activation::Relu: return "relu";
        case Activation::Sigmoid: return "sigmoid";
        case Activation::Softmax: return "softmax";
        case Activation::Tanh: return "tanh";
        case Activation::Elu: return "elu";
        case Activation::LeakyRelu: return "leaky_relu";
    }
    return "linear";
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& choices) {
    std::string best;
    size_t best_d = std::string::npos;
    for (const std::string& c : choices) {
        size_t d = edit_distance(word, c);
        if (lower_alnum(word) == lower_alnum(c)) d = 0;
        if (d < best_d) best_d = d, best = c;
    }
    size_t limit = std::max<size_t>(2, word.size() / 3);
    return best_d <= limit ? best : "";
}

namespace {
std::string pick(const std::string& what, const std::string& name, const std::vector<std::string>& choices,
                 const std::map<std::string, std::string>& aliases) {
    std::string n = lower_alnum(name);
    for (const std::string& c : choices)
        if (lower_alnum(c) == n) return c;
    auto it = aliases.find(n);
    if (it != aliases.end()) return it->second;
    std::string hint = did_you_mean(name, choices);
    throw UsageError("unknown " + what + " \"" + name + "\"" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?") +
                     " (choices: " + join(choices) + ")");
}
}  // namespace

std::string canonical_loss(const std::string& name) {
    return pick("loss", name, kLosses,
                {{"meansquarederror", "mse"}, {"meanabsoluteerror", "mae"}, {"binarycrossentropy", "binary_crossentropy"},
                 {"categoricalcrossentropy", "categorical_crossentropy"},
                 {"sparsecategoricalcrossentropy", "sparse_categorical_crossentropy"}});
}
std::string canonical_metric(const std::string& name) {
    return pick("metric", name, kMetrics,
                {{"acc", "accuracy"}, {"meansquarederror", "mse"}, {"meanabsoluteerror", "mae"}});
}
std::string canonical_optimizer(const std::string& name) { return pick("optimizer", name, kOptimizers, {}); }

Spec parse_spec(const std::string& text, const std::string& where) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        try {
            json strict = json::parse(text);
            (void)strict;
        } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e999
            std::string m = e.what();
            size_t p = m.find("syntax error");
            throw DataError(where, "not valid JSON: " + (p == std::string::npos ? m : m.substr(p)));
        }
        throw DataError(where, "not valid JSON");
    }
    if (!doc.is_object()) throw DataError(where, "a model spec is a JSON object");
    Spec spec;
    json layers;
    std::vector<int64_t> input_shape;
    auto take_shape = [&](const json& v, bool batch, const std::string& what) {
        json holder = json::object();
        holder[what] = v;
        Config c(holder, what, where);
        input_shape = c.shape(what, batch);
    };
    if (doc.contains("class_name")) {  // Keras' model.to_json()
        std::string cls = doc["class_name"].is_string() ? doc["class_name"].get<std::string>() : "";
        if (cls != "Sequential")
            throw DataError(where, "Keras model \"" + cls + "\": only Sequential models are supported");
        Config top(doc, "model", where);
        top.ignore({"class_name", "keras_version", "backend", "module", "registered_name"});
        if (top.has("build_config") && doc["build_config"].is_object() && doc["build_config"].contains("input_shape") &&
            !doc["build_config"]["input_shape"].is_null())
            take_shape(doc["build_config"]["input_shape"], true, "build_config.input_shape");
        top.ignore({"build_config"});
        if (top.has("compile_config")) {
            const json& cc = doc["compile_config"];
            if (cc.is_object()) {
                if (cc.contains("loss") && !cc["loss"].is_null()) spec.loss = parse_loss(cc["loss"], where);
                if (cc.contains("optimizer") && !cc["optimizer"].is_null()) parse_optimizer(cc["optimizer"], where, spec.optimizer);
                if (cc.contains("metrics") && !cc["metrics"].is_null()) {
                    spec.metrics = parse_metrics(cc["metrics"], where);
                    spec.metrics_given = true;
                }
            }
        }
        top.ignore({"compile_config"});
        if (!top.has("config") || !doc["config"].is_object()) top.missing("config");
        top.raw("config");
        top.finish();
        Config cfg(doc["config"], "model config", where);
        cfg.ignore({"name", "trainable", "dtype"});
        spec.name = cfg.string("name", "sequential");
        if (cfg.has("build_input_shape")) take_shape(doc["config"]["build_input_shape"], true, "build_input_shape");
        cfg.ignore({"build_input_shape"});
        if (!cfg.has("layers")) cfg.missing("layers");
        layers = cfg.raw("layers");
        cfg.finish();
    } else {  // our compact form
        Config top(doc, "model", where);
        spec.name = top.string("name", "sequential");
        for (const char* key : {"input_shape", "input"})
            if (top.has(key)) input_shape = top.shape(key, false);
        if (top.has("loss")) spec.loss = parse_loss(top.raw("loss"), where);
        if (top.has("optimizer")) parse_optimizer(top.raw("optimizer"), where, spec.optimizer);
        if (top.has("metrics")) {
            spec.metrics = parse_metrics(top.raw("metrics"), where);
            spec.metrics_given = true;
        }
        top.ignore({"format"});
        if (!top.has("layers")) top.missing("layers", ": a list of layers");
        layers = top.raw("layers");
        top.finish();
    }
    if (!layers.is_array()) throw DataError(where, "\"layers\" must be a list");
    int number = 0;
    for (const json& entry : layers) {
        ++number;
        std::string context = "layer " + std::to_string(number);
        if (!entry.is_object()) throw DataError(where, context + ": not a JSON object");
        std::string given;
        json config;
        if (entry.contains("class_name")) {  // Keras: {"class_name": ..., "config": {...}}
            Config outer(entry, context, where);
            given = outer.string("class_name", "");
            outer.ignore({"module", "registered_name", "build_config", "name", "inbound_nodes"});
            if (!outer.has("config")) outer.missing("config");
            config = outer.raw("config");
            outer.finish();
        } else if (entry.contains("type") && entry["type"].is_string()) {
            given = entry["type"].get<std::string>();
            config = entry;
        } else {
            throw DataError(where, context + ": needs \"type\" (one of " + join(kLayerTypes) + ")");
        }
        std::string type = canonical_type(given, context, where);
        std::string name = config.is_object() && config.contains("name") && config["name"].is_string()
                               ? config["name"].get<std::string>() : "";
        context += " (" + (name.empty() ? type : name) + ")";
        LayerSpec l;
        std::vector<int64_t> shape_here;
        parse_layer(type, config, context, where, l, shape_here);
        if (!shape_here.empty()) {
            if (!spec.layers.empty())
                throw DataError(where, context + ": an input shape is only allowed before the first layer");
            input_shape = shape_here;
        }
        if (type != "InputLayer") spec.layers.push_back(std::move(l));
    }
    if (input_shape.empty())
        throw DataError(where, "no input shape: add \"input_shape\": [64, 64, 3] (height, width, channels) to the "
                               "spec, or an InputLayer with \"shape\"");
    if (spec.layers.empty()) throw DataError(where, "the model has no layers");
    spec.input_shape = input_shape;
    name_layers(spec, where);
    infer_shapes(spec, where);
    return spec;
}

void apply_overrides(Spec& spec, const Overrides& o) {
    if (!o.loss.empty()) spec.loss = canonical_loss(o.loss);
    if (!o.optimizer.empty()) {
        std::string name = canonical_optimizer(o.optimizer);
        if (name != spec.optimizer.name) {
            spec.optimizer = OptimizerSpec{};
            spec.optimizer.name = name;
            if (name == "sgd") spec.optimizer.learning_rate = 0.01;
        }
    }
    if (o.lr > 0) spec.optimizer.learning_rate = o.lr;
    if (!o.metrics.empty()) {
        spec.metrics.clear();
        spec.metrics_given = true;
        for (const std::string& m : o.metrics) {
            // "--metrics accuracy,mae" or repeated options
            size_t start = 0;
            while (start <= m.size()) {
                size_t end = m.find(',', start);
                if (end == std::string::npos) end = m.size();
                std::string one = m.substr(start, end - start);
                if (!one.empty() && one != "none") spec.metrics.push_back(canonical_metric(one));
                start = end + 1;
            }
        }
    }
}

void infer_shapes(Spec& spec, const std::string& where) {
    std::vector<int64_t> shape = spec.input_shape;
    for (size_t i = 0; i < spec.layers.size(); ++i) {
        LayerSpec& l = spec.layers[i];
        std::string context = "layer " + std::to_string(i + 1) + " (" + l.name + ", " + l.type + ")";
        auto fail = [&](const std::string& m) { throw DataError(where, context + ": " + m); };
        auto need_image = [&]() {
            if (shape.size() != 3)
                fail("needs an image input (height, width, channels) but gets " + shape_tuple(shape) +
                     (shape.size() == 1 ? "; add a Reshape layer before it" : ""));
        };
        l.input_shape = shape;
        l.trainable_params = l.non_trainable_params = 0;
        const std::string& t = l.type;
        if (t == "Conv2D" || t == "Conv2DTranspose" || t == "MaxPooling2D" || t == "AveragePooling2D") {
            need_image();
            std::vector<int64_t> out = shape;
            for (int d = 0; d < 2; ++d) {
                int64_t n = shape[d], k = l.kernel[d], s = l.strides[d];
                if (t == "Conv2DTranspose") out[d] = l.same ? n * s : n * s + std::max<int64_t>(k - s, 0);
                else if (l.same) out[d] = (n + s - 1) / s;
                else {
                    if (n < k)
                        fail("input " + shape_tuple(shape) + " is smaller than the " + std::to_string(l.kernel[0]) +
                             "x" + std::to_string(l.kernel[1]) + " window; use padding \"same\" or a larger input");
                    out[d] = (n - k) / s + 1;
                }
            }
            if (t == "Conv2D" || t == "Conv2DTranspose") {
                out[2] = l.units;
                l.trainable_params = l.kernel[0] * l.kernel[1] * shape[2] * l.units + (l.use_bias ? l.units : 0);
            }
            shape = out;
        } else if (t == "UpSampling2D") {
            need_image();
            shape = {shape[0] * l.kernel[0], shape[1] * l.kernel[1], shape[2]};
        } else if (t == "GlobalAveragePooling2D") {
            need_image();
            shape = {shape[2]};
        } else if (t == "Flatten") {
            int64_t n = 1;
            for (int64_t d : shape) n *= d;
            shape = {n};
        } else if (t == "Dense") {
            if (shape.size() != 1)
                fail("needs a flat input but gets " + shape_tuple(shape) + "; add a Flatten layer before it");
            l.trainable_params = shape[0] * l.units + (l.use_bias ? l.units : 0);
            shape = {l.units};
        } else if (t == "BatchNormalization") {
            int64_t c = shape.back();
            l.trainable_params = (l.center ? c : 0) + (l.scale ? c : 0);
            l.non_trainable_params = 2 * c;
        } else if (t == "Reshape") {
            int64_t total = 1, known = 1, unknown = -1;
            for (int64_t d : shape) total *= d;
            std::vector<int64_t> out = l.target_shape;
            for (size_t k = 0; k < out.size(); ++k) {
                if (out[k] == -1) {
                    if (unknown >= 0) fail("\"target_shape\" may hold only one -1");
                    unknown = int64_t(k);
                } else known *= out[k];
            }
            if (unknown >= 0) {
                if (known == 0 || total % known) fail("cannot reshape " + shape_tuple(shape) + " to " + shape_tuple(out));
                out[size_t(unknown)] = total / known;
            }
            int64_t n = 1;
            for (int64_t d : out) n *= d;
            if (n != total)
                fail("cannot reshape " + shape_tuple(shape) + " (" + std::to_string(total) + " values) to " +
                     shape_tuple(out) + " (" + std::to_string(n) + " values)");
            if (out.size() != 1 && out.size() != 3) fail("\"target_shape\" must be (k) or (height, width, channels)");
            l.target_shape = out;
            shape = out;
        }
        // Lambda, Rescaling, Activation, Dropout keep the shape.
        l.output_shape = shape;
    }
}

std::vector<int64_t> Spec::output_shape() const { return layers.empty() ? input_shape : layers.back().output_shape; }

int64_t Spec::trainable_params() const {
    int64_t n = 0;
    for (const LayerSpec& l : layers) n += l.trainable_params;
    return n;
}
int64_t Spec::non_trainable_params() const {
    int64_t n = 0;
    for (const LayerSpec& l : layers) n += l.non_trainable_params;
    return n;
}

std::string Spec::to_json() const {
    json layers_json = json::array();
    for (const LayerSpec& l : layers) {
        json j = {{"type", l.type}, {"name", l.name}};
        const std::string& t = l.type;
        auto pair = [](const int64_t p[2]) { return json::array({p[0], p[1]}); };
        if (t == "Conv2D" || t == "Conv2DTranspose" || t == "Dense") {
            j[t == "Dense" ? "units" : "filters"] = l.units;
            if (t != "Dense") {
                j["kernel_size"] = pair(l.kernel);
                j["strides"] = pair(l.strides);
                j["padding"] = l.same ? "same" : "valid";
            }
            j["activation"] = activation_name(l.activation);
            j["use_bias"] = l.use_bias;
            j["kernel_initializer"] = l.kernel_initializer;
            j["bias_initializer"] = l.bias_initializer;
        } else if (t == "MaxPooling2D" || t == "AveragePooling2D") {
            j["pool_size"] = pair(l.kernel);
            j["strides"] = pair(l.strides);
            j["padding"] = l.same ? "same" : "valid";
        } else if (t == "UpSampling2D") {
            j["size"] = pair(l.kernel);
            j["interpolation"] = l.interpolation;
        } else if (t == "Dropout") {
            j["rate"] = l.rate;
        } else if (t == "BatchNormalization") {
            j["momentum"] = l.momentum;
            j["epsilon"] = l.epsilon;
            j["center"] = l.center;
            j["scale"] = l.scale;
        } else if (t == "Activation") {
            j["activation"] = activation_name(l.activation);
        } else if (t == "Rescaling") {
            j["scale"] = l.rescale;
            j["offset"] = l.offset;
        } else if (t == "Reshape") {
            j["target_shape"] = l.target_shape;
        } else if (t == "Lambda") {
            j["function"] = l.expression;
        }
        layers_json.push_back(j);
    }
    json opt = {{"type", optimizer.name}, {"learning_rate", optimizer.learning_rate}};
    if (optimizer.name == "adam") {
        opt["beta_1"] = optimizer.beta_1;
        opt["beta_2"] = optimizer.beta_2;
        opt["epsilon"] = optimizer.epsilon;
    } else if (optimizer.name == "sgd") {
        opt["momentum"] = optimizer.momentum;
        opt["nesterov"] = optimizer.nesterov;
    } else {
        opt["rho"] = optimizer.rho;
        opt["momentum"] = optimizer.momentum;
        opt["epsilon"] = optimizer.epsilon;
    }
    json doc = {{"name", name}, {"input_shape", input_shape}, {"layers", layers_json}, {"optimizer", opt},
                {"metrics", metrics}};
    if (!loss.empty()) doc["loss"] = loss;
    return doc.dump();
}

std::string summary_table(const Spec& spec) {
    auto thousands = [](int64_t n) {
        std::string s = std::to_string(n), out;
        int count = 0;
        for (size_t i = s.size(); i-- > 0;) {
            out.insert(out.begin(), s[i]);
            if (++count % 3 == 0 && i > 0) out.insert(out.begin(), ',');
        }
        return out;
    };
    auto row = [](const std::string& a, const std::string& b, const std::string& c) {
        std::string line = " " + a;
        line.resize(std::max<size_t>(line.size() + 1, 29), ' ');
        line += b;
        line.resize(std::max<size_t>(line.size() + 1, 55), ' ');
        line += c;
        return line + "\n";
    };
    std::string rule(65, '_'), thick(65, '=');
    std::string out = "Model: \"" + spec.name + "\"\n" + rule + "\n" + row("Layer (type)", "Output Shape", "Param #") + thick + "\n";
    for (size_t i = 0; i < spec.layers.size(); ++i) {
        const LayerSpec& l = spec.layers[i];
        out += row(l.name + " (" + l.type + ")", shape_tuple(l.output_shape),
                   std::to_string(l.trainable_params + l.non_trainable_params));
        out += i + 1 < spec.layers.size() ? "\n" : "";
    }
    int64_t trainable = spec.trainable_params(), fixed = spec.non_trainable_params();
    out += thick + "\nTotal params: " + thousands(trainable + fixed) + "\nTrainable params: " + thousands(trainable) +
           "\nNon-trainable params: " + thousands(fixed) + "\n" + rule + "\n";
    return out;
}

}  // namespace imgpipe::nn
