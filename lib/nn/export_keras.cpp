// Keras and TF.js writers (nnexport(1) "KERAS FILES", "TF.JS"). The layers'
// Keras configs come from the layer table's `save` (our compact form uses
// Keras' argument names), turned into Keras' serialized forms here
// (initializers, regularizers, dtype, inbound nodes); where each layout fact
// comes from is doc/design.md "Keras files in" and "Models out".
#include <hdf5.h>
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include "cli/error.hpp"
#include "nn/export.hpp"
#include "nn/keras_file.hpp"

namespace imgpipe::nn {

namespace {

using json = nlohmann::json;

// The Keras versions whose layouts these files follow.
const char* const kKeras3Version = "3.6.0";
const char* const kKeras2Version = "2.15.0";

enum class Flavor { Keras3, Keras2, TfJs };

[[noreturn]] void refuse(const ExportModel& m, const LayerSpec& l, const std::string& why) {
    throw DataError(m.source, "layer '" + l.name + "' (" + l.type + "): " + why);
}

// ---- the graph as Keras lists it -------------------------------------------

// Keras' classes that take data_format (keras/src/layers: the convolutions,
// poolings, UpSampling2D, the margins, Flatten, SpatialDropout2D).
const std::set<std::string> kDataFormat = {
    "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D", "AveragePooling2D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "UpSampling2D", "ZeroPadding2D", "Cropping2D", "Flatten",
    "SpatialDropout2D"};
// The layer classes tfjs-layers 4.22 registers (registerClass in tf-layers.node.js) that ours map onto.
const std::set<std::string> kTfjsClasses = {
    "Activation", "Add", "Average", "AveragePooling2D", "BatchNormalization", "Concatenate", "Conv2D",
    "Conv2DTranspose", "Cropping2D", "Dense", "DepthwiseConv2D", "Dropout", "Flatten", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "LeakyReLU", "MaxPooling2D", "Maximum", "Minimum", "Multiply", "PReLU", "ReLU", "Rescaling",
    "Reshape", "SeparableConv2D", "Softmax", "UpSampling2D", "ZeroPadding2D"};
// Activations tfjs-layers 4.22 has with our definition; it lacks leaky_relu, and its
// hard_sigmoid is Keras 2's 0.2x + 0.5 (our keras2_hard_sigmoid).
const std::set<std::string> kTfjsActivations = {"linear", "relu", "sigmoid", "softmax", "tanh", "elu",
                                                "relu6", "swish", "gelu", "softplus", "selu", "keras2_hard_sigmoid"};

// A Lambda that is x * scale + offset for every float x (checked at points
// beyond 0..255 too, since a float model's input is any number); nullopt else.
std::optional<std::array<double, 2>> affine(const LambdaOptions& l) {
    double offset = eval_expr(l.expr, 0), scale = eval_expr(l.expr, 1) - offset;
    for (double x : {-1e4, -255.0, -1.0, 0.5, 2.0, 127.5, 255.0, 1e4}) {
        double y = eval_expr(l.expr, x), want = scale * x + offset;
        if (!std::isfinite(y) || std::fabs(y - want) > 1e-9 * (1 + std::fabs(want))) return std::nullopt;
    }
    // The numbers as written (x/255. gives 1/255 exactly as Rescaling(1/255) holds it).
    return std::array<double, 2>{(eval_expr(l.expr, 255) - offset) / 255, offset};
}

struct KLayer {
    const LayerSpec* layer = nullptr;  // nullptr: the InputLayer
    std::string name, class_name;
    json config;  // the layer's own keys (initializers etc. still in our short form)
};
struct KNode {
    int op = 0;               // index into KModel::layers
    std::vector<int> inputs;  // KModel::nodes
    int call = 0;             // Keras' node index
    Shape output_shape;
};
struct KModel {
    std::vector<KLayer> layers;  // in Keras' order (Functional.layers)
    std::vector<KNode> nodes;    // nodes[0] is the InputLayer's
    int output = 0;
};

// Each layer's Keras class and config, for the flavor; refusals by name.
KLayer keras_layer(const ExportModel& m, const LayerSpec& l, Flavor flavor) {
    KLayer k{&l, l.name, l.type, json::object()};
    if (l.kind().save) l.kind().save(l, k.config);
    if (const LambdaOptions* lambda = l.find<LambdaOptions>()) {
        // Keras keeps a Lambda as Python bytecode: a text expression has no Keras form
        // unless it is a Rescaling.
        auto a = affine(*lambda);
        if (!a)
            refuse(m, l, "\"" + lambda->expression + "\" is not x * scale + offset, and Keras stores a Lambda as Python "
                         "bytecode, which cannot be written from text");
        k.class_name = "Rescaling";
        k.config = {{"scale", (*a)[0]}, {"offset", (*a)[1]}};
    }
    // Activations whose name means another function there, or none. Keras 2's and
    // tfjs-layers' hard_sigmoid is 0.2x + 0.5 (our keras2_hard_sigmoid), Keras 3's
    // relu6(x + 3) / 6 (our hard_sigmoid).
    if (k.config.contains("activation")) {
        std::string a = k.config["activation"];
        if (flavor == Flavor::TfJs && a == "hard_sigmoid")
            refuse(m, l, "activation hard_sigmoid: tfjs-layers' hard_sigmoid is Keras 2's 0.2x + 0.5 "
                         "(keras2_hard_sigmoid), ours Keras 3's relu6(x + 3) / 6");
        if (flavor == Flavor::TfJs && !kTfjsActivations.count(a))
            refuse(m, l, "activation " + a + ": tfjs-layers 4.22 has no such activation");
        if (flavor == Flavor::Keras2 && a == "hard_sigmoid")
            refuse(m, l, "Keras 2's hard_sigmoid is max(0, min(1, 0.2x + 0.5)) (keras2_hard_sigmoid), ours Keras 3's "
                         "relu6(x + 3) / 6");
        if (flavor == Flavor::Keras3 && a == "keras2_hard_sigmoid")
            refuse(m, l, "Keras 3 has no activation max(0, min(1, 0.2x + 0.5)) (Keras 2's hard_sigmoid); "
                         "export it as .h5 or TF.js");
        if (flavor == Flavor::Keras2 && a == "leaky_relu")
            refuse(m, l, "Keras 2 has no leaky_relu activation; use a LeakyReLU layer");
        if (a == "keras2_hard_sigmoid") k.config["activation"] = "hard_sigmoid";
    }
    if (const LeakyReluOptions* o = l.find<LeakyReluOptions>(); o && flavor != Flavor::Keras3) {
        k.config.erase("negative_slope");  // Keras 2 and tfjs call the slope alpha
        k.config["alpha"] = o->negative_slope;
    }
    if (const NormalizationOptions* o = l.find<NormalizationOptions>()) {
        // One mean for all channels: Keras reshapes the mean to the kept axes, so none are kept.
        bool one = o->mean.size() == 1 && !l.input_shape.empty() && l.input_shape.back() != 1;
        k.config["axis"] = one ? json(nullptr) : json(-1);
    }
    if (flavor == Flavor::TfJs) {
        if (!kTfjsClasses.count(k.class_name)) refuse(m, l, "tfjs-layers 4.22 has no " + k.class_name + " layer");
        if (const ConvOptions* o = l.find<ConvOptions>(); o && o->groups != 1)
            refuse(m, l, "tfjs-layers 4.22's Conv2D has no groups");
        if (const GlobalPoolOptions* o = l.find<GlobalPoolOptions>(); o && o->keepdims)
            refuse(m, l, "tfjs-layers 4.22's global poolings have no keepdims");
        if (const UpSamplingOptions* o = l.find<UpSamplingOptions>(); o && o->interpolation != "nearest")
            refuse(m, l, "tfjs-layers 4.22 resizes bilinearly without Keras' half-pixel centers");
        if (const ReluOptions* o = l.find<ReluOptions>(); o && (o->negative_slope != 0 || o->threshold != 0))
            refuse(m, l, "tfjs-layers 4.22's ReLU has only max_value");
    }
    if (kDataFormat.count(k.class_name)) k.config["data_format"] = "channels_last";
    return k;
}

// The graph in Keras' order: layers by depth from the output, the deepest (the
// input) first, ties in the order a depth-first walk from the output meets them
// (keras/src/ops/function.py _build_map; tf-keras' _map_graph_network alike).
// TF.js leaves out what is the identity in inference and tfjs cannot load.
KModel keras_graph(const ExportModel& m, Flavor flavor) {
    const Spec& spec = m.spec;
    KModel g;
    std::vector<KLayer> all;
    std::vector<int> layer_op(spec.layers.size(), -1);
    all.push_back({nullptr, spec.input_name, "InputLayer", json::object()});
    std::vector<int> alias(spec.nodes.size());  // our node -> KNode
    std::vector<KNode> nodes = {KNode{0, {}, 0, spec.input_shape}};
    for (size_t n = 0; n < spec.nodes.size(); ++n) {
        const Node& node = spec.nodes[n];
        const LayerSpec& l = spec.layers[node.layer];
        auto in = [&](int i) { return i == kModelInput ? 0 : alias[size_t(i)]; };
        // Augmentation and dropout are the identity in inference; so is a Flatten of a
        // flat input (an option-less layer keeping its values and shape), which tfjs refuses.
        bool identity = l.kind().is(kKeepsValues) && std::holds_alternative<std::monostate>(l.options) &&
                        l.input_shape == l.output_shape;
        bool leave_out = flavor == Flavor::TfJs && (l.kind().is(kAugmentation) || l.find<DropoutOptions>() || identity);
        if (leave_out) {
            alias[n] = in(node.inputs[0]);
            continue;
        }
        if (layer_op[node.layer] < 0) {
            layer_op[node.layer] = int(all.size());
            all.push_back(keras_layer(m, l, flavor));
        }
        KNode k{layer_op[node.layer], {}, node.call, node.output_shape};
        for (int i : node.inputs) k.inputs.push_back(in(i));
        alias[n] = int(nodes.size());
        nodes.push_back(std::move(k));
    }
    int output = alias.empty() ? 0 : alias.back();

    // _build_map: a depth-first walk from the output (operations numbered as met,
    // nodes listed when finished), then depths from the output back.
    std::map<int, int> op_index;
    std::vector<int> finished_order;
    std::vector<char> finished(nodes.size(), 0);
    std::function<void(int)> walk = [&](int n) {
        if (finished[size_t(n)]) return;
        op_index.emplace(nodes[size_t(n)].op, int(op_index.size()));
        for (int i : nodes[size_t(n)].inputs) walk(i);
        finished[size_t(n)] = 1;
        finished_order.push_back(n);
    };
    walk(output);
    std::map<int, int> node_depth, op_depth;
    for (auto it = finished_order.rbegin(); it != finished_order.rend(); ++it) {
        int n = *it, op = nodes[size_t(n)].op;
        int depth = std::max(node_depth[n], op_depth.count(op) ? op_depth[op] : 0);
        op_depth[op] = depth;
        node_depth[n] = depth;
        for (int p : nodes[size_t(n)].inputs) node_depth[p] = std::max(depth + 1, node_depth.count(p) ? node_depth[p] : 0);
    }
    std::vector<int> ops;
    for (auto& [op, depth] : op_depth) ops.push_back(op);
    std::stable_sort(ops.begin(), ops.end(), [&](int a, int b) {
        return op_depth[a] != op_depth[b] ? op_depth[a] > op_depth[b] : op_index[a] < op_index[b];
    });
    std::vector<int> new_op(all.size(), -1);
    for (int op : ops) {
        new_op[size_t(op)] = int(g.layers.size());
        g.layers.push_back(std::move(all[size_t(op)]));
    }
    for (KNode& n : nodes) n.op = new_op[size_t(n.op)];
    g.nodes = std::move(nodes);
    g.output = output;
    return g;
}

// ---- Keras' serialized forms -------------------------------------------------

json batch(const Shape& s) {
    json j = json::array({nullptr});
    for (int64_t d : s) j.push_back(d);
    return j;
}

json keras_object(Flavor f, const char* module, const std::string& cls, json config) {
    if (f != Flavor::Keras3) return {{"class_name", cls}, {"config", std::move(config)}};
    return {{"module", module}, {"class_name", cls}, {"config", std::move(config)}, {"registered_name", nullptr}};
}

// Our short initializer names ("he_uniform", "constant(0.1)") as Keras' objects.
json initializer(Flavor f, const std::string& name) {
    static const std::map<std::string, std::string> kClasses = {
        {"glorot_uniform", "GlorotUniform"}, {"glorot_normal", "GlorotNormal"}, {"he_uniform", "HeUniform"},
        {"he_normal", "HeNormal"}, {"lecun_uniform", "LecunUniform"}, {"lecun_normal", "LecunNormal"}};
    if (name == "zeros") return keras_object(f, "keras.initializers", "Zeros", json::object());
    if (name == "ones") return keras_object(f, "keras.initializers", "Ones", json::object());
    if (name.rfind("constant(", 0) == 0)
        return keras_object(f, "keras.initializers", "Constant",
                            {{"value", std::strtod(name.c_str() + 9, nullptr)}});
    auto it = kClasses.find(name);
    if (it == kClasses.end()) throw std::logic_error("initializer " + name + " has no Keras class");
    std::string cls = it->second;
    if (f == Flavor::TfJs && cls.rfind("Lecun", 0) == 0) cls = "LeCun" + cls.substr(5);  // tfjs' spelling
    return keras_object(f, "keras.initializers", cls, {{"seed", nullptr}});
}

json layer_config(const KLayer& k, Flavor f) {
    json c = {{"name", k.name}, {"trainable", k.layer ? k.layer->trainable : true}};
    c["dtype"] = f == Flavor::Keras3 ? keras_object(f, "keras", "DTypePolicy", {{"name", "float32"}}) : json("float32");
    for (auto& [key, v] : k.config.items()) {
        auto ends = [&](const char* tail) {
            return key.size() > std::strlen(tail) && key.compare(key.size() - std::strlen(tail), std::string::npos, tail) == 0;
        };
        if (ends("_initializer") && v.is_string()) c[key] = initializer(f, v.get<std::string>());
        else if (ends("_regularizer") && v.is_object())
            c[key] = keras_object(f, "keras.regularizers", "L1L2", {{"l1", v.value("l1", 0.0)}, {"l2", v.value("l2", 0.0)}});
        else c[key] = v;
    }
    return c;
}

json input_layer_config(const ExportModel& m, Flavor f) {
    json c = {{f == Flavor::Keras3 ? "batch_shape" : "batch_input_shape", batch(m.spec.input_shape)},
              {"dtype", "float32"}, {"sparse", false}, {"name", m.spec.input_name}};
    if (f != Flavor::Keras3) c["ragged"] = false;
    return c;
}

// Keras 3's compile_config, when every part is a Keras name meaning what ours
// does (a loss without options, metrics Keras computes alike, the optimizer with
// Keras 3's keys); else null: a model that compiles otherwise would be a claim.
json compile_config(const Spec& s) {
    static const std::set<std::string> kLosses = {"binary_crossentropy", "categorical_crossentropy",
                                                  "sparse_categorical_crossentropy", "mse", "mae", "huber", "log_cosh"};
    static const std::set<std::string> kMetrics = {"accuracy", "binary_accuracy", "categorical_accuracy",
                                                   "sparse_categorical_accuracy", "mae", "mse"};
    static const std::map<std::string, std::string> kOptimizers = {
        {"adam", "Adam"}, {"adamw", "AdamW"}, {"nadam", "Nadam"}, {"sgd", "SGD"}, {"rmsprop", "RMSprop"}};
    if (s.loss.empty() || s.loss.has_options() || !kLosses.count(s.loss.name)) return nullptr;
    for (const std::string& m : s.metrics)
        if (!kMetrics.count(m)) return nullptr;
    auto cls = kOptimizers.find(s.optimizer.name);
    if (cls == kOptimizers.end()) return nullptr;
    json config = s.optimizer.to_json();
    config.erase("type");
    if (config["learning_rate"].is_object()) {
        const json& lr = config["learning_rate"];
        config["learning_rate"] = keras_object(Flavor::Keras3, "keras.optimizers.schedules", lr["class_name"], lr["config"]);
    }
    config["name"] = s.optimizer.name;
    if (!config.contains("weight_decay")) config["weight_decay"] = nullptr;
    for (const char* k : {"clipnorm", "global_clipnorm", "clipvalue", "ema_overwrite_frequency", "loss_scale_factor",
                          "gradient_accumulation_steps"})
        config[k] = nullptr;
    config["use_ema"] = false;
    config["ema_momentum"] = 0.99;
    if (config.contains("beta_1")) config["amsgrad"] = false;
    if (config.contains("rho")) config["centered"] = false;
    return {{"optimizer", keras_object(Flavor::Keras3, "keras.optimizers", cls->second, config)},
            {"loss", s.loss.name},
            {"loss_weights", nullptr},
            {"metrics", s.metrics},
            {"weighted_metrics", nullptr},
            {"run_eagerly", false},
            {"steps_per_execution", 1},
            {"jit_compile", false}};
}

// The Functional model's config: Keras 3's inbound nodes ({"args": [KerasTensor]})
// or Keras 2's lists ([[name, node, tensor, {}]]), one per call of the layer.
json model_config(const ExportModel& m, const KModel& g, Flavor f) {
    auto history = [&](int n) { return json::array({g.layers[size_t(g.nodes[size_t(n)].op)].name, g.nodes[size_t(n)].call, 0}); };
    std::vector<std::vector<int>> calls(g.layers.size());
    for (size_t n = 1; n < g.nodes.size(); ++n) calls[size_t(g.nodes[n].op)].push_back(int(n));
    for (auto& c : calls)
        std::sort(c.begin(), c.end(), [&](int a, int b) { return g.nodes[size_t(a)].call < g.nodes[size_t(b)].call; });
    json layers = json::array();
    for (size_t i = 0; i < g.layers.size(); ++i) {
        const KLayer& k = g.layers[i];
        json e = json::object();
        if (f == Flavor::Keras3) e["module"] = "keras.layers";
        e["class_name"] = k.class_name;
        e["config"] = k.layer ? layer_config(k, f) : input_layer_config(m, f);
        if (f == Flavor::Keras3) e["registered_name"] = nullptr;
        json inbound = json::array();
        json built;
        for (int n : calls[i]) {
            const KNode& node = g.nodes[size_t(n)];
            json args = json::array(), shapes = json::array();
            for (int in : node.inputs) {
                const Shape& s = g.nodes[size_t(in)].output_shape;
                shapes.push_back(batch(s));
                if (f == Flavor::Keras3)
                    args.push_back({{"class_name", "__keras_tensor__"},
                                    {"config", {{"shape", batch(s)}, {"dtype", "float32"}, {"keras_history", history(in)}}}});
                else args.push_back(json::array({g.layers[size_t(g.nodes[size_t(in)].op)].name, g.nodes[size_t(in)].call, 0, json::object()}));
            }
            bool merge = node.inputs.size() > 1;
            if (built.is_null()) built = merge ? shapes : shapes[0];
            if (f == Flavor::Keras3) inbound.push_back({{"args", merge ? json::array({args}) : args}, {"kwargs", json::object()}});
            else inbound.push_back(args);
        }
        if (f == Flavor::Keras3 && k.layer) e["build_config"] = {{"input_shape", built}};
        e["name"] = k.name;
        e["inbound_nodes"] = inbound;
        layers.push_back(std::move(e));
    }
    json config = {{"name", m.spec.name},
                   {"trainable", true},
                   {"layers", layers},
                   {"input_layers", json::array({json::array({m.spec.input_name, 0, 0})})},
                   {"output_layers", json::array({history(g.output)})}};
    if (f != Flavor::Keras3) config.erase("trainable");
    if (f == Flavor::Keras3)
        return {{"module", "keras.src.models.functional"}, {"class_name", "Functional"}, {"config", config},
                {"registered_name", "Functional"}, {"build_config", {{"input_shape", nullptr}}},
                {"compile_config", compile_config(m.spec)}};
    return {{"class_name", f == Flavor::TfJs ? "Model" : "Functional"}, {"config", config},
            {"keras_version", f == Flavor::TfJs ? "tfjs-layers 4.22.0" : kKeras2Version},
            {"backend", f == Flavor::TfJs ? "tensor_flow.js" : "tensorflow"}};
}

// A layer's arrays in Keras' layout and get_weights() order.
struct KerasWeight {
    std::string name;  // Keras 2's and TF.js' variable name: "kernel", "gamma", ...
    Shape shape;
    std::vector<float> values;
};
std::vector<KerasWeight> keras_weights(const ExportModel& m, const KLayer& k) {
    std::vector<KerasWeight> out;
    if (!k.layer) return out;
    for (const WeightSpec& w : layer_weights(*k.layer))
        out.push_back({w.keras_name, w.keras_shape, to_keras_layout(w, m.weight(*k.layer, w))});
    return out;
}

// ---- HDF5, in memory -----------------------------------------------------------

struct H5Id {
    hid_t id;
    herr_t (*close)(hid_t);
    H5Id(hid_t i, herr_t (*c)(hid_t), const char* what) : id(i), close(c) {
        if (id < 0) throw std::runtime_error(std::string("HDF5: cannot create ") + what);
    }
    ~H5Id() { close(id); }
    H5Id(const H5Id&) = delete;
    H5Id& operator=(const H5Id&) = delete;
    operator hid_t() const { return id; }
};

void h5_check(herr_t r, const std::string& what) {
    if (r < 0) throw std::runtime_error("HDF5: cannot write " + what);
}

// One HDF5 file built in memory (the core driver without a backing store), so
// the tool writes its bytes atomically like any output. No object timestamps:
// the same model gives the same bytes.
class H5Memory {
public:
    H5Memory() {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "a file access list");
        h5_check(H5Pset_fapl_core(fapl, 1 << 20, 0), "the core driver");
        file_ = H5Fcreate("imgpipe-nnexport.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (file_ < 0) throw std::runtime_error("HDF5: cannot create a file in memory");
        gcpl_ = H5Pcreate(H5P_GROUP_CREATE);
        dcpl_ = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_obj_track_times(gcpl_, 0);
        H5Pset_obj_track_times(dcpl_, 0);
    }
    ~H5Memory() {
        H5Pclose(gcpl_);
        H5Pclose(dcpl_);
        if (file_ >= 0) H5Fclose(file_);
    }
    // The group at `path` (from the root), made with its parents where missing.
    hid_t group(const std::string& path) {
        hid_t g = H5Gopen2(file_, "/", H5P_DEFAULT);
        size_t at = 0;
        while (at < path.size()) {
            size_t slash = path.find('/', at);
            std::string part = path.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
            at = slash == std::string::npos ? path.size() : slash + 1;
            if (part.empty()) continue;
            hid_t next = H5Lexists(g, part.c_str(), H5P_DEFAULT) > 0 ? H5Gopen2(g, part.c_str(), H5P_DEFAULT)
                                                                      : H5Gcreate2(g, part.c_str(), H5P_DEFAULT, gcpl_, H5P_DEFAULT);
            H5Gclose(g);
            if (next < 0) throw std::runtime_error("HDF5: cannot create group " + path);
            g = next;
        }
        return g;
    }
    void dataset(const std::string& path, const Shape& shape, const std::vector<float>& values) {
        size_t slash = path.rfind('/');
        H5Id parent(group(path.substr(0, slash)), H5Gclose, "a group");
        std::vector<hsize_t> dims(shape.begin(), shape.end());
        H5Id space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                   H5Sclose, "a dataspace");
        H5Id d(H5Dcreate2(parent, path.substr(slash + 1).c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl_, H5P_DEFAULT),
               H5Dclose, "a dataset");
        h5_check(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path);
    }
    // An attribute as h5py writes a list of bytes (numpy 'S' strings, NUL-padded);
    // an empty list is numpy's empty float64 array.
    void strings(hid_t obj, const std::string& name, const std::vector<std::string>& values, size_t width = 1) {
        if (values.empty()) {
            hsize_t zero = 0;
            H5Id space(H5Screate_simple(1, &zero, nullptr), H5Sclose, "a dataspace");
            H5Id a(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, ("attribute " + name).c_str());
            return;
        }
        for (const std::string& v : values) width = std::max(width, v.size());
        std::string packed(width * values.size(), '\0');
        for (size_t i = 0; i < values.size(); ++i) std::memcpy(&packed[i * width], values[i].data(), values[i].size());
        H5Id type(H5Tcopy(H5T_C_S1), H5Tclose, "a string type");
        H5Tset_size(type, width);
        H5Tset_strpad(type, H5T_STR_NULLPAD);
        hsize_t n = values.size();
        H5Id space(H5Screate_simple(1, &n, nullptr), H5Sclose, "a dataspace");
        H5Id a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, ("attribute " + name).c_str());
        h5_check(H5Awrite(a, type, packed.data()), "attribute " + name);
    }
    // A scalar Python str (h5py: a variable-length UTF-8 string) or bytes (the
    // same, ASCII): no size limit, where a fixed-length string above 64 KB does
    // not fit an object header.
    void text(hid_t obj, const std::string& name, const std::string& value, bool utf8 = true) {
        H5Id type(H5Tcopy(H5T_C_S1), H5Tclose, "a string type");
        H5Tset_size(type, H5T_VARIABLE);
        H5Tset_cset(type, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "a dataspace");
        H5Id a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, ("attribute " + name).c_str());
        const char* p = value.c_str();
        h5_check(H5Awrite(a, type, &p), "attribute " + name);
    }
    hid_t root() { return file_; }
    std::vector<uint8_t> bytes() {
        h5_check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "the file");
        ssize_t n = H5Fget_file_image(file_, nullptr, 0);
        if (n < 0) throw std::runtime_error("HDF5: cannot get the file's image");
        std::vector<uint8_t> out(static_cast<size_t>(n));
        if (H5Fget_file_image(file_, out.data(), out.size()) != n) throw std::runtime_error("HDF5: cannot get the file's image");
        return out;
    }

