// The ONNX writer's table (lib/nn/export_onnx.cpp) names every layer type the
// engine's table does, once: a new layer type cannot be forgotten by nnexport
// (each entry emits ONNX nodes or is a refusal with its reason).
#include <algorithm>

#include "nn/export_onnx.hpp"
#include "nn/layers.hpp"
#include "nn/network.hpp"

#include <catch2/catch.hpp>

using namespace imgpipe::nn;

TEST_CASE("the ONNX writer's table names the engine's layer types, each once", "[export][onnx]") {
    const std::vector<std::string> onnx = onnx_layer_types();
    for (const std::string& type : layer_types()) {
        if (type == "InputLayer") continue;  // the graph's input, not a table entry
        INFO(type);
        CHECK(std::count(onnx.begin(), onnx.end(), type) == 1);
    }
    for (const std::string& type : onnx) {
        INFO(type);
        CHECK(has_forward(type));
    }
    CHECK(onnx.size() + 1 == layer_types().size());
}
