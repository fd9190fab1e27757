#include "nn/optimizer.hpp"

#include <ATen/Parallel.h>

#include <sys/mman.h>

#include <cmath>
#include <cstdint>

#include "cli/error.hpp"
#include "nn/clones.hpp"

namespace imgpipe::nn {

namespace {
// Nadam's momentum schedule (keras/src/optimizers/nadam.py): u_t = beta_1 * (1 - 0.5 * 0.96^t).
double nadam_u(double beta_1, double t) { return beta_1 * (1.0 - 0.5 * std::pow(0.96, t)); }

// Adam's update in one pass over w, g, m and v: 7 streams of floats, where
// libtorch's separate operations (mul_, add_, addcmul_, sqrt, add_, addcdiv_)
// make about 19 and a temporary; the optimizer is memory-bound (a float read
// or written per multiply-add or two). Elementwise, so any -j gives the same bytes.
VECTOR_CLONES void adam_range(float* __restrict w, const float* __restrict g, float* __restrict m,
                              float* __restrict v, int64_t n, float beta_1, float beta_2, float alpha, float epsilon) {
    for (int64_t i = 0; i < n; ++i) {
        float mi = m[i] * beta_1 + g[i] * (1 - beta_1);
        float vi = v[i] * beta_2 + g[i] * g[i] * (1 - beta_2);
        m[i] = mi;
        v[i] = vi;
        w[i] -= alpha * mi / (std::sqrt(vi) + epsilon);
    }
}

void adam_cpu(torch::Tensor& w, const torch::Tensor& g, torch::Tensor& m, torch::Tensor& v, float beta_1,
              float beta_2, float alpha, float epsilon) {
    float* wp = w.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* mp = m.data_ptr<float>();
    float* vp = v.data_ptr<float>();
    at::parallel_for(0, w.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        adam_range(wp + begin, gp + begin, mp + begin, vp + begin, end - begin, beta_1, beta_2, alpha, epsilon);
    });
}
}  // namespace

Optimizer::Optimizer(OptimizerSpec spec) : spec_(std::move(spec)), lr_(spec_.learning_rate) {}

namespace {
// A flat buffer of zeros on the CPU: an anonymous mapping, whose pages the
// kernel maps at first touch, in 2 MB pages where it can (madvise). A loaded
// model that only predicts never faults in its gradients, and its values are
// faulted in 512 times fewer faults: both took longer than reading a 100 MB
// model file, of which a load is now about twice (bench/model_load.sh).
torch::Tensor flat_zeros(int64_t n, const torch::TensorOptions& options) {
    const size_t huge = size_t(2) << 20;
    size_t bytes = size_t(n) * sizeof(float);
    if (!options.device().is_cpu() || bytes < huge) return torch::zeros({n}, options);
    size_t mapped = bytes + huge;  // room to start on a 2 MB boundary
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return torch::zeros({n}, options);
    auto* start = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + huge - 1) & ~uintptr_t(huge - 1));
    ::madvise(start, bytes, MADV_HUGEPAGE);  // a hint: without it, 4 KB pages
    return torch::from_blob(start, {n}, [p, mapped](void*) { ::munmap(p, mapped); }, options);
}
}  // namespace

void Optimizer::attach(std::vector<Parameter>& params, bool copy_values, const std::map<std::string, int64_t>& page_offsets) {
    torch::NoGradGuard no_grad;
    if (!page_offsets.empty()) page_offsets_ = page_offsets;
    std::vector<Entry> entries;
    int64_t total = 0;
    torch::TensorOptions options = torch::TensorOptions().dtype(torch::kFloat);
    for (const Parameter& p : params) {
        if (!p.trainable) continue;
        if (entries.empty()) options = options.device(p.value.device());
        // The buffer starts on a page (flat_zeros) when it is large; the place is the
        // first float boundary at or after the source's offset in a page.
        auto wish = page_offsets_.find(p.name);
        if (wish != page_offsets_.end()) total += ((wish->second + 3) / 4 - total % 1024 + 1024) % 1024;
        // Its own strides where they tile its numel floats (contiguous, or transposed), else row-major.
        std::vector<int64_t> strides = p.value.is_non_overlapping_and_dense() ? p.value.strides().vec()
                                                                              : p.value.contiguous().strides().vec();
        entries.push_back({p.name, total, p.value.numel(), p.value.sizes().vec(), strides});
        total += p.value.numel();
    }
    if (!entries_.empty() && entries_.size() == entries.size()) {
        for (size_t i = 0; i < entries.size(); ++i)
            if (entries[i].name != entries_[i].name || entries[i].shape != entries_[i].shape ||
                entries[i].strides != entries_[i].strides)
                throw Error(kSoftware, "", "optimizer: the parameters changed under it (" + entries[i].name + ")");
    }
    entries_ = std::move(entries);
    torch::Tensor values = flat_zeros(total, options);
    torch::Tensor grads = flat_zeros(total, options);
    size_t i = 0;
    for (Parameter& p : params) {
        if (!p.trainable) continue;
        const Entry& e = entries_[i++];
        torch::Tensor view = e.in(values);
        if (copy_values) view.copy_(p.value.detach());
        view.set_requires_grad(true);
        view.mutable_grad() = e.in(grads);
        p.value = view;
    }
    values_ = values;
    grads_ = grads;
    if (m_.defined()) m_ = m_.to(options.device());
    if (v_.defined()) v_ = v_.to(options.device());
}

