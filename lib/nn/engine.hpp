// The engine interface the nn tools see (doc/design.md, "The engine"; model file: nntrain(1)).
// No torch type crosses this header: tools include it and stay quick to compile.
// The implementation (lib/nn/*.cpp) is libtorch; only those files include torch.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stream/frame.hpp"

namespace imgpipe::nn {

class Collective;  // nn/collective.hpp

// Command-line choices that override the model spec (empty / <= 0: keep the spec's).
struct Overrides {
    std::string loss;                  // binary_crossentropy, categorical_crossentropy, ...
    std::string optimizer;             // adam, sgd, rmsprop
    double lr = 0;                     // learning rate
    std::vector<std::string> metrics;  // accuracy, mae, mse
    double threshold = 0.5;            // binary_accuracy, precision, recall, f1_score: a probability above it is a yes
    // Layer name patterns (fnmatch: block_[1-9]*): frozen, then unfrozen, over the spec's trainable flags.
    std::vector<std::string> freeze, unfreeze;
};

// The loss and metrics of an epoch, in insertion order ("loss" first), as
// Keras reports them. Most are running means (a batch's mean weighted by its
// samples); the epoch-level metrics (root_mean_squared_error, r2_score,
// precision, recall, f1_score, auc) keep sums instead (squared errors, true and
// false positives, a histogram of scores ...) and are computed from the
// epoch's sums, as Keras' stateful metrics are, not averaged over batches.
class Scores {
public:
    void add(const std::string& name, double value, int64_t samples);
    // Adds an epoch-level metric's batch sums (sum_count(name, outputs) of them).
    void add_sums(const std::string& name, const std::vector<double>& sums, int64_t samples);
    std::vector<std::pair<std::string, double>> means() const;
    double mean(const std::string& name) const;  // NaN if absent
    int64_t samples(const std::string& name) const;
    void clear() { sums_.clear(); }
    // The sums behind the values of `names` (each name's sums, then its
    // samples; zeros for a name without samples), and back: to add them up over
    // the ranks. `outputs` is the model's output width, which sizes r2_score's
    // and f1_score's sums (one set per output) where this rank has none.
    std::vector<double> totals(const std::vector<std::string>& names, int64_t outputs = 1) const;
    void set_totals(const std::vector<std::string>& names, const std::vector<double>& totals, int64_t outputs = 1);
    // How many sums a score keeps: 1 for a running mean.
    static size_t sum_count(const std::string& name, int64_t outputs);
    // " - loss: 0.4123 - accuracy: 0.8125" (prefix "val_" adds val_loss ...)
    std::string keras_text(const std::string& prefix = "") const;

private:
    struct Sum { std::string name; std::vector<double> sums; int64_t n; };
    static double value(const Sum& s);
    std::vector<Sum> sums_;
};

// Sets glibc's malloc so that big buffers are reused rather than mapped and
// unmapped at every step (7-10x faster training here), and the thread count.
void configure_runtime(int threads);

// An nn tool runs with OMP_WAIT_POLICY=PASSIVE unless the user set it: see
// lib/nn/launch.cpp, which every nn tool links (find_placement, start_world).
bool cuda_available();

// Records the engine's work from construction to save(): every libtorch
// operator (observed through RecordFunction), inside spans for the input
// conversion, each layer's forward pass, the loss, the backward pass, the
// gradient averaging, the metrics and the optimizer step.
// save() writes a Chrome trace (chrome://tracing, ui.perfetto.dev) to
// `path` atomically; a profile never saved writes nothing. `path` must be a
// file (UsageError for "-": stdout is the tools' output); an empty one (no
// --profile) records nothing and gives nullptr.
class Profile {
public:
    virtual ~Profile() = default;
    virtual void save() = 0;
};
std::unique_ptr<Profile> start_profile(const std::string& path);

class Model {
public:
    // Builds a fresh model from a spec: our compact JSON or Keras' model.to_json()
    // (Keras 2 or 3). `spec_name` names the file in errors. Deterministic in seed.
    static std::unique_ptr<Model> create(const std::string& spec_json, const std::string& spec_name,
                                         const Overrides& overrides, uint64_t seed);
    // Loads a model file (safetensors), optimizer state included; or a model
    // trained in Keras, known by its bytes: a Keras 2 .h5, a Keras 3 .keras, a
    // TF.js model.json with its shards (nn/keras_file.hpp), with a fresh
    // optimizer; or, `weights` given, the architecture at `path` (a spec: Keras'
    // JSON or ours) with its weights from that file (a weights-only .h5, a Keras
    // 3 .weights.h5, any of the above). `seed`: the draws of training (dropout).
    static std::unique_ptr<Model> load(const std::string& path, const Overrides& overrides = {},
                                       const std::string& weights = "", uint64_t seed = 0);
    virtual ~Model() = default;

