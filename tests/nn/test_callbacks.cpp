// nntrain's callbacks as decisions (Keras' ModelCheckpoint, ReduceLROnPlateau,
// EarlyStopping): patience, min_delta, direction, cooldown, the min_lr floor,
// best.model and the --keep N files, and their state across --resume. Torch-free.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cli/error.hpp"
#include "nn/callbacks.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;
using ordered = nlohmann::ordered_json;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Logs logs(const std::string& monitor, double value, double lr = 0.01) {
    if (monitor == "loss") return {{"loss", value}, {"lr", lr}};
    return {{"loss", 1.0}, {monitor, value}, {"lr", lr}};
}

CallbackOptions early(int64_t patience, double min_delta = 0, const std::string& monitor = "loss") {
    CallbackOptions o;
    o.monitor = monitor;
    o.early_stopping = true;
    o.patience = patience;
    o.min_delta = min_delta;
    return o;
}

CallbackOptions plateau(int64_t patience, double factor, int64_t cooldown = 0, double min_lr = 0) {
    CallbackOptions o;
    o.monitor = "loss";
    o.reduce_lr = true;
    o.lr_patience = patience;
    o.lr_factor = factor;
    o.lr_cooldown = cooldown;
    o.min_lr = min_lr;
    return o;
}

CallbackOptions checkpoints(int64_t keep, const std::string& monitor = "val_loss") {
    CallbackOptions o;
    o.monitor = monitor;
    o.checkpoints = true;
    o.keep = keep;
    return o;
}

// The epochs at which early stopping stops, over a run of monitored values (epochs from 1).
std::vector<int64_t> stops(Callbacks& cb, const std::vector<double>& values) {
    std::vector<int64_t> at;
    for (size_t i = 0; i < values.size(); ++i)
        if (cb.on_epoch_end(int64_t(i) + 1, logs(cb.options().monitor, values[i])).stop) at.push_back(int64_t(i) + 1);
    return at;
}

// Trains `epochs` epochs on a constant loss, feeding each new rate back as the
// next epoch's lr; returns the epochs at which the rate was reduced.
std::vector<int64_t> reductions(Callbacks& cb, int64_t epochs, double& lr) {
    std::vector<int64_t> at;
    for (int64_t e = 1; e <= epochs; ++e) {
        EpochActions a = cb.on_epoch_end(e, logs("loss", 1.0, lr));
        if (a.new_lr) {
            at.push_back(e);
            lr = *a.new_lr;
        }
    }
    return at;
}
}  // namespace

TEST_CASE("early stopping stops after patience epochs without improvement", "[callbacks]") {
    Callbacks cb(early(3));
    // 1.0 and 0.9 improve; 0.95, 0.92, 0.91 are three epochs that do not beat 0.9.
    CHECK(stops(cb, {1.0, 0.9, 0.95, 0.92, 0.91}) == std::vector<int64_t>{5});
    CHECK(cb.early_stopping_wait() == 3);
    CHECK(cb.best_early_stopping() == 0.9);

    Callbacks reset(early(3));  // an improvement starts the count again
    CHECK(stops(reset, {1.0, 1.1, 1.2, 0.5, 0.6, 0.7, 0.8}) == std::vector<int64_t>{7});

    Callbacks said(early(1));
    said.on_epoch_end(1, logs("loss", 1.0));
    EpochActions a = said.on_epoch_end(2, logs("loss", 1.0));  // equal is no improvement
    CHECK(a.stop);
    CHECK(a.messages == std::vector<std::string>{"Epoch 00002: early stopping"});
    CHECK_FALSE(a.new_lr);
}

TEST_CASE("early stopping never stops after the first epoch", "[callbacks]") {
    Callbacks cb(early(1));
    // NaN is never an improvement: the wait reaches the patience in epoch 1, and
    // still the first stop is epoch 2 (Keras' `epoch > 0`).
    CHECK(stops(cb, {kNaN, kNaN}) == std::vector<int64_t>{2});
}

TEST_CASE("early stopping's min_delta: a smaller change is no improvement", "[callbacks]") {
    Callbacks small(early(1, 0.25));
    CHECK(stops(small, {1.0, 0.8}) == std::vector<int64_t>{2});  // 0.2 < 0.25
    Callbacks exact(early(1, 0.25));
    CHECK(stops(exact, {1.0, 0.75}) == std::vector<int64_t>{2});  // exactly min_delta: not more than it
    Callbacks enough(early(1, 0.25));
    CHECK(stops(enough, {1.0, 0.5, 0.125}).empty());
    Callbacks negative(early(1, -0.25));  // |min_delta|, as Keras
    CHECK(stops(negative, {1.0, 0.8}) == std::vector<int64_t>{2});
    // The best is the value itself, not the value less the delta.
    CHECK(enough.best_early_stopping() == 0.125);
}

