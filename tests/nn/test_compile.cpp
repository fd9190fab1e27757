// The compile settings: Keras' learning-rate schedules (values at given steps,
// from the formulas in keras/src/optimizers/schedules/learning_rate_schedule.py),
// the optimizers' and losses' Keras configs, and every mistake named.
#include <catch2/catch.hpp>

#include <cmath>

#include "cli/error.hpp"
#include "nn/compile.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;
using nlohmann::json;

namespace {

LearningRateSchedule schedule(const char* text) { return parse_schedule(json::parse(text), "spec.json"); }

std::string schedule_error(const char* text) {
    try {
        schedule(text);
    } catch (const DataError& e) {
        CHECK(e.where() == "spec.json");
        return e.what();
    }
    return "(no error)";
}

OptimizerSpec optimizer(const char* text) {
    OptimizerSpec o;
    parse_optimizer(json::parse(text), "spec.json", o);
    return o;
}

std::string optimizer_error(const char* text) {
    try {
        optimizer(text);
    } catch (const DataError& e) {
        return e.what();
    }
    return "(no error)";
}

std::string loss_error(const char* text) {
    try {
        parse_loss(json::parse(text), "spec.json");
    } catch (const DataError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("ExponentialDecay: initial * rate^(step / decay_steps), floored with staircase", "[compile]") {
    LearningRateSchedule s = schedule(R"({"class_name": "ExponentialDecay", "config": {
        "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": true}})");
    CHECK(s.at(0) == 0.1);
    CHECK(s.at(9) == 0.1);
    CHECK(s.at(10) == Approx(0.05).epsilon(1e-15));
    CHECK(s.at(19) == Approx(0.05).epsilon(1e-15));
    CHECK(s.at(25) == Approx(0.025).epsilon(1e-15));
    s.staircase = false;
    CHECK(s.at(5) == Approx(0.1 * std::sqrt(0.5)).epsilon(1e-15));
    CHECK(s.at(10) == Approx(0.05).epsilon(1e-15));
    CHECK(s.at(15) == Approx(0.1 * std::pow(0.5, 1.5)).epsilon(1e-15));
}

TEST_CASE("InverseTimeDecay and PolynomialDecay", "[compile]") {
    LearningRateSchedule inv = schedule(R"({"type": "InverseTimeDecay", "initial_learning_rate": 0.1,
        "decay_steps": 1.0, "decay_rate": 0.5})");
    CHECK(inv.at(0) == 0.1);
    CHECK(inv.at(2) == Approx(0.05).epsilon(1e-15));  // 0.1 / (1 + 0.5 * 2)
    inv.staircase = true;
    inv.decay_steps = 4;
    CHECK(inv.at(3) == 0.1);
    CHECK(inv.at(4) == Approx(0.1 / 1.5).epsilon(1e-15));

    LearningRateSchedule poly = schedule(R"({"class_name": "PolynomialDecay", "config": {
        "initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.01, "power": 2.0}})");
    CHECK(poly.at(0) == Approx(0.1).epsilon(1e-15));
    CHECK(poly.at(5) == Approx(0.09 * 0.25 + 0.01).epsilon(1e-15));
    CHECK(poly.at(10) == Approx(0.01).epsilon(1e-15));
    CHECK(poly.at(30) == Approx(0.01).epsilon(1e-15));  // held at the end
    poly.cycle = true;  // decay_steps * ceil(step / decay_steps): 15 of 20
    CHECK(poly.at(15) == Approx(0.09 * 0.0625 + 0.01).epsilon(1e-15));
    CHECK(poly.at(0) == Approx(0.1).epsilon(1e-15));
}

TEST_CASE("CosineDecay: half a cosine down to alpha, after an optional linear warmup", "[compile]") {
    LearningRateSchedule s = schedule(R"({"class_name": "CosineDecay", "config": {
        "initial_learning_rate": 0.2, "decay_steps": 100, "alpha": 0.1, "name": "CosineDecay",
        "warmup_target": null, "warmup_steps": 0}})");
    CHECK(s.at(0) == Approx(0.2).epsilon(1e-15));
    CHECK(s.at(50) == Approx(0.2 * (0.9 * 0.5 + 0.1)).epsilon(1e-15));
    CHECK(s.at(100) == Approx(0.02).epsilon(1e-15));
    CHECK(s.at(1000) == Approx(0.02).epsilon(1e-15));
    CHECK(s.at(25) == Approx(0.2 * (0.9 * 0.5 * (1 + std::cos(M_PI / 4)) + 0.1)).epsilon(1e-15));

    LearningRateSchedule w = schedule(R"({"class_name": "CosineDecay", "config": {
        "initial_learning_rate": 0.0, "decay_steps": 10, "warmup_target": 0.1, "warmup_steps": 4}})");
    CHECK(w.at(0) == 0.0);
    CHECK(w.at(1) == Approx(0.025).epsilon(1e-15));
    CHECK(w.at(2) == Approx(0.05).epsilon(1e-15));
    CHECK(w.at(4) == Approx(0.1).epsilon(1e-15));                                      // the decay starts at the target
    CHECK(w.at(9) == Approx(0.1 * 0.5 * (1 + std::cos(M_PI / 2))).epsilon(1e-15));  // 5 of 10 decay steps
    CHECK(w.at(14) == Approx(0.0).margin(1e-15));
    CHECK(w.at(99) == Approx(0.0).margin(1e-15));
}

