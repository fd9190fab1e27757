// Keras 3's preprocessing layers inside a model (Normalization, RandomFlip,
// RandomTranslation, RandomRotation, RandomZoom) and PReLU: what the spec reads,
// Keras' parameter counts, and the engine's behaviour that parity.py cannot see
// (random draws: the identity outside training, a fresh transform per image).
// Their numbers on fixed transforms are checked in test_parity.cpp.
#include <torch/torch.h>

#include <set>

#include "cli/error.hpp"
#include "nn/network.hpp"
#include "nn/spec.hpp"
#include "spec_text.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

Spec spec_of(const std::string& input, const std::string& layer) { return parse_spec(one_layer(input, layer), "net.json"); }

std::string error_of(const std::string& input, const std::string& layer) { return spec_error(one_layer(input, layer)); }

// Distinct values, so a moved pixel cannot pass for another.
torch::Tensor images(int64_t n, int64_t h, int64_t w, int64_t c) {
    return torch::arange(n * h * w * c, torch::kFloat).reshape({n, h, w, c}) / float(n * h * w * c);
}

}  // namespace

TEST_CASE("PReLU: one alpha per value, shared along shared_axes, Keras' counts and initializers", "[preprocessing][spec]") {
    CHECK(spec_of("[6, 5, 4]", R"({"type": "PReLU"})").trainable_params() == 6 * 5 * 4);
    CHECK(spec_of("[6, 5, 4]", R"({"type": "PReLU", "shared_axes": [1, 2]})").trainable_params() == 4);
    CHECK(spec_of("[6, 5, 4]", R"({"type": "PReLU", "shared_axes": 3})").trainable_params() == 30);
    CHECK(spec_of("[7]", R"({"type": "PReLU"})").trainable_params() == 7);
    CHECK(spec_of("[6, 5, 4]", R"({"type": "PReLU", "shared_axes": [1, 2]})").layers[0].name == "p_re_lu");

    Spec s = spec_of("[3, 2, 4]", R"({"type": "PReLU", "shared_axes": [1, 2],
        "alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}}})");
    Network net(s, 1);
    torch::Tensor alpha = net.find("p_re_lu.alpha")->value;
    CHECK(alpha.sizes().vec() == std::vector<int64_t>{4, 1, 1});  // channels-first, broadcasting over NCHW
    CHECK(torch::allclose(alpha, torch::full({4, 1, 1}, 0.25)));
    torch::Tensor x = images(2, 3, 2, 4) - 0.5;
    torch::Tensor y = net.forward(x, false).y;
    CHECK(torch::allclose(y, torch::where(x > 0, x, 0.25 * x)));
    CHECK(parse_spec(s.to_json(), "model").layers[0].get<PReluOptions>().alpha_initializer == "constant(0.25)");

    CHECK_THAT(error_of("[6, 5, 4]", R"({"type": "PReLU", "shared_axes": [0]})"),
               Catch::Contains("\"shared_axes\" must hold axes 1 to 3 (the batch is 0)"));
    CHECK_THAT(error_of("[7]", R"({"type": "PReLU", "shared_axes": [2]})"),
               Catch::Contains("axis 2 is beyond the input (None, 7)"));
}

TEST_CASE("Normalization: the stored mean and variance, per channel or one for all, and invert", "[preprocessing][spec]") {
    Spec s = spec_of("[2, 2, 3]", R"({"type": "Normalization", "mean": [1, 2, 3], "variance": [4, 0, 0.25]})");
    CHECK(s.trainable_params() + s.non_trainable_params() == 0);  // Keras: given values are constants, not weights
    Network net(s, 1);
    torch::Tensor x = images(2, 2, 2, 3) * 10;
    torch::Tensor mean = torch::tensor({1.f, 2.f, 3.f}), sd = torch::tensor({2.f, 1e-7f, 0.5f});
    CHECK(torch::allclose(net.forward(x, false).y, (x - mean) / sd));

    Spec inv = spec_of("[3]", R"({"type": "Normalization", "axis": -1, "mean": 5, "variance": 4, "invert": true})");
    Network back(inv, 1);
    torch::Tensor v = torch::tensor({{0.f, 1.f, -1.f}});
    CHECK(torch::allclose(back.forward(v, false).y, v * 2 + 5));

    CHECK_THAT(error_of("[2, 2, 3]", R"({"type": "Normalization", "mean": null, "variance": null})"),
               Catch::Contains("needs \"mean\" and \"variance\": Keras' adapt() keeps them in the weights file"));
    CHECK_THAT(error_of("[2, 2, 3]", R"({"type": "Normalization", "mean": [1, 2], "variance": [1, 1]})"),
               Catch::Contains("has 2 means for 3 channels"));
    CHECK_THAT(error_of("[2, 2, 3]", R"({"type": "Normalization", "mean": [1], "variance": [-1]})"),
               Catch::Contains("\"variance\" must hold values >= 0"));
    CHECK_THAT(error_of("[2, 2, 3]", R"({"type": "Normalization", "axis": [1, 2], "mean": 1, "variance": 1})"),
               Catch::Contains("\"axis\" must be -1 (per channel) or null"));
}

