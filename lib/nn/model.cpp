// The Model interface on libtorch: losses and metrics as Keras computes them,
// Keras' optimizer update rules (written out, so their state is plain named
// tensors in the model file), and the model file itself.
#include <malloc.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "nn/engine.hpp"
#include "nn/network.hpp"
#include "nn/spec.hpp"

namespace imgpipe::nn {

using nlohmann::json;

const char* const kModelFormat = "imgpipe-model/1";

void configure_runtime(int threads) {
    // Keep freed buffers in the heap: libtorch's big per-step buffers are
    // otherwise mapped and unmapped every step, and page faults dominate.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (threads > 0) {
        at::set_num_threads(threads);
        try {
            at::set_num_interop_threads(1);
        } catch (const std::exception&) {  // already set (a second model in one process)
        }
    }
}

bool cuda_available() { return torch::cuda::is_available(); }

namespace {

torch::Dtype torch_dtype(DType t) {
    switch (t) {
        case DType::U8: return torch::kUInt8;
        case DType::I32: return torch::kInt32;
        case DType::F32: return torch::kFloat;
    }
    return torch::kFloat;
}

torch::Tensor to_torch(const Tensor& t) {
    return torch::from_blob(const_cast<uint8_t*>(t.data.data()), t.shape, torch_dtype(t.dtype));
}

Tensor from_torch(const std::string& name, const torch::Tensor& value) {
    torch::Tensor c = value.detach().to(torch::kCPU, torch::kFloat).contiguous();
    Tensor t(name, DType::F32, c.sizes().vec());
    if (c.numel()) std::memcpy(t.data.data(), c.data_ptr<float>(), t.data.size());
    return t;
}

std::string shape_star(const std::vector<int64_t>& per_sample) {
    std::string s = "[*";
    for (int64_t d : per_sample) s += "," + std::to_string(d);
    return s + "]";
}

std::vector<int64_t> per_sample(const std::vector<int64_t>& shape) {
    return shape.empty() ? shape : std::vector<int64_t>(shape.begin() + 1, shape.end());
}

struct Slot {
    torch::Tensor m, v;  // adam: moments; sgd: momentum in m; rmsprop: mean square in v, momentum in m
};

class TorchModel final : public Model {
public:
    TorchModel(Spec spec, uint64_t seed) : spec_(std::move(spec)), net_(spec_, seed) {
        lr_ = spec_.optimizer.learning_rate;
        resolve_loss_and_metrics();
    }

    void to_device(const std::string& device) override {
        if (device == "cpu") device_ = torch::kCPU;
        else if (device == "cuda") {
            if (!torch::cuda::is_available())
                throw UsageError("--device cuda: CUDA is not available (no GPU found, or this libtorch is the CPU "
                                 "build; build with make TORCH=/path/to/cuda/libtorch)");
            device_ = torch::Device(torch::kCUDA);
        } else {
            throw UsageError("unknown device \"" + device + "\" (choices: cpu, cuda)");
        }
        net_.to(device_, torch::kFloat);
        torch::NoGradGuard no_grad;
        for (Slot& s : slots_) {
            if (s.m.defined()) s.m = s.m.to(device_);
            if (s.v.defined()) s.v = s.v.to(device_);
        }
    }

    std::string summary() const override { return summary_table(spec_); }
    std::vector<int64_t> input_shape() const override { return spec_.input_shape; }
    std::vector<int64_t> output_shape() const override { return spec_.output_shape(); }
    std::string loss_name() const override { return loss_; }
    std::vector<std::string> metric_names() const override { return metrics_; }
    std::vector<std::string> classes() const override { return classes_; }
    double learning_rate() const override { return lr_; }
    void set_learning_rate(double lr) override { lr_ = lr; }
    std::string state_json() const override { return state_; }

