// nneval's and nnpredict's output: classes read from outputs, the confusion
// matrix, the reports, the prediction lines and the step limit. Torch-free.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>

#include "cli/error.hpp"
#include "nn/report.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {
Tensor outputs(std::vector<int64_t> shape, std::vector<float> values) {
    Tensor t("x", DType::F32, std::move(shape));
    REQUIRE(size_t(t.elements()) == values.size());
    for (size_t i = 0; i < values.size(); ++i) t.values<float>()[i] = values[i];
    return t;
}

Tensor labels(std::vector<int32_t> values) {
    Tensor t("y", DType::I32, {int64_t(values.size())});
    for (size_t i = 0; i < values.size(); ++i) t.values<int32_t>()[i] = values[i];
    return t;
}

Frame input_frame(int64_t n, std::vector<std::string> paths) {
    Frame f;
    f.tensors.push_back(Tensor("x", DType::U8, {n, 2, 2, 1}));
    f.tensors.push_back(labels(std::vector<int32_t>(size_t(n), 0)));
    f.metadata["format"] = kStreamFormat;
    f.metadata["class_mode"] = "sparse";
    f.metadata["extra"] = "kept";
    if (!paths.empty()) f.set_paths(paths);
    f.set_classes({"cat", "dog", "horse"});
    return f;
}
}  // namespace

