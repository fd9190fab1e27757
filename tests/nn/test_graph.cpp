// Graphs: real public Keras Functional models resolve to Keras' parameter
// counts; our compact form writes the same graphs by hand; every mistake in a
// graph is named; a functional model survives its model file.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "nn/engine.hpp"
#include "nn/layers.hpp"
#include "nn/network.hpp"
#include "nn/spec.hpp"
#include "spec_text.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

// tests/nn/keras/NAME, found from the test binary wherever the tests run from.
std::string keras_file(const std::string& name) {
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::vector<std::string> tries;
    if (n > 0) {
        std::string dir(exe, size_t(n));
        dir = dir.substr(0, dir.rfind('/'));
        tries = {dir + "/../tests/nn/keras/", dir + "/../../tests/nn/keras/"};
    }
    tries.push_back("tests/nn/keras/");
    for (const std::string& t : tries) {
        std::ifstream f(t + name);
        if (f) {
            std::stringstream s;
            s << f.rdbuf();
            return s.str();
        }
    }
    FAIL("cannot find tests/nn/keras/" << name);
    return "";
}

struct Counts {
    const char* file;
    int64_t trainable, fixed;
    std::vector<int64_t> input, output;
};

}  // namespace

TEST_CASE("real Keras Functional models load with Keras' parameter counts", "[graph][spec]") {
    // Counts from Keras' summary(), TF.js weight manifests and tfjs-layers (tests/nn/keras/README.md).
    for (const Counts& c : std::vector<Counts>{
             {"resnet_malaria_keras2.json", 4368194, 5824, {64, 64, 3}, {2}},
             {"unet256_tfjs_keras2.json", 1759809, 0, {256, 256, 3}, {256, 256, 1}},
             {"unet_weeds_keras3.json", 433537, 0, {360, 480, 3}, {360, 480, 1}},
             {"mobilenetv2_monkeypox_keras2.json", 393985, 2257984, {224, 224, 3}, {1}},
             {"keras3_bn_dropout.json", 649826, 112, {224, 224, 3}, {2}}}) {
        INFO(c.file);
        Spec s = parse_spec(keras_file(c.file), c.file);
        CHECK(s.trainable_params() == c.trainable);
        CHECK(s.non_trainable_params() == c.fixed);
        CHECK(s.input_shape == c.input);
        CHECK(s.output_shape() == c.output);
        // The resolved graph round-trips through our compact form.
        Spec t = parse_spec(s.to_json(), "model");
        CHECK(t.to_json() == s.to_json());
        CHECK(t.nodes.size() == s.nodes.size());
    }
}

TEST_CASE("the Keras summary of a graph has the Connected to column, wrapped as Keras wraps it", "[graph][spec]") {
    Spec s = parse_spec(keras_file("resnet_malaria_keras2.json"), "resnet");
    std::string table = summary_table(s);
    CHECK(table.find(" Layer (type)                   Output Shape         Param #     Connected to") != std::string::npos);
    CHECK(table.find(" input_1 (InputLayer)           [(None, 64, 64, 3)]  0           []") != std::string::npos);
    CHECK(table.find(" add_1 (Add)                    (None, 64, 64, 32)   0           ['conv2d_1[0][0]',") !=
          std::string::npos);
    CHECK(table.find("\n                                                                  'conv2d_3[0][0]']") !=
          std::string::npos);
    CHECK(table.find(" batch_normalization_1 (BatchNo  (None, 64, 64, 32)  128         ['conv2d_1[0][0]']") !=
          std::string::npos);
    CHECK(table.find("Total params: 4,374,018\nTrainable params: 4,368,194\nNon-trainable params: 5,824") !=
          std::string::npos);
    // Sequential specs keep the 65-column table without it.
    Spec seq = parse_spec(keras_file("keras3_bn_dropout.json"), "seq");
    CHECK(summary_table(seq).find("Connected to") == std::string::npos);
}

TEST_CASE("a graph written by hand: inputs by name, a layer called twice, the output last", "[graph][spec]") {
    const char* text = R"({"input_shape": [16, 16, 3], "layers": [
      {"type": "Conv2D", "name": "a", "filters": 8, "kernel_size": 3, "padding": "same"},
      {"type": "Conv2D", "name": "b", "filters": 8, "kernel_size": 3, "padding": "same"},
      {"type": "Add", "inputs": ["a", "b"]},
      {"call": "b", "inputs": ["add"]},
      {"type": "Concatenate", "inputs": ["b[1]", "input_layer"]},
      {"type": "GlobalAveragePooling2D"},
      {"type": "Dense", "units": 2, "activation": "softmax"}]})";
    Spec s = parse_spec(text, "net.json");
    CHECK(s.functional);
    REQUIRE(s.nodes.size() == 7);
    CHECK(s.layers.size() == 6);  // b is one layer, called twice
    CHECK(s.nodes[3].layer == 1);
    CHECK(s.nodes[3].call == 1);
    CHECK(s.nodes[4].output_shape == Shape{16, 16, 11});
    CHECK(s.layers[1].trainable_params == 3 * 3 * 8 * 8 + 8);  // counted once
    CHECK(s.trainable_params() == (3 * 3 * 3 * 8 + 8) + (3 * 3 * 8 * 8 + 8) + (11 * 2 + 2));
    std::string table = summary_table(s);
    // b's two calls, in one list as Keras lists a shared layer's connections
    CHECK(table.find(" b (Conv2D)                     (None, 16, 16, 8)    584         ['a[0][0]',                      \n"
                     "                                                                  'add[0][0]']") != std::string::npos);
    CHECK(s.name == "model");  // Keras' name for a functional model
}