    void check_batch(const Frame& batch, const std::string& where, bool need_targets) const override {
        const Tensor* x = batch.find("x");
        if (!x) throw DataError(where, "frame has no \"x\" tensor");
        if (x->dtype == DType::I32) throw DataError(where, "x is I32; the model takes U8 or F32 images");
        std::string want = std::string(has_dtype_ ? dtype_name(input_dtype_) : "U8 or F32") + " " +
                           shape_star(spec_.input_shape);
        if (per_sample(x->shape) != spec_.input_shape || x->shape.empty())
            throw DataError(where, "x is " + std::string(dtype_name(x->dtype)) + " " + shape_text(x->shape) +
                                       " but the model takes " + want);
        if (has_dtype_ && x->dtype != input_dtype_)
            throw DataError(where, "x is " + std::string(dtype_name(x->dtype)) + " " + shape_text(x->shape) +
                                       " but the model was trained on " + want);
        if (!need_targets) return;
        const Tensor* y = batch.find("y");
        if (!y) throw DataError(where, "frame has no \"y\" tensor (targets); the loss " + loss_ + " needs them");
        if (y->rows() != x->rows())
            throw DataError(where, "y has " + std::to_string(y->rows()) + " rows but x has " + std::to_string(x->rows()));
        std::vector<int64_t> out = spec_.output_shape();
        if (labels(*y)) {
            if (out.size() != 1)
                throw DataError(where, "y holds class indices but the model outputs " + shape_star(out) +
                                           " (a loss on labels needs a flat output)");
            int64_t k = out[0] == 1 ? 2 : out[0];
            // The class names first, so the message does not depend on which labels a frame holds.
            std::vector<std::string> names = batch.classes();
            if (loss_ == "binary_crossentropy" && names.size() > 2)
                throw DataError(where, "the stream has " + std::to_string(names.size()) + " classes but the loss is "
                                       "binary_crossentropy, which is for two (use a softmax output of " +
                                       std::to_string(names.size()) + " units with categorical_crossentropy)");
            if (classes_.empty() && !names.empty() && int64_t(names.size()) != k && !(out[0] == 1 && names.size() <= 2))
                throw DataError(where, "the stream has " + std::to_string(names.size()) + " classes but the model outputs " +
                                           std::to_string(out[0]) + " (set the last Dense layer's units to " +
                                           std::to_string(names.size()) + ")");
            const int32_t* v = y->values<int32_t>();
            for (int64_t i = 0; i < y->elements(); ++i)
                if (v[i] < 0 || v[i] >= k)
                    throw DataError(where, "label " + std::to_string(v[i]) + " is out of range for a model with " +
                                               std::to_string(out[0]) + " output" + (out[0] > 1 ? "s" : "") +
                                               (out[0] == 1 ? " (binary: labels 0 and 1)" : ""));
        } else if (per_sample(y->shape) != out && !(y->shape.size() == 1 && out == std::vector<int64_t>{1})) {
            throw DataError(where, "y is " + std::string(dtype_name(y->dtype)) + " " + shape_text(y->shape) +
                                       " but the model outputs " + shape_star(out));
        }
        if (!classes_.empty()) {
            std::vector<std::string> names = batch.classes();
            if (!names.empty() && names != classes_)
                throw DataError(where, "the stream's classes " + json_list(names) + " differ from the model's " +
                                           json_list(classes_));
        }
    }

    void train_batch(const Frame& batch, Scores& scores) override {
        const Tensor& x = batch.get("x");
        if (!has_dtype_) {
            input_dtype_ = x.dtype;
            has_dtype_ = true;
        }
        if (classes_.empty()) classes_ = batch.classes();
        torch::Tensor input = to_torch(x).to(device_, torch::kFloat);
        torch::Tensor target = targets(batch.get("y"));
        Network::Output out = net_.forward(input, true);
        torch::Tensor loss = compute_loss(out, target);
        loss.backward();
        step();
        int64_t n = x.rows();
        scores.add("loss", loss.item<double>(), n);
        add_metrics(out.y.detach(), target, n, scores, "");
    }

