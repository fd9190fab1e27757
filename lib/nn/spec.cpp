// The spec as a graph: every entry of "layers" defines a layer and its first
// call; Keras' inbound_nodes (or our "inputs") say what each call reads. A
// Sequential spec is the chain where every call reads the one before.
#include "nn/spec.hpp"

#include <nlohmann/json.hpp>

#include <fnmatch.h>

#include <algorithm>
#include <iostream>
#include <cctype>
#include <cmath>
#include <optional>
#include <map>
#include <set>

#include "cli/error.hpp"
#include "cli/progress.hpp"
#include "nn/config.hpp"
#include "nn/keras_file.hpp"
#include "nn/layers.hpp"

namespace imgpipe::nn {

using nlohmann::json;

namespace {

// A reference to one call's output: layer name and call (Keras' node index).
struct Ref {
    std::string layer;
    int call = 0;
};

// One call as written, before the graph is ordered.
struct Call {
    size_t layer = 0;
    int call = 0;
    bool chained = true;      // reads the call written before it (Sequential)
    std::vector<Ref> inputs;  // when not chained
};

std::string ref_text(const Ref& r) { return r.layer + "[" + std::to_string(r.call) + "][0]"; }

// Keras matches class names exactly (its registry is a dict), with the aliases
// keras.layers itself exports (keras/src/layers: Convolution2D, MaxPool2D, ...),
// which the table's entries list.
std::string canonical_type(const std::string& given, const std::string& context, const std::string& where) {
    const std::vector<std::string>& types = layer_types();
    for (const std::string& t : types)
        if (t == given) return t;
    std::map<std::string, std::string> aliases;  // alias -> type, in the aliases' order for the hint
    for (const LayerKind& k : layer_kinds())
        for (const std::string& alias : k.keras_aliases) aliases[alias] = k.type;
    auto it = aliases.find(given);
    if (it != aliases.end()) return it->second;
    std::string g = lower_alnum(given);
    if (g == "sequential" || g == "functional" || g == "model")
        throw DataError(where, context + ": a model inside a model is not supported; build the inner model's layers "
                                         "into the outer one");
    // did_you_mean puts a spelling that differs only in case or underscores first ("conv_2d": Conv2D).
    std::vector<std::string> names = types;
    for (const auto& [alias, type] : aliases) names.push_back(alias);
    std::string hint = did_you_mean(given, names);
    throw DataError(where, context + ": unsupported layer \"" + given + "\"" +
                               (hint.empty() ? "" : "; did you mean \"" + hint + "\"?") +
                               " (layer types are Keras' class names, case-sensitive; supported: " + join(types) + ")");
}

// "conv2d", "conv2d[1]" or "conv2d[1][0]" (Keras' summary spelling).
Ref parse_ref_text(const std::string& text, const std::string& context, const std::string& where) {
    Ref r;
    size_t bracket = text.find('[');
    r.layer = text.substr(0, bracket);
    if (bracket != std::string::npos) {
        std::string rest = text.substr(bracket);
        int call = 0, tensor = 0;
        char tail = 0;
        int n = std::sscanf(rest.c_str(), "[%d][%d]%c", &call, &tensor, &tail);
        if (n < 1) n = std::sscanf(rest.c_str(), "[%d]%c", &call, &tail) == 1 ? 1 : 0;
        if (n < 1 || n > 2 || call < 0 || tensor != 0)
            throw DataError(where, context + ": bad input \"" + text + "\" (a layer name, or name[call])");
        r.call = call;
    }
    if (r.layer.empty()) throw DataError(where, context + ": an input with no layer name");
    return r;
}

// Keras 2 ["name", node, tensor, {kwargs}]; Keras 3 {"class_name": "__keras_tensor__", ... keras_history}.
Ref keras_ref(const json& v, const std::string& context, const std::string& where) {
    const json* h = &v;
    if (v.is_object() && v.contains("config") && v["config"].is_object() && v["config"].contains("keras_history"))
        h = &v["config"]["keras_history"];
    const json& a = *h;
    if (!a.is_array() || a.size() < 3 || !a[0].is_string() || !a[1].is_number_integer() || !a[2].is_number_integer())
        throw DataError(where, context + ": cannot read inbound node " + v.dump());
    if (a[2].get<int64_t>() != 0)
        throw DataError(where, context + ": reads output " + a[2].dump() + " of \"" + a[0].get<std::string>() +
                                           "\": layers with several outputs are not supported");
    return {a[0].get<std::string>(), int(a[1].get<int64_t>())};
}

// Every Keras 3 tensor among a call's args, in order (a merge layer's list included).
void keras3_tensors(const json& v, std::vector<Ref>& out, const std::string& context, const std::string& where) {
    if (v.is_object() && v.contains("class_name") && v["class_name"] == "__keras_tensor__") out.push_back(keras_ref(v, context, where));
    else if (v.is_array())
        for (const json& x : v) keras3_tensors(x, out, context, where);
}

std::vector<std::vector<Ref>> keras_calls(const json& inbound, const std::string& context, const std::string& where) {
    std::vector<std::vector<Ref>> calls;
    if (!inbound.is_array()) throw DataError(where, context + ": \"inbound_nodes\" must be a list");
    for (const json& node : inbound) {
        std::vector<Ref> refs;
        if (node.is_object() && node.contains("args")) {  // Keras 3
            keras3_tensors(node["args"], refs, context, where);
        } else if (node.is_array()) {  // Keras 1/2: a list of [name, node, tensor, kwargs]
            for (const json& r : node) refs.push_back(keras_ref(r, context, where));
        } else {
            throw DataError(where, context + ": cannot read inbound node " + node.dump());
        }
        if (refs.empty()) throw DataError(where, context + ": a call with no input tensor");
        calls.push_back(std::move(refs));
    }
    return calls;
}

// input_layers / output_layers: [["name", 0, 0]] (or Keras 3's single ["name", 0, 0]).
std::vector<Ref> keras_ends(const json& v, const std::string& what, const std::string& where) {
    std::vector<Ref> refs;
    if (v.is_array() && v.size() == 3 && v[0].is_string()) refs.push_back(keras_ref(v, what, where));
    else if (v.is_array())
        for (const json& r : v) refs.push_back(keras_ref(r, what, where));
    if (refs.size() != 1)
        throw DataError(where, "the model has " + std::to_string(refs.size()) + " " +
                                   (what == "input_layers" ? "inputs" : "outputs") +
                                   "; nntrain trains models of one input and one output");
    return refs;
}

// Nested models (a Sequential or Functional used as a layer, as transfer learning
// and Teachable Machine write them) are inlined into one Functional graph before
// the graph is read: every inner layer keeps its name (Keras keeps layer names
// unique across a whole model, and the weight files name layers so), the inner
// model's input is wired to what the outer model feeds it, and what read the
// inner model reads its output. A frozen inner model freezes its layers.
class Inliner {
public:
    explicit Inliner(std::string where) : where_(std::move(where)) {}