TEST_CASE("accuracies improve upwards, losses and errors downwards", "[callbacks]") {
    CHECK(improves_upwards("accuracy", Mode::Auto));
    CHECK(improves_upwards("val_accuracy", Mode::Auto));
    CHECK(improves_upwards("val_sparse_categorical_accuracy", Mode::Auto));
    CHECK(improves_upwards("binary_accuracy", Mode::Auto));
    CHECK_FALSE(improves_upwards("loss", Mode::Auto));
    CHECK_FALSE(improves_upwards("val_loss", Mode::Auto));
    CHECK_FALSE(improves_upwards("val_mae", Mode::Auto));
    CHECK_FALSE(improves_upwards("mse", Mode::Auto));
    CHECK(improves_upwards("loss", Mode::Max));
    CHECK_FALSE(improves_upwards("val_accuracy", Mode::Min));
    // Keras 3's metrics whose _direction is "up", and the errors that go down.
    for (const char* up : {"auc", "val_auc", "precision", "val_recall", "f1_score", "val_r2_score"})
        CHECK(improves_upwards(up, Mode::Auto));
    for (const char* down : {"root_mean_squared_error", "val_root_mean_squared_error", "val_mse"})
        CHECK_FALSE(improves_upwards(down, Mode::Auto));
    // Our short names stand for the history's.
    CHECK(canonical_monitor("val_rmse") == "val_root_mean_squared_error");
    CHECK(canonical_monitor("r2") == "r2_score");
    CHECK(canonical_monitor("val_f1") == "val_f1_score");
    CHECK(canonical_monitor("val_auc") == "val_auc");
    Callbacks r2(early(1, 0, "val_r2"));
    CHECK(r2.options().monitor == "val_r2_score");
    CHECK(r2.upwards());

    Callbacks acc(early(2, 0.01, "val_accuracy"));
    CHECK(acc.upwards());
    // 0.6 -> 0.7 improves; 0.705 is within min_delta; 0.69 falls: two epochs, stop.
    CHECK(stops(acc, {0.6, 0.7, 0.705, 0.69}) == std::vector<int64_t>{4});
    CHECK(acc.best_early_stopping() == 0.7);

    CallbackOptions o = early(2, 0, "val_accuracy");
    o.mode = Mode::Min;  // an explicit mode wins over the name
    Callbacks min(o);
    CHECK_FALSE(min.upwards());
    CHECK(stops(min, {0.6, 0.7, 0.8}) == std::vector<int64_t>{3});
}

TEST_CASE("reduce-lr waits lr_patience epochs, then multiplies the rate", "[callbacks]") {
    Callbacks cb(plateau(2, 0.5));
    CHECK_FALSE(cb.on_epoch_end(1, logs("loss", 1.0, 1.0)).new_lr);
    CHECK_FALSE(cb.on_epoch_end(2, logs("loss", 1.0, 1.0)).new_lr);
    EpochActions a = cb.on_epoch_end(3, logs("loss", 1.0, 1.0));
    REQUIRE(a.new_lr);
    CHECK(*a.new_lr == 0.5);
    CHECK(a.messages == std::vector<std::string>{"Epoch 00003: ReduceLROnPlateau reducing learning rate to 0.5."});
    CHECK(cb.reduce_lr_wait() == 0);
    CHECK_FALSE(a.stop);

    // An improvement restarts the count.
    Callbacks again(plateau(2, 0.5));
    double lr = 1.0;
    for (double v : {1.0, 1.0, 0.5, 0.5}) CHECK_FALSE(again.on_epoch_end(1, logs("loss", v, lr)).new_lr);
    CHECK(again.on_epoch_end(5, logs("loss", 0.5, lr)).new_lr);
}

TEST_CASE("reduce-lr counts only improvements of more than 1e-4", "[callbacks]") {
    Callbacks tiny(plateau(1, 0.1));
    tiny.on_epoch_end(1, logs("loss", 1.0, 1.0));
    CHECK(tiny.on_epoch_end(2, logs("loss", 0.99995, 1.0)).new_lr);  // 5e-5 better: a plateau
    CHECK(tiny.best_reduce_lr() == 1.0);
    Callbacks real(plateau(1, 0.1));
    real.on_epoch_end(1, logs("loss", 1.0, 1.0));
    CHECK_FALSE(real.on_epoch_end(2, logs("loss", 0.9998, 1.0)).new_lr);
    CHECK(real.best_reduce_lr() == 0.9998);
}