    // "cpu" or "cuda" (device `index` of this machine's GPUs); UsageError if unavailable.
    virtual void to_device(const std::string& device, int index = 0) = 0;
    // Trains as one rank of `world` from now on, as DistributedDataParallel
    // does: rank 0's weights and buffers now, gradients averaged at every
    // step, rank 0's non-trainable weights (running statistics) after each.
    virtual void join(Collective& world) = 0;
    virtual std::string summary() const = 0;                // Keras' model.summary() table

    virtual std::vector<int64_t> input_shape() const = 0;   // per sample: [h, w, c]
    virtual std::vector<int64_t> output_shape() const = 0;  // per sample, e.g. [10] or [64, 64, 3]
    virtual std::string loss_name() const = 0;
    virtual std::vector<std::string> metric_names() const = 0;  // as Keras names them in logs
    virtual std::vector<std::string> classes() const = 0;       // from the training stream
    // Keras' class_weight: each training sample's loss is multiplied by its
    // class's weight (index = class index; empty: none), as by the stream's w.
    virtual void set_class_weights(const std::vector<double>& weights) = 0;
    // Throws DataError (with both shapes and dtypes) if the frame's x does not fit,
    // or its y does not fit the loss. The first training frame fixes the input dtype.
    virtual void check_batch(const Frame& batch, const std::string& where, bool need_targets) const = 0;

    // One optimizer step on a batch; adds the batch's loss and metrics to scores.
    virtual void train_batch(const Frame& batch, Scores& scores) = 0;
    // Adds the batch's loss and metrics to scores, from one forward pass whose
    // outputs (as predict_batch's) land in `outputs` when given.
    virtual void evaluate_batch(const Frame& batch, Scores& scores, Tensor* outputs = nullptr) = 0;
    // Outputs, F32, shape [n, ...output_shape()] (images channels-last).
    virtual Tensor predict_batch(const Frame& batch) = 0;

    // Fine-tuning (Keras' load_weights(by_name=True, skip_mismatch)): the layers
    // of the same name in `path` (a model file, or a Keras file load() reads) give
    // their weights; the others keep their initial values. A layer whose weights
    // differ in shape is an error naming both shapes, or with skip_mismatch is
    // left as it is. Gives what it did: one line per layer loaded, skipped or new.
    virtual std::string init_from(const std::string& path, bool skip_mismatch) = 0;

    virtual double learning_rate() const = 0;
    virtual void set_learning_rate(double lr) = 0;

    // Reseeds the random draws of training (dropout, augmentation layers) from
    // (seed, epoch, rank): rank 0 draws what a single process draws.
    virtual void seed_epoch(uint64_t seed, int64_t epoch, int rank = 0) = 0;
    // The model file's bytes: weights, optimizer state, resolved spec, classes,
    // input shape and dtype, and `state_json` (epoch, history, ...).
    virtual std::vector<uint8_t> encode(const std::string& state_json) const = 0;
    // Writes encode()'s bytes atomically (temporary file, then rename).
    void save(const std::string& path, const std::string& state_json) const;
    virtual std::string state_json() const = 0;  // what save() stored ("{}" for a fresh model)
    // Every weight's bytes (trainable or not) hashed to 20 bits, from 1: ranks
    // compare it to check that they hold the same model.
    virtual uint32_t fingerprint() const = 0;
};

}  // namespace imgpipe::nn
