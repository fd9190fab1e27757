// Each weight's Keras layout (layers.hpp: keras_name, keras_shape, keras_perm)
// and the two conversions, on small hand-made arrays: Keras' value at index
// (a, b, c, d) of its shape must land where PyTorch's layout puts it, worked
// out here by hand for each type, and come back by to_keras_layout.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "cli/error.hpp"
#include "nn/load_weights.hpp"
#include "nn/spec.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

// The weights of the spec's layer `index` (one input shape, one layer after it).
std::vector<WeightSpec> weights_of(const std::string& input_shape, const std::string& layer, size_t index = 0) {
    Spec s = parse_spec(R"({"input_shape": )" + input_shape + R"(, "layers": [)" + layer + "]}", "t.json");
    return layer_weights(s.layers.at(index));
}

std::vector<float> iota(size_t n) {
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), 0.0f);
    return v;
}

int64_t count(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

// Keras' array 0, 1, 2, ... in our layout; checks the round trip back.
std::vector<float> ours_of(const WeightSpec& w) {
    std::vector<float> keras = iota(size_t(count(w.keras_shape)));
    std::vector<float> ours = from_keras_layout(w, keras);
    CHECK(to_keras_layout(w, ours) == keras);
    return ours;
}

std::vector<std::string> keras_names(const std::vector<WeightSpec>& w) {
    std::vector<std::string> names;
    for (const WeightSpec& x : w) names.push_back(x.keras_name);
    return names;
}

}  // namespace

TEST_CASE("Dense: Keras' kernel (in, out) is our [out, in]", "[keras-layout]") {
    auto w = weights_of("[2]", R"({"type": "Dense", "units": 3})");
    REQUIRE(keras_names(w) == std::vector<std::string>{"kernel", "bias"});
    CHECK(w[0].keras_shape == Shape{2, 3});
    CHECK(w[0].shape == Shape{3, 2});
    // Keras [[0, 1, 2], [3, 4, 5]]: input 0 to the three units, then input 1.
    CHECK(ours_of(w[0]) == std::vector<float>{0, 3, 1, 4, 2, 5});
    CHECK(w[1].keras_shape == Shape{3});
    CHECK(ours_of(w[1]) == std::vector<float>{0, 1, 2});
}

TEST_CASE("Conv2D: Keras' kernel (kh, kw, in/groups, out) is our [out, in/groups, kh, kw]", "[keras-layout]") {
    for (int groups : {1, 2}) {
        auto w = weights_of("[5, 5, 4]", R"({"type": "Conv2D", "filters": 6, "kernel_size": [2, 3], "groups": )" +
                                             std::to_string(groups) + "}");
        REQUIRE(keras_names(w) == std::vector<std::string>{"kernel", "bias"});
        const int64_t KH = 2, KW = 3, C = 4 / groups, O = 6;
        CHECK(w[0].keras_shape == Shape{KH, KW, C, O});
        CHECK(w[0].shape == Shape{O, C, KH, KW});
        std::vector<float> ours = ours_of(w[0]);
        for (int64_t o = 0; o < O; ++o)
            for (int64_t c = 0; c < C; ++c)
                for (int64_t i = 0; i < KH; ++i)
                    for (int64_t j = 0; j < KW; ++j)
                        CHECK(ours[size_t(((o * C + c) * KH + i) * KW + j)] == float(((i * KW + j) * C + c) * O + o));
    }
    // By hand: a 1x1 kernel, 2 in, 2 out: Keras [[0, 1], [2, 3]] (in x out) is ours [[0, 2], [1, 3]] (out x in).
    auto w = weights_of("[3, 3, 2]", R"({"type": "Conv2D", "filters": 2, "kernel_size": 1, "use_bias": false})");
    REQUIRE(keras_names(w) == std::vector<std::string>{"kernel"});
    CHECK(ours_of(w[0]) == std::vector<float>{0, 2, 1, 3});
}

