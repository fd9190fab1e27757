#include "nn/trainer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <type_traits>
#include <variant>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/progress.hpp"
#include "nn/batch_check.hpp"
#include "nn/callbacks.hpp"
#include "nn/config.hpp"
#include "nn/report.hpp"
#include "stream/feed.hpp"

namespace imgpipe::nn {

using ordered = nlohmann::ordered_json;

namespace {

std::string directory_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Fails now, not after hours of training, if an output cannot be written.
void check_writable_dir(const std::string& dir, const std::string& what) {
    if (::access(dir.c_str(), W_OK) != 0)
        throw CantCreateError(what, std::string("cannot write in ") + dir + ": " + std::strerror(errno));
}

CallbackOptions callback_options(const TrainOptions& o) {
    CallbackOptions c;
    c.monitor = o.monitor.empty() ? (o.val.empty() ? "loss" : "val_loss") : o.monitor;
    c.checkpoints = !o.checkpoint_dir.empty();
    c.keep = o.keep_checkpoints;
    c.early_stopping = o.early_stopping > 0;
    c.patience = o.early_stopping;
    c.min_delta = o.min_delta;
    c.reduce_lr = o.reduce_lr;
    c.lr_factor = o.lr_factor;
    c.lr_patience = o.lr_patience;
    c.lr_cooldown = o.lr_cooldown;
    c.min_lr = o.min_lr;
    return c;
}

// The settings of a run, recorded in its model files' state ("run") so that
// --resume continues that run: the epochs' target, the validation stream, the
// data order, the outputs and the callbacks, by the options that set them.
using Setting = std::variant<int64_t*, uint64_t*, double*, bool*, std::string*>;
std::vector<std::pair<std::string, Setting>> run_settings(TrainOptions& o) {
    return {{"--epochs", &o.epochs},
            {"--val", &o.val},
            {"--steps-per-epoch", &o.steps_per_epoch},
            {"--validation-steps", &o.validation_steps},
            {"--batch-size", &o.batch_size},
            {"--shuffle", &o.shuffle},
            {"--seed", &o.seed},
            {"--output", &o.output},
            {"--checkpoint-dir", &o.checkpoint_dir},
            {"--keep", &o.keep_checkpoints},
            {"--history", &o.history},
            {"--monitor", &o.monitor},
            {"--early-stopping", &o.early_stopping},
            {"--min-delta", &o.min_delta},
            {"--reduce-lr-on-plateau", &o.reduce_lr},
            {"--lr-factor", &o.lr_factor},
            {"--lr-patience", &o.lr_patience},
            {"--min-lr", &o.min_lr},
            {"--class-weight", &o.class_weight}};
}

ordered record_run(TrainOptions o) {  // a copy: run_settings points into it
    ordered run = ordered::object();
    for (auto& [flag, setting] : run_settings(o)) std::visit([&, f = flag](auto* v) { run[f] = *v; }, setting);
    return run;
}

// A setting as a command line says it: "--shuffle", "no --val", "--epochs 6".
template <class T>
std::string spoken(const std::string& flag, const T& value) {
    if constexpr (std::is_same_v<T, bool>) return value ? flag : "no " + flag;
    else if constexpr (std::is_same_v<T, std::string>) return value.empty() ? "no " + flag : flag + " " + value;
    else {
        std::ostringstream text;
        text << flag << " " << value;
        return text.str();
    }
}

// --resume: every setting the command line does not give is the recorded
// run's (`kept` lists those that differ from the defaults); one it gives that
// differs from the run's is listed in `changed`.
void continue_run(TrainOptions& o, const ordered& run, std::vector<std::string>& kept, std::vector<std::string>& changed) {
    for (auto& [flag, setting] : run_settings(o)) {
        if (!run.contains(flag)) continue;
        std::visit(
            [&, f = flag](auto* v) {
                using T = std::decay_t<decltype(*v)>;
                T recorded;
                try {
                    recorded = run[f].template get<T>();
                } catch (const nlohmann::json::exception&) {
                    return;  // a file written by another version: the command line's
                }
                if (recorded == *v) return;
                if (o.given.count(f)) changed.push_back(spoken(f, *v) + " (the run had " + spoken(f, recorded) + ")");
                else {
                    *v = recorded;
                    kept.push_back(spoken(f, recorded));
                }
            },
            setting);
    }
}

std::string joined(const std::vector<std::string>& parts) {
    std::string text;
    for (const std::string& p : parts) text += (text.empty() ? "" : ", ") + p;
    return text;
}

// Whether an epoch comes sorted by class (imglist lists class by class; only
// a shuffle mixes them): several classes, each in long runs, so that most
// steps see one class and the model forgets the others between them.
struct ClassRuns {
    int64_t samples = 0, runs = 0, batches = 0;
    int32_t last = 0;
    std::set<int32_t> classes;