TEST_CASE("random layers are the identity outside training and add no weights", "[preprocessing]") {
    for (const char* layer : {R"({"type": "RandomFlip"})", R"({"type": "RandomTranslation", "height_factor": 0.2, "width_factor": 0.2})",
                              R"({"type": "RandomRotation", "factor": 0.1})", R"({"type": "RandomZoom", "height_factor": 0.3})"}) {
        INFO(layer);
        Spec s = spec_of("[6, 5, 2]", layer);
        CHECK(s.trainable_params() + s.non_trainable_params() == 0);
        Network net(s, 1);
        torch::Tensor x = images(4, 6, 5, 2);
        CHECK(torch::equal(net.forward(x, false).y, x));
        CHECK_FALSE(torch::equal(net.forward(x, true).y, x));
    }
}

TEST_CASE("RandomFlip flips each image or leaves it, by its own draw, along the axes its mode names", "[preprocessing]") {
    torch::manual_seed(3);
    torch::Tensor x = images(64, 4, 5, 1);
    for (const char* mode : {"horizontal", "vertical", "horizontal_and_vertical"}) {
        INFO(mode);
        Network net(spec_of("[4, 5, 1]", std::string(R"({"type": "RandomFlip", "mode": ")") + mode + "\"}"), 1);
        torch::Tensor y = net.forward(x, true).y;
        std::vector<torch::Tensor> ways = {x, x.flip({2}), x.flip({1}), x.flip({1, 2})};  // NHWC: 2 is the width
        std::vector<int> count(4, 0);
        for (int64_t i = 0; i < 64; ++i) {
            int way = -1;
            for (int k = 0; k < 4 && way < 0; ++k)
                if (torch::equal(y[i], ways[size_t(k)][i])) way = k;
            REQUIRE(way >= 0);
            ++count[size_t(way)];
        }
        std::string m = mode;
        CHECK(count[0] > 0);
        CHECK((count[1] > 0) == (m != "vertical"));
        CHECK((count[2] > 0) == (m != "horizontal"));
        CHECK((count[3] > 0) == (m == "horizontal_and_vertical"));
    }
}

TEST_CASE("RandomTranslation moves each image by its own whole-pixel-or-between amount within the factor", "[preprocessing]") {
    torch::manual_seed(5);
    // A single bright pixel in the middle of a 21x21 image; with nearest
    // interpolation it lands at most 0.2 * 21 = 4.2 pixels away, on each axis.
    torch::Tensor x = torch::zeros({32, 21, 21, 1});
    x.index_put_({torch::indexing::Slice(), 10, 10, 0}, 1.0);
    Network net(spec_of("[21, 21, 1]", R"({"type": "RandomTranslation", "height_factor": 0.2, "width_factor": [0, 0.2],
        "fill_mode": "constant", "interpolation": "nearest"})"), 1);
    torch::Tensor y = net.forward(x, true).y;
    std::set<std::pair<int64_t, int64_t>> places;
    for (int64_t i = 0; i < 32; ++i) {
        torch::Tensor at = y[i].squeeze(2).nonzero();
        REQUIRE(at.size(0) == 1);
        int64_t r = at[0][0].item<int64_t>(), c = at[0][1].item<int64_t>();
        CHECK(std::abs(r - 10) <= 4);
        CHECK(c >= 10);  // width_factor [0, 0.2]: rightwards only
        CHECK(c - 10 <= 4);
        places.insert({r, c});
    }
    CHECK(places.size() > 8);  // each image draws its own shift
}

TEST_CASE("RandomRotation and RandomZoom keep the centre and draw per image", "[preprocessing]") {
    torch::manual_seed(7);
    torch::Tensor x = torch::zeros({16, 9, 9, 1});
    x.index_put_({torch::indexing::Slice(), 4, 4, 0}, 1.0);  // the centre pixel stays where it is
    x.index_put_({torch::indexing::Slice(), 4, 8, 0}, 2.0);  // the right edge's middle moves
    for (const char* layer : {R"({"type": "RandomRotation", "factor": 0.25, "interpolation": "nearest", "fill_mode": "constant"})",
                              R"({"type": "RandomZoom", "height_factor": [-0.5, -0.2], "interpolation": "nearest", "fill_mode": "constant"})"}) {
        INFO(layer);
        Network net(spec_of("[9, 9, 1]", layer), 1);
        torch::Tensor y = net.forward(x, true).y;
        CHECK(torch::all(y.index({torch::indexing::Slice(), 4, 4, 0}) == 1).item<bool>());
        int64_t moved = 0;
        for (int64_t i = 0; i < 16; ++i) moved += y[i][4][8][0].item<float>() != 2;
        CHECK(moved > 8);
    }
}