TEST_CASE("graph mistakes are named with the layer", "[graph][spec][errors]") {
    CHECK(spec_error(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "name": "d", "inputs": ["dd"]},
                                                      {"type": "Dense", "units": 2, "name": "dd"}]})") ==
          "net.json: layer 1 (d, Dense): its inputs form a cycle");
    CHECK(spec_error(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "name": "d1"},
                                                      {"type": "Dense", "units": 2, "inputs": ["d"]}]})") ==
          "net.json: layer 2 (dense, Dense): reads \"d[0][0]\", which is no layer of the model; did you mean \"d1\"?");
    CHECK(spec_error(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "name": "unused"},
                                                      {"type": "Dense", "units": 2, "inputs": ["input_layer"]}]})") ==
          "net.json: layer 1 (unused, Dense): its output is never used (the model's output is dense); remove the layer "
          "or name it in a later layer's \"inputs\"");
    CHECK(spec_error(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "name": "a"},
                                                      {"type": "Dense", "units": 3, "name": "b", "inputs": ["input_layer"]},
                                                      {"type": "Add", "inputs": ["a", "b"]}]})") ==
          "net.json: layer 3 (add, Add): Add needs inputs of one shape, but gets (None, 2) and (None, 3)");
    CHECK(spec_error(R"({"input_shape": [4], "layers": [{"type": "Add"}]})") ==
          "net.json: layer 1 (add, Add): takes 2 or more inputs, not 1");
    CHECK(spec_error(R"({"input_shape": [4], "layers": [{"type": "Dense", "name": "a", "units": 4},
                                                      {"call": "a", "inputs": ["a[3]"]}]})") ==
          "net.json: layer 1 (a, Dense): reads \"a[3][0]\", which is not called that many times");
    CHECK(spec_error(R"({"input_shape": [8, 8, 1], "layers": [{"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
                                                           {"call": "c", "inputs": ["c"]}]})") ==
          "net.json: layer 1 (c, Conv2D): called again on (None, 8, 8, 2), but its weights were built for (None, 8, 8, 1)");
    CHECK_THAT(spec_error(R"({"input_shape": [8, 8, 1], "layers": [{"type": "Concatenate", "axis": 0, "inputs": ["input_layer", "input_layer"]}]})"),
               Catch::Contains("\"axis\": 0 is the batch axis"));
    std::string two_inputs = R"({"class_name": "Functional", "config": {"name": "m", "layers": [
      {"class_name": "InputLayer", "name": "a", "config": {"batch_input_shape": [null, 4], "name": "a"}, "inbound_nodes": []},
      {"class_name": "InputLayer", "name": "b", "config": {"batch_input_shape": [null, 4], "name": "b"}, "inbound_nodes": []},
      {"class_name": "Add", "name": "add", "config": {"name": "add"}, "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]}],
      "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["add", 0, 0]]}})";
    CHECK(spec_error(two_inputs) == "net.json: the model has 2 inputs; nntrain trains models of one input and one output");
    std::string nested = R"({"class_name": "Functional", "config": {"name": "m", "layers": [
      {"class_name": "InputLayer", "name": "a", "config": {"batch_input_shape": [null, 4], "name": "a"}, "inbound_nodes": []},
      {"class_name": "Sequential", "name": "inner", "config": {"name": "inner", "layers": []}, "inbound_nodes": [[["a", 0, 0, {}]]]}],
      "input_layers": [["a", 0, 0]], "output_layers": [["inner", 0, 0]]}})";
    CHECK(spec_error(nested) == "net.json: model, layer 2 (inner): a model with no layers");
}

