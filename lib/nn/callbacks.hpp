// nntrain's epoch-end callbacks as decisions, kept apart from the engine and
// the files: Keras' ModelCheckpoint (best.model with save_best_only, an epoch
// file every epoch, --keep N), ReduceLROnPlateau and EarlyStopping. Told each
// epoch's logs, they answer what to do; fit() does it. Their state travels in
// the model file (the state's "callbacks" object), so that --resume goes on
// counting where the run stopped. Torch-free: tested without a model.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace imgpipe::nn {

// One epoch's values by name, in the order the epoch reported them ("loss",
// the metrics, "val_loss", the val_ metrics, "lr"), as Keras' `logs`.
using Logs = std::vector<std::pair<std::string, double>>;

// Which way the monitored value improves. Auto: as Keras 3 decides it, the
// accuracies, auc, precision, recall, f1_score and r2_score upwards, every
// other (losses, mae, mse, root_mean_squared_error) downwards.
enum class Mode { Auto, Min, Max };
bool improves_upwards(const std::string& monitor, Mode mode);
// The history's name for a --monitor given with our short metric names
// ("val_rmse" is "val_root_mean_squared_error"; "r2", "f1" likewise).
std::string canonical_monitor(const std::string& monitor);

struct CallbackOptions {
    std::string monitor = "val_loss";  // one value watched by all three, as --monitor
    Mode mode = Mode::Auto;

    // ModelCheckpoint: best.model whenever the monitor beats its best so far
    // (strictly, as save_best_only), and epoch-NNN.model every epoch.
    bool checkpoints = false;  // --checkpoint-dir given
    int64_t keep = -1;         // epoch files kept: -1 all, 0 none (best.model only), N the newest N

    // EarlyStopping: stop once `patience` epochs in a row have not improved on
    // the best by more than |min_delta|; never after the first epoch.
    bool early_stopping = false;
    int64_t patience = 0;
    double min_delta = 0;

    // ReduceLROnPlateau: after `lr_patience` epochs without an improvement of
    // more than lr_min_delta, lr = max(lr * lr_factor, min_lr) (while lr > min_lr),
    // then `lr_cooldown` epochs of rest. The learning rate is the logs' "lr".
    bool reduce_lr = false;
    double lr_factor = 0.1;
    int64_t lr_patience = 10;
    double lr_min_delta = 1e-4;
    int64_t lr_cooldown = 0;
    double min_lr = 0;
};

// What to do at the end of an epoch, in the order fit() does it.
struct EpochActions {
    std::optional<double> new_lr;       // set the learning rate (ReduceLROnPlateau)
    bool stop = false;                  // train no further epoch (EarlyStopping)
    bool save_epoch_file = false;       // write epoch-NNN.model for this epoch
    bool save_best = false;             // write best.model: the monitor improved
    std::optional<int64_t> delete_epoch_file;  // remove that epoch's file (--keep N)
    std::vector<std::string> messages;  // Keras' lines: "Epoch 00002: early stopping"
};

class Callbacks {
public:
    // UsageError for a ReduceLROnPlateau factor of 1 or more, as Keras.
    explicit Callbacks(CallbackOptions options);
    const CallbackOptions& options() const { return o_; }
    bool upwards() const { return max_; }

    // UsageError unless the monitor is one of the values the epochs report:
    // "--monitor val_acc: no such value (the epochs report: loss, accuracy, lr)".
    void check_monitor(const std::vector<std::string>& names) const;

    // Epoch `epoch` (1-based, counting a resumed model's epochs) ended with
    // these logs. UsageError if they lack the monitor; the "lr" value is needed
    // only by ReduceLROnPlateau.
    EpochActions on_epoch_end(int64_t epoch, const Logs& logs);

    // The counters and bests, for the model file; restore() takes them back
    // when they were kept for the same monitor and direction (else it keeps a
    // fresh start). Infinite bests are written as null and read back as a
    // fresh start's; missing keys read as a fresh start's.
    nlohmann::ordered_json state() const;
    void restore(const nlohmann::ordered_json& state);

    double best_checkpoint() const { return best_checkpoint_; }
    double best_early_stopping() const { return best_stop_; }
    double best_reduce_lr() const { return best_lr_; }
    int64_t early_stopping_wait() const { return stop_wait_; }
    int64_t reduce_lr_wait() const { return lr_wait_; }
    int64_t reduce_lr_cooldown() const { return cooldown_; }

private:
    void reset();

    CallbackOptions o_;
    bool max_ = false;
    double best_checkpoint_ = 0, best_stop_ = 0, best_lr_ = 0;
    int64_t stop_wait_ = 0, lr_wait_ = 0, cooldown_ = 0;
};

// "epoch-007.model": the name of an epoch's file in --checkpoint-dir.
std::string epoch_file_name(int64_t epoch);

}  // namespace imgpipe::nn