TEST_CASE("random layer mistakes are named with the key", "[preprocessing][spec][errors]") {
    CHECK_THAT(error_of("[8, 8, 1]", R"({"type": "RandomZoom", "height_factor": [0.3, 0.1]})"),
               Catch::Contains("\"height_factor\": the lower bound 0.3 is above the upper 0.1"));
    CHECK_THAT(error_of("[8, 8, 1]", R"({"type": "RandomTranslation", "height_factor": 1.5, "width_factor": 0})"),
               Catch::Contains("\"height_factor\" must lie within [-1, 1]"));
    CHECK_THAT(error_of("[8, 8, 1]", R"({"type": "RandomTranslation", "height_factor": 0.1})"),
               Catch::Contains("needs \"width_factor\""));
    CHECK_THAT(error_of("[8, 8, 1]", R"({"type": "RandomRotation", "factor": 0.1, "fill_mode": "wrap"})"),
               Catch::Contains("\"wrap\" is not implemented (reflect, nearest, constant)"));
    CHECK_THAT(error_of("[8, 8, 1]", R"({"type": "RandomRotation", "factor": 0.1, "interpolation": "bicubic"})"),
               Catch::Contains("\"interpolation\" must be \"bilinear\" or \"nearest\""));
    CHECK_THAT(error_of("[8, 8, 1]", R"({"type": "RandomFlip", "mode": "diagonal"})"),
               Catch::Contains("\"mode\" must be \"horizontal\", \"vertical\" or \"horizontal_and_vertical\""));
    CHECK_THAT(error_of("[64]", R"({"type": "RandomFlip"})"), Catch::Contains("needs an image input"));
}

TEST_CASE("Keras 3's JSON of the preprocessing layers reads as written", "[preprocessing][spec]") {
    const char* keras3 = R"({"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true,
      "dtype": "float32", "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 16, 16, 3], "dtype": "float32", "sparse": false, "name": "input_layer"}, "registered_name": null},
      {"module": "keras.layers", "class_name": "RandomFlip", "config": {"name": "random_flip", "trainable": true, "dtype": "float32", "mode": "horizontal", "seed": null, "data_format": "channels_last"}, "registered_name": null},
      {"module": "keras.layers", "class_name": "RandomRotation", "config": {"name": "random_rotation", "trainable": true, "dtype": "float32", "factor": [-0.1, 0.1], "data_format": "channels_last", "fill_mode": "reflect", "fill_value": 0.0, "interpolation": "bilinear", "seed": null}, "registered_name": null},
      {"module": "keras.layers", "class_name": "RandomZoom", "config": {"name": "random_zoom", "trainable": true, "dtype": "float32", "height_factor": 0.1, "width_factor": null, "fill_mode": "reflect", "interpolation": "bilinear", "seed": null, "fill_value": 0.0, "data_format": "channels_last"}, "registered_name": null},
      {"module": "keras.layers", "class_name": "RandomTranslation", "config": {"name": "random_translation", "trainable": true, "dtype": "float32", "height_factor": 0.1, "width_factor": 0.1, "fill_mode": "nearest", "interpolation": "bilinear", "seed": null, "fill_value": 0.0, "data_format": "channels_last"}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Normalization", "config": {"name": "normalization", "trainable": true, "dtype": "float32", "axis": -1, "invert": false, "mean": [0.5, 0.4, 0.3], "variance": [0.1, 0.2, 0.3]}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Conv2D", "config": {"name": "conv2d", "trainable": true, "dtype": "float32", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null},
      {"module": "keras.layers", "class_name": "PReLU", "config": {"name": "p_re_lu", "trainable": true, "dtype": "float32", "alpha_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "alpha_regularizer": null, "alpha_constraint": null, "shared_axes": [1, 2]}, "registered_name": null}
      ], "build_input_shape": [null, 16, 16, 3]}, "registered_name": null})";
    Spec s = parse_spec(keras3, "model.json");
    REQUIRE(s.layers.size() == 7);
    CHECK(s.layers[0].get<FlipOptions>().mode == "horizontal");
    CHECK(s.layers[1].get<WarpOptions>().rotation == std::array<double, 2>{-0.1, 0.1});
    CHECK(s.layers[2].get<WarpOptions>().width_follows_height);
    CHECK(s.layers[3].get<WarpOptions>().fill_mode == "nearest");
    CHECK(s.layers[4].get<NormalizationOptions>().variance == std::vector<double>{0.1, 0.2, 0.3});
    CHECK(s.trainable_params() == 3 * 3 * 3 * 4 + 4 + 4);
    Spec back = parse_spec(s.to_json(), "model");  // the model file's spec reads back the same
    CHECK(back.to_json() == s.to_json());
}