TEST_CASE("reduce-lr's cooldown, as Keras counts it", "[callbacks]") {
    // Keras decrements the cooldown counter before it tests it, so a cooldown
    // of N leaves N - 1 epochs uncounted after a reduction.
    double lr = 1.0;
    Callbacks none(plateau(1, 0.5, 0));
    CHECK(reductions(none, 5, lr) == std::vector<int64_t>{2, 3, 4, 5});
    CHECK(lr == 1.0 / 16);
    lr = 1.0;
    Callbacks two(plateau(1, 0.5, 2));
    CHECK(reductions(two, 7, lr) == std::vector<int64_t>{2, 4, 6});
    lr = 1.0;
    Callbacks three(plateau(1, 0.5, 3));
    CHECK(reductions(three, 8, lr) == std::vector<int64_t>{2, 5, 8});
    lr = 1.0;
    Callbacks one(plateau(1, 0.5, 1));  // a cooldown of 1 rests no epoch
    CHECK(reductions(one, 4, lr) == std::vector<int64_t>{2, 3, 4});

    // An improvement during the cooldown still becomes the best.
    Callbacks cooling(plateau(1, 0.5, 3));
    cooling.on_epoch_end(1, logs("loss", 1.0, 1.0));
    CHECK(cooling.on_epoch_end(2, logs("loss", 1.0, 1.0)).new_lr);
    CHECK(cooling.reduce_lr_cooldown() == 3);
    CHECK_FALSE(cooling.on_epoch_end(3, logs("loss", 0.5, 0.5)).new_lr);
    CHECK(cooling.best_reduce_lr() == 0.5);
    CHECK(cooling.reduce_lr_cooldown() == 2);
}

TEST_CASE("reduce-lr stops at min_lr", "[callbacks]") {
    Callbacks cb(plateau(1, 0.1, 0, 5e-5));
    double lr = 1e-3;
    CHECK(reductions(cb, 3, lr) == std::vector<int64_t>{2, 3});
    CHECK(lr == 5e-5);  // max(1e-5, min_lr): the floor itself
    // At the floor: no reduction and no message; the wait goes on counting.
    EpochActions a = cb.on_epoch_end(4, logs("loss", 1.0, lr));
    CHECK_FALSE(a.new_lr);
    CHECK(a.messages.empty());
    cb.on_epoch_end(5, logs("loss", 1.0, lr));
    CHECK(cb.reduce_lr_wait() == 2);

    // 0.1 * 0.1 is 0.01 but for the last bit of a double: at the floor, as
    // Keras' float32 rate is, not "reduced to 0.01" once more.
    Callbacks at_floor(plateau(1, 0.1, 0, 0.01));
    lr = 0.1;
    CHECK(reductions(at_floor, 6, lr) == std::vector<int64_t>{2});
    CHECK(lr == 0.1 * 0.1);
    CHECK(lr > 0.01);
    CHECK(at_floor.reduce_lr_wait() == 4);
    Callbacks msg(plateau(1, 0.5));
    msg.on_epoch_end(1, logs("loss", 1.0, 1e-9));
    CHECK(msg.on_epoch_end(2, logs("loss", 1.0, 1e-9)).messages ==
          std::vector<std::string>{"Epoch 00002: ReduceLROnPlateau reducing learning rate to 5e-10."});
}

TEST_CASE("reduce-lr refuses a factor of 1 or more, as Keras", "[callbacks]") {
    CHECK_THROWS_WITH(Callbacks(plateau(1, 1.0)), "--lr-factor 1: reducing the learning rate needs a factor below 1");
    CHECK_THROWS_AS(Callbacks(plateau(1, 2.5)), UsageError);
    CHECK_NOTHROW(Callbacks(plateau(1, 0.999)));
    CallbackOptions off = plateau(1, 1.0);
    off.reduce_lr = false;  // only when the callback is on
    CHECK_NOTHROW(Callbacks(off));
}

