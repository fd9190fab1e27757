#include "nn/compile.hpp"

#include <cmath>

#include "cli/error.hpp"
#include "nn/config.hpp"

namespace imgpipe::nn {

using nlohmann::json;

namespace {
const std::vector<std::string> kLosses = {"binary_crossentropy", "categorical_crossentropy",
                                          "sparse_categorical_crossentropy", "mse", "mae", "huber",
                                          "log_cosh", "dice", "ce_dice"};
const std::vector<std::string> kMetrics = {"accuracy", "binary_accuracy", "categorical_accuracy",
                                           "sparse_categorical_accuracy", "mae", "mse",
                                           "root_mean_squared_error", "r2_score", "precision", "recall",
                                           "f1_score", "auc", "mean_iou", "iou", "dice"};
const std::vector<std::string> kOptimizers = {"adam", "adamw", "nadam", "sgd", "rmsprop"};
const std::vector<std::string> kSchedules = {"ExponentialDecay", "InverseTimeDecay", "PolynomialDecay", "CosineDecay",
                                             "PiecewiseConstantDecay"};

// The class name of a Keras object ({"class_name": ...}) or of our compact one ({"type": ...}).
std::string type_of(const json& v) {
    if (v.contains("class_name") && v["class_name"].is_string()) return v["class_name"].get<std::string>();
    if (v.contains("type") && v["type"].is_string()) return v["type"].get<std::string>();
    return "";
}

// Keras nests the arguments in "config"; our compact form has them beside "type".
const json& config_of(const json& v) { return v.contains("config") && v["config"].is_object() ? v["config"] : v; }

std::vector<double> numbers(Config& c, const char* key) {
    const json& v = c.raw(key);
    if (!v.is_array() || v.empty()) c.fail(std::string("\"") + key + "\" must be a list of numbers, not " + v.dump());
    std::vector<double> out;
    for (const json& x : v) {
        if (!x.is_number()) c.fail(std::string("\"") + key + "\" must hold numbers, not " + x.dump());
        out.push_back(x.get<double>());
    }
    return out;
}

std::string number_text(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}
}  // namespace

// ---------------------------------------------------------------- schedules

double LearningRateSchedule::at(int64_t step_count) const {
    const double step = double(step_count);
    if (type == "ExponentialDecay" || type == "InverseTimeDecay") {
        double p = step / decay_steps;
        if (staircase) p = std::floor(p);
        if (type == "ExponentialDecay") return initial_learning_rate * std::pow(decay_rate, p);
        return initial_learning_rate / (1 + decay_rate * p);
    }
    if (type == "PolynomialDecay") {
        double s = step, steps = decay_steps;
        if (cycle) steps *= step == 0 ? 1 : std::ceil(step / decay_steps);  // the first multiple past the step
        else s = std::min(s, decay_steps);
        return (initial_learning_rate - end_learning_rate) * std::pow(1 - s / steps, power) + end_learning_rate;
    }
    if (type == "CosineDecay") {
        auto decay = [&](double s, double from) {
            double cosine = 0.5 * (1 + std::cos(M_PI * (s / decay_steps)));
            return from * ((1 - alpha) * cosine + alpha);
        };
        if (!warmup_target) return decay(std::min(step, decay_steps), initial_learning_rate);
        double s = std::min(step, decay_steps + warmup_steps);
        if (s < warmup_steps) return (*warmup_target - initial_learning_rate) * (s / warmup_steps) + initial_learning_rate;
        return decay(s - warmup_steps, *warmup_target);
    }
    if (type == "PiecewiseConstantDecay") {
        // values[0] up to and including boundaries[0], values[i] in (boundaries[i-1], boundaries[i]].
        // Keras casts the boundaries to the step's integer type.
        for (size_t i = 0; i < boundaries.size(); ++i)
            if (step <= std::trunc(boundaries[i])) return values[i];
        return values.back();
    }
    throw Error(kSoftware, "", "unknown learning-rate schedule \"" + type + "\"");
}

json LearningRateSchedule::to_json() const {
    json config;
    if (type == "PiecewiseConstantDecay") {
        config = {{"boundaries", boundaries}, {"values", values}};
    } else {
        config = {{"initial_learning_rate", initial_learning_rate}, {"decay_steps", decay_steps}};
        if (type == "ExponentialDecay" || type == "InverseTimeDecay") {
            config["decay_rate"] = decay_rate;
            config["staircase"] = staircase;
        } else if (type == "PolynomialDecay") {
            config["end_learning_rate"] = end_learning_rate;
            config["power"] = power;
            config["cycle"] = cycle;
        } else {
            config["alpha"] = alpha;
            config["warmup_target"] = warmup_target ? json(*warmup_target) : json(nullptr);
            config["warmup_steps"] = warmup_steps;
        }
    }
    return {{"class_name", type}, {"config", config}};
}

LearningRateSchedule parse_schedule(const json& v, const std::string& where) {
    if (!v.is_object())
        throw DataError(where, "optimizer: \"learning_rate\" must be a number or a schedule, not " + v.dump());
    std::string given = type_of(v);
    if (given.empty())
        throw DataError(where, "optimizer: learning_rate: a schedule needs \"class_name\" (" + join(kSchedules) + ")");
    LearningRateSchedule s;
    try {
        s.type = pick("learning-rate schedule", given, kSchedules, {});
    } catch (const UsageError& e) {
        throw DataError(where, std::string("optimizer: learning_rate: ") + e.what());
    }
    Config c(config_of(v), "optimizer: learning_rate " + s.type, where);
    c.ignore({"type", "class_name", "module", "registered_name", "config", "name"});
    auto required = [&](const char* key) {
        if (!c.has(key)) c.missing(key);
        return c.number(key, 0);
    };
    auto positive = [&](const char* key, double value) {
        if (!(value > 0)) c.fail(std::string("\"") + key + "\" must be > 0, not " + number_text(value));
        return value;
    };
    if (s.type == "PiecewiseConstantDecay") {
        if (!c.has("boundaries")) c.missing("boundaries");
        if (!c.has("values")) c.missing("values");
        s.boundaries = numbers(c, "boundaries");
        s.values = numbers(c, "values");
        if (s.values.size() != s.boundaries.size() + 1)
            c.fail("\"values\" must have one more entry than \"boundaries\" (" + std::to_string(s.values.size()) +
                   " values, " + std::to_string(s.boundaries.size()) + " boundaries)");
        for (size_t i = 1; i < s.boundaries.size(); ++i)
            if (!(s.boundaries[i] > s.boundaries[i - 1])) c.fail("\"boundaries\" must increase strictly");
    } else {
        s.initial_learning_rate = required("initial_learning_rate");
        s.decay_steps = positive("decay_steps", required("decay_steps"));
        if (s.type == "ExponentialDecay" || s.type == "InverseTimeDecay") {
            s.decay_rate = required("decay_rate");
            s.staircase = c.boolean("staircase", false);
        } else if (s.type == "PolynomialDecay") {
            s.end_learning_rate = c.number("end_learning_rate", s.end_learning_rate);
            s.power = c.number("power", s.power);
            s.cycle = c.boolean("cycle", false);
        } else {  // CosineDecay
            s.alpha = c.number("alpha", 0);
            double target = c.number("warmup_target", std::nan(""));  // null: no warmup
            if (!std::isnan(target)) s.warmup_target = target;
            s.warmup_steps = c.number("warmup_steps", 0);
            if (s.warmup_steps < 0) c.fail("\"warmup_steps\" must be >= 0, not " + number_text(s.warmup_steps));
            if (s.warmup_target && s.warmup_steps == 0) s.warmup_target.reset();  // Keras: straight to the decay
        }
    }
    c.finish();
    return s;
}

// ---------------------------------------------------------------- optimizers

OptimizerSpec default_optimizer(const std::string& name) {
    OptimizerSpec o;
    o.name = name;
    if (name == "sgd") o.learning_rate = 0.01;
    if (name == "adamw") o.weight_decay = 0.004;
    return o;
}

void parse_optimizer(const json& v, const std::string& where, OptimizerSpec& o) {
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object()) name = type_of(v);
    else throw DataError(where, "optimizer: must be a name or an object, not " + v.dump());
    if (name.empty()) throw DataError(where, "optimizer: needs \"type\" (" + join(kOptimizers) + ")");
    try {
        o = default_optimizer(canonical_optimizer(name));
    } catch (const UsageError& e) {
        throw DataError(where, std::string("optimizer: ") + e.what());
    }
    if (v.is_string()) return;
    const json& config = config_of(v);
    Config c(config, "optimizer", where);
    c.ignore({"type", "class_name", "name", "module", "registered_name", "config", "decay", "is_legacy_optimizer",
              "jit_compile", "ema_overwrite_frequency", "ema_momentum", "loss_scale_factor",
              "gradient_accumulation_steps", "amsgrad", "centered"});
    for (const char* k : {"clipnorm", "global_clipnorm", "clipvalue"}) c.require_default(k, nullptr, "not implemented");
    c.require_default("use_ema", false, "not implemented");
    if (config.contains("amsgrad") && config["amsgrad"] == true) c.fail("amsgrad is not implemented");
    if (config.contains("centered") && config["centered"] == true) c.fail("centered rmsprop is not implemented");
    const char* lr_key = c.has("lr") ? "lr" : "learning_rate";
    if (c.has(lr_key) && c.raw(lr_key).is_object()) {
        o.schedule = parse_schedule(c.raw(lr_key), where);
        o.learning_rate = o.schedule->at(0);
    } else {
        o.learning_rate = c.number(lr_key, o.learning_rate);
        if (!(o.learning_rate >= 0)) c.fail("\"" + std::string(lr_key) + "\" must be >= 0, not " + number_text(o.learning_rate));
    }
    o.beta_1 = c.number("beta_1", o.beta_1);
    o.beta_2 = c.number("beta_2", o.beta_2);
    o.epsilon = c.number("epsilon", o.epsilon);
    o.momentum = c.number("momentum", o.momentum);
    o.nesterov = c.boolean("nesterov", o.nesterov);
    o.rho = c.number("rho", o.rho);
    o.weight_decay = c.number("weight_decay", o.weight_decay);  // null: the optimizer's default
    if (!(o.weight_decay >= 0)) c.fail("\"weight_decay\" must be >= 0, not " + number_text(o.weight_decay));
    c.finish();
}

