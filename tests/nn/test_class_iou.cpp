// Masks' metric iou: each class's IoU from the epoch's counts, one value per class
// (iou_0, iou_1, ...) in the epoch lines and the history. Torch-free.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli/error.hpp"
#include "nn/callbacks.hpp"
#include "nn/compile.hpp"
#include "nn/engine.hpp"

using namespace imgpipe::nn;

TEST_CASE("iou shows each class's IoU as iou_K, from the epoch's summed counts", "[segmentation][scores]") {
    Scores s;
    s.add("loss", 0.5, 2);
    // Per class tp, then fp, then fn; two batches.
    s.add_sums("iou", {1, 2, 0, /*fp*/ 1, 0, 0, /*fn*/ 0, 2, 0}, 1);
    s.add_sums("iou", {1, 0, 0, /*fp*/ 0, 2, 0, /*fn*/ 1, 0, 0}, 1);
    auto m = s.means();
    REQUIRE(m.size() == 4);
    CHECK(m[1].first == "iou_0");
    CHECK(m[1].second == Approx(2.0 / 4).epsilon(1e-6));  // tp 2, fp 1, fn 1
    CHECK(m[2].first == "iou_1");
    CHECK(m[2].second == Approx(2.0 / 6).epsilon(1e-6));  // tp 2, fp 2, fn 2
    CHECK(m[3].first == "iou_2");
    CHECK(m[3].second == 0);  // no pixel is it, none predicted: 0, as Keras' IoU
    CHECK(s.mean("iou_1") == Approx(1.0 / 3).epsilon(1e-6));
    CHECK(s.keras_text() == " - loss: 0.5000 - iou_0: 0.5000 - iou_1: 0.3333 - iou_2: 0.0000");
    CHECK(improves_upwards("val_iou_1", Mode::Auto));
}

TEST_CASE("--monitor takes a class's IoU when the metric iou is reported", "[segmentation][callbacks]") {
    CallbackOptions o;
    o.monitor = "val_iou_2";
    Callbacks c(o);
    CHECK_NOTHROW(c.check_monitor({"loss", "iou", "val_loss", "val_iou", "lr"}));
    CHECK_THROWS_WITH(c.check_monitor({"loss", "iou", "lr"}),
                      "--monitor val_iou_2: no such value (the epochs report: loss, iou, lr)");
    o.monitor = "iou_x";
    CHECK_THROWS(Callbacks(o).check_monitor({"loss", "iou", "lr"}));
}

TEST_CASE("Keras' ignore_class is refused with where the ignored pixels come from", "[segmentation][compile]") {
    auto j = nlohmann::json::parse(R"({"class_name": "SparseCategoricalCrossentropy", "config": {"ignore_class": 255}})");
    CHECK_THROWS_WITH(parse_loss(j, "m.json"),
                      Catch::Contains("\"ignore_class\": 255 is not supported (the pixels left out are the mask stream's "
                                      "ignore_index, from imgprep --ignore-index)"));
    j["config"]["ignore_class"] = nullptr;
    CHECK(parse_loss(j, "m.json") == "sparse_categorical_crossentropy");
}