private:
    hid_t file_ = -1, gcpl_ = -1, dcpl_ = -1;
};

// Keras' save_attributes_to_hdf5_group: a list whose numpy array is above
// HDF5_OBJECT_HEADER_LIMIT (64512 bytes) is split by np.array_split into the
// fewest chunks that fit, written as name0, name1, ...
void split_strings(H5Memory& h5, hid_t obj, const std::string& name, const std::vector<std::string>& values) {
    const size_t kLimit = 64512;
    size_t width = 1;
    for (const std::string& v : values) width = std::max(width, v.size());
    size_t n = values.size(), chunks = 1;
    auto fits = [&](size_t k) { return (n / k + (n % k ? 1 : 0)) * width <= kLimit; };
    while (n && !fits(chunks)) ++chunks;
    if (chunks == 1) return h5.strings(obj, name, values);
    for (size_t c = 0, at = 0; c < chunks; ++c) {  // array_split: the first n % k chunks one longer
        size_t size = n / chunks + (c < n % chunks ? 1 : 0);
        std::vector<std::string> part(values.begin() + long(at), values.begin() + long(at + size));
        // Each chunk keeps the whole array's width, as numpy's slices do.
        h5.strings(obj, name + std::to_string(c), part, width);
        at += size;
    }
}

// ---- zip, in memory --------------------------------------------------------------