    static bool is_model(const json& e) {
        if (!e.is_object() || !e.contains("class_name") || !e["class_name"].is_string()) return false;
        const std::string cls = e["class_name"].get<std::string>();
        return cls == "Sequential" || cls == "Functional" || cls == "Model";
    }
    static bool has_nested(const json& model) {
        for (const json& e : layers_of(model))
            if (is_model(e)) return true;
        return false;
    }

    // The whole model as one Functional: its other top-level keys (compile_config ...) kept.
    json inline_all(const json& doc) {
        Ref out = expand(doc, std::nullopt, "model", 0);
        json flat = doc;
        flat["class_name"] = "Functional";
        json config = doc["config"].is_object() ? doc["config"] : json::object();
        config.erase("build_input_shape");
        config["layers"] = layers_;
        config["input_layers"] = json::array({json::array({input_, 0, 0})});
        config["output_layers"] = json::array({json::array({out.layer, out.call, 0})});
        flat["config"] = config;
        return flat;
    }

private:
    // Keras <= 2.2 wrote a Sequential's config as the list of its layers.
    static const json& layers_of(const json& model) {
        static const json none = json::array();
        if (!model.contains("config")) return none;
        const json& c = model["config"];
        if (c.is_array()) return c;
        if (c.is_object() && c.contains("layers") && c["layers"].is_array()) return c["layers"];
        return none;
    }
    static std::string name_of(const json& e) {
        if (e.contains("config") && e["config"].is_object() && e["config"].contains("name") && e["config"]["name"].is_string())
            return e["config"]["name"].get<std::string>();
        return e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : "";
    }

    // Emits a plain layer reading `calls` (one list of inputs per call; none: an InputLayer).
    void emit(json e, const std::vector<std::vector<Ref>>& calls, bool frozen) {
        json nodes = json::array();
        for (const std::vector<Ref>& refs : calls) {
            json node = json::array();
            for (const Ref& r : refs) node.push_back(json::array({r.layer, r.call, 0, json::object()}));
            nodes.push_back(node);
        }
        e["inbound_nodes"] = nodes;
        if (frozen && e["config"].is_object()) e["config"]["trainable"] = false;
        layers_.push_back(std::move(e));
    }

    // The flat model's input, from an InputLayer or a first layer's input shape.
    Ref make_input(const json& e, const json& model) {
        json input = {{"class_name", "InputLayer"}, {"config", json::object()}};
        const json c = e.contains("config") ? e["config"] : json::object();
        for (const char* key : {"batch_input_shape", "batch_shape"})
            if (c.is_object() && c.contains(key)) input["config"]["batch_input_shape"] = c[key];
        for (const char* key : {"input_shape", "shape"})
            if (c.is_object() && c.contains(key) && c[key].is_array()) {
                json b = json::array({nullptr});
                for (const json& d : c[key]) b.push_back(d);
                input["config"]["batch_input_shape"] = b;
            }
        if (!input["config"].contains("batch_input_shape") && model["config"].is_object() &&
            model["config"].contains("build_input_shape"))
            input["config"]["batch_input_shape"] = model["config"]["build_input_shape"];
        input_ = name_of(e) + "_input";
        input["config"]["name"] = input_;
        emit(input, {}, false);
        return {input_, 0};
    }

