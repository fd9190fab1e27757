// The model spec (nntrain(1) "MODEL SPEC"): parsed from our compact JSON or from
// Keras' model.to_json() (Keras 2 and 3, Sequential and Functional) into one
// resolved graph, with every call's shapes and every layer's weights worked out.
// Torch-free: the parser, the shape checks and the summary table are plain C++.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nn/compile.hpp"
#include "nn/expr.hpp"

namespace imgpipe::nn {

using Shape = std::vector<int64_t>;  // per sample, channels-last: [h, w, c] or [k]
using Pair = std::array<int64_t, 2>;  // (rows, columns)

enum class Activation {
    Linear, Relu, Sigmoid, Softmax, Tanh, Elu, LeakyRelu, Relu6, Swish, Gelu, HardSigmoid, Softplus, Selu
};
const char* activation_name(Activation a);
const std::vector<std::string>& activation_names();

struct Regularizer {
    double l1 = 0, l2 = 0;
    bool active() const { return l1 != 0 || l2 != 0; }
};

struct LayerSpec {
    std::string type;  // canonical Keras class name: "Conv2D", "Dense", "Add", ...
    std::string name;  // Keras' layer name: "conv2d", "conv2d_1", ...
    int entry = 0;     // its place in the spec's list of layers (from 1), for messages
    bool trainable = true;  // false: its weights are frozen (and BatchNormalization runs in inference mode)
    Activation activation = Activation::Linear;
    double negative_slope = 0.2;  // leaky_relu activation, LeakyReLU and ReLU layers
    // Dense
    int64_t units = 0;
    // Conv2D, Conv2DTranspose, SeparableConv2D (filters); DepthwiseConv2D, SeparableConv2D (depth_multiplier)
    int64_t filters = 0, depth_multiplier = 1, groups = 1;
    Pair kernel_size{0, 0}, strides{1, 1}, dilation_rate{1, 1};
    bool same = false;  // padding "same" (else "valid")
    bool use_bias = true;
    std::string kernel_initializer = "glorot_uniform", bias_initializer = "zeros";
    std::string pointwise_initializer = "glorot_uniform";  // SeparableConv2D
    Regularizer kernel_regularizer, bias_regularizer, pointwise_regularizer;
    // MaxPooling2D, AveragePooling2D (pool_size, strides); UpSampling2D (size)
    Pair pool_size{2, 2}, size{2, 2};
    std::string interpolation = "nearest";
    // ZeroPadding2D and Cropping2D: rows off the top and bottom, columns off the left and right
    std::array<int64_t, 4> margins{0, 0, 0, 0};  // top, bottom, left, right
    // Dropout, SpatialDropout2D
    double rate = 0;
    // BatchNormalization
    double momentum = 0.99, epsilon = 1e-3;
    bool center = true, scale = true;
    // ReLU layer: min(max_value, x) above threshold, negative_slope * (x - threshold) below
    double max_value = -1, threshold = 0;  // max_value < 0: none
    // Rescaling
    double rescale = 1, offset = 0;
    // Normalization: (x - mean) / max(sqrt(variance), 1e-7), per channel (one value each, or one for all)
    std::vector<double> mean, variance;
    bool invert = false;
    // PReLU: Keras' axes (1 height, 2 width, 3 channels; 1 for flat inputs) that share one alpha
    std::vector<int64_t> shared_axes;
    // RandomFlip ("horizontal", "vertical", "horizontal_and_vertical"); RandomTranslation and RandomZoom
    // (fractions of the height and width), RandomRotation (fractions of a full turn): [lower, upper]
    std::string flip_mode;
    std::array<double, 2> height_factor{0, 0}, width_factor{0, 0}, rotation{0, 0};
    bool width_follows_height = false;  // RandomZoom without width_factor: one zoom for both axes
    std::string fill_mode = "reflect";  // reflect, nearest, constant
    double fill_value = 0;
    // Reshape (per sample, channels-last; -1 resolved)
    Shape target_shape;
    // Lambda
    std::string expression;
    Expr expr;
    // Concatenate: Keras' channels-last axis, normalized to 1..rank (per sample: 1 is the first)
    int64_t axis = -1;
    // GlobalAveragePooling2D, GlobalMaxPooling2D: keep (1, 1, channels)
    bool keepdims = false;

    // Resolved from the layer's first call: per-sample shapes, channels-last.
    Shape input_shape, output_shape;
    int64_t trainable_params = 0, non_trainable_params = 0;
};

// One call of a layer in the graph.
constexpr int kModelInput = -1;
struct Node {
    size_t layer = 0;         // index into Spec::layers (a layer called twice shares its weights)
    std::vector<int> inputs;  // earlier nodes, or kModelInput
    std::vector<Shape> input_shapes;
    Shape output_shape;
    int call = 0;             // which call of its layer this is (Keras' node index)
};

// A weight of a layer, in PyTorch's layout: Conv2D [out, in/groups, kh, kw];
// Conv2DTranspose [in, out, kh, kw]; Dense [out, in], inputs in Keras' channels-last
// Flatten order; BatchNormalization weight (gamma), bias (beta), running_mean, running_var.
struct WeightSpec {
    std::string name;  // "weight", "bias", "running_mean", ...
    Shape shape;
    std::string initializer;
    int64_t fan_in = 0, fan_out = 0;
    bool trainable = true;
    Regularizer regularizer;
};
std::vector<WeightSpec> layer_weights(const LayerSpec& layer);

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
// The layer types nntrain reads, in a stable order.
const std::vector<std::string>& layer_types();

}  // namespace imgpipe::nn