TEST_CASE("Conv2DTranspose: Keras' kernel (kh, kw, out, in) is our [in, out, kh, kw]", "[keras-layout]") {
    auto w = weights_of("[3, 3, 2]", R"({"type": "Conv2DTranspose", "filters": 3, "kernel_size": [1, 2]})");
    REQUIRE(keras_names(w) == std::vector<std::string>{"kernel", "bias"});
    const int64_t KH = 1, KW = 2, O = 3, I = 2;
    CHECK(w[0].keras_shape == Shape{KH, KW, O, I});
    CHECK(w[0].shape == Shape{I, O, KH, KW});
    std::vector<float> ours = ours_of(w[0]);
    for (int64_t in = 0; in < I; ++in)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t j = 0; j < KW; ++j)
                CHECK(ours[size_t((in * O + o) * KW + j)] == float((j * O + o) * I + in));
    CHECK(w[1].keras_shape == Shape{3});
}

TEST_CASE("DepthwiseConv2D: Keras' (kh, kw, C, M) is our [C*M, 1, kh, kw], channel c*M + m", "[keras-layout]") {
    auto w = weights_of("[4, 4, 2]", R"({"type": "DepthwiseConv2D", "kernel_size": [1, 2], "depth_multiplier": 2})");
    REQUIRE(keras_names(w) == std::vector<std::string>{"depthwise_kernel", "bias"});
    CHECK(w[0].keras_shape == Shape{1, 2, 2, 2});
    CHECK(w[0].shape == Shape{4, 1, 1, 2});
    // Keras (0, j, c, m) holds j*4 + c*2 + m; ours [c*2 + m][0][0][j].
    CHECK(ours_of(w[0]) == std::vector<float>{0, 4, 1, 5, 2, 6, 3, 7});
    CHECK(w[1].keras_shape == Shape{4});
}

TEST_CASE("SeparableConv2D: the depthwise kernel, then the pointwise (1, 1, C*M, F), then the bias", "[keras-layout]") {
    auto w = weights_of("[4, 4, 2]", R"({"type": "SeparableConv2D", "filters": 3, "kernel_size": [1, 2], "depth_multiplier": 2})");
    REQUIRE(keras_names(w) == std::vector<std::string>{"depthwise_kernel", "pointwise_kernel", "bias"});
    CHECK(ours_of(w[0]) == std::vector<float>{0, 4, 1, 5, 2, 6, 3, 7});
    CHECK(w[1].keras_shape == Shape{1, 1, 4, 3});
    CHECK(w[1].shape == Shape{3, 4, 1, 1});
    std::vector<float> pointwise = ours_of(w[1]);
    for (int64_t f = 0; f < 3; ++f)
        for (int64_t q = 0; q < 4; ++q) CHECK(pointwise[size_t(f * 4 + q)] == float(q * 3 + f));
    CHECK(w[2].keras_shape == Shape{3});
}

TEST_CASE("BatchNormalization: gamma, beta, moving_mean, moving_variance; gamma and beta only when scaled and centred",
          "[keras-layout]") {
    auto w = weights_of("[3]", R"({"type": "BatchNormalization"})");
    CHECK(keras_names(w) == std::vector<std::string>{"gamma", "beta", "moving_mean", "moving_variance"});
    for (const WeightSpec& x : w) {
        CHECK(x.keras_shape == Shape{3});
        CHECK(ours_of(x) == std::vector<float>{0, 1, 2});
    }
    CHECK(keras_names(weights_of("[3]", R"({"type": "BatchNormalization", "scale": false})")) ==
          std::vector<std::string>{"beta", "moving_mean", "moving_variance"});
    CHECK(keras_names(weights_of("[3]", R"({"type": "BatchNormalization", "center": false})")) ==
          std::vector<std::string>{"gamma", "moving_mean", "moving_variance"});
}

