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
#include <limits>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/progress.hpp"
#include "nn/feed.hpp"
#include "nn/report.hpp"

namespace imgpipe::nn {

using ordered = nlohmann::ordered_json;

namespace {

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

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

// Keras' "auto" mode: metrics named like accuracy improve upwards.
bool higher_is_better(const std::string& monitor) { return monitor.find("acc") != std::string::npos; }

struct Callbacks {
    std::string monitor;
    bool max = false;
    double best_checkpoint, best_stop, best_lr;
    int64_t stop_wait = 0, lr_wait = 0, cooldown = 0;

    void reset(const std::string& m) {
        monitor = m;
        max = higher_is_better(m);
        best_checkpoint = best_stop = best_lr = max ? -INFINITY : INFINITY;
    }
    bool better(double current, double best, double delta) const {
        return max ? current - delta > best : current + delta < best;
    }
    ordered state() const {
        return {{"monitor", monitor}, {"best_checkpoint", best_checkpoint}, {"best_early_stopping", best_stop},
                {"best_reduce_lr", best_lr}, {"early_stopping_wait", stop_wait}, {"reduce_lr_wait", lr_wait},
                {"reduce_lr_cooldown", cooldown}};
    }
    void restore(const ordered& s) {
        if (!s.is_object() || s.value("monitor", "") != monitor) return;
        auto num = [&](const char* k, double fallback) {
            return s.contains(k) && s[k].is_number() ? s[k].get<double>() : fallback;
        };
        best_checkpoint = num("best_checkpoint", best_checkpoint);
        best_stop = num("best_early_stopping", best_stop);
        best_lr = num("best_reduce_lr", best_lr);
        stop_wait = int64_t(num("early_stopping_wait", 0));
        lr_wait = int64_t(num("reduce_lr_wait", 0));
        cooldown = int64_t(num("reduce_lr_cooldown", 0));
    }
};

// mkdir -p: the checkpoint folder and any folder above it.
void make_directories(const std::string& dir) {
    for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
        std::string part = dir.substr(0, slash);
        if (!part.empty() && ::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST)
            throw CantCreateError(dir, "cannot create directory " + part + ": " + std::strerror(errno));
        if (slash == std::string::npos) break;
    }
}

}  // namespace