    static json without_input_shape(json e) {
        if (e["config"].is_object())
            for (const char* key : {"batch_input_shape", "batch_shape", "input_shape", "shape"}) e["config"].erase(key);
        return e;
    }

    // Inlines model `m` called on `in` (none: it holds the flat model's input); gives its output.
    Ref expand(const json& m, std::optional<Ref> in, const std::string& context, int depth, bool frozen_above = false) {
        if (depth > 16) throw DataError(where_, context + ": models nested more than 16 deep");
        if (!m.contains("config") || !(m["config"].is_object() || m["config"].is_array()))
            throw DataError(where_, context + ": a model without its \"config\"");
        bool frozen = frozen_above || (depth > 0 && m["config"].is_object() && m["config"].contains("trainable") &&
                                       m["config"]["trainable"] == false);
        std::string cls = m["class_name"].get<std::string>();
        const json& entries = layers_of(m);
        if (cls == "Sequential") {
            std::optional<Ref> cur = in;
            int number = 0;
            for (const json& e : entries) {
                std::string here = context + ", layer " + std::to_string(++number);
                if (!e.is_object() || !e.contains("class_name")) throw DataError(where_, here + ": not a Keras layer");
                if (is_model(e)) {
                    cur = expand(e, cur, here + " (" + name_of(e) + ")", depth + 1, frozen);
                    continue;
                }
                if (e["class_name"] == "InputLayer") {
                    if (!cur) {
                        input_ = name_of(e);
                        emit(e, {}, false);
                        cur = Ref{input_, 0};
                    }
                    continue;
                }
                if (name_of(e).empty()) throw DataError(where_, here + ": a layer without a \"name\" (Keras names every layer)");
                if (!cur) cur = make_input(e, m);
                emit(without_input_shape(e), {{*cur}}, frozen);
                cur = Ref{name_of(e), 0};
            }
            if (!cur || (in && cur->layer == in->layer && cur->call == in->call))
                throw DataError(where_, context + ": a model with no layers");
            return *cur;
        }
        // Functional: its InputLayer stands for `in`; a nested model for its output.
        const json& c = m["config"];
        if (!c.is_object() || !c.contains("input_layers") || !c.contains("output_layers"))
            throw DataError(where_, context + ": a Functional model needs \"input_layers\" and \"output_layers\"");
        Ref model_in = keras_ends(c["input_layers"], "input_layers", where_)[0];
        std::map<std::string, Ref> replaced;  // an inner InputLayer or model -> what stands for it
        auto translate = [&](std::vector<Ref> refs) {
            for (Ref& r : refs) {
                auto it = replaced.find(r.layer);
                if (it != replaced.end()) r = it->second;
            }
            return refs;
        };
        int number = 0;
        for (const json& e : entries) {
            std::string name = name_of(e);
            std::string here = context + ", layer " + std::to_string(++number) + " (" + name + ")";
            if (!e.is_object() || !e.contains("class_name")) throw DataError(where_, here + ": not a Keras layer");
            if (e["class_name"] == "InputLayer") {
                if (name != model_in.layer) throw DataError(where_, here + ": a second input; nntrain reads models of one input");
                if (in) {
                    replaced[name] = *in;
                } else {
                    input_ = name;
                    emit(e, {}, false);
                }
                continue;
            }
            std::vector<std::vector<Ref>> calls = keras_calls(e.value("inbound_nodes", json::array()), here, where_);
            for (auto& refs : calls) refs = translate(refs);
            if (is_model(e)) {
                if (calls.size() != 1 || calls[0].size() != 1)
                    throw DataError(where_, here + ": a model called " + std::to_string(calls.size()) +
                                                " times or on several inputs; inlined models are called once");
                replaced[name] = expand(e, calls[0][0], here, depth + 1, frozen);
                continue;
            }
            emit(e, calls, frozen);
        }
        Ref out = keras_ends(c["output_layers"], "output_layers", where_)[0];
        return translate({out})[0];
    }

    std::string where_;
    json layers_ = json::array();
    std::string input_;
};

// Reads one "layers" entry into a layer (and its inputs), or into the model input.
struct Reader {
    std::string where;
    Spec& spec;
    std::vector<Call> calls;
    std::map<std::string, size_t> layer_index;
    bool input_named = false;