TEST_CASE("PiecewiseConstantDecay: values[i] up to and including boundaries[i]", "[compile]") {
    LearningRateSchedule s = schedule(R"({"class_name": "PiecewiseConstantDecay", "config": {
        "boundaries": [100, 110], "values": [1.0, 0.5, 0.1], "name": "PiecewiseConstant"}})");
    CHECK(s.at(0) == 1.0);
    CHECK(s.at(100) == 1.0);
    CHECK(s.at(101) == 0.5);
    CHECK(s.at(110) == 0.5);
    CHECK(s.at(111) == 0.1);
    CHECK(s.at(100000) == 0.1);
}

TEST_CASE("schedule mistakes are named with the key", "[compile]") {
    CHECK_THAT(schedule_error(R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_rate": 0.9}})"),
               Catch::Contains("learning_rate ExponentialDecay: needs \"decay_steps\""));
    CHECK_THAT(schedule_error(R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
        "decay_steps": 0, "decay_rate": 0.9}})"),
               Catch::Contains("\"decay_steps\" must be > 0, not 0"));
    CHECK_THAT(schedule_error(R"({"class_name": "ExponentalDecay", "config": {}})"),
               Catch::Contains("unknown learning-rate schedule \"ExponentalDecay\"; did you mean \"ExponentialDecay\"?"));
    CHECK_THAT(schedule_error(R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
        "decay_steps": 10, "decay_rate": 0.9, "stair_case": true}})"),
               Catch::Contains("unknown key \"stair_case\"; did you mean \"staircase\"?"));
    CHECK_THAT(schedule_error(R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
        "decay_steps": 10, "decay_rate": 0.9, "staircase": "yes"}})"),
               Catch::Contains("\"staircase\" must be true or false"));
    CHECK_THAT(schedule_error(R"({"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [10, 20], "values": [1, 0.5]}})"),
               Catch::Contains("\"values\" must have one more entry than \"boundaries\" (2 values, 2 boundaries)"));
    CHECK_THAT(schedule_error(R"({"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [20, 10], "values": [1, 0.5, 0.1]}})"),
               Catch::Contains("\"boundaries\" must increase strictly"));
    CHECK_THAT(schedule_error(R"({"class_name": "CosineDecayRestarts", "config": {}})"),
               Catch::Contains("unknown learning-rate schedule \"CosineDecayRestarts\""));
    CHECK_THAT(schedule_error(R"({"config": {}})"), Catch::Contains("a schedule needs \"class_name\""));
    CHECK_THAT(optimizer_error(R"({"type": "adam", "learning_rate": "fast"})"),
               Catch::Contains("optimizer: \"learning_rate\" must be a number"));
}

TEST_CASE("Keras 3's serialized optimizer with a schedule, and the round trip of the resolved spec", "[compile]") {
    OptimizerSpec o = optimizer(R"({"module": "keras.optimizers", "class_name": "SGD", "config": {"name": "SGD",
        "learning_rate": {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "config": {
          "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.96, "staircase": true,
          "name": "ExponentialDecay"}, "registered_name": null},
        "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null, "use_ema": false,
        "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null,
        "gradient_accumulation_steps": null, "momentum": 0.9, "nesterov": false}, "registered_name": null})");
    CHECK(o.name == "sgd");
    REQUIRE(o.schedule);
    CHECK(o.schedule->type == "ExponentialDecay");
    CHECK(o.learning_rate == 0.1);  // the rate at step 0
    CHECK(o.learning_rate_at(99) == 0.1);
    CHECK(o.learning_rate_at(100) == Approx(0.096).epsilon(1e-15));
    CHECK(o.momentum == 0.9);
    CHECK(o.weight_decay == 0);

    json j = o.to_json();
    CHECK(j["learning_rate"]["class_name"] == "ExponentialDecay");
    OptimizerSpec back;
    parse_optimizer(j, "model file", back);
    REQUIRE(back.schedule);
    CHECK(back.to_json() == j);
    CHECK(back.learning_rate_at(250) == o.learning_rate_at(250));

    for (const char* text : {
             R"({"type": "adam", "learning_rate": {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.0, "decay_steps": 10, "alpha": 0.1, "warmup_target": 0.01, "warmup_steps": 3}}})",
             R"({"type": "rmsprop", "learning_rate": {"type": "PiecewiseConstantDecay", "boundaries": [5], "values": [0.01, 0.001]}, "momentum": 0.5})",
             R"({"type": "nadam", "learning_rate": {"type": "PolynomialDecay", "initial_learning_rate": 0.01, "decay_steps": 7, "cycle": true}})",
             R"({"type": "adamw", "learning_rate": {"type": "InverseTimeDecay", "initial_learning_rate": 0.01, "decay_steps": 7, "decay_rate": 0.5}, "weight_decay": 0.1})"}) {
        OptimizerSpec a = optimizer(text), b;
        parse_optimizer(a.to_json(), "model file", b);
        INFO(text);
        CHECK(b.to_json() == a.to_json());
        for (int64_t step : {0, 1, 3, 4, 6, 7, 8, 50}) CHECK(b.learning_rate_at(step) == a.learning_rate_at(step));
    }
}

