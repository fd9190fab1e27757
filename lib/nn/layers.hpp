// The layer table (internal to lib/nn): one entry per layer type, holding what
// the torch-free side knows of it: how its config is read, what shape it
// outputs, which weights it has, how it is written back. The engine's side of
// each entry (its forward pass) is the table in network.cpp; a unit test checks
// that the two tables name the same types.
#pragma once
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "nn/config.hpp"
#include "nn/spec.hpp"

namespace imgpipe::nn {

// A layer that cannot take the shapes it is given (the caller adds which layer).
struct ShapeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct LayerKind {
    std::string type;
    int min_inputs = 1, max_inputs = 1;  // merge layers take 2 or more
    void (*parse)(Config& c, LayerSpec& l) = nullptr;
    Shape (*shape)(const LayerSpec& l, const std::vector<Shape>& inputs) = nullptr;  // throws ShapeError
    std::vector<WeightSpec> (*weights)(const LayerSpec& l) = nullptr;                // nullptr: none
    void (*save)(const LayerSpec& l, nlohmann::json& j) = nullptr;                   // the type's own keys
};

const std::vector<LayerKind>& layer_kinds();
const LayerKind* find_layer_kind(const std::string& type);
// Concatenate's axis among a sample's `rank` axes, from 0 (Keras' counts the
// batch: -1 and rank are the last); ShapeError if out of range.
int64_t concat_axis(const LayerSpec& l, size_t rank);
// Keys every Keras layer config may carry (name, trainable, dtype, ...).
void parse_common_keys(Config& c, LayerSpec& l);

}  // namespace imgpipe::nn