TEST_CASE("best.model is saved when the monitor beats its best, strictly", "[callbacks]") {
    Callbacks cb(checkpoints(-1));
    std::vector<bool> best, epoch_file;
    for (double v : {0.5, 0.4, 0.4, 0.45, 0.3}) {
        EpochActions a = cb.on_epoch_end(int64_t(best.size()) + 1, logs("val_loss", v));
        best.push_back(a.save_best);
        epoch_file.push_back(a.save_epoch_file);
        CHECK_FALSE(a.delete_epoch_file);
        CHECK_FALSE(a.stop);
        CHECK_FALSE(a.new_lr);
    }
    CHECK(best == std::vector<bool>{true, true, false, false, true});
    CHECK(epoch_file == std::vector<bool>(5, true));
    CHECK(cb.best_checkpoint() == 0.3);

    Callbacks acc(checkpoints(-1, "val_accuracy"));
    best.clear();
    for (double v : {0.5, 0.7, 0.6, 0.7, 0.71}) best.push_back(acc.on_epoch_end(1, logs("val_accuracy", v)).save_best);
    CHECK(best == std::vector<bool>{true, true, false, false, true});

    // Without --checkpoint-dir nothing is written, but the best is still followed
    // (a resumed run with --checkpoint-dir compares with it).
    CallbackOptions o = checkpoints(-1);
    o.checkpoints = false;
    Callbacks quiet(o);
    EpochActions a = quiet.on_epoch_end(1, logs("val_loss", 0.5));
    CHECK_FALSE(a.save_best);
    CHECK_FALSE(a.save_epoch_file);
    CHECK(quiet.best_checkpoint() == 0.5);
}

TEST_CASE("--keep N deletes the epoch file N epochs back", "[callbacks]") {
    auto deleted = [](int64_t keep, int64_t first, int64_t last) {
        Callbacks cb(checkpoints(keep));
        std::vector<int64_t> gone;
        for (int64_t e = first; e <= last; ++e) {
            EpochActions a = cb.on_epoch_end(e, logs("val_loss", 1.0 / double(e)));
            CHECK(a.save_epoch_file == (keep != 0));
            if (a.delete_epoch_file) gone.push_back(*a.delete_epoch_file);
        }
        return gone;
    };
    CHECK(deleted(2, 1, 5) == std::vector<int64_t>{1, 2, 3});  // epoch 5 leaves 4 and 5
    CHECK(deleted(1, 1, 3) == std::vector<int64_t>{1, 2});
    CHECK(deleted(2, 6, 8) == std::vector<int64_t>{4, 5, 6});  // a resumed run goes on from its epochs
    CHECK(deleted(0, 1, 4).empty());                          // no epoch file at all: best.model only
    CHECK(deleted(-1, 1, 4).empty());                         // every epoch's kept
    CHECK(epoch_file_name(7) == "epoch-007.model");
    CHECK(epoch_file_name(1234) == "epoch-1234.model");

    Callbacks only_best(checkpoints(0));
    CHECK(only_best.on_epoch_end(1, logs("val_loss", 0.5)).save_best);
    CHECK_FALSE(only_best.on_epoch_end(2, logs("val_loss", 0.6)).save_best);
}

TEST_CASE("the callbacks act in Keras' order within an epoch", "[callbacks]") {
    CallbackOptions o = plateau(1, 0.5);
    o.early_stopping = true;
    o.patience = 1;
    o.checkpoints = true;
    Callbacks cb(o);
    cb.on_epoch_end(1, logs("loss", 1.0, 1.0));
    EpochActions a = cb.on_epoch_end(2, logs("loss", 1.0, 1.0));
    CHECK(a.stop);
    CHECK(a.new_lr);
    CHECK(a.save_epoch_file);
    CHECK_FALSE(a.save_best);
    CHECK(a.messages == std::vector<std::string>{"Epoch 00002: ReduceLROnPlateau reducing learning rate to 0.5.",
                                                 "Epoch 00002: early stopping"});
}

TEST_CASE("a monitor the epochs do not report is a usage error", "[callbacks]") {
    CallbackOptions o;
    o.monitor = "val_acc";
    Callbacks cb(o);
    CHECK_NOTHROW(Callbacks(checkpoints(-1, "lr")).check_monitor({"loss", "accuracy", "lr"}));
    CHECK_THROWS_AS(cb.check_monitor({"loss", "accuracy", "lr"}), UsageError);
    CHECK_THROWS_WITH(cb.check_monitor({"loss", "accuracy", "lr"}),
                      "--monitor val_acc: no such value (the epochs report: loss, accuracy, lr)");
    CHECK_THROWS_WITH(cb.on_epoch_end(1, {{"loss", 0.5}, {"val_loss", 0.6}, {"lr", 0.1}}),
                      "--monitor val_acc: no such value (the epochs report: loss, val_loss, lr)");
}