int fit(Model& model, const TrainOptions& options, const std::string& tool) {
    TrainOptions o = options;
    Progress progress(o.quiet);
    auto note = [&](const std::string& text) { progress.line(tool + ": " + text); };
    auto warn = [&](const std::string& text) {
        std::cerr << stderr_line_start() + tool + ": " + text + "\n" << std::flush;  // clears a bar drawn in place
    };

    if (!o.output.empty()) check_writable_dir(directory_of(o.output), o.output);
    if (!o.checkpoint_dir.empty()) {
        make_directories(o.checkpoint_dir);
        check_writable_dir(o.checkpoint_dir, o.checkpoint_dir);
    }

    // Where training resumes from (a fresh model has "{}").
    ordered state = ordered::parse(model.state_json(), nullptr, false);
    if (!state.is_object()) state = ordered::object();
    int64_t done = state.value("epoch", int64_t(0));
    ordered history = state.contains("history") && state["history"].is_array() ? state["history"] : ordered::array();

    Callbacks cb;
    cb.reset(o.monitor.empty() ? (o.val.empty() ? "loss" : "val_loss") : o.monitor);
    if (state.contains("callbacks")) cb.restore(state["callbacks"]);
    {  // a misspelt --monitor fails now, not after the first epoch
        std::vector<std::string> names = {"loss"};
        for (const std::string& m : model.metric_names()) names.push_back(m);
        if (!o.val.empty())
            for (size_t i = 0, n = names.size(); i < n; ++i) names.push_back("val_" + names[i]);
        names.push_back("lr");
        if (std::find(names.begin(), names.end(), cb.monitor) == names.end()) {
            std::string have;
            for (const std::string& n : names) have += (have.empty() ? "" : ", ") + n;
            throw UsageError("--monitor " + cb.monitor + ": no such value (the epochs report: " + have + ")");
        }
    }

    FeedOptions fo;
    fo.batch_size = o.batch_size;
    fo.steps = o.steps_per_epoch;
    fo.shuffle = o.shuffle;
    fo.seed = o.seed;
    fo.epochs = o.epochs;
    BatchFeed train(o.train, fo);
    if (o.shuffle && !train.seekable())
        warn("--shuffle applies to files; " + train.name() + " is read in order (shuffle upstream: imgprep --shuffle)");
    if (train.regrouped()) note("unbatched stream: training on batches of 32 (--batch-size)");
    // A file written with imgprep --epochs N holds N epochs: training epoch k
    // reads the file's epoch k, as a pipe would deliver it.
    if (int64_t file_epochs = train.file_epochs(); file_epochs > 1 && o.steps_per_epoch == 0) {
        if (!o.epochs_given) {
            o.epochs = file_epochs;
            note(train.name() + " holds " + std::to_string(file_epochs) + " epochs: training " +
                 std::to_string(file_epochs) + " epochs, one of them each (--epochs)");
        } else if (o.epochs != file_epochs) {
            warn(train.name() + " holds " + std::to_string(file_epochs) + " epochs (imgprep --epochs " +
                 std::to_string(file_epochs) + ") and --epochs is " + std::to_string(o.epochs) + ": " +
                 (o.epochs < file_epochs ? "only the first " + std::to_string(o.epochs) + " are used"
                                         : "epochs after the " + std::to_string(file_epochs) + "th read them again from the first"));
        }
    }
    std::unique_ptr<BatchFeed> val;
    if (!o.val.empty()) {
        FeedOptions vo;
        vo.batch_size = o.batch_size;
        vo.steps = o.validation_steps;
        vo.role = "validation";
        vo.restart = true;  // the same validation batches every epoch, so epochs compare
        vo.epochs = o.epochs;
        val = std::make_unique<BatchFeed>(o.val, vo);
    }

    std::unique_ptr<std::ofstream> history_file;
    if (!o.history.empty()) {
        history_file = std::make_unique<std::ofstream>(o.history, done > 0 ? std::ios::app : std::ios::trunc);
        if (!*history_file) throw CantCreateError(o.history, std::string("cannot open: ") + std::strerror(errno));
    }

    if (o.output.empty() && o.checkpoint_dir.empty())
        warn("no -o FILE or --checkpoint-dir: the trained model will not be saved");

    auto save_state = [&](int64_t epochs_done, bool interrupted) {
        ordered s = {{"epoch", epochs_done}, {"epochs", o.epochs}, {"interrupted", interrupted},
                     {"callbacks", cb.state()}, {"history", history}};
        return s.dump();
    };

    // The model as it was when the current epoch began: what an interrupted or
    // cut-short run saves, so that --resume redoes that epoch exactly as the
    // uninterrupted run did it (same weights, same data, same dropout draws).
    std::vector<uint8_t> boundary;
    int64_t boundary_epoch = done;
    const std::string rescue_path = !o.checkpoint_dir.empty() ? o.checkpoint_dir + "/interrupted.model" : o.output;
    // Saves `boundary` if this run trained at least one epoch; returns what was done.
    auto save_boundary = [&]() -> std::string {
        if (rescue_path.empty()) return "nothing saved (give -o FILE or --checkpoint-dir)";
        if (boundary.empty() || boundary_epoch == done) return "nothing saved (no epoch was complete)";
        write_file_atomic(rescue_path, boundary.data(), boundary.size());
        return "the model as of the end of epoch " + std::to_string(boundary_epoch) + " saved to " + rescue_path +
               "; continue with --resume " + rescue_path;
    };
    // SIGINT/SIGTERM: save the last epoch boundary.
    auto stop_on_signal = [&](int64_t epoch, int64_t step) {
        int sig = interrupt_signal();
        std::string what = std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + " in epoch " + std::to_string(epoch) +
                           ", step " + std::to_string(step);
        warn("interrupted (" + what + "): " + save_boundary());
        return sig == SIGINT ? int(kInterrupted) : int(kTerminated);
    };
    if (done >= o.epochs) note("the model has already trained " + std::to_string(done) + " epochs (--epochs " +
                               std::to_string(o.epochs) + ")");
    bool stop = false;
    for (int64_t epoch = done + 1; epoch <= o.epochs && !stop; ++epoch) try {
        if (!rescue_path.empty() && epoch > done + 1) {
            boundary = model.encode(save_state(epoch - 1, true));
            boundary_epoch = epoch - 1;
        }
        model.seed_epoch(o.seed, epoch);
        std::string head = "Epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs);
        if (progress.interactive()) note(head);
        progress.restart_clock();
        Scores scores;
        train.begin_epoch(epoch);
        int64_t step = 0, samples = 0, total = 0;
        Frame batch;
        double lr = model.learning_rate();
        auto next_batch = [&]() {
            try {
                return train.next(batch);
            } catch (const DataError&) {
                if (interrupt_signal()) return false;
                throw;
            }
        };
        while (next_batch()) {
            ++step;
            if (step == 1) total = train.steps_hint();
            align_classes(batch, model.classes(), train.where());
            model.check_batch(batch, train.where(), true);
            model.train_batch(batch, scores);
            samples += batch.samples();
            double loss = scores.mean("loss");
            if (!std::isfinite(loss))
                throw DataError(train.where(), "epoch " + std::to_string(epoch) + ", step " + std::to_string(step) +
                                                   ": loss is " + (std::isnan(loss) ? "nan" : "inf") +
                                                   "; training stopped (try a lower --lr, or check the inputs' scale)");
            progress.bar(step, total, scores.keras_text());
            if (interrupt_signal()) return stop_on_signal(epoch, step);
        }
        if (interrupt_signal()) return stop_on_signal(epoch, step);  // Ctrl-C also ended the producer
        if (step == 0) {
            if (train.ended())
                throw DataError(train.name(), "the training stream ended after " + std::to_string(epoch - 1) + " of " +
                                                  std::to_string(o.epochs) + " epochs (--epochs); a pipe must carry "
                                                  "every epoch (imgprep --epochs N, or 0 for no end) or use a file");
            throw DataError(train.name(), "epoch " + std::to_string(epoch) + " has no batches");
        }
        double seconds = progress.elapsed();
        Scores val_scores;
        if (val) {
            val->begin_epoch(epoch);
            int64_t vsteps = 0;
            while (val->next(batch)) {
                ++vsteps;
                align_classes(batch, model.classes(), val->where());
                model.check_batch(batch, val->where(), true);
                model.evaluate_batch(batch, val_scores);
                if (interrupt_signal()) return stop_on_signal(epoch, step);
            }
            if (vsteps == 0)
                throw DataError(val->name(), "the validation stream ended after " + std::to_string(epoch - 1) +
                                                 " epochs; use a file (re-read every epoch) or a stream that carries "
                                                 "every epoch");
            seconds = progress.elapsed();
        }
        // The epoch's record, as Keras' History holds it.
        ordered record = {{"epoch", epoch}};
        for (auto& [name, value] : scores.means()) record[name] = value;
        for (auto& [name, value] : val_scores.means()) record["val_" + name] = value;
        record["lr"] = lr;
        record["seconds"] = std::round(seconds * 1000) / 1000;
        history.push_back(record);
        if (history_file) {
            *history_file << record.dump() << "\n" << std::flush;
            if (!*history_file) throw IoError(o.history, "write failed");
        }
        char rate[48];
        std::snprintf(rate, sizeof rate, " - %.0f samples/s", double(samples) / std::max(seconds, 1e-9));
        std::string text = scores.keras_text() + val_scores.keras_text("val_");
        if (progress.interactive()) note(format_bar(step, step, seconds) + rate + text);
        else note(head + " - " + std::to_string(step) + " steps - " + format_duration(seconds) + rate + text);

        // Callbacks, in Keras' order: checkpoint, reduce-lr, early stopping.
        if (!record.contains(cb.monitor)) {
            std::string have;
            for (auto& [k, v] : record.items())
                if (k != "epoch" && k != "seconds") have += (have.empty() ? "" : ", ") + k;
            throw UsageError("--monitor " + cb.monitor + ": no such value (the epochs report: " + have + ")");
        }
        double current = record[cb.monitor].get<double>();
        bool best = cb.better(current, cb.best_checkpoint, 0);
        if (best) cb.best_checkpoint = current;
        if (o.reduce_lr) {
            bool cooling = cb.cooldown > 0;
            if (cooling) {
                --cb.cooldown;
                cb.lr_wait = 0;
            }
            if (cb.better(current, cb.best_lr, 1e-4)) {
                cb.best_lr = current;
                cb.lr_wait = 0;
            } else if (!cooling && ++cb.lr_wait >= o.lr_patience) {
                double old_lr = model.learning_rate();
                if (old_lr > o.min_lr) {
                    double new_lr = std::max(old_lr * o.lr_factor, o.min_lr);
                    model.set_learning_rate(new_lr);
                    char line[96];
                    std::snprintf(line, sizeof line, "Epoch %05lld: ReduceLROnPlateau reducing learning rate to %s.",
                                  (long long)epoch, number(new_lr).c_str());
                    note(line);
                    cb.cooldown = o.lr_cooldown;
                    cb.lr_wait = 0;
                }
            }
        }
        if (o.early_stopping > 0) {
            ++cb.stop_wait;
            if (cb.better(current, cb.best_stop, std::fabs(o.min_delta))) {
                cb.best_stop = current;
                cb.stop_wait = 0;
            }
            if (cb.stop_wait >= o.early_stopping && epoch > 1) {
                char line[64];
                std::snprintf(line, sizeof line, "Epoch %05lld: early stopping", (long long)epoch);
                note(line);
                stop = true;
            }
        }
        if (!o.checkpoint_dir.empty()) {
            auto epoch_file = [&](int64_t e) {
                char name[48];
                std::snprintf(name, sizeof name, "/epoch-%03lld.model", (long long)e);
                return o.checkpoint_dir + name;
            };
            std::string s = save_state(epoch, false);
            if (o.keep_checkpoints != 0) model.save(epoch_file(epoch), s);
            if (best) model.save(o.checkpoint_dir + "/best.model", s);
            // --keep N: the newest N epoch files stay (a 38 MB model a night adds up).
            if (o.keep_checkpoints > 0 && epoch - o.keep_checkpoints >= 1)
                ::unlink(epoch_file(epoch - o.keep_checkpoints).c_str());
        }
        if (!o.output.empty() && (epoch == o.epochs || stop)) model.save(o.output, save_state(epoch, false));
    } catch (const DataError& e) {
        // Bad data mid-run (a stream cut short, a producer that failed): keep
        // what the complete epochs trained, then fail.
        if (epoch - 1 > done) warn(save_boundary());  // the boundary was taken as this epoch began
        throw;
    }
    if (!o.output.empty() && done >= o.epochs) model.save(o.output, save_state(done, false));
    return kOk;
}

}  // namespace imgpipe::nn