void Optimizer::zero_grad() {
    if (grads_.defined()) grads_.zero_();
}

void Optimizer::set_learning_rate(double lr) {
    if (spec_.schedule)
        throw UsageError("the learning rate follows the optimizer's " + spec_.schedule->type +
                         " schedule and cannot be set (Keras refuses it too): drop --reduce-lr-on-plateau, "
                         "or replace the schedule by a constant rate with --lr");
    lr_ = lr;
}

void Optimizer::create_slots() {
    if (m_.defined() || v_.defined() || !values_.defined()) return;
    const std::string& n = spec_.name;
    bool adam_like = n == "adam" || n == "adamw" || n == "nadam";
    if (adam_like || spec_.momentum > 0) m_ = torch::zeros_like(values_);
    if (adam_like || n == "rmsprop") v_ = torch::zeros_like(values_);
}

std::vector<std::pair<std::string, torch::Tensor>> Optimizer::state() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const Entry& e : entries_) {
        if (m_.defined()) out.emplace_back("optimizer.m." + e.name, e.in(m_));
        if (v_.defined()) out.emplace_back("optimizer.v." + e.name, e.in(v_));
    }
    return out;
}

void Optimizer::restore(int64_t iterations, double learning_rate) {
    iterations_ = iterations;
    lr_ = learning_rate;
    // The same multiplications, in the same order, as the steps made them: a resumed
    // run's product equals the uninterrupted one's bit for bit.
    u_product_ = 1;
    if (spec_.name == "nadam")
        for (int64_t t = 1; t <= iterations; ++t) u_product_ *= nadam_u(spec_.beta_1, double(t));
    create_slots();
}

void Optimizer::step() {
    torch::NoGradGuard no_grad;
    const OptimizerSpec& o = spec_;
    const double lr = learning_rate();
    const double t = double(iterations_ + 1);  // Keras' local_step
    if (o.name == "nadam") {
        u_product_ *= nadam_u(o.beta_1, t);
    }
    ++iterations_;
    if (!values_.defined() || values_.numel() == 0) return;
    create_slots();
    torch::Tensor& w = values_;
    const torch::Tensor& g = grads_;
    // Keras 3's _apply_weight_decay, before the update: variable - variable * wd * lr.
    if (o.weight_decay > 0) w.add_(w, -(o.weight_decay * lr));
    if (o.name == "adam" || o.name == "adamw") {
        double alpha = lr * std::sqrt(1 - std::pow(o.beta_2, t)) / (1 - std::pow(o.beta_1, t));
        if (w.is_cpu()) {
            adam_cpu(w, g, m_, v_, float(o.beta_1), float(o.beta_2), float(alpha), float(o.epsilon));
        } else {
            m_.mul_(o.beta_1).add_(g, 1 - o.beta_1);
            v_.mul_(o.beta_2).addcmul_(g, g, 1 - o.beta_2);
            w.addcdiv_(m_, v_.sqrt().add_(o.epsilon), -alpha);
        }
    } else if (o.name == "nadam") {
        double u_t = nadam_u(o.beta_1, t), u_next = nadam_u(o.beta_1, t + 1);
        double product_next = u_product_ * u_next;
        m_.mul_(o.beta_1).add_(g, 1 - o.beta_1);
        v_.mul_(o.beta_2).addcmul_(g, g, 1 - o.beta_2);
        // m_hat = u_{t+1} m / (1 - prod_{t+1}) + (1 - u_t) g / (1 - prod_t); v_hat = v / (1 - beta_2^t)
        torch::Tensor m_hat = torch::add(m_ * (u_next / (1 - product_next)), g, (1 - u_t) / (1 - u_product_));
        torch::Tensor denom = (v_ / (1 - std::pow(o.beta_2, t))).sqrt_().add_(o.epsilon);
        w.addcdiv_(m_hat, denom, -lr);
    } else if (o.name == "sgd") {
        if (o.momentum > 0) {
            m_.mul_(o.momentum).add_(g, -lr);
            if (o.nesterov) w.add_(m_, o.momentum).add_(g, -lr);
            else w.add_(m_);
        } else {
            w.add_(g, -lr);
        }
    } else {  // rmsprop
        v_.mul_(o.rho).addcmul_(g, g, 1 - o.rho);
        torch::Tensor update = g * lr / (v_ + o.epsilon).sqrt();
        if (o.momentum > 0) {
            m_.mul_(o.momentum).add_(update);
            w.sub_(m_);
        } else {
            w.sub_(update);
        }
    }
}

}  // namespace imgpipe::nn