    void evaluate_batch(const Frame& batch, Scores& scores) override {
        torch::NoGradGuard no_grad;
        const Tensor& x = batch.get("x");
        torch::Tensor input = to_torch(x).to(device_, torch::kFloat);
        torch::Tensor target = targets(batch.get("y"));
        Network::Output out = net_.forward(input, false);
        int64_t n = x.rows();
        scores.add("loss", compute_loss(out, target).item<double>(), n);
        add_metrics(out.y, target, n, scores, "");
    }

    Tensor predict_batch(const Frame& batch) override {
        torch::NoGradGuard no_grad;
        torch::Tensor input = to_torch(batch.get("x")).to(device_, torch::kFloat);
        return from_torch("y", net_.forward(input, false).y);
    }

    void seed_epoch(uint64_t seed, int64_t epoch) override {
        // Dropout masks from (seed, epoch), so a resumed epoch draws what the
        // uninterrupted run drew.
        torch::manual_seed(seed ^ (0x9e3779b97f4a7c15ull * uint64_t(epoch + 1)));
    }

    std::vector<uint8_t> encode(const std::string& state_json) const override {
        Frame f;
        for (const Parameter& p : net_.parameters()) f.tensors.push_back(from_torch(p.name, p.value));
        size_t i = 0;
        for (const Parameter& p : net_.parameters()) {
            if (!p.trainable) continue;
            const Slot& s = slots_.empty() ? Slot{} : slots_[i++];
            if (s.m.defined()) f.tensors.push_back(from_torch("optimizer.m." + p.name, s.m));
            if (s.v.defined()) f.tensors.push_back(from_torch("optimizer.v." + p.name, s.v));
        }
        f.metadata["format"] = kModelFormat;
        f.metadata["producer"] = std::string("imgpipe ") + kVersion;
        f.metadata["spec"] = spec_.to_json();
        f.metadata["classes"] = json_list(classes_);
        f.metadata["input_shape"] = json(spec_.input_shape).dump();
        f.metadata["input_dtype"] = has_dtype_ ? dtype_name(input_dtype_) : "";
        f.metadata["loss"] = loss_;
        f.metadata["metrics"] = json_list(metrics_);
        f.metadata["optimizer_iterations"] = std::to_string(iterations_);
        char lr[40];
        std::snprintf(lr, sizeof lr, "%.17g", lr_);
        f.metadata["learning_rate"] = lr;
        f.metadata["state"] = state_json.empty() ? "{}" : state_json;
        return encode_frame(f);
    }

    // Loads weights and optimizer state from a decoded model file.
    void restore(const Frame& f, const std::string& where, bool keep_optimizer) {
        torch::NoGradGuard no_grad;
        for (Parameter& p : net_.parameters()) {
            const Tensor* t = f.find(p.name);
            if (!t) throw DataError(where, "model file lacks tensor \"" + p.name + "\"");
            if (t->dtype != DType::F32 || t->shape != p.value.sizes().vec())
                throw DataError(where, "tensor \"" + p.name + "\" is " + dtype_name(t->dtype) + " " + shape_text(t->shape) +
                                           ", expected F32 " + shape_text(p.value.sizes().vec()));
            p.value.copy_(to_torch(*t));
        }
        auto meta = [&](const char* key) {
            auto it = f.metadata.find(key);
            return it == f.metadata.end() ? std::string() : it->second;
        };
        try {
            classes_ = meta("classes").empty() ? std::vector<std::string>{} : parse_json_list(meta("classes"), "classes");
        } catch (const DataError& e) {
            throw DataError(where, e.what());
        }
        std::string dtype = meta("input_dtype");
        has_dtype_ = !dtype.empty() && parse_dtype(dtype, input_dtype_);
        state_ = meta("state").empty() ? "{}" : meta("state");
        if (!keep_optimizer) return;
        auto number = [&](const char* key, double fallback) {
            std::string text = meta(key);
            if (text.empty()) return fallback;
            char* end = nullptr;
            double v = std::strtod(text.c_str(), &end);
            if (*end || !std::isfinite(v) || v < 0)
                throw DataError(where, std::string("metadata \"") + key + "\" is not a number: \"" + text + "\"");
            return v;
        };
        lr_ = number("learning_rate", lr_);
        iterations_ = int64_t(number("optimizer_iterations", 0));
        init_slots();
        size_t i = 0;
        for (Parameter& p : net_.parameters()) {
            if (!p.trainable) continue;
            Slot& s = slots_[i++];
            for (auto [name, slot] : {std::pair<const char*, torch::Tensor*>{"optimizer.m.", &s.m}, {"optimizer.v.", &s.v}}) {
                const Tensor* t = f.find(name + p.name);
                if (slot->defined() && t && t->shape == slot->sizes().vec()) slot->copy_(to_torch(*t));
            }
        }
    }