    void entry(const json& e, int number, bool functional_keras) {
        std::string context = "layer " + std::to_string(number);
        if (!e.is_object()) throw DataError(where, context + ": not a JSON object");
        std::string given;
        json config;
        json inbound;
        if (e.contains("class_name")) {  // Keras: {"class_name": ..., "config": {...}, "inbound_nodes": [...]}
            Config outer(e, context, where);
            given = outer.string("class_name", "");
            outer.ignore({"module", "registered_name", "build_config", "name"});
            if (outer.has("inbound_nodes")) inbound = outer.raw("inbound_nodes");
            outer.ignore({"inbound_nodes"});
            if (!outer.has("config")) outer.missing("config");
            config = outer.raw("config");
            outer.finish();
        } else if (e.contains("call")) {  // our form: another call of a layer defined above
            Config c(e, context, where);
            Call call;
            std::string name = c.string("call", "");
            auto it = layer_index.find(name);
            if (it == layer_index.end())
                throw DataError(where, context + ": \"call\": no layer \"" + name + "\" above it");
            call.layer = it->second;
            for (const Call& k : calls)
                if (k.layer == call.layer) call.call = std::max(call.call, k.call + 1);
            if (!c.has("inputs")) c.missing("inputs");
            call.inputs = refs(c.raw("inputs"), context);
            call.chained = false;
            c.finish();
            calls.push_back(call);
            spec.functional = true;
            return;
        } else if (e.contains("type") && e["type"].is_string()) {
            given = e["type"].get<std::string>();
            config = e;
        } else {
            throw DataError(where, context + ": needs \"type\" (one of " + join(layer_types()) + ")");
        }
        std::string type = canonical_type(given, context, where);
        std::string name = config.is_object() && config.contains("name") && config["name"].is_string()
                               ? config["name"].get<std::string>() : "";
        context += " (" + (name.empty() ? type : name) + ")";
        Config c(config, context, where);
        c.ignore({"type", "class_name"});
        std::vector<Ref> inputs;
        bool chained = true;
        if (!e.contains("class_name") && c.has("inputs")) {
            inputs = refs(c.raw("inputs"), context);
            chained = false;
            spec.functional = true;
        }
        c.ignore({"inputs"});
        LayerSpec l;
        l.type = type;
        l.entry = number;
        l.name = c.string("name", "");
        // Keras 2 puts the input shape on the first layer; Keras 3 on an InputLayer.
        Shape shape_here;
        for (const char* key : {"batch_input_shape", "batch_shape"})
            if (c.has(key)) shape_here = c.shape(key, true);
        for (const char* key : {"input_shape", "shape"})
            if (c.has(key)) shape_here = c.shape(key, false);
        if (type == "InputLayer") {
            c.ignore({"sparse", "ragged", "input_tensor", "batch_size", "optional", "dtype"});
            c.finish();
            if (!spec.layers.empty() || input_named)
                throw DataError(where, context + ": the model has a second input; nntrain trains models of one input");
            if (!shape_here.empty()) take_input_shape(shape_here, context);
            if (!l.name.empty()) spec.input_name = l.name;
            input_named = true;
            return;
        }
        const LayerKind* kind = find_layer_kind(type);
        parse_common_keys(c, l);
        kind->parse(c, l);
        c.finish();
        if (!shape_here.empty()) {
            if (!spec.layers.empty())
                throw DataError(where, context + ": an input shape is only allowed before the first layer");
            take_input_shape(shape_here, context);
        }
        size_t index = spec.layers.size();
        if (!l.name.empty()) layer_index[l.name] = index;
        spec.layers.push_back(std::move(l));
        if (functional_keras) {
            std::vector<std::vector<Ref>> calls_in = keras_calls(inbound.is_null() ? json::array() : inbound, context, where);
            if (calls_in.empty()) throw DataError(where, context + ": no inbound node: the layer is not called");
            for (size_t k = 0; k < calls_in.size(); ++k) calls.push_back({index, int(k), false, calls_in[k]});
        } else {
            calls.push_back({index, 0, chained, inputs});
        }
    }

    void take_input_shape(const Shape& s, const std::string& context) {
        if (!spec.input_shape.empty() && spec.input_shape != s)
            throw DataError(where, context + ": input shape " + shape_tuple(s) + " differs from " +
                                       shape_tuple(spec.input_shape) + " given before");
        spec.input_shape = s;
    }