TEST_CASE("PReLU: Keras' alpha is the input's (h, w, c) with 1 on the shared axes; ours [c, h, w]", "[keras-layout]") {
    auto w = weights_of("[2, 3, 4]", R"({"type": "PReLU", "shared_axes": [1]})");
    REQUIRE(keras_names(w) == std::vector<std::string>{"alpha"});
    CHECK(w[0].keras_shape == Shape{1, 3, 4});
    CHECK(w[0].shape == Shape{4, 1, 3});
    std::vector<float> ours = ours_of(w[0]);
    for (int64_t c = 0; c < 4; ++c)
        for (int64_t x = 0; x < 3; ++x) CHECK(ours[size_t(c * 3 + x)] == float(x * 4 + c));
    auto flat = weights_of("[5]", R"({"type": "PReLU"})");
    CHECK(flat[0].keras_shape == Shape{5});
    CHECK(ours_of(flat[0]) == std::vector<float>{0, 1, 2, 3, 4});
}

TEST_CASE("layer_weights lists every weighted type's weights in Keras' get_weights() order", "[keras-layout]") {
    // Keras' lists (trainable first, in the order build() adds them); a new weighted
    // type fails here until its Keras layout is written down.
    const std::map<std::string, std::pair<std::string, std::vector<std::string>>> keras = {
        {"Conv2D", {R"("filters": 2, "kernel_size": 3)", {"kernel", "bias"}}},
        {"Conv2DTranspose", {R"("filters": 2, "kernel_size": 3)", {"kernel", "bias"}}},
        {"DepthwiseConv2D", {R"("kernel_size": 3)", {"depthwise_kernel", "bias"}}},
        {"SeparableConv2D", {R"("filters": 2, "kernel_size": 3)", {"depthwise_kernel", "pointwise_kernel", "bias"}}},
        {"Dense", {R"("units": 2)", {"kernel", "bias"}}},
        {"BatchNormalization", {"", {"gamma", "beta", "moving_mean", "moving_variance"}}},
        {"PReLU", {"", {"alpha"}}},
    };
    for (const LayerKind& kind : layer_kinds()) {
        if (!kind.weights) continue;
        INFO(kind.type);
        auto it = keras.find(kind.type);
        REQUIRE(it != keras.end());
        const std::string& options = it->second.first;
        std::string input = kind.type == "Dense" ? "[4]" : "[6, 6, 3]";
        for (bool trainable : {true, false}) {
            auto w = weights_of(input, R"({"type": ")" + kind.type + R"(", "trainable": )" + (trainable ? "true" : "false") +
                                           (options.empty() ? "" : ", " + options) + "}");
            CHECK(keras_names(w) == it->second.second);
            bool fixed_seen = false;
            for (const WeightSpec& x : w) {
                CHECK(count(x.keras_shape) == count(x.shape));
                if (!x.trainable) fixed_seen = true;
                else CHECK_FALSE(fixed_seen);  // no trainable weight after a non-trainable one
            }
        }
    }
}

TEST_CASE("a Keras array of the wrong size is refused, naming the weight and both sizes", "[keras-layout]") {
    auto w = weights_of("[2]", R"({"type": "Dense", "units": 3})");
    CHECK_THROWS_MATCHES(from_keras_layout(w[0], iota(5)), DataError,
                         Catch::Message("weight kernel: 5 values for Keras' shape (2, 3) of 6"));
    CHECK_THROWS_MATCHES(to_keras_layout(w[1], iota(4)), DataError,
                         Catch::Message("weight bias: 4 values for our shape (3) of 3"));
}

