// A layer and the layer table: one entry per layer type, holding all the
// torch-free side knows of it: how its config is read into its own options,
// what shape it outputs, which weights it has (and their Keras layouts), how it
// is written back, and the properties other code asks instead of comparing
// type names. The engine's side of each entry (its forward function) is the
// table in network.cpp; a unit test checks that the two tables name the same
// types. The model's graph (spec.hpp) is built on this header, never the
// other way round.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "nn/config.hpp"
#include "nn/expr.hpp"

namespace imgpipe::nn {

using Shape = std::vector<int64_t>;  // per sample, channels-last: [h, w, c] or [k]
using Pair = std::array<int64_t, 2>;  // (rows, columns)

enum class Activation {
    Linear, Relu, Sigmoid, Softmax, Tanh, Elu, LeakyRelu, Relu6, Swish, Gelu, HardSigmoid, Softplus, Selu,
    Keras2HardSigmoid  // Keras 2's and tfjs-layers' hard_sigmoid: clip(0.2x + 0.5, 0, 1)
};
const char* activation_name(Activation a);
const std::vector<std::string>& activation_names();

struct Regularizer {
    double l1 = 0, l2 = 0;
    bool active() const { return l1 != 0 || l2 != 0; }
};

// ---- each type's options (which types hold which: make_kinds() in layers.cpp) ----

// Conv2D, Conv2DTranspose, SeparableConv2D (filters); DepthwiseConv2D, SeparableConv2D (depth_multiplier)
struct ConvOptions {
    int64_t filters = 0, depth_multiplier = 1, groups = 1;
    Pair kernel_size{0, 0}, strides{1, 1}, dilation_rate{1, 1};
    bool same = false;  // padding "same" (else "valid")
    bool use_bias = true;
    std::string kernel_initializer = "glorot_uniform", bias_initializer = "zeros";
    std::string pointwise_initializer = "glorot_uniform";  // SeparableConv2D
    Regularizer kernel_regularizer, bias_regularizer, pointwise_regularizer;
};
struct DenseOptions {
    int64_t units = 0;
    bool use_bias = true;
    std::string kernel_initializer = "glorot_uniform", bias_initializer = "zeros";
    Regularizer kernel_regularizer, bias_regularizer;
};
struct PoolOptions {  // MaxPooling2D, AveragePooling2D
    Pair pool_size{2, 2}, strides{2, 2};
    bool same = false;
};
struct GlobalPoolOptions {  // GlobalAveragePooling2D, GlobalMaxPooling2D: keep (1, 1, channels)
    bool keepdims = false;
};
struct UpSamplingOptions {
    Pair size{2, 2};
    std::string interpolation = "nearest";
};
struct MarginOptions {  // ZeroPadding2D, Cropping2D: rows off the top and bottom, columns off the left and right
    std::array<int64_t, 4> margins{0, 0, 0, 0};  // top, bottom, left, right
};
struct ReshapeOptions {
    Shape target_shape;  // per sample, channels-last; -1 resolved by the shape step
};
struct DropoutOptions {  // Dropout, SpatialDropout2D
    double rate = 0;
};
struct BatchNormOptions {
    double momentum = 0.99, epsilon = 1e-3;
    bool center = true, scale = true;
    int64_t axis = -1;  // Keras' channel axis (the batch counts)
};
struct ReluOptions {  // min(max_value, x) above threshold, negative_slope * (x - threshold) below
    double max_value = -1, negative_slope = 0, threshold = 0;  // max_value < 0: none
};
struct LeakyReluOptions {
    double negative_slope = 0.3;
};
struct RescalingOptions {
    double scale = 1, offset = 0;
};
// (x - mean) / max(sqrt(variance), 1e-7), per channel (one value each, or one for all)
struct NormalizationOptions {
    std::vector<double> mean, variance;
    bool invert = false;
};
struct PReluOptions {
    std::string alpha_initializer = "zeros";
    Regularizer alpha_regularizer;
    std::vector<int64_t> shared_axes;  // Keras' axes (1 height, 2 width, 3 channels; 1 for flat inputs)
};
struct FlipOptions {
    std::string mode;  // "horizontal", "vertical", "horizontal_and_vertical"
};
// RandomTranslation and RandomZoom (fractions of the height and width), RandomRotation
// (fractions of a full turn): [lower, upper]; and how they sample and fill.
struct WarpOptions {
    std::array<double, 2> height_factor{0, 0}, width_factor{0, 0}, rotation{0, 0};
    bool width_follows_height = false;  // RandomZoom without width_factor: one zoom for both axes
    std::string fill_mode = "reflect";  // reflect, nearest, constant
    std::string interpolation = "bilinear";
    double fill_value = 0;
};
struct LambdaOptions {
    std::string expression;
    Expr expr;
};
struct ConcatOptions {
    int64_t axis = -1;  // Keras' channels-last axis (the batch counts)
};
using LayerOptions =
    std::variant<std::monostate, ConvOptions, DenseOptions, PoolOptions, GlobalPoolOptions, UpSamplingOptions,
                 MarginOptions, ReshapeOptions, DropoutOptions, BatchNormOptions, ReluOptions, LeakyReluOptions,
                 RescalingOptions, NormalizationOptions, PReluOptions, FlipOptions, WarpOptions, LambdaOptions,
                 ConcatOptions>;

struct LayerKind;

struct LayerSpec {
    std::string type;  // canonical Keras class name: "Conv2D", "Dense", "Add", ...
    std::string name;  // Keras' layer name: "conv2d", "conv2d_1", ...
    int entry = 0;     // its place in the spec's list of layers (from 1), for messages
    bool trainable = true;  // false: its weights are frozen (and BatchNormalization runs in inference mode)
    // Any layer's output activation (Conv2D, Dense, Activation, Softmax set it), and the leaky_relu's slope.
    Activation activation = Activation::Linear;
    double negative_slope = 0.2;
    LayerOptions options;  // its type's own options (std::monostate: none)