    std::vector<Ref> refs(const json& v, const std::string& context) {
        std::vector<Ref> out;
        if (v.is_string()) out.push_back(parse_ref_text(v.get<std::string>(), context, where));
        else if (v.is_array() && !v.empty())
            for (const json& r : v) {
                if (!r.is_string()) throw DataError(where, context + ": \"inputs\" must hold layer names, not " + r.dump());
                out.push_back(parse_ref_text(r.get<std::string>(), context, where));
            }
        else throw DataError(where, context + ": \"inputs\" must be a layer name or a list of them, not " + v.dump());
        return out;
    }
};

void name_layers(Spec& spec, const std::string& where) {
    std::map<std::string, int> counts;
    std::set<std::string> seen = {spec.input_name};
    for (LayerSpec& l : spec.layers)
        if (!l.name.empty()) seen.insert(l.name);
    for (LayerSpec& l : spec.layers) {
        if (!l.name.empty()) continue;
        std::string base = keras_detail::to_snake_case(l.type);  // "MaxPooling2D" -> "max_pooling2d", as Keras does
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
    std::set<std::string> names = {spec.input_name};
    for (const LayerSpec& l : spec.layers)
        if (!names.insert(l.name).second)
            throw DataError(where, "layer " + std::to_string(l.entry) + ": the name \"" + l.name + "\" is used twice");
}

std::string layer_context(const LayerSpec& l) {
    return "layer " + std::to_string(l.entry) + " (" + l.name + ", " + l.type + ")";
}

// Orders the calls so that every input comes first, keeps only what the output reads.
void build_graph(Spec& spec, std::vector<Call>& calls, const Ref* output, const std::string& where) {
    // Resolve references to call indices.
    std::map<std::pair<std::string, int>, size_t> by_ref;
    for (size_t i = 0; i < calls.size(); ++i) by_ref[{spec.layers[calls[i].layer].name, calls[i].call}] = i;
    std::vector<std::vector<int>> inputs(calls.size());
    std::vector<std::string> names = {spec.input_name};
    for (const LayerSpec& l : spec.layers) names.push_back(l.name);
    for (size_t i = 0; i < calls.size(); ++i) {
        const Call& c = calls[i];
        std::string context = layer_context(spec.layers[c.layer]);
        if (c.chained) {
            inputs[i] = {i == 0 ? kModelInput : int(i - 1)};
            continue;
        }
        for (const Ref& r : c.inputs) {
            if (r.layer == spec.input_name && r.call == 0) {
                inputs[i].push_back(kModelInput);
                continue;
            }
            auto it = by_ref.find({r.layer, r.call});
            if (it == by_ref.end()) {
                std::string hint = did_you_mean(r.layer, names);
                bool known = std::find(names.begin(), names.end(), r.layer) != names.end();
                throw DataError(where, context + ": reads \"" + ref_text(r) + "\", which " +
                                           (known ? "is not called that many times" : "is no layer of the model") +
                                           (hint.empty() || known ? "" : "; did you mean \"" + hint + "\"?"));
            }
            if (it->second == i) throw DataError(where, context + ": reads its own output");
            inputs[i].push_back(int(it->second));
        }
    }
    // The output and what it reads.
    size_t out = calls.size() - 1;
    if (output) {
        auto it = by_ref.find({output->layer, output->call});
        if (it == by_ref.end()) throw DataError(where, "output_layers: no layer \"" + output->layer + "\"");
        out = it->second;
    }
    std::vector<bool> needed(calls.size(), false);
    std::vector<size_t> stack = {out};
    while (!stack.empty()) {
        size_t i = stack.back();
        stack.pop_back();
        if (needed[i]) continue;
        needed[i] = true;
        for (int j : inputs[i])
            if (j != kModelInput) stack.push_back(size_t(j));
    }
    for (size_t i = 0; i < calls.size(); ++i)
        if (!needed[i])
            throw DataError(where, layer_context(spec.layers[calls[i].layer]) + ": its output is never used (the "
                                   "model's output is " + spec.layers[calls[out].layer].name + "); remove the layer or "
                                   "name it in a later layer's \"inputs\"");
    // Kahn's order, stable in the written order (a cycle leaves calls unplaced).
    std::vector<int> order_of(calls.size(), -1);
    spec.nodes.clear();
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < calls.size(); ++i) {
            if (order_of[i] >= 0) continue;
            bool ready = true;
            for (int j : inputs[i]) ready = ready && (j == kModelInput || order_of[size_t(j)] >= 0);
            if (!ready) continue;
            Node n;
            n.layer = calls[i].layer;
            n.call = calls[i].call;
            for (int j : inputs[i]) n.inputs.push_back(j == kModelInput ? kModelInput : order_of[size_t(j)]);
            order_of[i] = int(spec.nodes.size());
            spec.nodes.push_back(n);
            progress = true;
        }
    }
    for (size_t i = 0; i < calls.size(); ++i)
        if (order_of[i] < 0)
            throw DataError(where, layer_context(spec.layers[calls[i].layer]) + ": its inputs form a cycle");
    // Every call reaches the output, so the output is last.
}

void count_params(LayerSpec& l) {
    l.trainable_params = l.non_trainable_params = 0;
    for (const WeightSpec& w : layer_weights(l)) {
        int64_t n = 1;
        for (int64_t d : w.shape) n *= d;
        (w.trainable ? l.trainable_params : l.non_trainable_params) += n;
    }
}

// Whether a Keras model's JSON was written by Keras 2 (or 1) or for tfjs-layers,
// whose hard_sigmoid is 0.2x + 0.5 where Keras 3's (our hard_sigmoid) is
// relu6(x + 3) / 6: its "keras_version", "2.6.0" or "tfjs-layers 1.3.1" (a TF.js
// model.json's, which read_keras_model sets; absent: Keras 3's, ours).
bool keras2_functions(const json& doc) {
    if (!doc.contains("keras_version") || !doc["keras_version"].is_string()) return false;
    const std::string v = doc["keras_version"];
    return v.rfind("tfjs", 0) == 0 || (!v.empty() && (v[0] == '1' || v[0] == '2') && (v.size() == 1 || v[1] == '.'));
}

}  // namespace

