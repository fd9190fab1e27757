// The model spec (DESIGN.md section 5): parsed from our compact JSON or from
// Keras' model.to_json() (Keras 2 and 3 Sequential shapes) into one resolved
// form, with every layer's output shape and parameter count worked out.
// Torch-free: the parser, the shape checks and the summary table are plain C++.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/engine.hpp"
#include "nn/expr.hpp"

namespace imgpipe::nn {

enum class Activation { Linear, Relu, Sigmoid, Softmax, Tanh, Elu, LeakyRelu };
const char* activation_name(Activation a);

struct LayerSpec {
    std::string type;  // canonical Keras class name: "Conv2D", "Dense", ...
    std::string name;  // Keras' layer name: "conv2d", "conv2d_1", ...
    Activation activation = Activation::Linear;
    // Dense / Conv2D / Conv2DTranspose
    int64_t units = 0;  // Dense units or Conv filters
    int64_t kernel[2] = {0, 0}, strides[2] = {1, 1};
    bool same = false;  // padding "same"
    bool use_bias = true;
    std::string kernel_initializer = "glorot_uniform", bias_initializer = "zeros";
    // pooling (pool_size in kernel, strides in strides) and UpSampling2D (size in kernel)
    std::string interpolation = "nearest";
    // Dropout
    double rate = 0;
    // BatchNormalization
    double momentum = 0.99, epsilon = 1e-3;
    bool center = true, scale = true;
    // Rescaling
    double rescale = 1, offset = 0;
    // Reshape (per sample, channels-last; -1 resolved)
    std::vector<int64_t> target_shape;
    // Lambda
    std::string expression;
    Expr expr;
    // LeakyReLU slope (activation "leaky_relu")
    double alpha = 0.2;

    // Resolved by infer_shapes: per-sample shapes, channels-last.
    std::vector<int64_t> input_shape, output_shape;
    int64_t trainable_params = 0, non_trainable_params = 0;
};

struct OptimizerSpec {
    std::string name = "adam";  // adam, sgd, rmsprop
    double learning_rate = 0.001;
    double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;  // adam (epsilon also rmsprop)
    double momentum = 0;                                  // sgd, rmsprop
    bool nesterov = false;                                // sgd
    double rho = 0.9;                                     // rmsprop
};

struct Spec {
    std::string name = "sequential";
    std::vector<int64_t> input_shape;  // per sample [h, w, c] (or [k])
    std::vector<LayerSpec> layers;
    std::string loss;                  // empty: picked from the output and the stream
    OptimizerSpec optimizer;
    std::vector<std::string> metrics;  // as given: "accuracy", "mae", "mse"
    bool metrics_given = false;        // an explicit list, even an empty one

    std::vector<int64_t> output_shape() const;
    int64_t trainable_params() const;
    int64_t non_trainable_params() const;
    // The resolved spec in our compact form (what a model file stores).
    std::string to_json() const;
};

// Parses and resolves a spec; throws DataError("where", "layer 3 (conv2d): ...").
Spec parse_spec(const std::string& text, const std::string& where);
// Applies command-line overrides (UsageError for an unknown name).
void apply_overrides(Spec& spec, const Overrides& overrides);
// Works out every layer's shapes and parameter counts; DataError on a misfit.
void infer_shapes(Spec& spec, const std::string& where);
// Keras' model.summary() table.
std::string summary_table(const Spec& spec);

// Canonical names, or UsageError naming the choices ("did you mean ...").
std::string canonical_loss(const std::string& name);
std::string canonical_metric(const std::string& name);
std::string canonical_optimizer(const std::string& name);
// The closest of `choices` to `word`, or "" if none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& choices);

}  // namespace imgpipe::nn
