// Whether a batch fits a model, without one (nn/batch_check.hpp): the words
// nntrain, nneval and nnpredict refuse a batch with. Torch-free.
#include <catch2/catch.hpp>

#include "cli/error.hpp"
#include "nn/batch_check.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {
const char* kCnn = R"({"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
  {"type": "Flatten"},
  {"type": "Dense", "units": 3, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy"})";

Frame batch(DType x_type, std::vector<int64_t> x_shape, std::vector<int32_t> labels,
            std::vector<std::string> classes = {"a", "b", "c"}) {
    Frame f;
    f.tensors.emplace_back("x", x_type, std::move(x_shape));
    if (!labels.empty()) {
        Tensor y("y", DType::I32, {int64_t(labels.size())});
        for (size_t i = 0; i < labels.size(); ++i) y.values<int32_t>()[i] = labels[i];
        f.tensors.push_back(std::move(y));
    }
    f.set_classes(classes);
    return f;
}

std::string refusal(const BatchContract& model, const Frame& f, bool need_targets = true) {
    try {
        check_batch(model, f, "t.bs: frame 1", need_targets);
    } catch (const DataError& e) {
        CHECK(e.status() == kDataErr);
        return e.where() + ": " + e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("a batch that fits passes, before and after training", "[batch_check]") {
    Spec spec = parse_spec(kCnn, "cnn.json");
    std::vector<std::string> none, classes = {"a", "b", "c"};
    DType u8 = DType::U8;
    CHECK(refusal({spec, nullptr, none}, batch(DType::U8, {2, 28, 28, 1}, {0, 2})).empty());
    CHECK(refusal({spec, nullptr, none}, batch(DType::F32, {2, 28, 28, 1}, {1, 1})).empty());
    CHECK(refusal({spec, &u8, classes}, batch(DType::U8, {2, 28, 28, 1}, {0, 2})).empty());
    CHECK(refusal({spec, &u8, classes}, batch(DType::U8, {2, 28, 28, 1}, {}), false).empty());  // prediction: x only
}

TEST_CASE("a batch that does not fit is named with what is wrong", "[batch_check]") {
    Spec spec = parse_spec(kCnn, "cnn.json");
    std::vector<std::string> none, classes = {"a", "b", "c"};
    DType u8 = DType::U8;
    CHECK(refusal({spec, nullptr, none}, batch(DType::U8, {2, 32, 32, 3}, {0, 1})) ==
          "t.bs: frame 1: x is U8 [2,32,32,3] but the model takes U8 or F32 [*,28,28,1]");
    CHECK(refusal({spec, &u8, classes}, batch(DType::F32, {2, 28, 28, 1}, {0, 1})) ==
          "t.bs: frame 1: x is F32 [2,28,28,1] but the model was trained on U8 [*,28,28,1]");
    CHECK(refusal({spec, nullptr, none}, batch(DType::I32, {2, 28, 28, 1}, {0, 1})) ==
          "t.bs: frame 1: x is I32; the model takes U8 or F32 images");
    CHECK(refusal({spec, nullptr, none}, batch(DType::U8, {2, 28, 28, 1}, {})) ==
          "t.bs: frame 1: frame has no \"y\" tensor (targets); the loss sparse_categorical_crossentropy needs them");
    CHECK(refusal({spec, nullptr, none}, batch(DType::U8, {2, 28, 28, 1}, {0, 3})) ==
          "t.bs: frame 1: label 3 is out of range for a model with 3 outputs");
    CHECK(refusal({spec, nullptr, none}, batch(DType::U8, {2, 28, 28, 1}, {0, 1}, {"a", "b"})) ==
          "t.bs: frame 1: the stream has 2 classes but the model outputs 3 (set the last Dense layer's units to 2)");
    CHECK(refusal({spec, &u8, classes}, batch(DType::U8, {2, 28, 28, 1}, {0, 1}, {"a", "b", "d"})) ==
          "t.bs: frame 1: the stream's classes [\"a\",\"b\",\"d\"] differ from the model's [\"a\",\"b\",\"c\"]");
    Frame image_target = batch(DType::U8, {2, 28, 28, 1}, {});
    image_target.tensors.emplace_back("y", DType::U8, std::vector<int64_t>{2, 28, 28, 1});
    CHECK(refusal({spec, nullptr, none}, image_target) == "t.bs: frame 1: y is U8 [2,28,28,1] but the model outputs [*,3]");
}