const LayerSpec* augmentation_layer(const Spec& spec) {
    for (const Node& n : spec.nodes)
        if (spec.layers[n.layer].kind().is(kAugmentation)) return &spec.layers[n.layer];
    return nullptr;
}

const LayerSpec* raw_input_layer(const Spec& spec) {
    std::vector<char> raw(spec.nodes.size(), 0);  // the node's output is still the input's scale
    for (size_t k = 0; k < spec.nodes.size(); ++k) {
        const Node& n = spec.nodes[k];
        bool reads_raw = false;
        for (int i : n.inputs) reads_raw |= i == kModelInput || raw[size_t(i)];
        const LayerSpec& l = spec.layers[n.layer];
        if (!reads_raw || l.kind().is(kScalesInput)) continue;
        if (!layer_weights(l).empty()) return &l;
        raw[k] = 1;
    }
    return nullptr;
}

const LayerSpec* byte_scaling_layer(const Spec& spec, std::array<double, 2>* to) {
    std::vector<char> plain(spec.nodes.size(), 0);
    for (size_t k = 0; k < spec.nodes.size(); ++k) {
        const Node& n = spec.nodes[k];
        bool reads_input = true;
        for (int i : n.inputs) reads_input &= i == kModelInput || plain[size_t(i)];
        const LayerSpec& l = spec.layers[n.layer];
        if (!reads_input) continue;
        const LayerKind& kind = l.kind();
        if (auto range = kind.byte_range ? kind.byte_range(l) : std::nullopt) {
            double width = std::fabs((*range)[1] - (*range)[0]);
            if (width >= 0.9 && width <= 2.1) {
                if (to) *to = {std::min((*range)[0], (*range)[1]), std::max((*range)[0], (*range)[1])};
                return &l;
            }
        }
        plain[k] = kind.is(kKeepsValues) ? 1 : 0;
    }
    return nullptr;
}

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
    Reader reader{where, spec, {}, {}, false};
    json layers;
    bool functional_keras = false;
    std::vector<Ref> outputs;
    auto take_shape = [&](const json& v, bool batch, const std::string& what) {
        json holder = json::object();
        holder[what] = v;
        Config c(holder, what, where);
        spec.input_shape = c.shape(what, batch);
    };
    if (doc.contains("class_name")) {  // Keras' model.to_json()
        if (Inliner::is_model(doc) && Inliner::has_nested(doc)) doc = Inliner(where).inline_all(doc);
        std::string cls = doc["class_name"].is_string() ? doc["class_name"].get<std::string>() : "";
        functional_keras = cls == "Functional" || cls == "Model";
        if (cls != "Sequential" && !functional_keras)
            throw DataError(where, "Keras model \"" + cls + "\": only Sequential and Functional models are supported");
        Config top(doc, "model", where);
        top.ignore({"class_name", "keras_version", "backend", "module", "registered_name"});
        if (top.has("build_config") && doc["build_config"].is_object() && doc["build_config"].contains("input_shape") &&
            !doc["build_config"]["input_shape"].is_null() && !functional_keras)
            take_shape(doc["build_config"]["input_shape"], true, "build_config.input_shape");
        top.ignore({"build_config"});
        if (top.has("compile_config")) {
            const json& cc = doc["compile_config"];
            if (cc.is_object()) {
                if (cc.contains("loss") && !cc["loss"].is_null()) spec.loss = parse_loss(cc["loss"], where);
                if (cc.contains("optimizer") && !cc["optimizer"].is_null()) parse_optimizer(cc["optimizer"], where, spec.optimizer);
                if (cc.contains("metrics") && !cc["metrics"].is_null()) {
                    // A model from elsewhere still trains without a metric we do not compute.
                    std::vector<std::string> unknown;
                    spec.metrics = parse_metrics(cc["metrics"], where, &unknown);
                    spec.metrics_given = true;
                    for (const std::string& name : unknown)
                        std::cerr << stderr_line_start() + progress_prefixed(where + ": compile_config: metric " + name +
                                     " is not one nntrain computes (" + join({"accuracy", "mae", "mse", "rmse", "r2", "precision", "recall", "f1", "auc", "mean_iou", "dice"}) +
                                     "); it is left out") + "\n";
                }
            }
        }
        top.ignore({"compile_config"});
        if (!top.has("config") || !doc["config"].is_object()) top.missing("config");
        top.raw("config");
        top.finish();
        Config cfg(doc["config"], "model config", where);
        cfg.ignore({"name", "trainable", "dtype"});
        spec.name = cfg.string("name", functional_keras ? "model" : "sequential");
        if (cfg.has("build_input_shape")) take_shape(doc["config"]["build_input_shape"], true, "build_input_shape");
        cfg.ignore({"build_input_shape"});
        if (functional_keras) {
            if (!cfg.has("input_layers")) cfg.missing("input_layers");
            if (!cfg.has("output_layers")) cfg.missing("output_layers");
            keras_ends(cfg.raw("input_layers"), "input_layers", where);
            outputs = keras_ends(cfg.raw("output_layers"), "output_layers", where);
            spec.functional = true;
        }
        if (!cfg.has("layers")) cfg.missing("layers");
        layers = cfg.raw("layers");
        cfg.finish();
    } else {  // our compact form
        Config top(doc, "model", where);
        spec.name = top.string("name", "sequential");
        for (const char* key : {"input_shape", "input"})
            if (top.has(key)) spec.input_shape = top.shape(key, false);
        if (top.has("loss")) spec.loss = parse_loss(top.raw("loss"), where);
        if (top.has("optimizer")) parse_optimizer(top.raw("optimizer"), where, spec.optimizer);
        if (top.has("metrics")) {
            spec.metrics = parse_metrics(top.raw("metrics"), where);
            spec.metrics_given = true;
        }
        top.ignore({"format"});
        if (doc.contains("modelTopology")) {  // TF.js' model.json: {"format": "layers-model", "modelTopology": ...}
            const json& t = doc["modelTopology"];
            std::string path = t.is_object() && t.contains("model_config") ? ".modelTopology.model_config" : ".modelTopology";
            throw DataError(where, "a TF.js model.json is not read yet; its architecture alone is Keras JSON, which "
                                   "nntrain reads: jq " + path + " model.json > spec.json");
        }
        if (!top.has("layers")) top.missing("layers", ": a list of layers");
        layers = top.raw("layers");
        top.finish();
    }
    if (!layers.is_array()) throw DataError(where, "\"layers\" must be a list");
    int number = 0;
    for (const json& entry : layers) reader.entry(entry, ++number, functional_keras);
    if (spec.functional && !doc.contains("class_name") && !doc.contains("name")) spec.name = "model";
    if (spec.input_shape.empty())
        throw DataError(where, "no input shape: add \"input_shape\": [64, 64, 3] (height, width, channels) to the "
                               "spec, or an InputLayer with \"shape\"");
    if (spec.layers.empty()) throw DataError(where, "the model has no layers");
    if (keras2_functions(doc))
        for (LayerSpec& l : spec.layers)
            if (l.activation == Activation::HardSigmoid) l.activation = Activation::Keras2HardSigmoid;
    name_layers(spec, where);
    build_graph(spec, reader.calls, outputs.empty() ? nullptr : &outputs[0], where);
    infer_shapes(spec, where);
    return spec;
}