json OptimizerSpec::to_json() const {
    json opt = {{"type", name}, {"learning_rate", schedule ? schedule->to_json() : json(learning_rate)}};
    if (name == "adam" || name == "adamw" || name == "nadam") {
        opt["beta_1"] = beta_1;
        opt["beta_2"] = beta_2;
        opt["epsilon"] = epsilon;
    } else if (name == "sgd") {
        opt["momentum"] = momentum;
        opt["nesterov"] = nesterov;
    } else {
        opt["rho"] = rho;
        opt["momentum"] = momentum;
        opt["epsilon"] = epsilon;
    }
    if (weight_decay != 0 || name == "adamw") opt["weight_decay"] = weight_decay;
    return opt;
}

// ---------------------------------------------------------------- losses and metrics

std::vector<std::string> parse_metrics(const json& v, const std::string& where, std::vector<std::string>* unknown) {
    std::vector<std::string> out;
    if (v.is_null()) return out;
    if (!v.is_array()) throw DataError(where, "\"metrics\" must be a list, not " + v.dump());
    for (const json& m : v) {
        std::string name;
        if (m.is_string()) name = m.get<std::string>();
        else if (m.is_object() && m.contains("class_name") && m["class_name"].is_string()) {
            name = m["class_name"].get<std::string>();
            // tf.keras 2.3+ saves a function metric wrapped: {"class_name": "MeanMetricWrapper",
            // "config": {"name": "accuracy", "fn": "categorical_accuracy"}}; the function is the metric.
            const json* c = m.contains("config") && m["config"].is_object() ? &m["config"] : nullptr;
            if (name == "MeanMetricWrapper" && c && c->contains("fn") && (*c)["fn"].is_string())
                name = (*c)["fn"].get<std::string>();
        }
        else if (m.is_array()) {  // Keras 3 nests per-output lists
            for (const std::string& s : parse_metrics(m, where, unknown)) out.push_back(s);
            continue;
        } else throw DataError(where, "bad metric " + m.dump());
        try {
            out.push_back(canonical_metric(name));
        } catch (const UsageError& e) {
            if (!unknown) throw DataError(where, std::string("metrics: ") + e.what());
            unknown->push_back(name);
        }
    }
    return out;
}

