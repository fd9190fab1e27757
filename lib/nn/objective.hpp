// What a model is trained and judged by, on libtorch (internal: lib/nn and
// tests/nn only): the targets made from the stream's y, Keras' losses (with
// label_smoothing and from_logits as Keras applies them), the regularization
// term of the weights (Keras' model.losses), and the metrics.
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nn/batch_check.hpp"
#include "nn/compile.hpp"
#include "nn/engine.hpp"
#include "nn/network.hpp"

namespace imgpipe::nn {

class Objective {
public:
    // loss: resolved (not empty); metrics: canonical names; output: per-sample output shape;
    // threshold: above it a probability counts as a yes (binary_accuracy, precision, recall, f1_score).
    Objective(LossSpec loss, std::vector<std::string> metrics, std::vector<int64_t> output, double threshold = 0.5);

    const LossSpec& loss() const { return loss_; }

    // Segmentation (the stream's class_mode mask): y is a mask of class indices
    // U8 [n,h,w,1] against an output [n,h,w,C]; the losses and metrics are per
    // pixel, the pixels equal to `ignore_index` (-1: none) left out.
    void set_mask(bool mask, int64_t ignore_index = -1) {
        mask_ = mask;
        ignore_ = ignore_index;
    }
    bool mask() const { return mask_; }
    int64_t ignore_index() const { return ignore_; }
    const std::vector<std::string>& metrics() const { return metrics_; }

    // The stream's y as the loss wants it, on `device`: a mask's class indices
    // Long [n,h,w]; class indices (sparse crossentropy), one-hot rows, a float column for one output, U8 pixels as
    // value/255, F32 as it is.
    torch::Tensor targets(const Tensor& y, torch::Device device) const;
    // Keras' class_weight, by class index (empty: none): applied in training only.
    void set_class_weights(std::vector<double> weights) { class_weights_ = std::move(weights); }
    // Each sample's weight, F32 [n] on `device`: the stream's w, times its class's
    // weight when `training` and class weights are set; undefined when neither.
    // For a mask, each pixel's: F32 [n,h,w] when class weights apply, else [n].
    torch::Tensor sample_weights(const Frame& batch, const torch::Tensor& target, bool training,
                                 torch::Device device) const;
    // The compiled loss: each sample's loss (the mean over the last axis), times
    // its weight when `weights` is defined, summed and divided by their count
    // (Keras' sum_over_batch_size). After a final sigmoid or softmax the
    // crossentropies use the logits, as Keras does.
    torch::Tensor loss(const Network::Output& out, const torch::Tensor& target,
                       const torch::Tensor& weights = {}) const;
    // Keras' weight regularizers, summed: l1 * sum|w| + l2 * sum(w^2) over the
    // parameters that have them; undefined when none has.
    static torch::Tensor regularization(const std::vector<Parameter>& params);
    // loss + regularization (what is differentiated and reported, as Keras reports it).
    torch::Tensor total(const Network::Output& out, const torch::Tensor& target,
                        const std::vector<Parameter>& params, const torch::Tensor& weights = {}) const;
    // The batch's metrics, in metrics() order, as one tensor on the output's
    // device: a mean metric's value, an epoch-level metric's sums
    // (Scores::sum_count of them). Unweighted, as Keras' compiled `metrics`.
    torch::Tensor metric_values(const torch::Tensor& y, const torch::Tensor& target) const;
    // Adds "loss" and the metrics to scores (means weighted by n, sums added), with one transfer from the device.
    void report(const torch::Tensor& loss, const torch::Tensor& metric_values, int64_t n, Scores& scores) const;

private:
    torch::Tensor mask_loss(const Network::Output& out, const torch::Tensor& target, const torch::Tensor& weights) const;
    torch::Tensor mask_metrics(const torch::Tensor& p, const torch::Tensor& target) const;
    size_t metric_width(const std::string& m) const;

    bool mask_ = false;
    int64_t ignore_ = -1;
    LossSpec loss_;
    std::vector<std::string> metrics_;
    std::vector<int64_t> output_;
    double threshold_;
    std::vector<double> class_weights_;
};

}  // namespace imgpipe::nn
