// nntrain's callbacks: ModelCheckpoint, ReduceLROnPlateau and EarlyStopping,
// with the comparisons of Keras' own code (keras/src/callbacks/*.py), as
// decisions. Torch-free.
#include "nn/callbacks.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "cli/error.hpp"
#include "nn/config.hpp"

namespace imgpipe::nn {

using ordered = nlohmann::ordered_json;

namespace {

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

// Keras' verbose lines begin "Epoch 00002: " (tf.keras 2's %05d).
std::string epoch_prefix(int64_t epoch) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "Epoch %05lld: ", (long long)epoch);
    return buf;
}

[[noreturn]] void no_such_value(const std::string& monitor, const std::vector<std::string>& names) {
    throw UsageError("--monitor " + monitor + ": no such value (the epochs report: " + join(names) + ")");
}

const char* mode_name(Mode mode) { return mode == Mode::Min ? "min" : mode == Mode::Max ? "max" : "auto"; }

}  // namespace

bool improves_upwards(const std::string& monitor, Mode mode) {
    if (mode != Mode::Auto) return mode == Mode::Max;
    // Keras 3 asks the metric (its _direction "up"): the accuracies, auc,
    // precision, recall, f1_score, r2_score, mean_iou and each class's IoU (and
    // our dice coefficient); every loss and error goes down.
    std::string name = monitor.rfind("val_", 0) == 0 ? monitor.substr(4) : monitor;
    for (const char* up : {"auc", "precision", "recall", "f1_score", "r2_score", "mean_iou", "dice"})
        if (name == up) return true;
    if (name.rfind("iou_", 0) == 0) return true;  // a class's IoU (the metric iou)
    return monitor.find("acc") != std::string::npos;
}

std::string canonical_monitor(const std::string& monitor) {
    bool val = monitor.rfind("val_", 0) == 0;
    std::string name = val ? monitor.substr(4) : monitor;
    // our short metric names, for the names Keras writes in the history
    if (name == "rmse") name = "root_mean_squared_error";
    else if (name == "r2") name = "r2_score";
    else if (name == "f1") name = "f1_score";
    return (val ? "val_" : "") + name;
}

std::string epoch_file_name(int64_t epoch) {
    char name[48];
    std::snprintf(name, sizeof name, "epoch-%03lld.model", (long long)epoch);
    return name;
}

Callbacks::Callbacks(CallbackOptions options) : o_(std::move(options)) {
    o_.monitor = canonical_monitor(o_.monitor);
    // Keras' ReduceLROnPlateau refuses a factor >= 1: the rate would never fall.
    if (o_.reduce_lr && !(o_.lr_factor < 1))
        throw UsageError("--lr-factor " + number(o_.lr_factor) + ": reducing the learning rate needs a factor below 1");
    reset();
}

void Callbacks::reset() {
    max_ = improves_upwards(o_.monitor, o_.mode);
    best_checkpoint_ = best_stop_ = best_lr_ = max_ ? -INFINITY : INFINITY;
    stop_wait_ = lr_wait_ = cooldown_ = 0;
}

void Callbacks::check_monitor(const std::vector<std::string>& names) const {
    if (std::find(names.begin(), names.end(), o_.monitor) != names.end()) return;
    // The metric iou reports iou_0, iou_1, ... (one per class, known from the stream): a class
    // index is taken now, and one beyond the classes is named after the first epoch.
    const std::string& m = o_.monitor;
    size_t at = m.rfind("iou_", 0) == 0 ? 4 : m.rfind("val_iou_", 0) == 0 ? 8 : 0;
    if (at && at < m.size() && m.find_first_not_of("0123456789", at) == std::string::npos &&
        std::find(names.begin(), names.end(), m.substr(0, at - 1)) != names.end())
        return;
    no_such_value(o_.monitor, names);
}