// The modification time of the model file: the .keras' date_saved and its
// members' times, so the same model gives the same bytes.
time_t saved_time(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_mtime : 0;
}

std::vector<uint8_t> zip_stored(const std::vector<std::pair<std::string, std::string>>& members, time_t mtime) {
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &error);
    if (!src) throw std::runtime_error("zip: cannot make a buffer");
    zip_t* z = zip_open_from_source(src, ZIP_TRUNCATE, &error);
    if (!z) {
        zip_source_free(src);
        throw std::runtime_error("zip: cannot open a buffer");
    }
    zip_source_keep(src);
    for (const auto& [name, data] : members) {
        zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
        zip_int64_t i = s ? zip_file_add(z, name.c_str(), s, ZIP_FL_ENC_UTF_8) : -1;
        if (i < 0 || zip_set_file_compression(z, zip_uint64_t(i), ZIP_CM_STORE, 0) < 0 ||
            zip_file_set_mtime(z, zip_uint64_t(i), mtime, 0) < 0) {
            if (s && i < 0) zip_source_free(s);
            zip_discard(z);
            zip_source_free(src);
            throw std::runtime_error("zip: cannot add " + name);
        }
    }
    if (zip_close(z) < 0) {
        zip_discard(z);
        zip_source_free(src);
        throw std::runtime_error("zip: cannot write the archive");
    }
    std::vector<uint8_t> out;
    if (zip_source_open(src) == 0) {
        zip_source_seek(src, 0, SEEK_END);
        zip_int64_t n = zip_source_tell(src);
        zip_source_seek(src, 0, SEEK_SET);
        out.resize(size_t(std::max<zip_int64_t>(n, 0)));
        if (n < 0 || zip_source_read(src, out.data(), out.size()) != n) out.clear();
        zip_source_close(src);
    }
    zip_source_free(src);
    if (out.empty()) throw std::runtime_error("zip: cannot read the archive back");
    return out;
}