TEST_CASE("models inside models are inlined into one graph, as Keras runs them", "[graph]") {
    // Keras <= 2.2's Sequential config is the list of its layers; a frozen inner model freezes its layers.
    std::string base = R"({"class_name": "Functional", "config": {"name": "base", "trainable": false, "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 3], "name": "image"}, "inbound_nodes": []},
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 4, "kernel_size": [3, 3]}, "inbound_nodes": [[["image", 0, 0, {}]]]},
        {"class_name": "BatchNormalization", "config": {"name": "bn"}, "inbound_nodes": [[["conv", 0, 0, {}]]]},
        {"class_name": "Add", "config": {"name": "sum"}, "inbound_nodes": [[["conv", 0, 0, {}], ["bn", 0, 0, {}]]]}],
      "input_layers": [["image", 0, 0]], "output_layers": [["sum", 0, 0]]}})";
    std::string head = R"({"class_name": "Sequential", "config": [
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "pool"}},
        {"class_name": "Dense", "config": {"name": "out", "units": 2, "batch_input_shape": [null, 4]}}]})";
    Spec s = parse_spec(R"({"class_name": "Sequential", "config": {"name": "outer", "layers": [)" + base + ", " + head + "]}}",
                        "net.json");
    REQUIRE(s.layers.size() == 5);
    std::vector<std::string> names;
    for (const LayerSpec& l : s.layers) names.push_back(l.name + (l.trainable ? "" : " (frozen)"));
    CHECK(names == std::vector<std::string>{"conv (frozen)", "bn (frozen)", "sum (frozen)", "pool", "out"});
    CHECK(s.input_name == "image");
    CHECK(s.input_shape == Shape{8, 8, 3});
    CHECK(s.output_shape() == Shape{2});
    CHECK(s.name == "outer");
    CHECK(s.trainable_params() == 4 * 2 + 2);
    CHECK(s.non_trainable_params() == 3 * 3 * 3 * 4 + 4 + 4 * 4);
    // The inner model's input stands for what the outer model feeds it.
    std::string functional = R"({"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 3], "name": "x"}, "inbound_nodes": []},
        {"class_name": "Rescaling", "config": {"name": "scale", "scale": 0.5}, "inbound_nodes": [[["x", 0, 0, {}]]]},)" +
        base.substr(0, base.size() - 1) + R"(, "inbound_nodes": [[["scale", 0, 0, {}]]]},
        {"class_name": "Flatten", "config": {"name": "flat"}, "inbound_nodes": [[["base", 0, 0, {}]]]}],
      "input_layers": [["x", 0, 0]], "output_layers": [["flat", 0, 0]]}})";
    s = parse_spec(functional, "net.json");
    REQUIRE(s.nodes.size() == 5);
    CHECK(s.layers[s.nodes[1].layer].name == "conv");
    CHECK(s.nodes[1].inputs == std::vector<int>{0});  // reads scale, not the base model's own input
    CHECK(s.output_shape() == Shape{6 * 6 * 4});
    // What cannot be inlined is named.
    std::string twice = functional;
    twice.replace(twice.find(R"([[["scale", 0, 0, {}]]])"), 23, R"([[["scale", 0, 0, {}]], [["x", 0, 0, {}]]])");
    CHECK(spec_error(twice) == "net.json: model, layer 3 (base): a model called 2 times or on several inputs; inlined models are called once");
    std::string deep = R"({"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 1, "batch_input_shape": [null, 2]}}]}})";
    for (int i = 0; i < 20; ++i) deep = R"({"class_name": "Sequential", "config": {"name": "s)" + std::to_string(i) + R"(", "layers": [)" + deep + "]}}";
    CHECK_THAT(spec_error(deep), Catch::Contains("models nested more than 16 deep"));
}

TEST_CASE("the engine runs every layer type the spec reads", "[graph]") {
    for (const std::string& type : layer_types())
        if (type != "InputLayer") CHECK(has_forward(type));
    CHECK(layer_types().size() == layer_kinds().size() + 1);
}

TEST_CASE("a functional model file loads back to the same outputs", "[graph]") {
    const char* text = R"({"input_shape": [6, 6, 2], "layers": [
      {"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"},
      {"type": "DepthwiseConv2D", "name": "b", "kernel_size": 3, "padding": "same", "depth_multiplier": 1},
      {"type": "Concatenate", "inputs": ["a", "b", "input_layer"]},
      {"type": "Flatten"},
      {"type": "Dense", "units": 2, "activation": "softmax"}]})";
    auto model = Model::create(text, "net.json", {}, 5);
    Frame batch;
    Tensor x("x", DType::F32, {3, 6, 6, 2});
    for (int64_t i = 0; i < x.elements(); ++i) x.values<float>()[i] = float(i % 7) / 7;
    batch.tensors = {x};
    Tensor before = model->predict_batch(batch);
    char path[] = "/tmp/nn_graph_XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    model->save(path, "{}");
    auto loaded = Model::load(path);
    ::unlink(path);
    Tensor after = loaded->predict_batch(batch);
    REQUIRE(after.shape == std::vector<int64_t>{3, 2});
    CHECK(after.data == before.data);
    CHECK(loaded->summary().find("Connected to") != std::string::npos);
}