LossSpec parse_loss(const json& v, const std::string& where) {
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object()) name = type_of(v);
    else throw DataError(where, "\"loss\" must be a name or an object, not " + v.dump());
    if (name.empty()) throw DataError(where, "loss: needs \"type\" (" + join(kLosses) + ")");
    LossSpec loss;
    try {
        loss.name = canonical_loss(name);
    } catch (const UsageError& e) {
        throw DataError(where, std::string("loss: ") + e.what());
    }
    if (v.is_string()) return loss;
    Config c(config_of(v), "loss " + loss.name, where);
    c.ignore({"type", "class_name", "module", "registered_name", "config", "name", "dtype"});
    if (c.has("reduction")) {
        const json& r = c.raw("reduction");
        if (!(r == "auto" || r == "sum_over_batch_size"))
            c.fail("\"reduction\": " + r.dump() + " is not supported (the mean over the batch: \"sum_over_batch_size\")");
    }
    // Keras' Dice sums over every axis of the batch (axis None); the others reduce the class axis.
    if (loss.name == "dice") c.require_default("axis", nullptr, "the Dice sums over the whole batch");
    else c.require_default("axis", -1, "the classes are the last axis");
    bool crossentropy = loss.name.find("crossentropy") != std::string::npos;
    bool smoothable = loss.name == "binary_crossentropy" || loss.name == "categorical_crossentropy";
    if (crossentropy) {
        // The pixels left out come with the data: the mask stream's ignore_index (imgprep --ignore-index).
        c.require_default("ignore_class", nullptr,
                          "the pixels left out are the mask stream's ignore_index, from imgprep --ignore-index");
        loss.from_logits = c.boolean("from_logits", false);
    }
    if (smoothable) {
        loss.label_smoothing = c.number("label_smoothing", 0);
        if (!(loss.label_smoothing >= 0 && loss.label_smoothing <= 1))
            c.fail("\"label_smoothing\" must be between 0 and 1, not " + number_text(loss.label_smoothing));
    } else if (c.has("label_smoothing") && c.raw("label_smoothing") != 0) {
        c.fail("\"label_smoothing\" applies to binary_crossentropy and categorical_crossentropy only");
    }
    if (loss.name == "huber") {
        loss.delta = c.number("delta", 1.0);
        if (!(loss.delta > 0)) c.fail("\"delta\" must be > 0, not " + number_text(loss.delta));
    } else if (c.has("delta")) {
        c.fail("\"delta\" applies to huber only");
    }
    c.finish();
    return loss;
}