    // What the file says was trained with, unless the command line overrides it.
    void set_loss_from_file(const std::string& loss, const std::vector<std::string>* metrics) {
        if (!loss.empty()) loss_ = loss;
        if (metrics) metrics_ = *metrics;
        spec_.loss = loss_;
        spec_.metrics = metrics_;
    }

    Spec& spec() { return spec_; }

    void resolve_loss_and_metrics() {
        std::vector<int64_t> out = spec_.output_shape();
        loss_ = spec_.loss;
        if (loss_.empty()) {
            if (out.size() == 1 && out[0] == 1) loss_ = "binary_crossentropy";
            else if (out.size() == 1) loss_ = "categorical_crossentropy";
            else loss_ = "mse";
        }
        metrics_ = spec_.metrics;
        if (!spec_.metrics_given && loss_ != "mse") metrics_ = {"accuracy"};
        // The resolved spec in the model file says what was used, as the metadata does.
        spec_.loss = loss_;
        spec_.metrics = metrics_;
        spec_.metrics_given = true;
    }

private:
    static bool labels(const Tensor& y) {
        return y.dtype == DType::I32 && (y.shape.size() == 1 || (y.shape.size() == 2 && y.shape[1] == 1));
    }

    // The stream's y as the loss wants it: one-hot, float column, or float images.
    torch::Tensor targets(const Tensor& y) const {
        std::vector<int64_t> out = spec_.output_shape();
        torch::Tensor t = to_torch(y).to(device_);
        if (labels(y)) {
            t = t.reshape({-1}).to(torch::kLong);
            if (loss_ == "sparse_categorical_crossentropy") return t;
            if (out[0] == 1) return t.to(torch::kFloat).unsqueeze(1);
            return torch::one_hot(t, out[0]).to(torch::kFloat);
        }
        if (y.dtype == DType::U8) return t.to(torch::kFloat) / 255.0;  // pixels, in a sigmoid's range
        t = t.to(torch::kFloat);
        if (loss_ == "sparse_categorical_crossentropy") return t.argmax(1);  // one-hot rows back to indices
        if (t.dim() == 1) t = t.unsqueeze(1);  // F32 [n] for one output
        return t;
    }

    torch::Tensor compute_loss(const Network::Output& out, const torch::Tensor& target) const {
        const double eps = 1e-7;  // Keras' backend epsilon
        const torch::Tensor& p = out.y;
        int64_t n = p.size(0);
        if (loss_ == "mse") return (p - target).square().mean();
        if (loss_ == "mae") return (p - target).abs().mean();
        if (loss_ == "binary_crossentropy") {
            if (out.final_activation == Activation::Sigmoid) {  // from logits, as Keras does after a sigmoid
                const torch::Tensor& z = out.logits;
                return (torch::clamp_min(z, 0) - z * target + torch::log1p(torch::exp(-z.abs()))).mean();
            }
            torch::Tensor q = p.clamp(eps, 1 - eps);
            return -(target * q.log() + (1 - target) * (1 - q).log()).mean();
        }
        // categorical and sparse categorical: over the last (class) axis
        torch::Tensor log_p;
        if (out.final_activation == Activation::Softmax) log_p = torch::log_softmax(out.logits, 1);
        else log_p = (p / p.sum(1, true)).clamp(eps, 1 - eps).log();
        if (loss_ == "sparse_categorical_crossentropy")
            return -log_p.gather(1, target.view({n, 1})).mean();
        return -(target * log_p).sum(1).mean();
    }