TEST_CASE("the callbacks' state survives --resume", "[callbacks]") {
    CallbackOptions o = plateau(2, 0.5, 2);
    o.early_stopping = true;
    o.patience = 3;
    o.min_delta = 0.01;
    o.checkpoints = true;
    o.keep = 2;
    const std::vector<double> values = {1.0, 0.8, 0.805, 0.9, 0.79, 0.795, 0.8, 0.81, 0.82, 0.83};

    // What the uninterrupted run decides at each epoch.
    struct Decision {
        bool stop, best, epoch_file;
        double lr;
        int64_t deleted;
        bool operator==(const Decision& d) const {
            return stop == d.stop && best == d.best && epoch_file == d.epoch_file && lr == d.lr && deleted == d.deleted;
        }
    };
    auto run = [&](Callbacks& cb, size_t from, size_t to, double& lr, std::vector<Decision>& out) {
        for (size_t i = from; i < to; ++i) {
            EpochActions a = cb.on_epoch_end(int64_t(i) + 1, logs("loss", values[i], lr));
            if (a.new_lr) lr = *a.new_lr;
            out.push_back({a.stop, a.save_best, a.save_epoch_file, lr, a.delete_epoch_file.value_or(0)});
        }
    };
    std::vector<Decision> straight;
    double lr = 1.0;
    Callbacks whole(o);
    run(whole, 0, values.size(), lr, straight);
    CHECK(std::count_if(straight.begin(), straight.end(), [](const Decision& d) { return d.stop; }) > 0);
    CHECK(lr < 1.0);

    // Cut after every epoch: the state goes through the model file's JSON text
    // and a fresh instance continues.
    for (size_t cut = 1; cut < values.size(); ++cut) {
        INFO("resumed after epoch " << cut);
        std::vector<Decision> resumed;
        double rate = 1.0;
        Callbacks first(o);
        run(first, 0, cut, rate, resumed);
        std::string saved = first.state().dump();
        Callbacks second(o);
        second.restore(ordered::parse(saved));
        run(second, cut, values.size(), rate, resumed);
        CHECK(resumed == straight);
        CHECK(second.state() == whole.state());
    }
}

TEST_CASE("the state's format: infinities as null, other monitors ignored", "[callbacks]") {
    CallbackOptions o;
    o.monitor = "loss";
    Callbacks fresh(o);
    // The keys and order model files have always had.
    CHECK(fresh.state().dump() ==
          R"({"monitor":"loss","best_checkpoint":null,"best_early_stopping":null,"best_reduce_lr":null,)"
          R"("early_stopping_wait":0,"reduce_lr_wait":0,"reduce_lr_cooldown":0})");
    Callbacks back(o);
    back.restore(ordered::parse(fresh.state().dump()));
    CHECK(back.best_checkpoint() == INFINITY);
    CHECK(back.best_early_stopping() == INFINITY);

    // A state with only some keys (an older file): the others start fresh.
    Callbacks old(o);
    old.restore(ordered::parse(R"({"monitor":"loss","best_checkpoint":0.5,"early_stopping_wait":2})"));
    CHECK(old.best_checkpoint() == 0.5);
    CHECK(old.early_stopping_wait() == 2);
    CHECK(old.best_reduce_lr() == INFINITY);
    CHECK(old.reduce_lr_wait() == 0);

    // Kept for another monitor, or the other direction: a fresh start.
    CallbackOptions v = o;
    v.monitor = "val_loss";
    Callbacks other(v);
    other.restore(ordered::parse(R"({"monitor":"loss","best_checkpoint":0.5,"early_stopping_wait":2})"));
    CHECK(other.best_checkpoint() == INFINITY);
    CHECK(other.early_stopping_wait() == 0);

    CallbackOptions m = o;
    m.mode = Mode::Max;
    Callbacks upwards(m);
    upwards.on_epoch_end(1, logs("loss", 0.5));
    ordered s = upwards.state();
    CHECK(s["mode"] == "max");
    Callbacks downwards(o);
    downwards.restore(s);
    CHECK(downwards.best_checkpoint() == INFINITY);
    Callbacks same(m);
    same.restore(s);
    CHECK(same.best_checkpoint() == 0.5);

    Callbacks junk(o);
    junk.restore(ordered::parse("[1, 2]"));
    CHECK(junk.best_checkpoint() == INFINITY);
}