TEST_CASE("read_weight: every layout from Keras' values or bytes left in the file, as from_keras_layout", "[keras-layout]") {
    const std::vector<std::pair<std::string, std::string>> layers = {
        {"[2]", R"({"type": "Dense", "units": 3})"},
        {"[300]", R"({"type": "Dense", "units": 290})"},  // 256x256 tiles and their edges, 16 rows and the rest
        {"[37]", R"({"type": "Dense", "units": 1})"},
        {"[5, 4, 3]", R"({"type": "Conv2D", "filters": 6, "kernel_size": [3, 2]})"},
        {"[5, 4, 3]", R"({"type": "Conv2D", "filters": 6, "kernel_size": 1})"},
        {"[5, 4, 4]", R"({"type": "Conv2D", "filters": 6, "kernel_size": 3, "groups": 2})"},
        {"[5, 4, 3]", R"({"type": "Conv2DTranspose", "filters": 5, "kernel_size": [2, 3]})"},
        {"[4, 4, 2]", R"({"type": "DepthwiseConv2D", "kernel_size": [1, 2], "depth_multiplier": 2})"},
        {"[4, 4, 3]", R"({"type": "SeparableConv2D", "filters": 7, "kernel_size": 3, "depth_multiplier": 2})"},
        {"[4, 3, 2]", R"({"type": "PReLU", "shared_axes": [1]})"},
        {"[4, 3, 2]", R"({"type": "BatchNormalization"})"},
    };
    size_t tried = 0;
    for (const auto& [input, layer] : layers)
        for (const WeightSpec& w : weights_of(input, layer)) {
            INFO(layer << " " << w.keras_name);
            const size_t n = size_t(count(w.keras_shape));
            std::vector<float> keras(n);
            for (size_t i = 0; i < n; ++i) keras[i] = float(i) * 0.25f - 7.5f;
            const std::vector<float> want = from_keras_layout(w, keras);
            std::vector<float> got(n, -1);
            // The values held.
            KerasArray held{"k", w.keras_shape, keras, {}, nullptr};
            read_weight({"l." + w.name, w, &held, true}, got.data());
            CHECK(got == want);
            // The bytes left in a file: one byte off alignment, in pieces cut
            // inside values (TF.js shards hold any number of bytes).
            std::string bytes(n * 4 + 1, '\0');
            std::memcpy(&bytes[1], keras.data(), n * 4);
            KerasArray deferred{"k", w.keras_shape, {}, {}, nullptr};
            for (uint64_t at = 0, cut = 7; at < n * 4; at += cut, cut = cut * 3 + 2) {
                const uint64_t size = std::min<uint64_t>(cut, n * 4 - at);
                deferred.pieces.push_back({bytes.data() + 1 + at, size, at});
            }
            REQUIRE(keras_count(deferred) == n);
            std::fill(got.begin(), got.end(), -1.0f);
            read_weight({"l." + w.name, w, &deferred, true}, got.data());
            CHECK(got == want);
            // Our own file's values (not Keras'): as they are.
            KerasArray ours{"l." + w.name, w.shape, want, {}, nullptr};
            std::fill(got.begin(), got.end(), -1.0f);
            read_weight({"l." + w.name, w, &ours, false}, got.data());
            CHECK(got == want);
            tried++;
        }
    CHECK(tried == 24);
}

TEST_CASE("read_weight as_stored: Keras' order as it lies, for the kernels that keep Keras' layout", "[keras-layout]") {
    // Dense's kernel keeps Keras' layout (doc/design.md, "Keras files in"); nothing else does.
    for (const auto& [input, layer, kept] : {std::tuple{"[2]", R"({"type": "Dense", "units": 3})", true},
                                             {"[37]", R"({"type": "Dense", "units": 1})", true},
                                             {"[5, 4, 3]", R"({"type": "Conv2D", "filters": 6, "kernel_size": 1})", false},
                                             {"[4, 3, 2]", R"({"type": "PReLU", "shared_axes": [1]})", false}}) {
        std::vector<WeightSpec> w = weights_of(input, layer);
        KerasArray a{"k", w[0].keras_shape, std::vector<float>(size_t(count(w[0].keras_shape))), {}, nullptr};
        INFO(layer);
        CHECK(keeps_keras_layout({"l." + w[0].name, w[0], &a, true}) == kept);
        CHECK_FALSE(keeps_keras_layout({"l." + w[0].name, w[0], &a, false}));  // our own file's: ours already
        if (w.size() > 1) CHECK_FALSE(keeps_keras_layout({"l." + w[1].name, w[1], &a, true}));  // the bias
    }
    // A kernel of 1.1 million floats: more than one 4 MB part, in TF.js-like pieces cut inside values.
    const WeightSpec w = weights_of("[1100]", R"({"type": "Dense", "units": 1000})")[0];
    const size_t n = 1100 * 1000;
    std::vector<float> keras(n);
    for (size_t i = 0; i < n; ++i) keras[i] = float(i % 4099) * 0.5f - 3.0f;
    std::string bytes(n * 4 + 1, '\0');
    std::memcpy(&bytes[1], keras.data(), n * 4);
    KerasArray one{"k", w.keras_shape, {}, {}, nullptr}, pieces{"k", w.keras_shape, {}, {}, nullptr};
    one.pieces.push_back({bytes.data() + 1, n * 4, 0});
    for (uint64_t at = 0, cut = 7; at < n * 4; at += cut, cut = cut * 3 + 2)
        pieces.pieces.push_back({bytes.data() + 1 + at, std::min<uint64_t>(cut, n * 4 - at), at});
    KerasArray held{"k", w.keras_shape, keras, {}, nullptr};
    for (const KerasArray* a : {&held, &one, &pieces}) {
        std::vector<float> got(n, -1);
        read_weight({"l.weight", w, a, true}, got.data(), true);
        CHECK(got == keras);
    }
    // Where its bytes start in a page: the place the optimizer gives it (one piece only).
    CHECK(source_page_offset({"l.weight", w, &one, true}) == int64_t(reinterpret_cast<uintptr_t>(bytes.data() + 1) % 4096));
    CHECK(source_page_offset({"l.weight", w, &pieces, true}) == -1);
    CHECK(source_page_offset({"l.weight", w, &held, true}) == -1);
}

