// Frozen convolutions with their BatchNormalization folded in (internal: lib/nn).
//
// A convolution (Conv2D or DepthwiseConv2D, no activation), the
// BatchNormalization that alone reads it and, if one alone reads that, a plain
// ReLU (ReLU6 in MobileNet) run as one convolution when nothing in them learns:
// weight * s and (bias - mean) * s + beta for s = gamma / sqrt(var + epsilon),
// which is what the BatchNormalization computes in inference mode, then the
// ReLU clamped in place. One pass over the output instead of three, and one
// write instead of three (MobileNetV2's frozen base, bench/results/finetune.md).
// The model's own weights stay as they are (saved unfolded); the folded copies
// are made again whenever those weights' values change.
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "nn/spec.hpp"

namespace imgpipe::nn {

struct Parameter;

struct FoldedChain {
    size_t first = 0, last = 0;  // nodes: the convolution, and the chain's last node (consecutive)
    bool norm_trainable = false;  // the BatchNormalization's flag: it runs in training mode when training
    double epsilon = 1e-3;
    bool relu = false;         // a ReLU ends the chain
    double max_value = -1;     // its cap (< 0: none)
    std::vector<size_t> sources;  // params_: conv weight, conv bias (if any), gamma, beta, mean, var (those there are)
    // The folded weights and the source values they were made from.
    std::vector<torch::Tensor> seen;
    torch::Tensor weight, bias;
};

class Folding {
public:
    Folding() = default;
    // The chains in a resolved spec; layer_params as Network keeps them (indices into params).
    Folding(const Spec& spec, const std::vector<Parameter>& params, const std::vector<std::vector<size_t>>& layer_params);
    // The chain that starts at node k if it can run folded now: its input needs
    // no gradient, none of its weights learns, its BatchNormalization runs in
    // inference mode (frozen, or not training). Its folded weights are those of
    // the parameters' current values. Null otherwise (run the layers as written).
    const FoldedChain* at(size_t k, const torch::Tensor& input, bool training, const std::vector<Parameter>& params);
    // The chain's ReLU, in place on the folded convolution's output (which nothing else holds).
    static torch::Tensor finish(const FoldedChain& chain, torch::Tensor x);

private:
    std::vector<FoldedChain> chains_;
    std::vector<int> chain_at_;  // per node: index into chains_, or -1
};

// On by default; off runs every layer as written (the tests compare the two).
void set_fold_frozen(bool on);
bool fold_frozen();

}  // namespace imgpipe::nn
