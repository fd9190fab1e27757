// What Keras calls compile(): the loss, the metrics and the optimizer (with its
// learning-rate schedule), read from our compact spec, from Keras 3's
// compile_config, or from the command line. Torch-free; the update rules live in
// nn/optimizer.hpp, the losses in nn/objective.hpp.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "nn/engine.hpp"

namespace imgpipe::nn {

// Keras' learning-rate schedules (keras.optimizers.schedules), evaluated at the
// optimizer's iteration count before each step, as Keras evaluates them.
struct LearningRateSchedule {
    // ExponentialDecay, InverseTimeDecay, PolynomialDecay, CosineDecay, PiecewiseConstantDecay
    std::string type;
    double initial_learning_rate = 0;
    double decay_steps = 0;                        // all but PiecewiseConstantDecay; > 0
    double decay_rate = 0;                         // ExponentialDecay, InverseTimeDecay
    bool staircase = false;                        // ExponentialDecay, InverseTimeDecay
    double end_learning_rate = 0.0001, power = 1;  // PolynomialDecay
    bool cycle = false;                            // PolynomialDecay
    double alpha = 0;                              // CosineDecay: the floor, a fraction of the start
    std::optional<double> warmup_target;           // CosineDecay: linear warmup to this, then the decay
    double warmup_steps = 0;                       // CosineDecay
    std::vector<double> boundaries, values;        // PiecewiseConstantDecay: values has one more

    // The learning rate at optimizer iteration `step` (0 for the first step).
    double at(int64_t step) const;
    // Keras' serialized form: {"class_name": type, "config": {...}}.
    nlohmann::json to_json() const;
};

struct OptimizerSpec {
    std::string name = "adam";  // adam, adamw, nadam, sgd, rmsprop
    double learning_rate = 0.001;                  // the constant rate (with a schedule: its rate at step 0)
    std::optional<LearningRateSchedule> schedule;  // replaces learning_rate when present
    double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;  // adam, adamw, nadam (epsilon also rmsprop)
    double momentum = 0;                                  // sgd, rmsprop
    bool nesterov = false;                                // sgd
    double rho = 0.9;                                     // rmsprop
    double weight_decay = 0;  // Keras 3's decoupled decay, w -= lr * weight_decay * w before each step (adamw: 0.004)

    // The rate of the step after `iterations` steps.
    double learning_rate_at(int64_t iterations) const {
        return schedule ? schedule->at(iterations) : learning_rate;
    }
    nlohmann::json to_json() const;
};

// An optimizer with Keras' defaults (sgd: learning_rate 0.01; adamw: weight_decay 0.004).
OptimizerSpec default_optimizer(const std::string& canonical_name);

// The loss and its options. Reads and compares as its name (a std::string), so
// `spec.loss == "mse"` and `spec.loss = "mae"` work as they did when it was one;
// assigning a bare name resets the options. In JSON it is the name, or an object
// {"type": name, "label_smoothing": s, "from_logits": true, "delta": d} when an option is set.
struct LossSpec {
    std::string name;            // empty: picked from the output and the stream
    double label_smoothing = 0;  // binary and categorical crossentropy, as Keras smooths the targets
    bool from_logits = false;    // the output is logits (Keras' from_logits=True)
    double delta = 1.0;          // huber: where the square turns linear

    LossSpec() = default;
    LossSpec(std::string n) : name(std::move(n)) {}  // NOLINT: implicit on purpose
    LossSpec(const char* n) : name(n) {}             // NOLINT
    operator const std::string&() const { return name; }
    bool empty() const { return name.empty(); }
    bool has_options() const { return label_smoothing != 0 || from_logits || delta != 1.0; }
};
inline bool operator==(const LossSpec& a, const LossSpec& b) {
    return a.name == b.name && a.label_smoothing == b.label_smoothing && a.from_logits == b.from_logits &&
           a.delta == b.delta;
}
inline bool operator!=(const LossSpec& a, const LossSpec& b) { return !(a == b); }
inline bool operator==(const LossSpec& a, const std::string& b) { return a.name == b; }
inline bool operator!=(const LossSpec& a, const std::string& b) { return a.name != b; }
inline bool operator==(const LossSpec& a, const char* b) { return a.name == b; }
inline bool operator!=(const LossSpec& a, const char* b) { return a.name != b; }
inline bool operator==(const std::string& a, const LossSpec& b) { return a == b.name; }
inline bool operator!=(const std::string& a, const LossSpec& b) { return a != b.name; }
inline std::ostream& operator<<(std::ostream& os, const LossSpec& l) { return os << l.name; }
void to_json(nlohmann::json& j, const LossSpec& loss);

// The compile settings of a spec.
struct CompileSpec {
    LossSpec loss;                     // empty: picked from the output and the stream
    OptimizerSpec optimizer;
    std::vector<std::string> metrics;  // as given: "accuracy", "mae", "mse"
    bool metrics_given = false;        // an explicit list, even an empty one
};

// Each throws DataError(where, ...) on a bad value, naming the key.
void parse_optimizer(const nlohmann::json& v, const std::string& where, OptimizerSpec& o);
// A schedule as Keras serializes it ({"class_name": "ExponentialDecay", "config": {...}},
// Keras 3 adds "module" and "registered_name"), or compact ({"type": "ExponentialDecay", ...}).
LearningRateSchedule parse_schedule(const nlohmann::json& v, const std::string& where);
// With `unknown`, a metric name nntrain does not compute is put there instead of refused.
std::vector<std::string> parse_metrics(const nlohmann::json& v, const std::string& where,
                                       std::vector<std::string>* unknown = nullptr);
// A name, Keras' {"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1, ...}},
// or compact {"type": "categorical_crossentropy", "label_smoothing": 0.1}.
LossSpec parse_loss(const nlohmann::json& v, const std::string& where);
// Applies command-line overrides (UsageError for an unknown name). --lr replaces a
// schedule by a constant rate; --loss keeps the options when it names the same loss.
void apply_overrides(CompileSpec& compile, const Overrides& overrides);

// Canonical names, or UsageError naming the choices ("did you mean ...").
std::string canonical_loss(const std::string& name);
std::string canonical_metric(const std::string& name);
std::string canonical_optimizer(const std::string& name);

}  // namespace imgpipe::nn