    void add_metrics(const torch::Tensor& p, const torch::Tensor& target, int64_t n, Scores& scores,
                     const std::string& prefix) const {
        torch::NoGradGuard no_grad;
        for (const std::string& m : metrics_) {
            double v = 0;
            if (m == "mse") v = (p - dense_target(target, p)).square().mean().item<double>();
            else if (m == "mae") v = (p - dense_target(target, p)).abs().mean().item<double>();
            else {
                std::string kind = m;
                if (m == "accuracy") {
                    if (loss_ == "binary_crossentropy" || (p.dim() == 2 && p.size(1) == 1) || p.dim() != 2)
                        kind = "binary_accuracy";
                    else kind = "categorical_accuracy";
                }
                if (kind == "binary_accuracy") {
                    torch::Tensor t = dense_target(target, p);
                    v = ((p > 0.5).to(torch::kFloat) == t).to(torch::kFloat).mean().item<double>();
                } else {
                    torch::Tensor truth = target.dim() == 1 ? target : target.argmax(1);
                    v = (p.argmax(1) == truth).to(torch::kFloat).mean().item<double>();
                }
            }
            scores.add(prefix + m, v, n);
        }
    }

    static torch::Tensor dense_target(const torch::Tensor& target, const torch::Tensor& p) {
        if (target.dim() == 1 && p.dim() == 2) return torch::one_hot(target, p.size(1)).to(torch::kFloat);
        return target;
    }

    void init_slots() {
        if (!slots_.empty()) return;
        const OptimizerSpec& o = spec_.optimizer;
        for (Parameter& p : net_.parameters()) {
            if (!p.trainable) continue;
            Slot s;
            bool m = o.name == "adam" || o.momentum > 0;
            bool v = o.name == "adam" || o.name == "rmsprop";
            if (m) s.m = torch::zeros_like(p.value).detach();
            if (v) s.v = torch::zeros_like(p.value).detach();
            slots_.push_back(s);
        }
    }

    // Keras' update rules (optimizer_v2 and Keras 3 agree on these).
    void step() {
        torch::NoGradGuard no_grad;
        init_slots();
        const OptimizerSpec& o = spec_.optimizer;
        ++iterations_;
        double t = double(iterations_);
        size_t i = 0;
        for (Parameter& p : net_.parameters()) {
            if (!p.trainable) continue;
            Slot& s = slots_[i++];
            torch::Tensor g = p.value.grad();
            if (!g.defined()) continue;
            if (o.name == "adam") {
                s.m.mul_(o.beta_1).add_(g, 1 - o.beta_1);
                s.v.mul_(o.beta_2).addcmul_(g, g, 1 - o.beta_2);
                double alpha = lr_ * std::sqrt(1 - std::pow(o.beta_2, t)) / (1 - std::pow(o.beta_1, t));
                p.value.addcdiv_(s.m, s.v.sqrt().add_(o.epsilon), -alpha);
            } else if (o.name == "sgd") {
                if (o.momentum > 0) {
                    s.m.mul_(o.momentum).add_(g, -lr_);
                    if (o.nesterov) p.value.add_(s.m, o.momentum).add_(g, -lr_);
                    else p.value.add_(s.m);
                } else {
                    p.value.add_(g, -lr_);
                }
            } else {  // rmsprop
                s.v.mul_(o.rho).addcmul_(g, g, 1 - o.rho);
                torch::Tensor update = g * lr_ / (s.v + o.epsilon).sqrt();
                if (o.momentum > 0) {
                    s.m.mul_(o.momentum).add_(update);
                    p.value.sub_(s.m);
                } else {
                    p.value.sub_(update);
                }
            }
            p.value.mutable_grad() = torch::Tensor();
        }
    }

