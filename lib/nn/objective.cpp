#include "nn/objective.hpp"

#include <algorithm>
#include <cstring>

namespace imgpipe::nn {

namespace {

// Class indices as one-hot rows when a metric compares them with probabilities.
torch::Tensor dense_target(const torch::Tensor& target, const torch::Tensor& p) {
    if (target.dim() == 1 && p.dim() == 2) return torch::one_hot(target, p.size(1)).to(p.scalar_type());
    return target;
}

}  // namespace

Objective::Objective(LossSpec loss, std::vector<std::string> metrics, std::vector<int64_t> output, double threshold)
    : loss_(std::move(loss)), metrics_(std::move(metrics)), output_(std::move(output)), threshold_(threshold) {}

torch::Tensor Objective::sample_weights(const Frame& batch, const torch::Tensor& target, bool training,
                                        torch::Device device) const {
    torch::Tensor w;
    if (const Tensor* sw = batch.find("w")) w = to_torch(*sw).to(device).to(torch::kFloat).reshape({-1});
    if (!training || class_weights_.empty()) return w;
    if (mask_) {
        // Each pixel weighs its class's weight (an ignored pixel's does not count: the loss leaves it out).
        torch::Tensor table = torch::tensor(std::vector<float>(class_weights_.begin(), class_weights_.end()),
                                            torch::TensorOptions().dtype(torch::kFloat)).to(device);
        torch::Tensor label = target.clamp(0, int64_t(class_weights_.size()) - 1);
        torch::Tensor cw = table.index_select(0, label.reshape({-1})).view(label.sizes());
        return w.defined() ? w.view({-1, 1, 1}) * cw : cw;
    }
    // Keras' class_weight_to_sample_weights: the class index (a one-hot row's
    // argmax, a single output's rounded value), 1 for a class not in the map.
    torch::Tensor label = target.dim() == 1 ? target
                          : target.size(1) == 1 ? target.reshape({-1}).round()
                                                : target.argmax(1);
    torch::Tensor table = torch::tensor(std::vector<float>(class_weights_.begin(), class_weights_.end()),
                                        torch::TensorOptions().dtype(torch::kFloat)).to(device);
    torch::Tensor cw = table.index_select(0, label.to(torch::kLong).clamp(0, int64_t(class_weights_.size()) - 1));
    return w.defined() ? w * cw : cw;
}

torch::Tensor Objective::targets(const Tensor& y, torch::Device device) const {
    torch::Tensor t =
        to_torch(y).to(device);
    if (mask_) {
        // U8 [n,h,w,1] (or [n,h,w]) class indices: Long [n,h,w], as gather and one_hot take them.
        t = t.to(torch::kLong);
        return t.dim() == 4 ? t.squeeze(3) : t;
    }
    if (is_labels(y)) {
        t = t.reshape({-1}).to(torch::kLong);
        if (loss_ == "sparse_categorical_crossentropy") return t;
        if (output_[0] == 1) return t.to(torch::kFloat).unsqueeze(1);
        return torch::one_hot(t, output_[0]).to(torch::kFloat);
    }
    if (y.dtype == DType::U8) return t.to(torch::kFloat) / 255.0;  // pixels, in a sigmoid's range
    t = t.to(torch::kFloat);
    if (loss_ == "sparse_categorical_crossentropy") return t.argmax(1);  // one-hot rows back to indices
    if (t.dim() == 1) t = t.unsqueeze(1);  // F32 [n] for one output
    return t;
}

torch::Tensor Objective::loss(const Network::Output& out, const torch::Tensor& target,
                              const torch::Tensor& weights) const {
    if (mask_) return mask_loss(out, target, weights);
    const double eps = 1e-7;  // Keras' backend epsilon
    const torch::Tensor& p = out.y;
    const std::string& name = loss_.name;
    const double s = loss_.label_smoothing;
    // Each sample's (each position's, for images) loss over the last axis, as Keras' loss functions return it.
    torch::Tensor values;
    if (name == "mse") values = (p - target).square().mean(-1);
    else if (name == "mae") values = (p - target).abs().mean(-1);
    else if (name == "huber") {
        const double d = loss_.delta;
        torch::Tensor e = (p - target).abs();
        values = torch::where(e <= d, 0.5 * e.square(), d * e - 0.5 * d * d).mean(-1);
    } else if (name == "log_cosh") {
        // Keras: x + softplus(-2x) - log(2), which does not overflow as cosh does.
        torch::Tensor x = p - target;
        values = (x + torch::softplus(-2.0 * x) - std::log(2.0)).mean(-1);
    } else if (name == "binary_crossentropy") {
        // Keras: y_true * (1 - label_smoothing) + 0.5 * label_smoothing
        torch::Tensor t = s > 0 ? target * (1 - s) + 0.5 * s : target;
        torch::Tensor z;  // logits: the output itself (from_logits), or a final sigmoid's input
        if (loss_.from_logits) z = p;
        else if (out.final_activation == Activation::Sigmoid && out.logits.defined()) z = out.logits;
        if (z.defined()) values = (torch::clamp_min(z, 0) - z * t + torch::log1p(torch::exp(-z.abs()))).mean(-1);
        else {
            torch::Tensor q = p.clamp(eps, 1 - eps);
            values = -(t * q.log() + (1 - t) * (1 - q).log()).mean(-1);
        }
    } else {
        // categorical and sparse categorical: over the class axis
        torch::Tensor log_p;
        if (loss_.from_logits) log_p = torch::log_softmax(p, 1);
        else if (out.final_activation == Activation::Softmax && out.logits.defined()) log_p = torch::log_softmax(out.logits, 1);
        else log_p = (p / p.sum(1, true)).clamp(eps, 1 - eps).log();
        if (name == "sparse_categorical_crossentropy") values = -log_p.gather(1, target.view({p.size(0), 1})).squeeze(1);
        else {
            // Keras: y_true * (1 - label_smoothing) + label_smoothing / num_classes
            torch::Tensor t = s > 0 ? target * (1 - s) + s / double(target.size(1)) : target;
            values = -(t * log_p).sum(1);
        }
    }
    if (!weights.defined()) return values.mean();
    // Keras' sum_over_batch_size: the weighted sum over the count of values, not over the weights' sum.
    std::vector<int64_t> shape(size_t(values.dim()), 1);
    shape[0] = values.size(0);
    return (values * weights.view(shape)).sum() / double(values.numel());
}

torch::Tensor Objective::regularization(const std::vector<Parameter>& params) {
    torch::Tensor sum;
    for (const Parameter& p : params) {
        if (!p.trainable || (p.l1 == 0 && p.l2 == 0)) continue;  // Keras: the trainable weights' regularizers
        torch::Tensor r;
        if (p.l1 != 0) r = p.value.abs().sum() * p.l1;
        if (p.l2 != 0) {
            torch::Tensor q = p.value.square().sum() * p.l2;
            r = r.defined() ? r + q : q;
        }
        sum = sum.defined() ? sum + r : r;
    }
    return sum;
}

torch::Tensor Objective::total(const Network::Output& out, const torch::Tensor& target,
                               const std::vector<Parameter>& params, const torch::Tensor& weights) const {
    torch::Tensor l = loss(out, target, weights);
    torch::Tensor r = regularization(params);
    return r.defined() ? l + r : l;
}

torch::Tensor Objective::mask_loss(const Network::Output& out, const torch::Tensor& target,
                                   const torch::Tensor& weights) const {
    const double eps = 1e-7;  // Keras' backend epsilon
    const torch::Tensor& p = out.y;  // [n,h,w,C]
    const std::string& name = loss_.name;
    const int64_t C = p.size(-1);
    torch::Tensor valid = ignore_ >= 0 ? target != ignore_ : torch::ones_like(target, torch::kBool);
    torch::Tensor t = torch::where(valid, target, torch::zeros_like(target));  // ignored pixels: any class, weight 0
    torch::Tensor total;
    if (name != "dice") {
        // Each pixel's crossentropy [n,h,w]: binary for one sigmoid channel, else over the class axis (the last).
        torch::Tensor values;
        if (C == 1) {
            torch::Tensor y = t.to(p.scalar_type());
            const double s = loss_.label_smoothing;
            if (s > 0) y = y * (1 - s) + 0.5 * s;
            torch::Tensor z;
            if (loss_.from_logits) z = p;
            else if (out.final_activation == Activation::Sigmoid && out.logits.defined()) z = out.logits;
            if (z.defined()) {
                z = z.squeeze(-1);
                values = torch::clamp_min(z, 0) - z * y + torch::log1p(torch::exp(-z.abs()));
            } else {
                torch::Tensor q = p.squeeze(-1).clamp(eps, 1 - eps);
                values = -(y * q.log() + (1 - y) * (1 - q).log());
            }
        } else {
            torch::Tensor log_p;
            if (loss_.from_logits) log_p = torch::log_softmax(p, -1);
            else if (out.final_activation == Activation::Softmax && out.logits.defined()) log_p = torch::log_softmax(out.logits, -1);
            else log_p = (p / p.sum(-1, true)).clamp(eps, 1 - eps).log();
            values = -log_p.gather(-1, t.unsqueeze(-1)).squeeze(-1);
        }
        // The mean over the pixels that count (PyTorch's ignore_index, Keras' ignore_class),
        // each weighted by its sample's and its class's weight (not divided by their sum: Keras' class_weight).
        torch::Tensor w = valid.to(values.scalar_type());
        if (weights.defined()) w = w * (weights.dim() == 1 ? weights.view({-1, 1, 1}) : weights);
        total = (values * w).sum() / valid.sum().clamp_min(1).to(values.scalar_type());
    }
    if (name == "dice" || name == "ce_dice") {
        // Keras' dice(y_true, y_pred, axis=None): 1 - 2 sum(y p) / (sum y + sum p + eps) over the
        // whole batch, y the mask one-hot (one sigmoid channel: the mask itself), p the probabilities;
        // ignored pixels leave both sums. Unweighted, as Keras' Dice returns one number per batch.
        torch::Tensor q = p;
        if (loss_.from_logits) q = C == 1 ? torch::sigmoid(p) : torch::softmax(p, -1);
        torch::Tensor y = C == 1 ? t.unsqueeze(-1).to(q.scalar_type()) : torch::one_hot(t, C).to(q.scalar_type());
        torch::Tensor m = valid.unsqueeze(-1).to(q.scalar_type());
        y = y * m;
        q = q * m;
        torch::Tensor d = 1 - 2 * (y * q).sum() / (y.sum() + q.sum() + eps);
        total = total.defined() ? total + d : d;
    }
    return total;
}

size_t Objective::metric_width(const std::string& m) const {
    if (!mask_) {
        int64_t outputs = 1;
        for (int64_t d : output_) outputs *= d;
        return Scores::sum_count(m, outputs);
    }
    if (m == "accuracy") return 2;                        // correct pixels, counted pixels
    if (m == "mean_iou" || m == "iou") return 3 * size_t(std::max<int64_t>(output_.back(), 2));  // per class tp, fp, fn
    return Scores::sum_count(m, 1);
}

torch::Tensor Objective::mask_metrics(const torch::Tensor& p, const torch::Tensor& target) const {
    const int64_t C = p.size(-1), K = std::max<int64_t>(C, 2);  // one sigmoid channel: classes 0 and 1
    torch::Tensor valid = ignore_ >= 0 ? target != ignore_ : torch::ones_like(target, torch::kBool);
    torch::Tensor t = torch::where(valid, target, torch::zeros_like(target));
    torch::Tensor predicted = C == 1 ? (p.squeeze(-1) > threshold_).to(torch::kLong) : p.argmax(-1);
    std::vector<torch::Tensor> values;
    auto one = [&](const torch::Tensor& v) { values.push_back(v.to(torch::kFloat).reshape({-1})); };
    for (const std::string& m : metrics_) {
        if (m == "accuracy") {
            one(torch::stack({((predicted == t) & valid).sum(), valid.sum()}));
        } else if (m == "mean_iou" || m == "iou") {
            // Keras' MeanIoU: the confusion of the counted pixels; per class TP, FP (predicted, not true), FN.
            torch::Tensor pairs = (t * K + predicted).masked_select(valid);
            torch::Tensor cm = torch::bincount(pairs, {}, K * K).view({K, K});  // rows: true class
            torch::Tensor tp = cm.diagonal();
            one(torch::cat({tp, cm.sum(0) - tp, cm.sum(1) - tp}));
        } else {  // dice: the Dice loss's sums, soft, for the epoch's coefficient
            torch::Tensor y = C == 1 ? t.unsqueeze(-1).to(p.scalar_type()) : torch::one_hot(t, C).to(p.scalar_type());
            torch::Tensor mk = valid.unsqueeze(-1).to(p.scalar_type());
            torch::Tensor q = p * mk;
            y = y * mk;
            one(torch::stack({(y * q).sum(), y.sum(), q.sum()}));
        }
    }
    if (values.empty()) return torch::empty({0}, p.options().dtype(torch::kFloat));
    return torch::cat(values);
}

torch::Tensor Objective::metric_values(const torch::Tensor& p, const torch::Tensor& target) const {
    torch::NoGradGuard no_grad;
    if (mask_) return mask_metrics(p, target);
    std::vector<torch::Tensor> values;  // each metric's value or sums, flat
    auto one = [&](const torch::Tensor& v) { values.push_back(v.to(torch::kFloat).reshape({-1})); };
    for (const std::string& m : metrics_) {
        torch::Tensor t = dense_target(target, p).to(torch::kFloat);
        if (m == "mse" || m == "root_mean_squared_error") {
            one((p - t).square().mean());  // RMSE: the root of the epoch's mean, taken by Scores
            continue;
        }
        if (m == "mae") {
            one((p - t).abs().mean());
            continue;
        }
        if (m == "r2_score") {
            // Keras' R2Score: per output, the sums of y, y^2, (y - p)^2 and the count.
            torch::Tensor y = t.reshape({t.size(0), -1}), q = p.reshape({p.size(0), -1});
            one(torch::cat({y.sum(0), y.square().sum(0), (y - q).square().sum(0),
                            torch::full({y.size(1)}, double(y.size(0)), y.options())}));
            continue;
        }
        if (m == "precision" || m == "recall") {
            // Keras' Precision and Recall: counts over every output (micro).
            torch::Tensor yes = p > threshold_, truth = t > 0.5;
            torch::Tensor tp = (yes & truth).sum();
            one(torch::stack({tp, (m == "precision" ? yes & ~truth : ~yes & truth).sum()}));
            continue;
        }
        if (m == "f1_score") {
            // Per output: true positives, false positives, false negatives. Several
            // classes per image (binary_crossentropy): above the threshold; one class
            // per image: the highest, as Keras' F1Score without a threshold.
            torch::Tensor yes = loss_ == "binary_crossentropy" || p.size(1) == 1
                                    ? p > threshold_
                                    : torch::one_hot(p.argmax(1), p.size(1)).to(torch::kBool);
            torch::Tensor truth = t > 0.5;
            one(torch::cat({(yes & truth).sum(0), (yes & ~truth).sum(0), (~yes & truth).sum(0)}));
            continue;
        }
        if (m == "auc") {
            // Keras' AUC: each score's bucket among 200 evenly spaced thresholds
            // (ceil(p * 199) - 1, at least 0), counted for the positives and the negatives.
            torch::Tensor bucket = ((p.clamp(0, 1).to(torch::kFloat) * 199.0f).ceil() - 1).clamp_min(0).to(torch::kLong);
            torch::Tensor truth = (t > 0.5).reshape({-1});
            bucket = bucket.reshape({-1});
            one(torch::cat({torch::bincount(bucket.masked_select(truth), {}, 200),
                            torch::bincount(bucket.masked_select(~truth), {}, 200)}));
            continue;
        }
        std::string kind = m;
        if (m == "accuracy") {
            if (loss_ == "binary_crossentropy" || (p.dim() == 2 && p.size(1) == 1) || p.dim() != 2)
                kind = "binary_accuracy";
            else kind = "categorical_accuracy";
        }
        if (kind == "binary_accuracy") {
            one(((p > threshold_).to(p.scalar_type()) == t).to(torch::kFloat).mean());
        } else {
            torch::Tensor truth = target.dim() == 1 ? target : target.argmax(1);
            one((p.argmax(1) == truth).to(torch::kFloat).mean());
        }
    }
    if (values.empty()) return torch::empty({0}, p.options().dtype(torch::kFloat));
    return torch::cat(values);
}

void Objective::report(const torch::Tensor& loss, const torch::Tensor& metric_values, int64_t n,
                       Scores& scores) const {
    // One copy from the device for the batch's numbers (a float each, read as Keras' logs read them).
    torch::Tensor all = torch::cat({loss.detach().reshape({1}).to(torch::kFloat), metric_values.reshape({-1})})
                            .to(torch::kCPU, torch::kDouble)
                            .contiguous();
    const double* v = all.data_ptr<double>();
    scores.add("loss", v[0], n);
    size_t at = 1;
    for (const std::string& m : metrics_) {
        size_t k = metric_width(m);
        if (k == 1) scores.add(m, v[at], n);
        else scores.add_sums(m, std::vector<double>(v + at, v + at + k), n);
        at += k;
    }
}

}  // namespace imgpipe::nn