TEST_CASE("output kinds follow the loss and the output shape", "[report]") {
    CHECK(output_kind("binary_crossentropy", {1}) == OutputKind::Binary);
    CHECK(output_kind("categorical_crossentropy", {10}) == OutputKind::Categorical);
    CHECK(output_kind("sparse_categorical_crossentropy", {3}) == OutputKind::Categorical);
    CHECK(output_kind("binary_crossentropy", {5}) == OutputKind::MultiLabel);
    CHECK(output_kind("mse", {64, 64, 3}) == OutputKind::Values);
    CHECK(output_kind("mse", {1}) == OutputKind::Regression);
    CHECK(output_kind("huber", {3}) == OutputKind::Regression);
    CHECK(class_count(OutputKind::MultiLabel, {5}) == 5);
    CHECK(class_count(OutputKind::Regression, {3}) == 0);
    CHECK(class_count(OutputKind::Binary, {1}) == 2);
    CHECK(class_count(OutputKind::Categorical, {10}) == 10);
    CHECK(class_count(OutputKind::Values, {3}) == 0);
    CHECK(class_names({"a", "b"}, 2) == std::vector<std::string>{"a", "b"});
    CHECK(class_names({}, 3) == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("binary outputs predict class 1 at p >= 0.5 and report that class's probability", "[report]") {
    float p = 0.8f;
    auto top = top_classes(&p, 1, OutputKind::Binary, 1);
    REQUIRE(top.size() == 1);
    CHECK(top[0].first == 1);
    CHECK(top[0].second == Approx(0.8));
    p = 0.2f;
    top = top_classes(&p, 1, OutputKind::Binary, 2);
    REQUIRE(top.size() == 2);
    CHECK(top[0].first == 0);
    CHECK(top[0].second == Approx(0.8));
    CHECK(top[1].first == 1);
    p = 0.5f;
    CHECK(top_classes(&p, 1, OutputKind::Binary, 1)[0].first == 1);
}

TEST_CASE("categorical top-k is sorted, ties go to the lower index", "[report]") {
    float row[] = {0.1f, 0.3f, 0.3f, 0.25f, 0.05f};
    auto top = top_classes(row, 5, OutputKind::Categorical, 3);
    REQUIRE(top.size() == 3);
    CHECK(top[0].first == 1);
    CHECK(top[1].first == 2);
    CHECK(top[2].first == 3);
    CHECK(top_classes(row, 5, OutputKind::Categorical, 5).size() == 5);
}

TEST_CASE("true classes come from indices or one-hot rows; bad labels name the sample", "[report]") {
    CHECK(true_classes(labels({2, 0, 1}), 3, "f") == std::vector<int>{2, 0, 1});
    CHECK(true_classes(outputs({2, 3}, {0, 0, 1, 1, 0, 0}), 3, "f") == std::vector<int>{2, 0});
    CHECK(true_classes(outputs({2, 1}, {1, 0}), 2, "f") == std::vector<int>{1, 0});
    CHECK(true_classes(outputs({1, 2, 2, 3}, std::vector<float>(12, 0.5f)), 3, "f").empty());  // an image
    try {
        true_classes(labels({0, 7}), 3, "test.bs: frame 2");
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(e.where() == "test.bs: frame 2");
        CHECK(std::string(e.what()).find("sample 1: label 7") != std::string::npos);
    }
    CHECK_THROWS_AS(true_classes(outputs({1}, {0.5f}), 2, "f"), DataError);
}

TEST_CASE("the confusion matrix counts argmax against truth, per-class accuracy is recall", "[report]") {
    ConfusionMatrix m({"cat", "dog", "horse"});
    // predictions: 0, 1, 1, 2 ; truth: 0, 1, 2, 2
    m.add_batch(outputs({4, 3}, {0.8f, 0.1f, 0.1f, 0.2f, 0.7f, 0.1f, 0.1f, 0.6f, 0.3f, 0.0f, 0.1f, 0.9f}),
                OutputKind::Categorical, {0, 1, 2, 2});
    CHECK(m.total() == 4);
    CHECK(m.correct() == 3);
    CHECK(m.accuracy() == Approx(0.75));
    CHECK(m.count(2, 1) == 1);
    CHECK(m.class_accuracy(2) == Approx(0.5));
    CHECK(m.class_accuracy(0) == Approx(1.0));
    std::string text = m.text();
    CHECK(text.find("        0 1 2\n0 cat   1 0 0\n") != std::string::npos);
    CHECK(text.find("2 horse 0 1 1\n") != std::string::npos);
    CHECK(text.find("2 horse  0.5000  (1/2)") != std::string::npos);
    ConfusionMatrix empty({"a", "b"});
    CHECK(std::isnan(empty.class_accuracy(0)));
    CHECK(empty.text().find("0 a       -  (0/0)") != std::string::npos);
}

TEST_CASE("evaluation reports print Keras' line and a JSON object", "[report]") {
    Evaluation e;
    e.scores.add("loss", 0.30123, 10);
    e.scores.add("accuracy", 0.9, 10);
    e.classification = true;
    e.confusion = ConfusionMatrix({"neg", "pos"});
    e.confusion.add(0, 0);
    e.confusion.add(1, 0);
    e.samples = 10;
    e.batches = 1;
    CHECK(e.text().rfind("loss: 0.3012 - accuracy: 0.9000\n\nconfusion matrix", 0) == 0);
    auto j = nlohmann::json::parse(e.json());
    CHECK(j["loss"].get<double>() == Approx(0.30123));
    CHECK(j["accuracy"].get<double>() == Approx(0.9));
    CHECK(j["samples"] == 10);
    CHECK(j["classes"] == nlohmann::json({"neg", "pos"}));
    CHECK(j["confusion_matrix"] == nlohmann::json({{1, 0}, {1, 0}}));
    CHECK(j["per_class_accuracy"]["pos"].get<double>() == 0.0);
    CHECK(e.accuracy() == Approx(0.9));  // the metric wins over the matrix
    Evaluation regression;
    regression.scores.add("loss", 1.5, 4);
    CHECK(regression.text() == "loss: 1.5000\n");
    CHECK(std::isnan(regression.accuracy()));
    CHECK(!nlohmann::json::parse(regression.json()).contains("confusion_matrix"));
}

TEST_CASE("the step limit stops after --steps or at the first epoch boundary", "[report]") {
    Frame f = input_frame(4, {});
    f.set_meta_int("epoch", 0);
    f.set_meta_int("epoch_size", 10);
    StepLimit by_epoch(0);
    CHECK(by_epoch.take(f, true));
    CHECK(by_epoch.expected() == 3);
    CHECK(by_epoch.take(f, false));
    CHECK(!by_epoch.take(f, true));  // the reader says the next epoch begins
    CHECK(by_epoch.taken() == 2);
    by_epoch.check_complete("in");

    StepLimit by_steps(3);
    CHECK(by_steps.take(f, true));
    CHECK(by_steps.expected() == 3);
    CHECK_THROWS_WITH(by_steps.check_complete("in"), Catch::Contains("ended after 1 batches; --steps asked for 3"));
    CHECK(by_steps.take(f, false));
    CHECK(by_steps.take(f, true));  // --steps crosses epochs, as Keras' steps do
    CHECK(!by_steps.take(f, false));
    by_steps.check_complete("in");
}

TEST_CASE("TSV lines join back to paths, with the top-k classes", "[report]") {
    PredictionWriter w(PredictFormat::Tsv, OutputKind::Categorical, {3}, {"cat", "dog", "horse"}, 2);
    Frame f = input_frame(2, {"a/1.png", "b\t2.png"});
    CHECK(w.lines(f, outputs({2, 3}, {0.1f, 0.7f, 0.2f, 0.5f, 0.25f, 0.25f})) ==
          "a/1.png\tdog\t0.7\thorse\t0.2\n"
          "b\\t2.png\tcat\t0.5\tdog\t0.25\n");
    PredictionWriter binary(PredictFormat::Tsv, OutputKind::Binary, {1}, {"cats", "dogs"}, 1);
    CHECK(binary.lines(f, outputs({2, 1}, {0.9f, 0.25f})) == "a/1.png\tdogs\t0.9\nb\\t2.png\tcats\t0.75\n");
    // Without paths, samples are numbered in stream order across batches.
    Frame bare = input_frame(2, {});
    PredictionWriter values(PredictFormat::Tsv, OutputKind::Regression, {2}, {}, 1);
    CHECK(values.lines(bare, outputs({2, 2}, {1, 2, 3, 4})) == "0\t1\t2\n1\t3\t4\n");
    CHECK(values.lines(bare, outputs({2, 2}, {1, 2, 3, 4})).rfind("2\t1\t2\n3\t", 0) == 0);
    CHECK_THROWS_WITH(values.lines(input_frame(2, {"only-one"}), outputs({2, 2}, {1, 2, 3, 4})),
                      Catch::Contains("names 1 samples, the frame holds 2"));
}

TEST_CASE("JSON lines carry path, class, probability, top-k and the raw output", "[report]") {
    PredictionWriter w(PredictFormat::Json, OutputKind::Categorical, {3}, {"cat", "dog", "horse"}, 3);
    Frame f = input_frame(1, {"x.png"});
    auto j = nlohmann::json::parse(w.lines(f, outputs({1, 3}, {0.2f, 0.3f, 0.5f})));
    CHECK(j["path"] == "x.png");
    CHECK(j["class"] == "horse");
    CHECK(j["probability"].get<double>() == Approx(0.5));
    REQUIRE(j["top"].size() == 3);
    CHECK(j["top"][2]["class"] == "cat");
    CHECK(j["output"].size() == 3);
    PredictionWriter one(PredictFormat::Json, OutputKind::Binary, {1}, {"n", "p"}, 1);
    auto b = nlohmann::json::parse(one.lines(f, outputs({1, 1}, {0.1f})));
    CHECK(b["class"] == "n");
    CHECK(b["probability"].get<double>() == Approx(0.9));
    CHECK(!b.contains("top"));
}

TEST_CASE("the prediction writer refuses what it cannot show", "[report]") {
    CHECK_THROWS_AS(PredictionWriter(PredictFormat::Tsv, OutputKind::Values, {8, 8, 3}, {}, 1), UsageError);
    CHECK_THROWS_AS(PredictionWriter(PredictFormat::Json, OutputKind::Values, {8, 8, 3}, {}, 1), UsageError);
    CHECK_THROWS_AS(PredictionWriter(PredictFormat::Tsv, OutputKind::Categorical, {3}, {"a", "b", "c"}, 4), UsageError);
    CHECK_THROWS_AS(PredictionWriter(PredictFormat::Tsv, OutputKind::Regression, {3}, {}, 2), UsageError);
    CHECK_THROWS_WITH(PredictionWriter(PredictFormat::Tsv, OutputKind::MultiLabel, {3}, {"a", "b", "c"}, 2),
                      Catch::Contains("--top-k is for a classifier of one class per image"));
    PredictionWriter(PredictFormat::Stream, OutputKind::Values, {8, 8, 3}, {}, 1);
    PredictionWriter(PredictFormat::Tsv, OutputKind::Binary, {1}, {"a", "b"}, 2);
}

TEST_CASE("stream output: x = outputs, metadata carried, y dropped", "[report]") {
    PredictionWriter w(PredictFormat::Stream, OutputKind::Values, {2, 2, 1}, {}, 1);
    Frame in = input_frame(2, {"p1", "p2"});
    Frame out = w.frame(in, outputs({2, 2, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8}));
    REQUIRE(out.tensors.size() == 1);
    CHECK(out.get("x").dtype == DType::F32);
    CHECK(out.get("x").shape == std::vector<int64_t>{2, 2, 2, 1});
    CHECK(out.find("y") == nullptr);
    CHECK(out.paths() == std::vector<std::string>{"p1", "p2"});
    CHECK(out.classes() == std::vector<std::string>{"cat", "dog", "horse"});
    CHECK(out.metadata.at("extra") == "kept");
    CHECK(out.metadata.count("class_mode") == 0);
    CHECK(out.metadata.at("format") == kStreamFormat);
}

TEST_CASE("TSV fields escape the characters that would break a line", "[report]") {
    CHECK(tsv_field("plain/path.png") == "plain/path.png");
    CHECK(tsv_field("a\tb\nc\\d\r") == "a\\tb\\nc\\\\d\\r");
}

namespace {
// A frame of n samples whose y is `y` (F32 [n, k]), with w when given.
Frame target_frame(const std::string& mode, std::vector<int64_t> shape, std::vector<float> y, std::vector<float> w = {}) {
    Frame f;
    int64_t n = shape[0];
    f.tensors.push_back(Tensor("x", DType::U8, {n, 2, 2, 1}));
    Tensor t = outputs(shape, y);
    t.name = "y";
    f.tensors.push_back(t);
    if (!w.empty()) {
        Tensor wt = outputs({n}, w);
        wt.name = "w";
        f.tensors.push_back(wt);
    }
    f.metadata["format"] = kStreamFormat;
    f.metadata["class_mode"] = mode;
    return f;
}
}  // namespace

TEST_CASE("the exact AUC counts tied scores half and weights each pair", "[report]") {
    // positives 0.9, 0.4; negatives 0.4, 0.1: pairs (0.9>0.4), (0.9>0.1), (0.4=0.4: half), (0.4>0.1) -> 3.5/4
    CHECK(roc_auc({0.9f, 0.4f, 0.4f, 0.1f}, {1, 1, 0, 0}, {1, 1, 1, 1}) == Approx(0.875));
    CHECK(roc_auc({0.1f, 0.2f, 0.8f, 0.9f}, {1, 1, 0, 0}, {1, 1, 1, 1}) == 0.0);
    // A weight of 2 on the positive 0.4 counts its pairs twice: (2*0.5 + 2*1 + 2 + 1 [0.9 pairs]) / (3*2)
    CHECK(roc_auc({0.9f, 0.4f, 0.4f, 0.1f}, {1, 1, 0, 0}, {1, 2, 1, 1}) == Approx(5.0 / 6.0));
    CHECK(std::isnan(roc_auc({0.3f, 0.6f}, {1, 1}, {1, 1})));  // no negative
}

TEST_CASE("multi-label statistics: per class, micro and macro, at the threshold", "[report]") {
    MultiLabelReport r({"a", "b", "c"}, 0.5);
    // truth rows: a b . / a . . / . b . / . . .   (c never shown)
    Frame f = target_frame("multi_label", {4, 3}, {1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0});
    r.add_batch(f, outputs({4, 3}, {0.9f, 0.2f, 0.6f, 0.4f, 0.5f, 0.1f, 0.7f, 0.8f, 0.2f, 0.1f, 0.3f, 0.0f}), "s");
    // a: predicted {0, 2} (0.5 is not above 0.5), true {0, 1}: tp 1 fp 1 fn 1
    auto a = r.per_class(0);
    CHECK(a.tp == 1);
    CHECK(a.fp == 1);
    CHECK(a.fn == 1);
    CHECK(a.precision == Approx(0.5));
    CHECK(a.recall == Approx(0.5));
    CHECK(a.f1 == Approx(0.5));
    CHECK(a.support == 2);
    CHECK(a.auc == Approx(0.75));  // 0.9 > 0.7, 0.1; 0.4 > 0.1 only
    auto c = r.per_class(2);  // predicted once (0.6), never shown
    CHECK(c.precision == 0.0);
    CHECK(std::isnan(c.recall));
    CHECK(std::isnan(c.f1) == false);  // 2*0 / (0 + 1 + 0) = 0
    CHECK(std::isnan(c.auc));
    CHECK(r.absent_classes_note() == "no image shows class \"c\" (of the model's 3): its recall and AUC are \"-\" "
                                     "(null with --json), 0 in the macro average");
    auto micro = r.micro();  // tp 1+1+0, fp 1+0+1, fn 1+1+0
    CHECK(micro.precision == Approx(0.5));
    CHECK(micro.recall == Approx(0.5));
    CHECK(micro.support == 4);
    auto macro = r.macro();  // recall of c is 0/0: 0 in the mean; AUC over a and b
    CHECK(macro.recall == Approx((0.5 + 0.5 + 0) / 3));
    CHECK(macro.auc == Approx((0.75 + r.per_class(1).auc) / 2));
    std::string text = r.text();
    INFO(text);
    CHECK(text.rfind("multi-label, a class predicted above 0.5:\n", 0) == 0);
    CHECK(text.find("\n2 c              0.0000         -    0.0000         0         -\n") != std::string::npos);
    CHECK(text.find("\nmicro average    0.5000    0.5000    0.5000         4") != std::string::npos);
    // Not 0 or 1: not a multi-hot row.
    Frame bad = target_frame("multi_label", {1, 3}, {1, 0.5f, 0});
    CHECK_THROWS_WITH(r.add_batch(bad, outputs({1, 3}, {0, 0, 0}), "s: frame 2"),
                      "sample 0: y[1] is 0.5, not 0 or 1 (a multi-hot row)");
}

TEST_CASE("regression statistics are weighted by w; the worst residuals keep their paths", "[report]") {
    RegressionReport r(2);
    Frame f = target_frame("raw", {3, 2}, {1, 10, 2, 20, 3, 30}, {1, 1, 2});
    f.metadata["targets"] = "[\"small\", \"big\"]";
    f.set_paths({"p0", "p1", "p2"});
    r.add_batch(f, outputs({3, 2}, {1.5f, 10, 2, 18, 3, 33}), 0, "s");
    CHECK(r.targets() == std::vector<std::string>{"small", "big"});
    CHECK(r.weighted());
    auto small = r.column(0);  // errors 0.5, 0, 0 weighted 1, 1, 2
    CHECK(small.mae == Approx(0.5 / 4));
    CHECK(small.rmse == Approx(std::sqrt(0.25 / 4)));
    // weighted mean 2.25; sst = 1.5625 + 0.0625 + 2 * 0.5625
    CHECK(small.r2 == Approx(1 - 0.25 / 2.75));
    auto big = r.column(1);  // errors 0, -2, 3
    CHECK(big.mae == Approx((2.0 + 6.0) / 4));
    auto all = r.overall();
    CHECK(all.mae == Approx((small.mae + big.mae) / 2));
    CHECK(all.rmse == Approx(std::sqrt((small.rmse * small.rmse + big.rmse * big.rmse) / 2)));
    REQUIRE(r.worst().size() == 2);
    CHECK(r.worst()[0].path == "p2");
    CHECK(r.worst()[0].residual() == Approx(3));
    CHECK(r.worst()[1].path == "p1");
    CHECK(r.worst()[1].target == 1);
    INFO(r.text());
    CHECK(r.text().find("           3          30          33  big      p2\n") != std::string::npos);
    // Two ranks' states add up to the whole.
    RegressionReport first(2), second(2);
    Frame a = f, b = f;
    first.add_batch(f, outputs({3, 2}, {1.5f, 10, 2, 18, 3, 33}), 0, "s");
    second.merge(RegressionReport(2).state());  // a rank that read nothing
    second.merge(first.state());
    CHECK(second.column(0).r2 == Approx(small.r2));
    CHECK(second.worst()[0].path == "p2");
    // A negative weight is refused by sample.
    Frame heavy = target_frame("raw", {1, 2}, {1, 2}, {-1});
    CHECK_THROWS_WITH(r.add_batch(heavy, outputs({1, 2}, {1, 2}), 0, "s"), "sample 0: weight -1 is not a finite number >= 0");
}

TEST_CASE("a stream whose targets are of another kind than the model's is refused by name", "[report]") {
    Frame raw = target_frame("raw", {1, 3}, {1, 2, 3});
    Frame multi = target_frame("multi_label", {1, 3}, {1, 0, 1});
    CHECK_THROWS_WITH(check_target_kind(OutputKind::MultiLabel, "binary_crossentropy", {3}, raw, "s: frame 1"),
                      "the stream's targets are numbers (class_mode raw, regression) but the model is a "
                      "multi-label classifier (3 sigmoid units, binary_crossentropy): evaluate it on targets of the kind "
                      "it was trained on");
    CHECK_THROWS_WITH(check_target_kind(OutputKind::Regression, "mse", {3}, multi, "s"),
                      Catch::Contains("several classes per image (class_mode multi_label) but the model is a regression model (3 numbers, loss mse)"));
    CHECK_THROWS_WITH(check_target_kind(OutputKind::Categorical, "categorical_crossentropy", {3}, multi, "s"),
                      Catch::Contains("a classifier of one class per image (3 units"));
    CHECK_THROWS_WITH(check_target_kind(OutputKind::MultiLabel, "binary_crossentropy", {3}, input_frame(1, {}), "s"),
                      Catch::Contains("one class per image (class_mode sparse) but the model is a multi-label"));
    check_target_kind(OutputKind::Regression, "mse", {3}, raw, "s");
    check_target_kind(OutputKind::MultiLabel, "binary_crossentropy", {3}, multi, "s");
    check_target_kind(OutputKind::Categorical, "categorical_crossentropy", {3}, input_frame(1, {}), "s");
}

TEST_CASE("a multi-hot y's columns move to the model's classes by name", "[report]") {
    Frame f = target_frame("multi_label", {2, 2}, {1, 0, 1, 1});
    f.set_classes({"dog", "cat"});
    align_classes(f, {"cat", "dog", "horse"}, "s");
    CHECK(f.classes() == std::vector<std::string>{"cat", "dog", "horse"});
    const Tensor& y = f.get("y");
    REQUIRE(y.shape == std::vector<int64_t>{2, 3});
    CHECK(std::vector<float>(y.values<float>(), y.values<float>() + 6) == std::vector<float>{0, 1, 0, 1, 1, 0});
}

TEST_CASE("multi-label predictions: the classes above the threshold, then every probability", "[report]") {
    Frame f = input_frame(2, {"a.png", "b.png"});
    PredictionWriter tsv(PredictFormat::Tsv, OutputKind::MultiLabel, {3}, {"cat", "dog", "horse"}, 1, 0.4);
    CHECK(tsv.lines(f, outputs({2, 3}, {0.9f, 0.4f, 0.45f, 0.1f, 0.2f, 0.3f})) ==
          "a.png\tcat|horse\t0.9\t0.4\t0.45\nb.png\t\t0.1\t0.2\t0.3\n");
    PredictionWriter json(PredictFormat::Json, OutputKind::MultiLabel, {3}, {"cat", "dog", "horse"}, 1, 0.5);
    auto j = nlohmann::json::parse(json.lines(input_frame(1, {"a.png"}), outputs({1, 3}, {0.9f, 0.6f, 0.1f})));
    CHECK(j["classes"] == nlohmann::json({"cat", "dog"}));
    CHECK(j["probabilities"]["horse"].get<double>() == Approx(0.1));
    CHECK(j["output"].size() == 3);
    CHECK(!j.contains("class"));
}

TEST_CASE("an evaluation reports its kind's statistics, in text and JSON", "[report]") {
    Evaluation e;
    e.start(OutputKind::MultiLabel, {"a", "b"}, 0.5);
    e.scores.add("loss", 0.25, 2);
    e.add(target_frame("multi_label", {2, 2}, {1, 0, 0, 1}), outputs({2, 2}, {0.8f, 0.3f, 0.1f, 0.6f}), 0, "s");
    CHECK(e.text().rfind("loss: 0.2500\n\nmulti-label, a class predicted above 0.5:\n", 0) == 0);
    auto j = nlohmann::json::parse(e.json());
    CHECK(j["multi_label"]["per_class"]["b"]["f1"].get<double>() == 1.0);
    CHECK(j["multi_label"]["macro"]["auc"].get<double>() == 1.0);
    CHECK(j["multi_label"]["weighted"] == false);
    CHECK(e.labels.absent_classes_note().empty());
    Evaluation r;
    r.start(OutputKind::Regression, {}, 0.5);
    r.add(target_frame("raw", {2, 1}, {1, 3}), outputs({2, 1}, {2, 3}), 7, "s");
    j = nlohmann::json::parse(r.json());
    CHECK(j["regression"]["targets"] == nlohmann::json({"0"}));
    CHECK(j["regression"]["per_target"]["0"]["mae"].get<double>() == 0.5);
    CHECK(j["regression"]["worst"][0]["path"] == "7");  // no paths: the stream position
    CHECK(j["regression"]["overall"]["r2"].get<double>() == Approx(0.5));  // 1 - 1 / 2
    // A column whose true values are all equal has no R2, and then neither has the whole.
    Evaluation flat;
    flat.start(OutputKind::Regression, {}, 0.5);
    flat.add(target_frame("raw", {2, 2}, {1, 5, 3, 5}), outputs({2, 2}, {2, 4, 3, 6}), 0, "s");
    j = nlohmann::json::parse(flat.json());
    CHECK(j["regression"]["per_target"]["0"]["r2"].get<double>() == Approx(0.5));
    CHECK(j["regression"]["per_target"]["1"]["r2"].is_null());
    CHECK(j["regression"]["overall"]["r2"].is_null());
    INFO(flat.text());
    CHECK(flat.text().find("\n1          1.0000    1.0000         -\n") != std::string::npos);
    // Class labels under a regression loss: the loss alone, as before.
    Evaluation labels_only;
    labels_only.start(OutputKind::Regression, {}, 0.5);
    labels_only.add(input_frame(2, {}), outputs({2, 3}, {0, 0, 0, 0, 0, 0}), 0, "s");
    CHECK(!labels_only.regression);
}