    Spec spec_;
    Network net_;
    torch::Device device_ = torch::kCPU;
    std::string loss_;
    std::vector<std::string> metrics_;
    std::vector<std::string> classes_;
    DType input_dtype_ = DType::U8;
    bool has_dtype_ = false;
    double lr_ = 0.001;
    int64_t iterations_ = 0;
    std::vector<Slot> slots_;
    std::string state_ = "{}";
};

}  // namespace

std::unique_ptr<Model> Model::create(const std::string& spec_json, const std::string& spec_name,
                                     const Overrides& overrides, uint64_t seed) {
    Spec spec = parse_spec(spec_json, spec_name);
    apply_overrides(spec, overrides);
    torch::manual_seed(seed);  // dropout masks
    return std::make_unique<TorchModel>(std::move(spec), seed);
}

void Model::save(const std::string& path, const std::string& state_json) const {
    std::vector<uint8_t> bytes = encode(state_json);
    write_file_atomic(path, bytes.data(), bytes.size());
}

std::unique_ptr<Model> Model::load(const std::string& path, const Overrides& overrides) {
    std::vector<uint8_t> bytes = read_file(path);
    if (bytes.size() > 8 && bytes[8] == '{') {  // a safetensors start: say "truncated", not "foreign"
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
        if (n > bytes.size() - 8 && n < (256u << 20))
            throw DataError(path, "truncated: the header alone is " + std::to_string(n) + " bytes, the file " +
                                      std::to_string(bytes.size()));
        // n is untrusted: a length past 2^63 once went negative here (exit 70).
        std::string header(bytes.begin() + 8, bytes.begin() + 8 + ptrdiff_t(std::min<uint64_t>(n, bytes.size() - 8)));
        if (header.find("\"batchstream/") != std::string::npos)
            throw DataError(path, "is a batch stream, not a model file");
    }
    Frame f = decode_frame(bytes.data(), bytes.size(), path);
    auto it = f.metadata.find("format");
    if (it == f.metadata.end())
        throw DataError(path, "not an imgpipe model file (a safetensors file without \"format\": \"" +
                                  std::string(kModelFormat) + "\" in its metadata)");
    const std::string& format = it->second;
    if (format.rfind("batchstream/", 0) == 0) throw DataError(path, "is a batch stream, not a model file");
    if (format.rfind("imgpipe-model/", 0) != 0)
        throw DataError(path, "not an imgpipe model file (format \"" + format + "\")");
    if (format != kModelFormat)
        throw DataError(path, "model format \"" + format + "\" is newer than this imgpipe reads (" +
                                  std::string(kModelFormat) + "); upgrade imgpipe");
    auto spec_it = f.metadata.find("spec");
    if (spec_it == f.metadata.end()) throw DataError(path, "model file lacks its spec");
    Spec spec = parse_spec(spec_it->second, path + ": spec");
    std::string old_optimizer = spec.optimizer.name;
    apply_overrides(spec, overrides);
    auto model = std::make_unique<TorchModel>(spec, 0);
    std::vector<std::string> metrics;
    try {
        if (f.metadata.count("metrics")) metrics = parse_json_list(f.metadata["metrics"], "metrics");
        for (std::string& m : metrics) m = canonical_metric(m);
        if (!f.metadata["loss"].empty()) f.metadata["loss"] = canonical_loss(f.metadata["loss"]);
    } catch (const Error& e) {
        throw DataError(path, e.what());
    }
    model->set_loss_from_file(overrides.loss.empty() ? f.metadata["loss"] : "",
                              overrides.metrics.empty() && f.metadata.count("metrics") ? &metrics : nullptr);
    bool keep_optimizer = spec.optimizer.name == old_optimizer;
    model->restore(f, path, keep_optimizer);
    if (overrides.lr > 0) model->set_learning_rate(overrides.lr);
    return model;
}

}  // namespace imgpipe::nn