std::string as_text(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

}  // namespace

// Keras 3 .keras (saving_lib._save_model_to_fileobj): metadata.json, config.json,
// model.weights.h5 with each layer's variables at layers/<snake_case class>[_k]/vars/<i>.
std::vector<uint8_t> write_keras(const ExportModel& m) {
    KModel g = keras_graph(m, Flavor::Keras3);
    json config = model_config(m, g, Flavor::Keras3);
    H5Memory h5;
    { H5Id v(h5.group("vars"), H5Gclose, "a group"); }  // the model's own variables: none
    std::map<std::string, int> used;  // saving_lib._get_unique_name
    for (const KLayer& k : g.layers) {
        std::string path = "layers/" + keras_detail::keras3_unique_name(keras_detail::to_snake_case(k.class_name), used) + "/vars";
        { H5Id v(h5.group(path), H5Gclose, "a group"); }
        std::vector<KerasWeight> w = keras_weights(m, k);
        for (size_t i = 0; i < w.size(); ++i) h5.dataset(path + "/" + std::to_string(i), w[i].shape, w[i].values);
    }
    time_t t = saved_time(m.source);
    char date[32];
    struct tm tm {};
    localtime_r(&t, &tm);
    std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
    json metadata = {{"keras_version", kKeras3Version}, {"date_saved", date}};
    return zip_stored({{"metadata.json", metadata.dump()}, {"config.json", config.dump()}, {"model.weights.h5", as_text(h5.bytes())}}, t);
}