TEST_CASE("AdamW and Nadam with Keras' defaults; weight_decay on any optimizer", "[compile]") {
    OptimizerSpec w = optimizer(R"("AdamW")");
    CHECK(w.name == "adamw");
    CHECK(w.learning_rate == 0.001);
    CHECK(w.weight_decay == 0.004);
    CHECK(w.to_json()["weight_decay"] == 0.004);
    OptimizerSpec k3 = optimizer(R"({"module": "keras.optimizers", "class_name": "AdamW", "config": {"name": "adamw",
        "learning_rate": 0.002, "weight_decay": 0.01, "clipnorm": null, "global_clipnorm": null, "clipvalue": null,
        "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null,
        "gradient_accumulation_steps": null, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-07, "amsgrad": false}})");
    CHECK(k3.name == "adamw");
    CHECK(k3.weight_decay == 0.01);
    CHECK(k3.beta_1 == 0.8);
    OptimizerSpec n = optimizer(R"({"class_name": "Nadam", "config": {"learning_rate": 0.002, "weight_decay": null}})");
    CHECK(n.name == "nadam");
    CHECK(n.weight_decay == 0);
    CHECK(n.epsilon == 1e-7);
    CHECK(optimizer(R"({"type": "sgd", "weight_decay": 0.5})").weight_decay == 0.5);
    CHECK_THAT(optimizer_error(R"({"type": "adam", "weight_decay": -1})"), Catch::Contains("\"weight_decay\" must be >= 0"));
    CHECK_THAT(optimizer_error(R"("nadamw")"), Catch::Contains("did you mean"));
    CHECK(canonical_optimizer("NAdam") == "nadam");
}

TEST_CASE("losses: Keras' configs, label_smoothing and from_logits, compact objects, the round trip", "[compile]") {
    LossSpec k3 = parse_loss(json::parse(R"({"module": "keras.losses", "class_name": "CategoricalCrossentropy",
        "config": {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": false,
        "label_smoothing": 0.1, "axis": -1}, "registered_name": null})"), "spec.json");
    CHECK(k3 == "categorical_crossentropy");
    CHECK(k3.label_smoothing == 0.1);
    CHECK_FALSE(k3.from_logits);
    LossSpec k2 = parse_loss(json::parse(R"({"class_name": "BinaryCrossentropy", "config": {"reduction": "auto",
        "name": "binary_crossentropy", "from_logits": true, "label_smoothing": 0.0, "axis": -1}})"), "spec.json");
    CHECK(k2.name == "binary_crossentropy");
    CHECK(k2.from_logits);
    CHECK(k2.label_smoothing == 0);
    LossSpec compact = parse_loss(json::parse(R"({"type": "categorical_crossentropy", "label_smoothing": 0.2})"), "spec.json");
    CHECK(compact.label_smoothing == 0.2);
    CHECK(json(compact) == json::parse(R"({"type": "categorical_crossentropy", "label_smoothing": 0.2})"));
    CHECK(json(LossSpec("mse")) == "mse");
    CHECK(parse_loss(json(k2), "model file") == k2);
    CHECK(parse_loss(json("MeanSquaredError"), "spec.json") == "mse");
    CHECK(parse_loss(json::parse(R"({"class_name": "MeanSquaredError", "config": {"name": "mean_squared_error",
        "reduction": "sum_over_batch_size"}})"), "spec.json") == "mse");

    CHECK_THAT(loss_error(R"({"type": "sparse_categorical_crossentropy", "label_smoothing": 0.1})"),
               Catch::Contains("\"label_smoothing\" applies to binary_crossentropy and categorical_crossentropy only"));
    CHECK_THAT(loss_error(R"({"type": "categorical_crossentropy", "label_smoothing": 1.5})"),
               Catch::Contains("\"label_smoothing\" must be between 0 and 1"));
    CHECK_THAT(loss_error(R"({"class_name": "CategoricalCrossentropy", "config": {"reduction": "sum"}})"),
               Catch::Contains("\"reduction\": \"sum\" is not supported"));
    CHECK_THAT(loss_error(R"({"type": "categorical_crossentropy", "label_smothing": 0.1})"),
               Catch::Contains("unknown key \"label_smothing\"; did you mean \"label_smoothing\"?"));
    CHECK_THAT(loss_error(R"({"type": "mse", "from_logits": true})"), Catch::Contains("unknown key \"from_logits\""));
    CHECK_THAT(loss_error(R"({"label_smoothing": 0.1})"), Catch::Contains("loss: needs \"type\""));
}