void to_json(json& j, const LossSpec& loss) {
    if (!loss.has_options()) {
        j = loss.name;
        return;
    }
    j = {{"type", loss.name}};
    if (loss.label_smoothing != 0) j["label_smoothing"] = loss.label_smoothing;
    if (loss.from_logits) j["from_logits"] = true;
    if (loss.delta != 1.0) j["delta"] = loss.delta;
}

std::string canonical_loss(const std::string& name) {
    return pick("loss", name, kLosses,
                {{"meansquarederror", "mse"}, {"meanabsoluteerror", "mae"}, {"binarycrossentropy", "binary_crossentropy"},
                 {"categoricalcrossentropy", "categorical_crossentropy"},
                 {"sparsecategoricalcrossentropy", "sparse_categorical_crossentropy"},
                 // Keras 3: the Huber class's name is "huber_loss"; "logcosh" is its legacy alias
                 {"huberloss", "huber"}, {"logcosh", "log_cosh"}});
}
std::string canonical_metric(const std::string& name) {
    return pick("metric", name, kMetrics,
                {{"acc", "accuracy"}, {"meansquarederror", "mse"}, {"meanabsoluteerror", "mae"},
                 // our short names for Keras' classes, whose names the history uses
                 {"rmse", "root_mean_squared_error"}, {"r2", "r2_score"}, {"f1", "f1_score"}});
}
std::string canonical_optimizer(const std::string& name) { return pick("optimizer", name, kOptimizers, {}); }

void apply_overrides(CompileSpec& spec, const Overrides& o) {
    if (!o.loss.empty()) {
        std::string name = canonical_loss(o.loss);
        if (name != spec.loss.name) spec.loss = LossSpec(name);
    }
    if (!o.optimizer.empty()) {
        std::string name = canonical_optimizer(o.optimizer);
        if (name != spec.optimizer.name) spec.optimizer = default_optimizer(name);
    }
    if (o.lr > 0) {
        spec.optimizer.learning_rate = o.lr;
        spec.optimizer.schedule.reset();
    }
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

}  // namespace imgpipe::nn
