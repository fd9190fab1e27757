// Scores: running means, and the epoch-level metrics computed from the
// epoch's sums as Keras' stateful metrics are (the examples of Keras 3's
// docstrings), added up over batches and ranks. Torch-free.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "nn/engine.hpp"

using namespace imgpipe::nn;

TEST_CASE("root_mean_squared_error is the root of the epoch's mean, not the mean of the batches' roots", "[scores]") {
    Scores s;
    s.add("root_mean_squared_error", 1.0, 2);  // batch mean squared errors 1 and 9
    s.add("root_mean_squared_error", 9.0, 2);
    CHECK(s.mean("root_mean_squared_error") == Approx(std::sqrt(5.0)));  // not (1 + 3) / 2
    s.add("mse", 1.0, 2);
    s.add("mse", 9.0, 2);
    CHECK(s.mean("mse") == 5.0);
}

TEST_CASE("precision, recall, f1_score, r2_score and auc from their sums", "[scores]") {
    Scores s;
    // precision: true and false positives of two batches
    s.add_sums("precision", {3, 1}, 8);
    s.add_sums("precision", {0, 4}, 8);
    CHECK(s.mean("precision") == Approx(3.0 / 8));  // the batches' own would average 0.375 and 0.375: (0.75 + 0) / 2
    s.add_sums("recall", {0, 0}, 4);
    CHECK(s.mean("recall") == 0);  // no positive: 0, as Keras' divide_no_nan
    // Keras' F1Score(threshold=0.5) docstring: per class [0.5, 0.8, 0.6666667]; macro is their mean
    s.add_sums("f1_score", {1, 2, 1, /*fp*/ 0, 1, 1, /*fn*/ 2, 0, 0}, 3);
    CHECK(s.mean("f1_score") == Approx((0.5 + 0.8 + 2.0 / 3) / 3).epsilon(1e-6));
    // Keras' R2Score docstring: y [1, 4, 3], predictions [2, 4, 4]: 0.57142854, in two batches
    s.add_sums("r2_score", {1 + 4, 1 + 16, 1 + 0, 2}, 2);
    s.add_sums("r2_score", {3, 9, 1, 1}, 1);
    CHECK(s.mean("r2_score") == Approx(0.5714285714));
    // Keras' AUC docstring: y [0, 0, 1, 1], scores [0, 0.5, 0.3, 0.9]: 0.75. Buckets ceil(p * 199) - 1,
    // at least 0: positives in 59 and 179, negatives in 0 and 99.
    std::vector<double> auc(400, 0);
    auc[59] = auc[179] = 1;
    auc[200 + 0] = auc[200 + 99] = 1;
    s.add_sums("auc", auc, 4);
    CHECK(s.mean("auc") == Approx(0.75));
    CHECK(s.keras_text() == " - precision: 0.3750 - recall: 0.0000 - f1_score: 0.6556 - r2_score: 0.5714 - auc: 0.7500");
}

TEST_CASE("the sums travel between ranks: totals and set_totals, sized by the output width", "[scores]") {
    Scores a;
    a.add("loss", 0.5, 4);
    a.add_sums("r2_score", {1, 2, 3, 4, 5, 6, 7, 8}, 4);  // two outputs
    std::vector<std::string> names = {"loss", "r2_score", "auc"};
    std::vector<double> t = a.totals(names, 2);
    REQUIRE(t.size() == 2 + 9 + 401);  // an absent name still takes its place: every rank sends as many
    CHECK(t[0] == 2.0);
    CHECK(t[1] == 4);
    CHECK(t[2] == 1);
    CHECK(t[10] == 4);
    Scores b;
    b.add("loss", 1.0, 4);
    b.add_sums("r2_score", {1, 2, 3, 4, 5, 6, 7, 8}, 4);
    std::vector<double> u = b.totals(names, 2);
    for (size_t i = 0; i < t.size(); ++i) t[i] += u[i];
    Scores sum;
    sum.set_totals(names, t, 2);
    CHECK(sum.mean("loss") == 0.75);
    CHECK(sum.samples("r2_score") == 8);
    CHECK(std::isnan(sum.mean("auc")));  // no rank had any
    // A caller that does not pass the width (nneval) still sends and takes a present entry whole.
    Scores c;
    c.add_sums("r2_score", {1, 2, 3, 4, 5, 6, 7, 8}, 4);
    double before = c.mean("r2_score");
    std::vector<double> v = c.totals({"r2_score"});
    CHECK(v.size() == 9);
    c.set_totals({"r2_score"}, v);
    CHECK(c.samples("r2_score") == 4);
    CHECK(c.mean("r2_score") == before);
    Scores twice;
    twice.add_sums("r2_score", {2, 4, 6, 8, 10, 12, 14, 16}, 8);
    CHECK(sum.mean("r2_score") == twice.mean("r2_score"));
}