    void add(const Frame& batch) {
        const Tensor* y = batch.find("y");
        if (!y || y->dtype != DType::I32 || y->shape.size() != 1) return;
        const int32_t* v = y->values<int32_t>();
        for (int64_t i = 0; i < y->shape[0]; ++i, ++samples) {
            if (samples == 0 || v[i] != last) ++runs;
            last = v[i];
            classes.insert(v[i]);
        }
        ++batches;
    }
    // Runs at least half a batch long on average (a shuffled epoch's are about
    // C/(C-1) samples), and at least 4.
    bool sorted() const {
        if (classes.size() < 2 || batches < 2 || samples < 32) return false;
        double run = double(samples) / double(runs), batch = double(samples) / double(batches);
        return run >= std::max(4.0, batch / 2);
    }
};

// The next batch of a feed; false at the end of the epoch, and when a signal
// has come: the step in progress finished, no other begins. A stream that
// failed because Ctrl-C also ended its producer is an interruption, not bad data.
bool next_unless_interrupted(BatchFeed& feed, Frame& batch) {
    if (interrupt_signal()) return false;
    try {
        return feed.next(batch);
    } catch (const DataError&) {
        if (interrupt_signal()) return false;
        throw;
    }
}

// What one epoch's training and validation passes gave.
struct EpochResult {
    int64_t steps = 0, samples = 0;
    double seconds = 0;
    Scores scores, val_scores;
    ClassRuns order;  // the training batches' labels, in order
};

// Keras' fit loop over one model and its feeds.
class Fit {
public:
    Fit(Model& model, const TrainOptions& options, const std::string& tool, Collective& world);
    int run();

private:
    void note(const std::string& text) { progress_.line(tool_ + ": " + text); }
    void warn(const std::string& text) {
        std::cerr << stderr_line_start() + tool_ + ": " + text + "\n" << std::flush;  // clears a bar drawn in place
    }
    void resume(const ordered& saved);
    void open_feeds();
    void count_classes();
    void set_class_weights(const Frame& first);
    void settle_pipe_epochs();
    void report_unread(bool stopped_early);
    void finish_resume();
    void share(BatchFeed& feed, bool drop_remainder);
    bool agree(bool have_batch, int64_t samples, BatchFeed& feed, int64_t epoch);
    std::vector<double> add_up(Scores& scores, std::vector<double> more);
    void check_same_weights(int64_t epoch);
    std::vector<std::pair<std::string, double>> settings() const;
    void check_same_options(const std::vector<std::pair<std::string, double>>& mine);
    int stop_signal() const { return interrupt_signal() ? interrupt_signal() : agreed_signal_; }
    // This rank's signal as two counts (SIGINT, SIGTERM) to add up over the
    // ranks, and back from the sums at v[at], v[at + 1].
    static void add_signal(std::vector<double>& v) {
        v.push_back(interrupt_signal() == SIGINT);
        v.push_back(interrupt_signal() == SIGTERM);
    }
    void take_signal(const std::vector<double>& v, size_t at) {
        agreed_signal_ = v[at] > 0 ? SIGINT : v[at + 1] > 0 ? SIGTERM : 0;
    }
    void open_history();
    std::string state(int64_t epochs_done, bool interrupted) const;
    void take_boundary(int64_t epoch);
    std::string save_boundary();
    int interrupted(int64_t epoch, int64_t step);

    bool train_epoch(int64_t epoch, EpochResult& r);  // false: interrupted
    bool validate(int64_t epoch, EpochResult& r);     // false: interrupted
    Logs log_epoch(int64_t epoch, const EpochResult& r);
    void act(int64_t epoch, const EpochActions& actions);

