#include "nn/objective.hpp"

#include <cstring>

namespace imgpipe::nn {

namespace {

// Class indices as one-hot rows when a metric compares them with probabilities.
torch::Tensor dense_target(const torch::Tensor& target, const torch::Tensor& p) {
    if (target.dim() == 1 && p.dim() == 2) return torch::one_hot(target, p.size(1)).to(p.scalar_type());
    return target;
}

}  // namespace

Objective::Objective(LossSpec loss, std::vector<std::string> metrics, std::vector<int64_t> output)
    : loss_(std::move(loss)), metrics_(std::move(metrics)), output_(std::move(output)) {}

torch::Tensor Objective::targets(const Tensor& y, torch::Device device) const {
    torch::Tensor t =
        to_torch(y).to(device);
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

torch::Tensor Objective::loss(const Network::Output& out, const torch::Tensor& target) const {
    const double eps = 1e-7;  // Keras' backend epsilon
    const torch::Tensor& p = out.y;
    const std::string& name = loss_.name;
    const double s = loss_.label_smoothing;
    if (name == "mse") return (p - target).square().mean();
    if (name == "mae") return (p - target).abs().mean();
    if (name == "binary_crossentropy") {
        // Keras: y_true * (1 - label_smoothing) + 0.5 * label_smoothing
        torch::Tensor t = s > 0 ? target * (1 - s) + 0.5 * s : target;
        torch::Tensor z;  // logits: the output itself (from_logits), or a final sigmoid's input
        if (loss_.from_logits) z = p;
        else if (out.final_activation == Activation::Sigmoid && out.logits.defined()) z = out.logits;
        if (z.defined()) return (torch::clamp_min(z, 0) - z * t + torch::log1p(torch::exp(-z.abs()))).mean();
        torch::Tensor q = p.clamp(eps, 1 - eps);
        return -(t * q.log() + (1 - t) * (1 - q).log()).mean();
    }
    // categorical and sparse categorical: over the class axis
    torch::Tensor log_p;
    if (loss_.from_logits) log_p = torch::log_softmax(p, 1);
    else if (out.final_activation == Activation::Softmax && out.logits.defined()) log_p = torch::log_softmax(out.logits, 1);
    else log_p = (p / p.sum(1, true)).clamp(eps, 1 - eps).log();
    if (name == "sparse_categorical_crossentropy") return -log_p.gather(1, target.view({p.size(0), 1})).mean();
    // Keras: y_true * (1 - label_smoothing) + label_smoothing / num_classes
    torch::Tensor t = s > 0 ? target * (1 - s) + s / double(target.size(1)) : target;
    return -(t * log_p).sum(1).mean();
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
                               const std::vector<Parameter>& params) const {
    torch::Tensor l = loss(out, target);
    torch::Tensor r = regularization(params);
    return r.defined() ? l + r : l;
}

torch::Tensor Objective::metric_values(const torch::Tensor& p, const torch::Tensor& target) const {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> values;
    for (const std::string& m : metrics_) {
        if (m == "mse") {
            values.push_back((p - dense_target(target, p)).square().mean());
            continue;
        }
        if (m == "mae") {
            values.push_back((p - dense_target(target, p)).abs().mean());
            continue;
        }
        std::string kind = m;
        if (m == "accuracy") {
            if (loss_ == "binary_crossentropy" || (p.dim() == 2 && p.size(1) == 1) || p.dim() != 2)
                kind = "binary_accuracy";
            else kind = "categorical_accuracy";
        }
        if (kind == "binary_accuracy") {
            torch::Tensor t = dense_target(target, p);
            values.push_back(((p > 0.5).to(p.scalar_type()) == t).to(torch::kFloat).mean());
        } else {
            torch::Tensor truth = target.dim() == 1 ? target : target.argmax(1);
            values.push_back((p.argmax(1) == truth).to(torch::kFloat).mean());
        }
    }
    if (values.empty()) return torch::empty({0}, p.options().dtype(torch::kFloat));
    return torch::stack(values).to(torch::kFloat);
}

void Objective::report(const torch::Tensor& loss, const torch::Tensor& metric_values, int64_t n,
                       Scores& scores) const {
    // One copy from the device for the batch's numbers (a float each, read as Keras' logs read them).
    torch::Tensor all = torch::cat({loss.detach().reshape({1}).to(torch::kFloat), metric_values.reshape({-1})})
                            .to(torch::kCPU, torch::kDouble)
                            .contiguous();
    const double* v = all.data_ptr<double>();
    scores.add("loss", v[0], n);
    for (size_t i = 0; i < metrics_.size(); ++i) scores.add(metrics_[i], v[i + 1], n);
}

}  // namespace imgpipe::nn