void infer_shapes(Spec& spec, const std::string& where) {
    std::vector<bool> shaped(spec.layers.size(), false);
    for (Node& n : spec.nodes) {
        LayerSpec& l = spec.layers[n.layer];
        std::string context = layer_context(l);
        const LayerKind* kind = find_layer_kind(l.type);
        n.input_shapes.clear();
        for (int i : n.inputs) n.input_shapes.push_back(i == kModelInput ? spec.input_shape : spec.nodes[size_t(i)].output_shape);
        int count = int(n.inputs.size());
        if (count < kind->min_inputs || count > kind->max_inputs)
            throw DataError(where, context + ": takes " +
                                       (kind->min_inputs == kind->max_inputs ? std::to_string(kind->min_inputs)
                                                                             : std::to_string(kind->min_inputs) + " or more") +
                                       " input" + (kind->min_inputs > 1 ? "s" : "") + ", not " + std::to_string(count));
        try {
            n.output_shape = kind->shape(l, n.input_shapes);
        } catch (const ShapeError& e) {
            throw DataError(where, context + ": " + e.what());
        }
        if (!shaped[n.layer]) {
            l.input_shape = n.input_shapes[0];
            l.output_shape = n.output_shape;
            count_params(l);
            shaped[n.layer] = true;
        } else if (kind->weights && n.input_shapes[0] != l.input_shape) {
            throw DataError(where, context + ": called again on " + shape_tuple(n.input_shapes[0]) +
                                       ", but its weights were built for " + shape_tuple(l.input_shape));
        }
    }
}

