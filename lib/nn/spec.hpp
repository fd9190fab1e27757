// The model spec (nntrain(1) "MODEL SPEC"): parsed from our compact JSON or from
// Keras' model.to_json() (Keras 2 and 3, Sequential and Functional) into one
// resolved graph, with every call's shapes and every layer's weights worked out.
// Torch-free: the parser, the shape checks and the summary table are plain C++.
// The layers themselves (LayerSpec, each type's options, its weights) are the
// layer table's (layers.hpp); this header is the graph built on it.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "nn/compile.hpp"
#include "nn/layers.hpp"

namespace imgpipe::nn {

// One call of a layer in the graph.
constexpr int kModelInput = -1;
struct Node {
    size_t layer = 0;         // index into Spec::layers (a layer called twice shares its weights)
    std::vector<int> inputs;  // earlier nodes, or kModelInput
    std::vector<Shape> input_shapes;
    Shape output_shape;
    int call = 0;             // which call of its layer this is (Keras' node index)
};

struct Spec : CompileSpec {
    std::string name = "sequential";
    std::string input_name = "input_layer";
    Shape input_shape;
    std::vector<LayerSpec> layers;
    std::vector<Node> nodes;  // in an order where inputs come first; the last is the model's output
    bool functional = false;  // not a chain: the summary shows what each layer is connected to

    Shape output_shape() const;
    int64_t trainable_params() const;
    int64_t non_trainable_params() const;
    // The resolved spec in our compact form (what a model file stores).
    std::string to_json() const;
};

// Parses and resolves a spec; throws DataError("where", "layer 3 (conv2d): ...").
Spec parse_spec(const std::string& text, const std::string& where);
// Works out every call's shapes and every layer's parameter counts; DataError on a misfit.
void infer_shapes(Spec& spec, const std::string& where);
// Keras' model.summary() table.
std::string summary_table(const Spec& spec);
// What the nn tools warn of or refuse before they train or predict, from the graph alone:
// the first augmentation layer (RandomFlip, RandomTranslation, RandomRotation, RandomZoom);
const LayerSpec* augmentation_layer(const Spec& spec);
// the first layer with weights (Conv2D, Dense, ...) the input reaches with no Rescaling,
// Lambda, Normalization or BatchNormalization on the way (it sees a U8 stream's raw bytes);
const LayerSpec* raw_input_layer(const Spec& spec);
// a Lambda or Rescaling the input reaches with its values unchanged that maps bytes 0..255
// onto a range 1 or 2 wide (x/255., Rescaling(1/255), (x-127.5)/127.5); `to` gets that range.
// Each gives nullptr when there is none.
const LayerSpec* byte_scaling_layer(const Spec& spec, std::array<double, 2>* to = nullptr);
// Freezes the layers whose names match a `freeze` pattern (fnmatch), then unfreezes
// those matching an `unfreeze` one, and counts the parameters again; a pattern that
// matches no layer is a UsageError naming it (a typo must not train all).
void set_trainable(Spec& spec, const std::vector<std::string>& freeze, const std::vector<std::string>& unfreeze);

}  // namespace imgpipe::nn