    Model& model_;
    TrainOptions o_;
    std::string tool_;
    Collective& world_;
    bool writer_;            // rank 0: the only one that writes files and progress
    int agreed_signal_ = 0;  // a signal any rank saw (SIGINT first)
    int64_t steps_ = 0;             // steps this run trained
    double training_seconds_ = 0;   // the training passes' time (validation excluded)
    std::vector<std::string> score_names_;
    Progress progress_;
    int64_t done_ = 0;  // epochs the model had trained when this run began
    std::vector<int64_t> class_counts_;  // --class-weight balanced: the training file's samples by class
    bool class_weights_set_ = false;
    bool complete_ = false;  // a resumed run that had nothing left to do
    ordered history_ = ordered::array();
    Callbacks callbacks_;
    std::unique_ptr<BatchFeed> train_, val_;
    std::unique_ptr<std::ofstream> history_file_;
    // The model as it was when the current epoch began: what an interrupted or
    // cut-short run saves, so that --resume redoes that epoch exactly as the
    // uninterrupted run did it (same weights, same data, same dropout draws).
    std::vector<uint8_t> boundary_;
    int64_t boundary_epoch_ = 0;
    std::string rescue_path_;
};

Fit::Fit(Model& model, const TrainOptions& options, const std::string& tool, Collective& world)
    : model_(model),
      o_(options),
      tool_(tool),
      world_(world),
      writer_(world.rank() == 0),
      progress_(options.quiet || !writer_),
      callbacks_(callback_options(options)) {
    // Where training resumes from (a fresh model has "{}"), and with which settings.
    ordered saved = ordered::parse(model_.state_json(), nullptr, false);
    if (!saved.is_object()) saved = ordered::object();
    if (saved.contains("epoch") && !saved["epoch"].is_number_integer())
        throw DataError(o_.resumed_from, "the model file's state: \"epoch\" is not a whole number");
    done_ = saved.value("epoch", int64_t(0));
    if (!o_.resumed_from.empty()) resume(saved);
    callbacks_ = Callbacks(callback_options(o_));
    if (saved.contains("history") && saved["history"].is_array()) history_ = saved["history"];
    if (saved.contains("callbacks")) callbacks_.restore(saved["callbacks"]);
    if (!writer_) {  // every rank decides as rank 0 does (callbacks); only rank 0 writes
        o_.output.clear();
        o_.checkpoint_dir.clear();
        o_.history.clear();
    }
    if (complete_) return;
    // A scheduled rate cannot be set (Keras refuses it too): say so before training, not when it first would be.
    if (o_.reduce_lr) model_.set_learning_rate(model_.learning_rate());
    if (!o_.output.empty()) check_writable_dir(directory_of(o_.output), o_.output);
    if (!o_.checkpoint_dir.empty()) {
        make_directories(o_.checkpoint_dir);
        check_writable_dir(o_.checkpoint_dir, o_.checkpoint_dir);
    }
    {  // a misspelt --monitor fails now, not after the first epoch
        std::vector<std::string> names = {"loss"};
        for (const std::string& m : model_.metric_names()) names.push_back(m);
        if (!o_.val.empty())
            for (size_t i = 0, n = names.size(); i < n; ++i) names.push_back("val_" + names[i]);
        names.push_back("lr");
        callbacks_.check_monitor(names);
    }

    check_same_options(settings());  // before the feeds: a validation feed's opening is collective too
    open_feeds();
    if (o_.class_weight == "balanced") count_classes();
    check_same_options({{"the epochs the streams decided", double(o_.epochs)}});
    open_history();
    if (writer_ && o_.output.empty() && o_.checkpoint_dir.empty())
        warn("no -o FILE or --checkpoint-dir: the trained model will not be saved");
    boundary_epoch_ = done_;
    rescue_path_ = !o_.checkpoint_dir.empty() ? o_.checkpoint_dir + "/interrupted.model" : o_.output;
}

// --resume continues the run the model file records, not a new one: the
// settings the command line does not give again are that run's, and those it
// changes are named. A run already complete has nothing to do.
void Fit::resume(const ordered& saved) {
    ordered run = saved.contains("run") && saved["run"].is_object() ? saved["run"] : ordered::object();
    if (!run.contains("--epochs") && saved.contains("epochs")) run["--epochs"] = saved["epochs"];  // files before "run"
    std::vector<std::string> kept, changed;
    continue_run(o_, run, kept, changed);
    std::string name = o_.resumed_from;
    if (done_ >= o_.epochs) {
        complete_ = true;
        return;
    }
    note(name + ": resuming at epoch " + std::to_string(done_ + 1) + " of " + std::to_string(o_.epochs) +
         (kept.empty() ? "" : ", with the run's " + joined(kept)));
    if (!changed.empty()) note(name + ": changed from the run: " + joined(changed));
}

void Fit::open_feeds() {
    FeedOptions fo;
    fo.batch_size = o_.batch_size;
    fo.steps = o_.steps_per_epoch;
    fo.shuffle = o_.shuffle;
    fo.seed = o_.seed;
    fo.epochs = o_.epochs;
    train_ = std::make_unique<BatchFeed>(o_.train, fo);
    BatchFeed& train = *train_;
    share(train, true);
    if (o_.shuffle && !train.seekable())
        warn("--shuffle applies to files; " + train.name() + " is read in order (shuffle upstream: imgprep --shuffle)");
    if (train.regrouped()) note("unbatched stream: training on batches of 32 (--batch-size)");
    // A file written with imgprep --epochs N holds N epochs: training epoch k
    // reads the file's epoch k, as a pipe would deliver it.
    if (int64_t file_epochs = train.file_epochs(); file_epochs > 1 && o_.steps_per_epoch == 0) {
        if (!o_.given.count("--epochs")) {
            o_.epochs = file_epochs;
            note(train.name() + " holds " + std::to_string(file_epochs) + " epochs: training " +
                 std::to_string(file_epochs) + " epochs, one of them each (--epochs)");
        } else if (o_.epochs != file_epochs) {
            warn(train.name() + " holds " + std::to_string(file_epochs) + " epochs (imgprep --epochs " +
                 std::to_string(file_epochs) + ") and --epochs is " + std::to_string(o_.epochs) + ": " +
                 (o_.epochs < file_epochs ? "only the first " + std::to_string(o_.epochs) + " are used"
                                          : "epochs after the " + std::to_string(file_epochs) + "th read them again from the first"));
        }
    }
    if (!o_.val.empty()) {
        FeedOptions vo;
        vo.batch_size = o_.batch_size;
        vo.steps = o_.validation_steps;
        vo.role = "validation";
        vo.restart = true;  // the same validation batches every epoch, so epochs compare
        vo.epochs = o_.epochs;
        val_ = std::make_unique<BatchFeed>(o_.val, vo);
        share(*val_, false);
    }
    settle_pipe_epochs();
}

namespace {

// A sample's class: its index, or a one-hot row's highest.
std::vector<int64_t> labels_of(const Tensor& y) {
    std::vector<int64_t> out;
    if (y.dtype == DType::I32) {
        const int32_t* v = y.values<int32_t>();
        for (int64_t i = 0; i < y.elements(); ++i) out.push_back(v[i]);
    } else if (y.dtype == DType::F32 && y.shape.size() == 2) {
        const float* v = y.values<float>();
        int64_t k = y.shape[1];
        for (int64_t i = 0; i < y.shape[0]; ++i)
            out.push_back(int64_t(std::max_element(v + i * k, v + (i + 1) * k) - (v + i * k)));
    }
    return out;
}

// The stream's w (batchstream(5)): F32 [n], finite and >= 0, a weight per sample.
void check_weights(const Frame& f, const std::string& where) {
    const Tensor* w = f.find("w");
    if (!w) return;
    if (w->dtype != DType::F32 || w->shape.size() != 1 || w->shape[0] != f.get("x").rows())
        throw DataError(where, "w is " + std::string(dtype_name(w->dtype)) + " " + shape_text(w->shape) +
                                   " but the sample weights are F32 [" + std::to_string(f.get("x").rows()) + "], one per image");
    const float* v = w->values<float>();
    for (int64_t i = 0; i < w->elements(); ++i)
        if (!std::isfinite(v[i]) || v[i] < 0)
            throw DataError(where, "w[" + std::to_string(i) + "] is " + std::to_string(v[i]) +
                                       "; a sample weight is a finite number >= 0");
}

// Why --class-weight does not apply to a frame's targets, or "".
std::string no_class_weights(const Frame& f) {
    auto mode = f.metadata.find("class_mode");
    std::string m = mode == f.metadata.end() ? "" : mode->second;
    if (m == "mask") return "";  // each pixel weighs its class's weight
    if (m == "multi_label")
        return "the targets are several classes per image (multi_label), and Keras would weigh each image by its "
               "multi-hot row's first class only; give each image its weight instead (the stream's w)";
    const Tensor* y = f.find("y");
    if (m == "raw" || m == "input" || m == "none" || !y || (y->dtype != DType::I32 && y->shape.size() != 2))
        return "the targets are not classes (class_mode " + (m.empty() ? std::string("unknown") : m) +
               "); give each image its weight instead (the stream's w)";
    return "";
}

}  // namespace

// --class-weight balanced: the classes of the training file's first epoch
// counted before training, as scikit-learn counts y. A pipe would be consumed.
void Fit::count_classes() {
    if (!train_->seekable())
        throw UsageError("--class-weight balanced counts the training stream's classes before training, and " +
                         train_->name() + " is a pipe; give a file, or the weights as a JSON map");
    FeedOptions fo;
    fo.batch_size = o_.batch_size;
    fo.epochs = 1;
    BatchFeed feed(o_.train, fo);
    feed.begin_epoch(1);
    Frame f;
    while (feed.next(f)) {
        if (std::string why = no_class_weights(f); !why.empty()) throw DataError(feed.where(), "--class-weight: " + why);
        auto mode = f.metadata.find("class_mode");
        if (mode != f.metadata.end() && mode->second == "mask") {
            // A mask's pixels are its samples (scikit-learn's compute_class_weight over every pixel's
            // class), the ignore index left out.
            int64_t ignore = ignore_index(f, feed.where());
            const Tensor& y = f.get("y");
            if (y.dtype != DType::U8)
                throw DataError(feed.where(), "--class-weight: y is " + std::string(dtype_name(y.dtype)) +
                                                  ", not a U8 mask of class indices");
            std::vector<int64_t> count(256, 0);
            for (int64_t i = 0; i < y.elements(); ++i) ++count[y.values<uint8_t>()[i]];
            for (size_t v = 0; v < 256; ++v) {
                if (!count[v] || int64_t(v) == ignore) continue;
                if (v >= class_counts_.size()) class_counts_.resize(v + 1, 0);
                class_counts_[v] += count[v];
            }
            continue;
        }
        for (int64_t label : labels_of(f.get("y"))) {
            if (label < 0) continue;  // refused by the batch check when trained on
            if (size_t(label) >= class_counts_.size()) class_counts_.resize(size_t(label) + 1, 0);
            ++class_counts_[size_t(label)];
        }
    }
}

// Keras' class_weight from --class-weight, once the first training frame has
// told the classes; printed, as the weights decide what is learnt.
void Fit::set_class_weights(const Frame& first) {
    class_weights_set_ = true;
    if (std::string why = no_class_weights(first); !why.empty())
        throw DataError(train_->where(), "--class-weight: " + why);
    std::vector<std::string> names = first.classes();
    std::vector<int64_t> out = model_.output_shape();
    size_t k = !names.empty() ? names.size() : out.size() == 1 ? size_t(std::max<int64_t>(out[0], 2)) : 0;
    k = std::max(k, class_counts_.size());
    std::vector<double> w(k, 1.0);  // Keras: 1 for a class the map leaves out
    auto name_of = [&](size_t i) { return i < names.size() ? names[i] : std::to_string(i); };
    if (o_.class_weight == "balanced") {
        int64_t n = 0;
        for (int64_t c : class_counts_) n += c;
        class_counts_.resize(k, 0);
        for (size_t i = 0; i < k; ++i) {
            if (class_counts_[i] == 0)
                throw DataError(o_.train, "--class-weight balanced: class " + name_of(i) +
                                              " has no training sample, so it has no balanced weight "
                                              "(scikit-learn refuses it too); give the weights as a JSON map");
            w[i] = double(n) / (double(k) * double(class_counts_[i]));
        }
    } else {
        ordered map = ordered::parse(o_.class_weight, nullptr, false);
        if (!map.is_object())
            throw UsageError("--class-weight " + o_.class_weight + ": give a JSON object ({\"0\": 1, \"3\": 5.5}, "
                             "by class index or name) or balanced");
        for (auto& [key, value] : map.items()) {
            size_t i = std::find(names.begin(), names.end(), key) - names.begin();
            if (i == names.size()) {  // not a name: an index
                char* end = nullptr;
                long v = std::strtol(key.c_str(), &end, 10);
                if (key.empty() || *end || v < 0 || size_t(v) >= k)
                    throw UsageError("--class-weight: \"" + key + "\" is neither a class of the stream (" +
                                     join(names) + ") nor an index below " + std::to_string(k));
                i = size_t(v);
            }
            if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0)
                throw UsageError("--class-weight: the weight of \"" + key + "\" must be a number >= 0, not " +
                                 value.dump());
            w[i] = value.get<double>();
        }
    }
    std::string text;
    for (size_t i = 0; i < k; ++i) {
        char v[32];
        std::snprintf(v, sizeof v, "%.6g", w[i]);
        text += (i ? ", " : "") + name_of(i) + " " + v;
    }
    if (writer_) note("class weights: " + text + (o_.class_weight == "balanced" ? " (balanced: n_samples / (n_classes * count))" : ""));
    model_.set_class_weights(w);
}

// A pipe is read once: each epoch trained takes one of its epochs, and its
// first frame says how many it carries ("epochs", imgprep --epochs). So that
// is the run's length unless --epochs says otherwise, and an --epochs that
// disagrees is refused before any training: epochs never go unread in silence
// (nor does a run stop short when the pipe ends). Streams that do not say are
// checked when the run ends (Fit::run).
void Fit::settle_pipe_epochs() {
    if (o_.steps_per_epoch > 0) return;  // epochs are counted in steps, not the stream's
    const bool chosen = o_.given.count("--epochs") || !o_.resumed_from.empty();
    auto refuse = [&](const BatchFeed& feed, int64_t carried, const std::string& what) {
        throw UsageError(feed.name() + " carries " + std::to_string(carried) + " epochs (imgprep --epochs " +
                         std::to_string(carried) + ") and this run " + what + " " + std::to_string(o_.epochs - done_) +
                         (done_ > 0 ? " (epochs " + std::to_string(done_ + 1) + " to " + std::to_string(o_.epochs) + ")"
                                    : " (--epochs " + std::to_string(o_.epochs) + ")") +
                         ": a pipe is read once, so its epochs must be the run's (leave --epochs out, make the "
                         "producer write as many, or use a file)");
    };
    BatchFeed& train = *train_;
    if (!train.seekable()) {
        int64_t carried = train.declared_epochs();
        if (carried > 0 && !chosen) {
            o_.epochs = done_ + carried;
            if (carried > 1)
                note(train.name() + " carries " + std::to_string(carried) + " epochs: training " +
                     std::to_string(carried) + " epochs, one of them each (--epochs)");
        } else if (carried > 0 && carried != o_.epochs - done_) {
            refuse(train, carried, "trains");
        } else if (carried == 0 && !chosen) {
            note(train.name() + " has no end (imgprep --epochs 0): training 1 epoch (--epochs N for more)");
        }
    }
    if (val_ && !val_->seekable() && o_.validation_steps == 0) {
        int64_t carried = val_->declared_epochs();
        if (carried > 0 && carried != o_.epochs - done_) refuse(*val_, carried, "validates");
    }
}

// With more than one rank: a file every rank reads (the same content, by its
// fingerprint: one file, or copies of it) is shared, each rank taking its
// interleaved part; files that differ (shards, even of equal size), and pipes,
// are each rank's own part already.
void Fit::share(BatchFeed& feed, bool drop_remainder) {
    if (world_.size() == 1) return;
    if (world_.same_everywhere(feed.fingerprint())) {  // every rank asks: a collective operation
        feed.share(world_.rank(), world_.size(), drop_remainder);
        note(feed.name() + ": shared by " + std::to_string(world_.size()) + " ranks (rank 0 reads its frames 1, " +
             std::to_string(1 + world_.size()) + ", " + std::to_string(1 + 2 * world_.size()) + ", ...)");
    } else {
        note(feed.name() + ": each rank reads all of its own " + (feed.seekable() ? "file" : "stream") +
             " (the ranks' " + feed.role() + " data differ)");
    }
}

// One step's agreement among the ranks: whether every rank has a batch (the
// epoch ends for all at the first rank whose part ran out) and whether any saw
// a signal (then every rank stops after this step). A rank whose own stream
// had more of this epoch skips the rest, as DistributedSampler drops samples to
// keep the ranks in step.
bool Fit::agree(bool have_batch, int64_t samples, BatchFeed& feed, int64_t epoch) {
    if (world_.size() == 1) return have_batch;
    std::vector<double> v = {have_batch ? 1.0 : 0.0};
    add_signal(v);
    world_.sum(v);
    take_signal(v, 1);
    if (agreed_signal_) return false;
    if (v[0] == world_.size()) return true;
    if (have_batch && o_.steps_per_epoch == 0) {
        Frame rest;
        int64_t batches = 1;
        for (; next_unless_interrupted(feed, rest); ++batches) samples += rest.samples();
        warn(feed.name() + ": epoch " + std::to_string(epoch) + ": " + std::to_string(batches) + " batches (" +
             std::to_string(samples) + " samples) left unused: another rank's part of the epoch ended first");
    }
    return false;
}

// Whether every rank holds the weights rank 0 does, as it must after every
// step: a nondeterministic operation, or ranks on different libtorch builds,
// would let them drift apart unseen.
void Fit::check_same_weights(int64_t epoch) {
    if (world_.size() == 1) return;
    if (!world_.same_everywhere(model_.fingerprint()))
        throw Error(kSoftware, "", "after epoch " + std::to_string(epoch) + " the ranks' weights differ (a "
                                   "nondeterministic operation, or ranks running different builds?)");
    if (epoch == o_.epochs) note("all " + std::to_string(world_.size()) + " ranks hold the same weights");
}

// Every rank must run the same steps, validations and collective operations
// in the same order: ranks started with different options (one with --val,
// another without) would pair unrelated operations. Checked before any; the
// first setting that differs is named with every rank's value.
std::vector<std::pair<std::string, double>> Fit::settings() const {
    return {{"the resumed model's epochs done", double(done_)},
            {"--epochs", double(o_.epochs)},
            {"--steps-per-epoch", double(o_.steps_per_epoch)},
            {"--validation-steps", double(o_.validation_steps)},
            {"--val", o_.val.empty() ? 0.0 : 1.0},
            {"--batch-size", double(o_.batch_size)},
            {"--shuffle", o_.shuffle ? 1.0 : 0.0}};
}

void Fit::check_same_options(const std::vector<std::pair<std::string, double>>& mine) {
    if (world_.size() == 1) return;
    const size_t k = mine.size(), ranks = size_t(world_.size());
    std::vector<double> all(k * ranks, 0.0);  // every rank's values, in its own slots
    for (size_t i = 0; i < k; ++i) all[size_t(world_.rank()) * k + i] = mine[i].second;
    world_.sum(all);
    for (size_t i = 0; i < k; ++i) {
        std::string values;
        bool differ = false;
        for (size_t r = 0; r < ranks; ++r) {
            double v = all[r * k + i];
            differ = differ || v != all[i];
            bool flag = mine[i].first == "--val" || mine[i].first == "--shuffle";
            values += (r ? ", " : "") + (flag ? std::string(v ? "given" : "not given") : std::to_string(int64_t(v))) +
                      " on rank " + std::to_string(r);
        }
        if (differ)
            throw UsageError("the ranks were started with different settings: " + mine[i].first + " is " + values +
                             " (every rank must train the same epochs and steps, with the same --val, --batch-size "
                             "and --shuffle)");
    }
}

// Adds up scores, and further counts (`more`, returned summed), over the ranks.
std::vector<double> Fit::add_up(Scores& scores, std::vector<double> more) {
    if (world_.size() == 1) return more;
    // The names now: a loss picked from the first training frame may have changed the metrics.
    score_names_ = {"loss"};
    for (const std::string& m : model_.metric_names()) score_names_.push_back(m);
    int64_t outputs = 1;  // sizes the per-output sums (r2_score, f1_score)
    for (int64_t d : model_.output_shape()) outputs *= d;
    std::vector<double> v = scores.totals(score_names_, outputs);
    size_t n = v.size();
    v.insert(v.end(), more.begin(), more.end());
    world_.sum(v);
    scores.set_totals(score_names_, std::vector<double>(v.begin(), v.begin() + ptrdiff_t(n)), outputs);
    return std::vector<double>(v.begin() + ptrdiff_t(n), v.end());
}

void Fit::open_history() {
    if (o_.history.empty()) return;
    history_file_ = std::make_unique<std::ofstream>(o_.history, done_ > 0 ? std::ios::app : std::ios::trunc);
    if (!*history_file_) throw CantCreateError(o_.history, std::string("cannot open: ") + std::strerror(errno));
}

// The model file's "state": where --resume continues.
std::string Fit::state(int64_t epochs_done, bool interrupted) const {
    ordered s = {{"epoch", epochs_done}, {"epochs", o_.epochs}, {"interrupted", interrupted},
                 {"callbacks", callbacks_.state()}, {"history", history_}, {"run", record_run(o_)}};
    return s.dump();
}

// As epoch `epoch` begins, the end of the previous one (none before this
// run's first epoch: the model file it came from holds that).
void Fit::take_boundary(int64_t epoch) {
    if (rescue_path_.empty() || epoch <= done_ + 1) return;
    boundary_ = model_.encode(state(epoch - 1, true));
    boundary_epoch_ = epoch - 1;
}

// Saves the boundary if this run trained at least one epoch; says what was done.
std::string Fit::save_boundary() {
    if (rescue_path_.empty()) return "nothing saved (give -o FILE or --checkpoint-dir)";
    if (boundary_.empty() || boundary_epoch_ == done_) return "nothing saved (no epoch was complete)";
    write_file_atomic(rescue_path_, boundary_.data(), boundary_.size());
    return "the model as of the end of epoch " + std::to_string(boundary_epoch_) + " saved to " + rescue_path_ +
           "; continue with --resume " + rescue_path_;
}

// SIGINT/SIGTERM: the last epoch boundary saved, 130 or 143.
int Fit::interrupted(int64_t epoch, int64_t step) {
    int sig = stop_signal();
    std::string what = std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + " in epoch " + std::to_string(epoch) +
                       ", step " + std::to_string(step);
    if (writer_) warn("interrupted (" + what + "): " + save_boundary());
    return sig == SIGINT ? int(kInterrupted) : int(kTerminated);
}

bool Fit::train_epoch(int64_t epoch, EpochResult& r) {
    model_.seed_epoch(o_.seed, epoch, world_.rank());
    progress_.restart_clock();
    BatchFeed& train = *train_;
    train.begin_epoch(epoch);
    int64_t total = 0;
    Frame batch;
    bool have = false;  // this rank's own answer in the last agreement
    while ((have = next_unless_interrupted(train, batch)), agree(have, batch.samples(), train, epoch)) {
        if (++r.steps == 1) total = train.steps_hint();
        align_classes(batch, model_.classes(), train.where());
        if (!class_weights_set_ && !o_.class_weight.empty()) set_class_weights(batch);
        model_.check_batch(batch, train.where(), true);
        check_weights(batch, train.where());
        model_.train_batch(batch, r.scores);
        r.order.add(batch);
        r.samples += batch.samples();
        double loss = r.scores.mean("loss");
        if (!std::isfinite(loss))
            throw DataError(train.where(), "epoch " + std::to_string(epoch) + ", step " + std::to_string(r.steps) +
                                               ": loss is " + (std::isnan(loss) ? "nan" : "inf") +
                                               "; training stopped (try a lower --lr, or check the inputs' scale)");
        progress_.bar(r.steps, total, r.scores.keras_text());
    }
    if (stop_signal()) return false;
    if (r.steps == 0) {
        if (have)
            throw DataError(train.name(), "epoch " + std::to_string(epoch) + ": another rank had no batches (its "
                                              "messages say why)");
        if (train.ended())
            throw DataError(train.name(), "the training stream ended after " + std::to_string(epoch - 1) + " of " +
                                              std::to_string(o_.epochs) + " epochs (--epochs); a pipe must carry "
                                              "every epoch (imgprep --epochs N, or 0 for no end) or use a file");
        throw DataError(train.name(), "epoch " + std::to_string(epoch) + " has no batches");
    }
    r.samples = int64_t(add_up(r.scores, {double(r.samples)})[0]);
    r.seconds = progress_.elapsed();
    steps_ += r.steps;
    training_seconds_ += r.seconds;
    return true;
}

bool Fit::validate(int64_t epoch, EpochResult& r) {
    BatchFeed& val = *val_;
    val.begin_epoch(epoch);
    int64_t steps = 0;
    Frame batch;
    while (next_unless_interrupted(val, batch)) {
        ++steps;
        align_classes(batch, model_.classes(), val.where());
        model_.check_batch(batch, val.where(), true);
        check_weights(batch, val.where());
        model_.evaluate_batch(batch, r.val_scores);
    }
    // Each rank validated its part: the scores, the steps and any signal, added up.
    std::vector<double> more = {double(steps)};
    add_signal(more);
    more = add_up(r.val_scores, more);
    steps = int64_t(more[0]);
    take_signal(more, 1);
    if (stop_signal()) return false;
    if (steps == 0)
        throw DataError(val.name(), "the validation stream ended after " + std::to_string(epoch - 1) +
                                        " epochs; use a file (re-read every epoch) or a stream that carries "
                                        "every epoch");
    r.seconds = progress_.elapsed();
    return true;
}

// The epoch's logs (loss, metrics, val_ values, lr), as Keras hands them to
// its callbacks; its History record (with epoch and seconds) goes to the
// history and --history, its line to the progress. The rate is the
// optimizer's as the epoch ends (the rate of the next step), as Keras' logs
// read it: the epoch's own rate, unless a schedule moves it step by step.
Logs Fit::log_epoch(int64_t epoch, const EpochResult& r) {
    Logs logs;
    for (auto& [name, value] : r.scores.means()) logs.emplace_back(name, value);
    for (auto& [name, value] : r.val_scores.means()) logs.emplace_back("val_" + name, value);
    logs.emplace_back("lr", model_.learning_rate());
    ordered record = {{"epoch", epoch}};
    for (auto& [name, value] : logs) record[name] = value;
    record["seconds"] = std::round(r.seconds * 1000) / 1000;
    history_.push_back(record);
    if (history_file_) {
        *history_file_ << record.dump() << "\n" << std::flush;
        if (!*history_file_) throw IoError(o_.history, "write failed");
    }
    char rate[48];
    std::snprintf(rate, sizeof rate, " - %.0f samples/s", double(r.samples) / std::max(r.seconds, 1e-9));
    std::string text = r.scores.keras_text() + r.val_scores.keras_text("val_");
    if (progress_.interactive()) note(format_bar(r.steps, r.steps, r.seconds) + rate + text);
    else
        note("Epoch " + std::to_string(epoch) + "/" + std::to_string(o_.epochs) + " - " + std::to_string(r.steps) +
             " steps - " + format_duration(r.seconds) + rate + text);
    return logs;
}

// Does what the callbacks decided: the new learning rate first, so that the
// files written after it (and the next epoch) carry it and the callbacks'
// updated state.
void Fit::act(int64_t epoch, const EpochActions& a) {
    for (const std::string& line : a.messages) note(line);
    if (a.new_lr) model_.set_learning_rate(*a.new_lr);
    if (o_.checkpoint_dir.empty()) return;
    std::string s = state(epoch, false);
    if (a.save_epoch_file) model_.save(o_.checkpoint_dir + "/" + epoch_file_name(epoch), s);
    if (a.save_best) model_.save(o_.checkpoint_dir + "/best.model", s);
    // --keep N: the newest N epoch files stay (a 38 MB model a night adds up).
    if (a.delete_epoch_file) ::unlink((o_.checkpoint_dir + "/" + epoch_file_name(*a.delete_epoch_file)).c_str());
}

// What a pipe held beyond the epochs trained is said (never dropped in
// silence): the rest of the run's epochs after an early stop, or epochs that a
// stream which does not count its epochs carried beyond --epochs.
void Fit::report_unread(bool stopped_early) {
    for (BatchFeed* feed : {train_.get(), val_.get()}) {
        if (!feed || feed->seekable() || !writer_) continue;
        if (stopped_early && (feed->more_after_epoch() || !feed->ended()))
            note(feed->name() + ": the rest of the stream is left unread (the run stopped early): its producer ends "
                                "with SIGPIPE, status 141 in a pipefail pipeline");
        else if (feed->more_after_epoch() && feed->declared_epochs() < 0)
            warn(feed->name() + ": the stream carries more than the " + std::to_string(o_.epochs - done_) +
                 " epochs trained (its frames do not say how many: not imgprep's); the rest is left unread");
    }
}

// After a resumed run completed, the checkpoint folder's interrupted.model it
// came from no longer holds the current model: removed, so that it does not
// look like one.
void Fit::finish_resume() {
    if (!writer_ || o_.resumed_from.empty() || o_.checkpoint_dir.empty()) return;
    std::string rescue = o_.checkpoint_dir + "/interrupted.model";
    struct stat a {}, b {};
    if (::stat(o_.resumed_from.c_str(), &a) != 0 || ::stat(rescue.c_str(), &b) != 0) return;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) return;
    if (::unlink(rescue.c_str()) == 0)
        note("removed " + rescue + ": the run it held is complete" +
             (o_.output.empty() ? " (the last epoch is in " + o_.checkpoint_dir + ")" : " (in " + o_.output + ")"));
}

