// The ONNX writer's own table (lib/nn/export_onnx.cpp), for the test that it
// names every layer type the engine's table does (tests/nn/test_export_onnx.cpp).
#pragma once
#include <string>
#include <vector>

namespace imgpipe::nn {

// The layer types the ONNX writer's table names: each either emits ONNX nodes
// or is a refusal with its reason.
std::vector<std::string> onnx_layer_types();

}  // namespace imgpipe::nn