    // Resolved from the layer's first call: per-sample shapes, channels-last.
    Shape input_shape, output_shape;
    int64_t trainable_params = 0, non_trainable_params = 0;

    // The type's options (std::bad_variant_access if the layer holds others).
    template <class T> const T& get() const { return std::get<T>(options); }
    template <class T> T& get() { return std::get<T>(options); }
    template <class T> const T* find() const { return std::get_if<T>(&options); }
    const LayerKind& kind() const;  // its table entry
};

// A weight of a layer, in PyTorch's layout: Conv2D [out, in/groups, kh, kw];
// Conv2DTranspose [in, out, kh, kw]; Dense [out, in], inputs in Keras' channels-last
// Flatten order; BatchNormalization weight (gamma), bias (beta), running_mean, running_var.
// Keras keeps it as `keras_shape`: transposing that by `keras_perm` (our axis i
// is Keras' axis keras_perm[i]; empty: the same order) and reshaping gives ours
// (the table in doc/design.md, "Keras weight layouts").
struct WeightSpec {
    std::string name;  // "weight", "bias", "running_mean", ...
    Shape shape;
    std::string initializer;
    int64_t fan_in = 0, fan_out = 0;
    bool trainable = true;
    Regularizer regularizer;
    std::string keras_name;  // Keras 2's and TF.js' variable name: "kernel", "gamma", "depthwise_kernel", ...
    Shape keras_shape;
    std::vector<int> keras_perm;
};
// A layer's weights, in Keras' get_weights() order (trainable first, as Keras
// creates them), so a loader matches Keras' list by position. None before the
// shapes are inferred.
std::vector<WeightSpec> layer_weights(const LayerSpec& layer);
// A Keras array (keras_shape, row-major) in our layout, and back; DataError
// with no file ("weight kernel: 5 values for Keras' shape (2, 3) of 6") when the
// number of values is not the shape's: the caller names the file and the layer.
std::vector<float> from_keras_layout(const WeightSpec& w, const std::vector<float>& keras_values);
std::vector<float> to_keras_layout(const WeightSpec& w, const std::vector<float>& values);

// A layer that cannot take the shapes it is given (the caller adds which layer).
struct ShapeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What other code asks of a type instead of naming it.
enum LayerTrait : unsigned {
    kConvolution = 1,    // a convolution with a kernel window (ConvOptions)
    kAugmentation = 2,   // random in training, the identity otherwise
    kKeepsValues = 4,    // its outputs hold its input's values (moved, dropped, padded with 0, pooled)
    kScalesInput = 8,    // maps its input onto another scale (no raw bytes get past it)
    kMaxPooling = 16,    // a max pooling (the engine moves a ReLU before it past it)
    kFoldsNorm = 32,     // its weight's first axis is its output channels, with one bias each: a frozen
                         // BatchNormalization after it folds into it (lib/nn/fold.hpp)
};

struct LayerKind {
    using Parse = void (*)(Config& c, LayerSpec& l);  // sets the layer's options
    using ShapeOf = Shape (*)(const LayerSpec& l, const std::vector<Shape>& inputs);  // throws ShapeError
    using Weights = std::vector<WeightSpec> (*)(const LayerSpec& l);                 // nullptr: none
    using Save = void (*)(const LayerSpec& l, nlohmann::json& j);                     // the type's own keys
    // [f(0), f(255)] of a layer that may scale its input linearly, else nullopt.
    using ByteRange = std::optional<std::array<double, 2>> (*)(const LayerSpec& l);

    std::string type;
    int min_inputs = 1, max_inputs = 1;  // merge layers take 2 or more
    Parse parse = nullptr;
    ShapeOf shape = nullptr;
    Weights weights = nullptr;
    Save save = nullptr;
    unsigned traits = 0;                     // LayerTrait bits
    std::vector<std::string> keras_aliases;  // other class names Keras exports for it
    ByteRange byte_range = nullptr;

    LayerKind(std::string type, int min_inputs, int max_inputs, Parse parse, ShapeOf shape, Weights weights, Save save,
              unsigned traits = 0, std::vector<std::string> keras_aliases = {}, ByteRange byte_range = nullptr)
        : type(std::move(type)), min_inputs(min_inputs), max_inputs(max_inputs), parse(parse), shape(shape),
          weights(weights), save(save), traits(traits), keras_aliases(std::move(keras_aliases)),
          byte_range(byte_range) {}
    bool is(LayerTrait t) const { return (traits & t) != 0; }
};

const std::vector<LayerKind>& layer_kinds();
// The entry of a type or of one of its Keras aliases; nullptr if none.
const LayerKind* find_layer_kind(const std::string& type);
// The layer types nntrain reads, in a stable order ("InputLayer", the model's input, first).
const std::vector<std::string>& layer_types();
// Concatenate's axis among a sample's `rank` axes, from 0 (Keras' counts the
// batch: -1 and rank are the last); ShapeError if out of range.
int64_t concat_axis(const LayerSpec& l, size_t rank);
// Keys every Keras layer config may carry (name, trainable, dtype, ...).
void parse_common_keys(Config& c, LayerSpec& l);

}  // namespace imgpipe::nn