int Fit::run() {
    if (complete_) {
        note(o_.resumed_from + ": its run is complete (" + std::to_string(done_) + " of " + std::to_string(o_.epochs) +
             " epochs): nothing to do, nothing written (--epochs N above " + std::to_string(done_) + " trains on)");
        return kOk;
    }
    bool stop = false;
    for (int64_t epoch = done_ + 1; epoch <= o_.epochs && !stop; ++epoch) try {
        take_boundary(epoch);
        if (progress_.interactive()) note("Epoch " + std::to_string(epoch) + "/" + std::to_string(o_.epochs));
        EpochResult r;
        if (!train_epoch(epoch, r) || (val_ && !validate(epoch, r))) return interrupted(epoch, r.steps);
        Logs logs = log_epoch(epoch, r);
        if (epoch == done_ + 1 && writer_ && r.order.sorted())
            warn(train_->name() + ": epoch " + std::to_string(epoch) + " came sorted by class (" +
                 std::to_string(r.order.classes.size()) + " classes in runs of " +
                 std::to_string(r.order.samples / r.order.runs) + " samples on average, batches of " +
                 std::to_string(r.order.samples / r.order.batches) + "): each step sees one class and the model "
                 "forgets the others; shuffle the list (imgprep --shuffle; nntrain --shuffle only reorders a "
                 "file's frames)");
        check_same_weights(epoch);
        EpochActions actions = callbacks_.on_epoch_end(epoch, logs);
        act(epoch, actions);
        stop = actions.stop;
        if (!o_.output.empty() && (epoch == o_.epochs || stop)) model_.save(o_.output, state(epoch, false));
    } catch (const Error& e) {
        if (e.status() != kDataErr && e.status() != kUnavailable) throw;
        // Bad data mid-run (a stream cut short, a producer that failed): keep
        // what the complete epochs trained, then fail.
        if (writer_ && epoch - 1 > done_) warn(save_boundary());  // the boundary was taken as this epoch began
        throw;
    }
    report_unread(stop);
    finish_resume();
    if (world_.size() > 1 && steps_ > 0) {
        char text[160];
        std::snprintf(text, sizeof text, "averaging gradients over %d ranks took %.2f ms a step, %.1f%% of the training time",
                      world_.size(), 1e3 * world_.averaging_seconds() / double(steps_),
                      100 * world_.averaging_seconds() / std::max(training_seconds_, 1e-9));
        note(text);
    }
    return kOk;
}

}  // namespace

int fit(Model& model, const TrainOptions& options, const std::string& tool, Collective* world) {
    Collective one;
    Collective& w = world ? *world : one;
    return w.run([&] { return Fit(model, options, tool, w).run(); });
}

}  // namespace imgpipe::nn