// Keras 2 full model (legacy_h5_format.save_model_to_hdf5): the architecture and
// versions at the root, the weights under model_weights/<layer>/<layer>/<name>:0.
std::vector<uint8_t> write_keras_h5(const ExportModel& m) {
    KModel g = keras_graph(m, Flavor::Keras2);
    json config = model_config(m, g, Flavor::Keras2);
    H5Memory h5;
    h5.text(h5.root(), "keras_version", kKeras2Version);
    h5.text(h5.root(), "backend", "tensorflow");
    h5.text(h5.root(), "model_config", json{{"class_name", config["class_name"]}, {"config", config["config"]}}.dump(), false);
    H5Id weights(h5.group("model_weights"), H5Gclose, "a group");
    std::vector<std::string> names;
    for (const KLayer& k : g.layers) names.push_back(k.name);
    split_strings(h5, weights, "layer_names", names);
    h5.text(weights, "backend", "tensorflow", false);
    h5.text(weights, "keras_version", kKeras2Version, false);
    // Groups in sorted order, as Keras creates them.
    std::vector<const KLayer*> sorted;
    for (const KLayer& k : g.layers) sorted.push_back(&k);
    std::sort(sorted.begin(), sorted.end(), [](const KLayer* a, const KLayer* b) { return a->name < b->name; });
    for (const KLayer* k : sorted) {
        H5Id group(h5.group("model_weights/" + k->name), H5Gclose, "a group");
        std::vector<KerasWeight> w = keras_weights(m, *k);
        std::vector<std::string> weight_names;
        for (const KerasWeight& x : w) weight_names.push_back(k->name + "/" + x.name + ":0");
        split_strings(h5, group, "weight_names", weight_names);
        for (size_t i = 0; i < w.size(); ++i) h5.dataset("model_weights/" + k->name + "/" + weight_names[i], w[i].shape, w[i].values);
    }
    return h5.bytes();
}