TEST_CASE("the table answers what other code asked of type names", "[keras-layout][graph]") {
    auto is = [](const char* type, LayerTrait t) { return find_layer_kind(type)->is(t); };
    for (const char* conv : {"Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D"}) CHECK(is(conv, kConvolution));
    CHECK_FALSE(is("Dense", kConvolution));
    for (const char* a : {"RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom"}) CHECK(is(a, kAugmentation));
    CHECK_FALSE(is("Dropout", kAugmentation));
    CHECK(is("MaxPooling2D", kMaxPooling));
    CHECK_FALSE(is("AveragePooling2D", kMaxPooling));
    for (const char* s : {"Rescaling", "Lambda", "Normalization", "BatchNormalization"}) CHECK(is(s, kScalesInput));
    CHECK_FALSE(is("Dense", kScalesInput));
    // Keras' aliases read as their types.
    Spec s = parse_spec(R"({"input_shape": [4, 4, 1], "layers": [{"type": "Convolution2D", "filters": 1, "kernel_size": 1},
      {"type": "MaxPool2D"}, {"type": "GlobalAvgPool2D"}]})", "t.json");
    CHECK(s.layers[0].type == "Conv2D");
    CHECK(s.layers[1].type == "MaxPooling2D");
    CHECK(s.layers[2].type == "GlobalAveragePooling2D");
}

TEST_CASE("real Keras models: our weights, in order, are the ones their TF.js manifests list", "[keras-layout]") {
    // Two of the reference models (../shared, as CI has it; the tests run from the repository's
    // root): converted by tfjs' converter, which writes each layer's weights in Keras' order.
    const std::string dir = "../shared/reference/keras-models/weights/";
    for (const char* path : {"signlang_cnn/model.json", "fer_mini_xception/derived_tfjs/model.json"}) {
        INFO(path);
        std::ifstream f(dir + path);
        REQUIRE(f);
        std::stringstream text;
        text << f.rdbuf();
        nlohmann::json doc = nlohmann::json::parse(text.str());
        Spec spec = parse_spec(doc["modelTopology"]["model_config"].dump(), path);
        std::vector<std::pair<std::string, Shape>> ours, manifest;
        for (const LayerSpec& l : spec.layers)
            for (const WeightSpec& w : layer_weights(l)) ours.push_back({l.name + "/" + w.keras_name, w.keras_shape});
        for (const auto& group : doc["weightsManifest"])
            for (const auto& w : group["weights"]) manifest.push_back({w["name"], w["shape"].get<Shape>()});
        CHECK(ours.size() > 10);
        CHECK(ours == manifest);
    }
}
