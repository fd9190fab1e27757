// The libtorch side of the engine (internal: only lib/nn and tests/nn see it).
// A Network runs a resolved Spec: tensors are channels-last at its edges (as in
// the stream) and NCHW inside, where libtorch's convolutions want them; Flatten
// and Reshape go through channels-last so Dense weights line up with Keras'.
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nn/spec.hpp"

namespace imgpipe::nn {

struct Parameter {
    std::string name;  // "<layer>.weight", "<layer>.bias", "<layer>.running_mean", ...
    torch::Tensor value;
    bool trainable = true;
};

// Weights in PyTorch layouts: Conv2D [out, in, kh, kw]; Conv2DTranspose [in, out, kh, kw];
// Dense [out, in] with inputs in Keras' channels-last Flatten order; BatchNormalization
// weight (gamma), bias (beta), running_mean, running_var.
class Network {
public:
    // Keras' default initializers, drawn from (seed, layer) so a seed gives the same model anywhere.
    Network(const Spec& spec, uint64_t seed, torch::Dtype dtype = torch::kFloat);

    struct Output {
        torch::Tensor y;       // the model's output (channels-last for images)
        torch::Tensor logits;  // the last layer's input to a final sigmoid/softmax, else undefined
        Activation final_activation = Activation::Linear;
    };
    // x: [n, ...input_shape] channels-last, any floating dtype.
    Output forward(const torch::Tensor& x, bool training);

    std::vector<Parameter>& parameters() { return params_; }
    const std::vector<Parameter>& parameters() const { return params_; }
    Parameter* find(const std::string& name);
    void to(torch::Device device, torch::Dtype dtype);
    const Spec& spec() const { return spec_; }

private:
    torch::Tensor layer_forward(size_t index, const torch::Tensor& x, bool training, torch::Tensor* logits);
    torch::Tensor& param(size_t layer, const char* what);
    Spec spec_;
    std::vector<Parameter> params_;
    std::vector<std::vector<size_t>> layer_params_;  // indices into params_, per layer
};

torch::Tensor activate(Activation a, const torch::Tensor& x, double alpha);
torch::Tensor evaluate(const Expr& e, const torch::Tensor& x);

}  // namespace imgpipe::nn