// TF.js Layers (tensorflowjs_converter's layout): model.json with the Keras 2
// topology and one weight group, its bytes split into shards of 4 MB.
TfjsFiles write_tfjs(const ExportModel& m) {
    KModel g = keras_graph(m, Flavor::TfJs);
    json config = model_config(m, g, Flavor::TfJs);
    json weights = json::array();
    std::string bytes;
    for (const KLayer& k : g.layers)
        for (const KerasWeight& w : keras_weights(m, k)) {
            weights.push_back({{"name", k.name + "/" + w.name}, {"shape", w.shape}, {"dtype", "float32"}});
            bytes.append(reinterpret_cast<const char*>(w.values.data()), w.values.size() * sizeof(float));
        }
    const size_t kShard = 4 * 1024 * 1024;
    size_t count = std::max<size_t>(1, (bytes.size() + kShard - 1) / kShard);
    TfjsFiles out;
    json paths = json::array();
    for (size_t i = 0; i < count; ++i) {
        std::string name = "group1-shard" + std::to_string(i + 1) + "of" + std::to_string(count) + ".bin";
        size_t at = i * kShard, n = std::min(kShard, bytes.size() - at);
        out.shards.push_back({name, std::vector<uint8_t>(bytes.begin() + long(at), bytes.begin() + long(at + n))});
        paths.push_back(name);
    }
    json model = {{"format", "layers-model"},
                  {"generatedBy", "imgpipe"},
                  {"convertedBy", "imgpipe nnexport"},
                  {"modelTopology", {{"keras_version", config["keras_version"]}, {"backend", config["backend"]},
                                     {"model_config", {{"class_name", config["class_name"]}, {"config", config["config"]}}}}},
                  {"weightsManifest", json::array({{{"paths", paths}, {"weights", weights}}})}};
    if (!m.classes.empty()) model["userDefinedMetadata"] = {{"classes", m.classes}};
    out.model_json = model.dump();
    return out;
}

}  // namespace imgpipe::nn