Shape Spec::output_shape() const { return nodes.empty() ? input_shape : nodes.back().output_shape; }

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
    auto ref = [&](int i) {
        if (i == kModelInput) return input_name;
        const Node& n = nodes[size_t(i)];
        return layers[n.layer].name + (n.call ? "[" + std::to_string(n.call) + "]" : "");
    };
    if (functional) layers_json.push_back({{"type", "InputLayer"}, {"name", input_name}, {"shape", input_shape}});
    for (const Node& n : nodes) {
        const LayerSpec& l = layers[n.layer];
        json inputs = json::array();
        for (int i : n.inputs) inputs.push_back(ref(i));
        if (n.call > 0) {
            layers_json.push_back({{"call", l.name}, {"inputs", inputs}});
            continue;
        }
        json j = {{"type", l.type}, {"name", l.name}};
        if (functional) j["inputs"] = inputs;
        if (!l.trainable) j["trainable"] = false;
        find_layer_kind(l.type)->save(l, j);
        layers_json.push_back(j);
    }
    json doc = {{"name", name}, {"input_shape", input_shape}, {"layers", layers_json},
                {"optimizer", optimizer.to_json()}, {"metrics", metrics}};
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
    // Keras 2's print_row: column stops at .45/.85 of 65 (Sequential) or .33/.55/.67 of 98
    // (Functional, with "Connected to"); a cell too long for its column wraps,
    // at the end of a "),", "]," or "'," when it holds one.
    std::vector<size_t> stops = spec.functional ? std::vector<size_t>{32, 53, 65, 98} : std::vector<size_t>{29, 55, 65};
    auto row = [&](std::vector<std::string> left) {
        std::string out;
        auto pending = [&] {
            for (const std::string& c : left)
                if (!c.empty()) return true;
            return false;
        };
        do {
            std::string line;
            for (size_t col = 0; col < left.size(); ++col) {
                size_t start = col ? stops[col - 1] : 0, end = stops[col];
                size_t space = col + 1 != stops.size() ? 2 : 0;
                size_t cutoff = end - start - space;
                std::string fit = left[col].substr(0, cutoff);
                size_t best = std::string::npos;
                for (const char* brk : {"),", "},", "],", "',"}) {
                    size_t at = fit.find(brk);
                    if (at != std::string::npos) best = std::min(best, at + 2);
                }
                if (best != std::string::npos) cutoff = best, fit = fit.substr(0, cutoff);
                if (col == 0) line += ' ';
                line += fit + std::string(space, ' ');
                left[col] = left[col].size() > cutoff ? left[col].substr(cutoff) : "";
                if (line.size() < end) line.resize(end, ' ');
            }
            out += line + "\n";
        } while (pending());
        return out;
    };
    size_t width = stops.back();
    std::string rule(width, '_'), thick(width, '=');
    std::vector<std::string> head = {"Layer (type)", "Output Shape", "Param #"};
    if (spec.functional) head.push_back("Connected to");
    std::string out = "Model: \"" + spec.name + "\"\n" + rule + "\n" + row(head) + thick + "\n";
    std::vector<std::string> rows;
    if (spec.functional)
        rows.push_back(row({spec.input_name + " (InputLayer)", "[" + shape_tuple(spec.input_shape) + "]", "0", "[]"}));
    for (size_t li = 0; li < spec.layers.size(); ++li) {
        const LayerSpec& l = spec.layers[li];
        std::vector<std::string> cells = {l.name + " (" + l.type + ")", shape_tuple(l.output_shape),
                                          std::to_string(l.trainable_params + l.non_trainable_params)};
        if (!spec.functional) {
            rows.push_back(row(cells));
            continue;
        }
        std::string connected;
        for (const Node& n : spec.nodes) {
            if (n.layer != li) continue;
            for (int i : n.inputs) {
                std::string r = i == kModelInput ? spec.input_name + "[0][0]"
                                                 : ref_text({spec.layers[spec.nodes[size_t(i)].layer].name, spec.nodes[size_t(i)].call});
                connected += (connected.empty() ? "'" : ", '") + r + "'";
            }
        }
        cells.push_back("[" + connected + "]");
        rows.push_back(row(cells));
    }
    for (size_t i = 0; i < rows.size(); ++i) {
        out += rows[i];
        if (i + 1 < rows.size()) out += std::string(width, ' ') + "\n";
    }
    int64_t trainable = spec.trainable_params(), fixed = spec.non_trainable_params();
    out += thick + "\nTotal params: " + thousands(trainable + fixed) + "\nTrainable params: " + thousands(trainable) +
           "\nNon-trainable params: " + thousands(fixed) + "\n" + rule + "\n";
    return out;
}

void set_trainable(Spec& spec, const std::vector<std::string>& freeze, const std::vector<std::string>& unfreeze) {
    auto apply = [&](const std::vector<std::string>& patterns, bool trainable, const char* option) {
        for (const std::string& pattern : patterns) {
            bool matched = false;
            for (LayerSpec& l : spec.layers)
                if (fnmatch(pattern.c_str(), l.name.c_str(), 0) == 0) {
                    l.trainable = trainable;
                    matched = true;
                }
            if (!matched) {
                std::vector<std::string> names;
                for (const LayerSpec& l : spec.layers) names.push_back(l.name);
                std::string hint = did_you_mean(pattern, names);
                throw UsageError(std::string(option) + " '" + pattern + "': no layer of the model is named so" +
                                 (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
            }
        }
    };
    apply(freeze, false, "--freeze");
    apply(unfreeze, true, "--unfreeze");
    for (LayerSpec& l : spec.layers) count_params(l);
}

}  // namespace imgpipe::nn