TEST_CASE("losses and metrics of issue 24: huber's delta, log_cosh, Keras' and our short names", "[compile]") {
    LossSpec h = parse_loss(json::parse(R"({"module": "keras.losses", "class_name": "Huber", "config": {"delta": 0.7,
        "name": "huber_loss", "reduction": "sum_over_batch_size", "dtype": null}, "registered_name": null})"), "spec.json");
    CHECK(h == "huber");
    CHECK(h.delta == 0.7);
    CHECK(json(h) == json::parse(R"({"type": "huber", "delta": 0.7})"));
    CHECK(parse_loss(json(h), "model file") == h);  // the model file keeps delta
    CHECK(json(parse_loss(json("huber"), "spec.json")) == "huber");  // delta 1: a bare name
    CHECK(parse_loss(json("huber_loss"), "spec.json") == "huber");
    CHECK(parse_loss(json("LogCosh"), "spec.json") == "log_cosh");
    CHECK(parse_loss(json("logcosh"), "spec.json") == "log_cosh");
    CHECK_THAT(loss_error(R"({"type": "huber", "delta": 0})"), Catch::Contains("\"delta\" must be > 0, not 0"));
    CHECK_THAT(loss_error(R"({"type": "mse", "delta": 2})"), Catch::Contains("\"delta\" applies to huber only"));
    CHECK_THAT(loss_error(R"({"type": "huber", "from_logits": true})"), Catch::Contains("unknown key \"from_logits\""));
    // The history's names are Keras' (what its metrics call themselves); ours are accepted.
    CHECK(canonical_metric("rmse") == "root_mean_squared_error");
    CHECK(canonical_metric("RootMeanSquaredError") == "root_mean_squared_error");
    CHECK(canonical_metric("r2") == "r2_score");
    CHECK(canonical_metric("R2Score") == "r2_score");
    CHECK(canonical_metric("f1") == "f1_score");
    CHECK(canonical_metric("F1Score") == "f1_score");
    CHECK(canonical_metric("AUC") == "auc");
    CHECK(canonical_metric("Precision") == "precision");
    CHECK(canonical_metric("recall") == "recall");
    CHECK(parse_metrics(json::parse(R"([{"module": "keras.metrics", "class_name": "AUC", "config": {"name": "auc"}}])"),
                        "spec.json") == std::vector<std::string>{"auc"});
}

TEST_CASE("overrides: --lr replaces a schedule, --loss keeps the options of the loss it names", "[compile]") {
    CompileSpec c;
    c.loss = parse_loss(json::parse(R"({"type": "categorical_crossentropy", "label_smoothing": 0.1})"), "spec.json");
    parse_optimizer(json::parse(R"({"type": "sgd", "learning_rate": {"class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}})"), "spec.json", c.optimizer);
    Overrides same;
    same.loss = "CategoricalCrossentropy";
    same.optimizer = "sgd";
    apply_overrides(c, same);
    CHECK(c.loss.label_smoothing == 0.1);
    CHECK(c.optimizer.schedule);
    Overrides lr;
    lr.lr = 0.02;
    apply_overrides(c, lr);
    CHECK_FALSE(c.optimizer.schedule);
    CHECK(c.optimizer.learning_rate_at(1000) == 0.02);
    CHECK(c.optimizer.to_json()["learning_rate"] == 0.02);
    Overrides other;
    other.loss = "mse";
    other.optimizer = "AdamW";
    apply_overrides(c, other);
    CHECK(c.loss == "mse");
    CHECK(c.loss.label_smoothing == 0);
    CHECK(c.optimizer.name == "adamw");
    CHECK(c.optimizer.weight_decay == 0.004);
    Overrides bad;
    bad.optimizer = "adamax";
    CHECK_THROWS_AS(apply_overrides(c, bad), UsageError);
}