EpochActions Callbacks::on_epoch_end(int64_t epoch, const Logs& logs) {
    auto value = [&](const std::string& name) -> const double* {
        for (const auto& [k, v] : logs)
            if (k == name) return &v;
        return nullptr;
    };
    const double* found = value(o_.monitor);
    if (!found) {
        std::vector<std::string> names;
        for (const auto& entry : logs) names.push_back(entry.first);
        no_such_value(o_.monitor, names);
    }
    const double current = *found;
    EpochActions act;

    // ModelCheckpoint(save_best_only=True): monitor_op(current, best), no delta.
    bool best = max_ ? current > best_checkpoint_ : current < best_checkpoint_;
    if (best) best_checkpoint_ = current;

    // ReduceLROnPlateau: monitor_op(current, best) is current < best - min_delta
    // (min) or current > best + min_delta (max). The cooldown counter is
    // decremented first and tested again after it: a cooldown of N rests N - 1
    // whole epochs, as Keras' does.
    if (o_.reduce_lr) {
        if (cooldown_ > 0) {
            --cooldown_;
            lr_wait_ = 0;
        }
        if (max_ ? current > best_lr_ + o_.lr_min_delta : current < best_lr_ - o_.lr_min_delta) {
            best_lr_ = current;
            lr_wait_ = 0;
        } else if (cooldown_ <= 0 && ++lr_wait_ >= o_.lr_patience) {
            const double* lr = value("lr");
            if (!lr) throw std::invalid_argument("ReduceLROnPlateau: the epoch's logs have no \"lr\"");
            // Keras' rate is a float32 variable, compared with float32(min_lr):
            // compared in float32 here too, a rate that is min_lr but for the
            // last bits of a double (1e-3 * 0.1 against 1e-4) is at the floor,
            // not "reduced" to min_lr once more.
            if (float(*lr) > float(o_.min_lr)) {
                double new_lr = std::max(*lr * o_.lr_factor, o_.min_lr);
                act.new_lr = new_lr;
                act.messages.push_back(epoch_prefix(epoch) + "ReduceLROnPlateau reducing learning rate to " +
                                       number(new_lr) + ".");
                cooldown_ = o_.lr_cooldown;
                lr_wait_ = 0;
            }
        }
    }

    // EarlyStopping: wait counts every epoch and restarts on an improvement,
    // monitor_op(current - min_delta, best) with min_delta = |min_delta|,
    // negated when the value improves downwards; no stop after the first epoch.
    if (o_.early_stopping) {
        const double delta = std::fabs(o_.min_delta);
        ++stop_wait_;
        if (max_ ? current - delta > best_stop_ : current + delta < best_stop_) {
            best_stop_ = current;
            stop_wait_ = 0;
        } else if (stop_wait_ >= o_.patience && epoch > 1) {
            act.stop = true;
            act.messages.push_back(epoch_prefix(epoch) + "early stopping");
        }
    }

    // The files of --checkpoint-dir: this epoch's (unless --keep 0), best.model
    // when the monitor improved, and with --keep N the file N epochs back.
    if (o_.checkpoints) {
        act.save_epoch_file = o_.keep != 0;
        act.save_best = best;
        if (o_.keep > 0 && epoch - o_.keep >= 1) act.delete_epoch_file = epoch - o_.keep;
    }
    return act;
}

ordered Callbacks::state() const {
    ordered s = {{"monitor", o_.monitor}};
    if (o_.mode != Mode::Auto) s["mode"] = mode_name(o_.mode);
    // Infinite bests (nothing seen yet) are written as null by the JSON library.
    s["best_checkpoint"] = best_checkpoint_;
    s["best_early_stopping"] = best_stop_;
    s["best_reduce_lr"] = best_lr_;
    s["early_stopping_wait"] = stop_wait_;
    s["reduce_lr_wait"] = lr_wait_;
    s["reduce_lr_cooldown"] = cooldown_;
    return s;
}

void Callbacks::restore(const ordered& s) {
    reset();
    if (!s.is_object() || !s.contains("monitor") || !s["monitor"].is_string() ||
        s["monitor"].get<std::string>() != o_.monitor)
        return;
    std::string mode = s.contains("mode") && s["mode"].is_string() ? s["mode"].get<std::string>() : "auto";
    Mode stored = mode == "min" ? Mode::Min : mode == "max" ? Mode::Max : Mode::Auto;
    if (improves_upwards(o_.monitor, stored) != max_) return;  // the bests would read backwards
    auto num = [&](const char* k, double fallback) {
        return s.contains(k) && s[k].is_number() ? s[k].get<double>() : fallback;
    };
    best_checkpoint_ = num("best_checkpoint", best_checkpoint_);
    best_stop_ = num("best_early_stopping", best_stop_);
    best_lr_ = num("best_reduce_lr", best_lr_);
    stop_wait_ = int64_t(num("early_stopping_wait", 0));
    lr_wait_ = int64_t(num("reduce_lr_wait", 0));
    cooldown_ = int64_t(num("reduce_lr_cooldown", 0));
}

}  // namespace imgpipe::nn
