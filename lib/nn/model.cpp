// The Model interface on libtorch: a training step is the network's forward
// pass, the objective (nn/objective.hpp: Keras' losses, regularization and
// metrics), the backward pass and the optimizer's step (nn/optimizer.hpp: Keras'
// update rules over one flat buffer); and the model file itself, whose
// optimizer state is plain named tensors.
#include <malloc.h>

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/progress.hpp"
#include "nn/batch_check.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"
#include "nn/load_weights.hpp"
#include "nn/network.hpp"
#include "nn/objective.hpp"
#include "nn/optimizer.hpp"
#include "nn/spec.hpp"

namespace imgpipe::nn {

using nlohmann::json;

void configure_runtime(int threads) {
    // Keep freed buffers in the heap: libtorch's big per-step buffers are
    // otherwise mapped and unmapped every step, and page faults dominate.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    // The BLAS (Dense layers) on one thread, whatever -j: OpenBLAS splits a
    // product differently for each thread count, so that -j 1 and -j 2 (and
    // one process and N ranks) would differ in the last bits; and its own
    // pool of threads spins while it waits, taking cores from the pipeline.
    set_blas_threads(1);
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

Tensor from_torch(const std::string& name, const torch::Tensor& value) {
    torch::Tensor c = value.detach().to(torch::kCPU, torch::kFloat).contiguous();
    Tensor t(name, DType::F32, c.sizes().vec());
    if (c.numel()) std::memcpy(t.data.data(), c.data_ptr<float>(), t.data.size());
    return t;
}

// DDP's reducer, in small. The flat gradient buffer is cut into buckets of
// whole parameters, the last parameters first, as backward produces them (a
// first bucket of about 1 MB, then about 25 MB, DDP's bucket sizes). A hook
// after each parameter's gradient accumulation counts it in; a bucket whose
// gradients are all written starts its sum over the ranks at once, while
// backward goes on with the layers before it. Buckets start in their order on
// every rank (collective operations must pair up), and any a step left
// unstarted (a parameter without a gradient) start after backward.
class GradientBuckets {
public:
    GradientBuckets(std::vector<Parameter>& params, const torch::Tensor& grads, Collective& world)
        : grads_(grads), world_(world) {
        std::vector<const Parameter*> trainable;
        for (const Parameter& p : params)
            if (p.trainable) trainable.push_back(&p);
        const int64_t first_cap = (1 << 20) / 4, cap = (25 << 20) / 4;  // floats
        int64_t end = grads.numel();
        for (size_t i = trainable.size(); i-- > 0;) {
            const torch::Tensor& v = trainable[i]->value;
            int64_t offset = v.grad().storage_offset() - grads.storage_offset();
            if (buckets_.empty() || end - buckets_.back().offset >= (buckets_.size() == 1 ? first_cap : cap)) {
                if (!buckets_.empty()) end = buckets_.back().offset;
                buckets_.push_back({offset, 0, 0});
            }
            Bucket& b = buckets_.back();
            b.offset = offset;
            b.numel = end - offset;
            ++b.parameters;
            size_t index = buckets_.size() - 1;
            auto accumulator = torch::autograd::impl::grad_accumulator(v);
            accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
                [this, index](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
                    written(index);
                    return outputs;
                }));
            accumulators_.push_back(std::move(accumulator));  // a leaf holds its accumulator weakly: keep the hooks alive
        }
        pending_.resize(buckets_.size());
        begin_step();
    }

    void begin_step() {
        for (size_t i = 0; i < buckets_.size(); ++i) pending_[i] = buckets_[i].parameters;
        next_ = 0;
    }

    // After backward: the buckets not started yet, then the wait and the average.
    void end_step() {
        while (next_ < buckets_.size()) start(next_++);
        world_.finish_average(grads_);
        begin_step();
    }

private:
    struct Bucket {
        int64_t offset, numel;
        int parameters;
    };

    void written(size_t bucket) {
        if (--pending_[bucket] > 0) return;
        while (next_ < buckets_.size() && pending_[next_] == 0) start(next_++);
    }

    void start(size_t bucket) { world_.start_sum(grads_.narrow(0, buckets_[bucket].offset, buckets_[bucket].numel)); }

    torch::Tensor grads_;
    Collective& world_;
    std::vector<Bucket> buckets_;
    std::vector<int> pending_;  // per bucket: gradients not yet written this step
    size_t next_ = 0;           // the next bucket to start
    std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
};

// A matched weight's values into its tensor, turned into our layout on the way
// (read_weight: from the file's bytes, once; match_weights checked the count).
// A tensor that is the transposed view of a row-major array (TorchModel's
// `keras_layout`) takes a Keras kernel as it lies: a plain copy.
void copy_weight(const MatchedWeight& m, torch::Tensor& dst) {
    const bool cpu_float = dst.is_cpu() && dst.scalar_type() == torch::kFloat;
    if (cpu_float && keeps_keras_layout(m) && !dst.is_contiguous() && dst.t().is_contiguous()) {
        read_weight(m, dst.data_ptr<float>(), true);  // the view's first float is the array's
        return;
    }
    if (cpu_float && dst.is_contiguous()) {
        read_weight(m, dst.data_ptr<float>());
        return;
    }
    torch::Tensor ours = torch::empty(dst.sizes(), torch::kFloat);
    read_weight(m, ours.data_ptr<float>());
    dst.copy_(ours);
}

// A model file opened for a load: its frame's header, checked as
// read_model_file checks the whole; the weights are then read (pread) straight
// into the model's tensors, not through a copy of the file and another of each
// tensor (a 100 MB file took 3 passes over 100 MB of fresh memory). A file that
// is not a regular one (a FIFO) is read whole: its tensors hold their data.
class ModelFile {
public:
    explicit ModelFile(const std::string& path) : path_(path) {
        fd_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd_.fd < 0 || ::fstat(fd_.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            frame = read_model_file(path);  // and its words for a file that cannot be opened
            return;
        }
        FileSource src(fd_.fd, 0, uint64_t(st.st_size), path);
        std::vector<uint8_t> header;
        if (!read_frame(src, frame, header, path, false, false))
            throw DataError(path, "truncated frame (0 of 8 length bytes)");
        refuse_stream(frame, path);
        if (src.remaining() > 0) throw DataError(path, std::to_string(src.remaining()) + " trailing bytes after the frame");
        check_model_frame(frame, path);
        // The tensors tile the data, in order (read_frame checked it), up to the file's end.
        uint64_t total = 0;
        for (const Tensor& t : frame.tensors) total += uint64_t(t.elements()) * dtype_size(t.dtype);
        uint64_t at = src.offset() - total;
        for (const Tensor& t : frame.tensors) {
            offsets_[t.name] = at;
            at += uint64_t(t.elements()) * dtype_size(t.dtype);
        }
    }

    Frame frame;

    // t's values into dst, a contiguous CPU tensor of t's dtype and size.
    void read(const Tensor& t, torch::Tensor& dst) const {
        if (fd_.fd < 0) {
            dst.copy_(to_torch(t));
            return;
        }
        if (!dst.is_contiguous() || !dst.device().is_cpu() || dst.scalar_type() != torch::kFloat) {
            torch::Tensor tmp = torch::empty(t.shape, torch::kFloat);
            read(t, tmp);
            dst.copy_(tmp);
            return;
        }
        size_t n = size_t(t.elements()) * dtype_size(t.dtype);
        FileSource src(fd_.fd, offsets_.at(t.name), offsets_.at(t.name) + n, path_);
        if (src.read(dst.data_ptr(), n) < n) throw DataError(path_, "truncated frame (the file shrank while read)");
    }

private:
    struct Fd {
        int fd = -1;
        ~Fd() {
            if (fd >= 0) ::close(fd);
        }
    } fd_;  // closed also when the constructor throws
    std::string path_;
    std::map<std::string, uint64_t> offsets_;
};

class TorchModel final : public Model {
public:
    // initialize false: restore is to write every weight. `keras_layout`: the
    // 2-D parameters to keep as the transposed view of a row-major [in, out]
    // array, Keras' layout, which a Keras load then fills by a plain copy
    // (doc/design.md, "Keras files in"); the flat buffers keep that layout, and
    // place each at its source's offset in a page (>= 0; Optimizer::attach).
    TorchModel(Spec spec, uint64_t seed, bool initialize = true, const std::map<std::string, int64_t>& keras_layout = {})
        : spec_(std::move(spec)), net_(spec_, seed, torch::kFloat, initialize), optimizer_(spec_.optimizer) {
        resolve_loss_and_metrics();
        std::map<std::string, int64_t> page_offsets;
        for (const auto& [name, page_offset] : keras_layout) {
            if (page_offset >= 0) page_offsets[name] = page_offset;
            Parameter* p = net_.find(name);
            if (!p || p->value.dim() != 2) throw Error(kSoftware, name, "not a matrix to keep in Keras' layout");
            torch::NoGradGuard no_grad;
            p->value = torch::empty({p->value.size(1), p->value.size(0)}, p->value.options()).t();
            if (p->trainable) p->value.set_requires_grad(true);
        }
        optimizer_.attach(net_.parameters(), initialize, page_offsets);
    }

    void to_device(const std::string& device, int index) override {
        if (device == "cpu" && device_.is_cpu()) return;  // already there: no new copy of every weight
        if (device == "cpu") device_ = torch::kCPU;
        else if (device == "cuda") {
            if (!torch::cuda::is_available())
                throw UsageError("--device cuda: CUDA is not available (no GPU found, or this libtorch is the CPU "
                                 "build; build with make TORCH=/path/to/cuda/libtorch)");
            int64_t count = int64_t(torch::cuda::device_count());
            if (index >= count)
                throw UsageError("--device cuda: GPU " + std::to_string(index) + " asked for (LOCAL_RANK), this machine has " +
                                 std::to_string(count));
            device_ = torch::Device(torch::kCUDA, int8_t(index));
        } else {
            throw UsageError("unknown device \"" + device + "\" (choices: cpu, cuda)");
        }
        net_.to(device_, torch::kFloat);
        optimizer_.attach(net_.parameters());  // new tensors: the flat buffers again, on the device
    }

    void join(Collective& world) override {
        world_ = world.size() > 1 ? &world : nullptr;
        if (!world_) return;
        torch::NoGradGuard no_grad;
        world_->broadcast(optimizer_.values());
        broadcast_buffers();
        buckets_ = std::make_unique<GradientBuckets>(net_.parameters(), optimizer_.gradients(), world);
    }

    std::string summary() const override { return summary_table(spec_); }
    std::vector<int64_t> input_shape() const override { return spec_.input_shape; }
    std::vector<int64_t> output_shape() const override { return spec_.output_shape(); }
    std::string loss_name() const override { return spec_.loss.name; }
    std::vector<std::string> metric_names() const override { return spec_.metrics; }
    std::vector<std::string> classes() const override { return classes_; }
    double learning_rate() const override { return optimizer_.learning_rate(); }
    void set_learning_rate(double lr) override { optimizer_.set_learning_rate(lr); }
    std::string state_json() const override { return state_; }

    uint32_t fingerprint() const override {
        Digest d;
        // Each value's bytes in memory order: a Dense kernel kept in Keras' layout
        // is not copied to hash it (the ranks, which compare this, load the same file).
        for (const Parameter& p : net_.parameters()) {
            torch::Tensor t = p.value.detach().to(torch::kCPU);
            if (!t.is_non_overlapping_and_dense()) t = t.contiguous();
            d.add(t.data_ptr(), size_t(t.nbytes()));
        }
        return d.value();
    }

    void check_batch(const Frame& batch, const std::string& where, bool need_targets) const override {
        nn::check_batch({spec_, has_dtype_ ? &input_dtype_ : nullptr, classes_, loss_picked_}, batch, where, need_targets);
        where_ = where;
        if (!scale_checked_) {
            scale_checked_ = true;
            warn_scaled_twice(batch.get("x"), where);
        }
    }

    // Forward, objective, backward, optimizer step.
    void train_batch(const Frame& batch, Scores& scores) override {
        const Tensor& x = batch.get("x");
        if (!train_checked_) {
            train_checked_ = true;
            check_training(batch);
        }
        if (!has_dtype_) {
            input_dtype_ = x.dtype;
            has_dtype_ = true;
        }
        if (classes_.empty()) classes_ = batch.classes();
        if (loss_picked_) pick_loss_from_stream(batch);
        set_target_kind(batch);
        // The spans of a Profile's trace (nn/engine.hpp); free when none records.
        torch::Tensor input, target, weights, loss, metrics;
        {
            RECORD_USER_SCOPE("input");
            input = input_of(x);
            target = objective_.targets(batch.get("y"), device_);
        }
        {
            RECORD_USER_SCOPE("zero_grad");
            optimizer_.zero_grad();
        }
        // A mask or an image target moves with x through the augmentation layers (Keras 3's
        // segmentation_masks): the same draw, nearest for a mask, filled with its ignore index or 0.
        Network::Target moved;
        if (augmentation_layer(spec_) && ((objective_.mask() && target.dim() == 3) || target.dim() == 4)) {
            moved.value = target;
            moved.mask = objective_.mask();
            moved.mask_fill = double(std::max<int64_t>(objective_.ignore_index(), 0));
        }
        Network::Output out = net_.forward(input, true, moved.value.defined() ? &moved : nullptr);
        if (moved.value.defined()) target = moved.value;
        weights = objective_.sample_weights(batch, target, true, device_);  // a pixel's class weight after the move
        {
            RECORD_USER_SCOPE("loss");
            loss = objective_.total(out, target, net_.parameters(), weights);
        }
        {
            RECORD_USER_SCOPE("backward");
            loss.backward();
        }
        if (buckets_) {
            RECORD_USER_SCOPE("allreduce");
            buckets_->end_step();  // most buckets started during backward
        }
        {
            RECORD_USER_SCOPE("metrics");
            metrics = objective_.metric_values(out.y.detach(), target);
        }
        {
            RECORD_USER_SCOPE("optimizer");
            optimizer_.step();
        }
        // After the step, not before the next forward as DDP does: the same
        // statistics for every step, and at an epoch's end every rank holds
        // rank 0's (validation and the model file see the same model).
        if (world_) broadcast_buffers();
        objective_.report(loss, metrics, x.rows(), scores);
    }

    void evaluate_batch(const Frame& batch, Scores& scores, Tensor* outputs) override {
        torch::NoGradGuard no_grad;
        const Tensor& x = batch.get("x");
        set_target_kind(batch);
        torch::Tensor input, target, weights;
        {
            RECORD_USER_SCOPE("input");
            input = input_of(x);
            target = objective_.targets(batch.get("y"), device_);
            weights = objective_.sample_weights(batch, target, false, device_);  // the stream's w, as Keras' validation sample weights
        }
        Network::Output out = net_.forward(input, false);
        RECORD_USER_SCOPE("loss and metrics");
        // Keras' evaluate reports the regularization term in the loss too.
        torch::Tensor loss = objective_.total(out, target, net_.parameters(), weights);
        objective_.report(loss, objective_.metric_values(out.y, target), x.rows(), scores);
        if (outputs) *outputs = from_torch("y", out.y);
    }

    Tensor predict_batch(const Frame& batch) override {
        torch::NoGradGuard no_grad;
        torch::Tensor input;
        {
            RECORD_USER_SCOPE("input");
            input = input_of(batch.get("x"));
        }
        torch::Tensor y = net_.forward(input, false).y;
        RECORD_USER_SCOPE("output");
        return from_torch("y", y);
    }

    // A batch's input as the network takes it, on the model's device: U8
    // pixels as they are (the network converts them, see Network::forward),
    // anything else as floats. To a GPU the pixels travel from pinned memory
    // and without waiting (U8: a quarter of the bytes of floats): the copy
    // queues behind the work already on the GPU.
    torch::Tensor input_of(const Tensor& x) const {
        torch::Tensor t = to_torch(x);
        if (device_.is_cuda()) t = t.pin_memory().to(device_, t.scalar_type(), /*non_blocking=*/true);
        return t.to(device_, t.scalar_type() == torch::kByte ? torch::kByte : torch::kFloat);
    }

    void seed_epoch(uint64_t seed, int64_t epoch, int rank) override {
        // Dropout masks from (seed, epoch), so a resumed epoch draws what the
        // uninterrupted run drew; and from the rank, so that ranks draw apart.
        uint64_t key = seed ^ (0x9e3779b97f4a7c15ull * uint64_t(epoch + 1));
        if (rank > 0) key ^= 0xd1b54a32d192ed03ull * uint64_t(rank);
        torch::manual_seed(key);
    }

    std::vector<uint8_t> encode(const std::string& state_json) const override {
        Frame f;
        for (const Parameter& p : net_.parameters()) f.tensors.push_back(from_torch(p.name, p.value));
        for (const auto& [name, slot] : optimizer_.state()) f.tensors.push_back(from_torch(name, slot));
        f.metadata["format"] = kModelFormat;
        f.metadata["producer"] = std::string("imgpipe ") + kVersion;
        f.metadata["spec"] = spec_.to_json();
        f.metadata["classes"] = json_list(classes_);
        f.metadata["input_shape"] = json(spec_.input_shape).dump();
        f.metadata["input_dtype"] = has_dtype_ ? dtype_name(input_dtype_) : "";
        f.metadata["loss"] = spec_.loss.name;
        f.metadata["metrics"] = json_list(spec_.metrics);
        f.metadata["optimizer_iterations"] = std::to_string(optimizer_.iterations());
        char lr[40];
        std::snprintf(lr, sizeof lr, "%.17g", optimizer_.learning_rate());
        f.metadata["learning_rate"] = lr;
        f.metadata["state"] = state_json.empty() ? "{}" : state_json;
        return encode_frame(f);
    }

    std::string init_from(const std::string& path, bool skip_mismatch) override {
        ImportOptions options;
        options.by_name = true;
        options.skip_mismatch = skip_mismatch;
        ImportReport report;
        const bool keras = !keras_file_kind(path).empty();
        KerasFile file = keras ? read_keras_file(path, "", true) : model_file_layers(spec_, read_model_file(path), path);
        torch::NoGradGuard no_grad;
        for (const MatchedWeight& m : match_weights(spec_, file, path, keras, options, &report))
            copy_weight(m, net_.find(m.name)->value);
        return import_summary(report);
    }

    // Loads weights and optimizer state from a decoded model file; `fill`, if
    // given, writes each tensor's values (f holding only names and shapes).
    using Fill = std::function<void(const Tensor&, torch::Tensor&)>;
    void restore(const Frame& f, const std::string& where, bool keep_optimizer, Fill fill = nullptr) {
        if (!fill) fill = [](const Tensor& t, torch::Tensor& dst) { dst.copy_(to_torch(t)); };
        torch::NoGradGuard no_grad;
        for (Parameter& p : net_.parameters()) {
            const Tensor* t = f.find(p.name);
            if (!t) throw DataError(where, "model file lacks tensor \"" + p.name + "\"");
            if (t->dtype != DType::F32 || t->shape != p.value.sizes().vec())
                throw DataError(where, "tensor \"" + p.name + "\" is " + dtype_name(t->dtype) + " " + shape_text(t->shape) +
                                           ", expected F32 " + shape_text(p.value.sizes().vec()));
            fill(*t, p.value);
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
        double lr = number("learning_rate", optimizer_.learning_rate());
        optimizer_.restore(int64_t(number("optimizer_iterations", 0)), lr);
        // The slots the file has (by name, and shape), zeros for any it lacks.
        for (auto& [name, slot] : optimizer_.state()) {
            const Tensor* t = f.find(name);
            if (t && t->dtype == DType::F32 && t->shape == slot.sizes().vec()) fill(*t, slot);
        }
    }

    // What the file says was trained with, unless the command line overrides it.
    void set_loss_from_file(const std::string& loss, const std::vector<std::string>* metrics) {
        if (!loss.empty() && loss != spec_.loss.name) spec_.loss = LossSpec(loss);  // same name: keep its options
        if (metrics) spec_.metrics = *metrics;
        rebuild_objective();
    }

    const Spec& spec() const { return spec_; }

    void set_threshold(double threshold) {
        threshold_ = threshold;
        rebuild_objective();
    }
    void set_class_weights(const std::vector<double>& weights) override {
        class_weights_ = weights;
        objective_.set_class_weights(weights);
    }

private:
    void warn(const std::string& where, const std::string& text) const {
        if (world_ && world_->rank() != 0) return;  // one word, from rank 0
        std::cerr << stderr_line_start() + progress_prefixed(where + ": " + text) + "\n" << std::flush;
    }

    // A Lambda x/255. (or a Rescaling of 1/255) on floats already within [0, 1]
    // scales the pixels twice: the model trains slowly, or not at all.
    void warn_scaled_twice(const Tensor& x, const std::string& where) const {
        std::array<double, 2> to{};
        const LayerSpec* l = byte_scaling_layer(spec_, &to);
        if (!l || x.dtype != DType::F32 || x.elements() == 0) return;
        const float* v = x.values<float>();
        auto [lo, hi] = std::minmax_element(v, v + x.elements());
        if (*lo < 0 || *hi > 1) return;
        char text[512];
        std::snprintf(text, sizeof text,
                      "layer %s (%s%s) maps pixel bytes 0..255 onto [%g, %g], but x is F32 already within [0, 1] "
                      "(max %g in this batch): the pixels are scaled twice; drop the layer, or give the model bytes "
                      "(no imgprep --rescale)",
                      l->name.c_str(), l->type.c_str(), l->find<LambdaOptions>() ? (" \"" + l->get<LambdaOptions>().expression + "\"").c_str() : "",
                      to[0], to[1], double(*hi));
        warn(where, text);
    }

    // What training refuses or warns of, from its first batch (nneval and
    // nnpredict run without the augmentation layers, so they do not).
    void check_training(const Frame& batch) const {
        const Tensor& x = batch.get("x");
        const Tensor* y = batch.find("y");
        auto mode = batch.metadata.find("class_mode");
        bool image_target = (mode != batch.metadata.end() && (mode->second == "input" || mode->second == "mask")) ||
                            (y && y->shape.size() == 4);
        // The augmentation layers move an image or mask target with x (train_batch), when
        // they see images of the target's size.
        if (image_target && y && y->shape.size() >= 3)
            for (const Node& n : spec_.nodes) {
                const LayerSpec& a = spec_.layers[n.layer];
                if (!a.kind().is(kAugmentation) || a.output_shape.size() != 3) continue;
                if (a.output_shape[0] != y->shape[1] || a.output_shape[1] != y->shape[2])
                    throw DataError(where_, "layer " + a.name + " (" + a.type + ") transforms images of " +
                                                std::to_string(a.output_shape[0]) + "x" + std::to_string(a.output_shape[1]) +
                                                " but the target y is " + std::to_string(y->shape[1]) + "x" +
                                                std::to_string(y->shape[2]) + ", so it cannot move y with x; put it "
                                                "before any layer that changes the size, or augment upstream (imgprep)");
            }
        if (const LayerSpec* l = raw_input_layer(spec_); l && x.dtype == DType::U8)
            warn(where_, "layer " + l->name + " (" + l->type + ") reads raw U8 pixels (0 to 255): no Rescaling, Lambda "
                         "or Normalization comes before it, and training on unscaled bytes converges slowly if at all; "
                         "add {\"type\": \"Rescaling\", \"scale\": 0.00392156862745098} (1/255) as the first layer");
    }

    // Rank 0's non-trainable weights (BatchNormalization's running statistics,
    // frozen layers) on every rank, as DDP's broadcast_buffers.
    void broadcast_buffers() {
        std::vector<torch::Tensor> buffers;
        for (const Parameter& p : net_.parameters())
            if (!p.trainable) buffers.push_back(p.value);
        if (buffers.empty()) return;
        torch::NoGradGuard no_grad;
        torch::Tensor flat = at::flatten_dense_tensors(buffers);
        world_->broadcast(flat);
        std::vector<torch::Tensor> back = at::unflatten_dense_tensors(flat, buffers);
        for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(back[i]);
    }

    // The loss picked from the output when the spec names none, and the default
    // metric; the resolved spec in the model file says what was used, as the metadata does.
    void resolve_loss_and_metrics() {
        std::vector<int64_t> out = spec_.output_shape();
        loss_picked_ = spec_.loss.empty();
        metrics_picked_ = !spec_.metrics_given;
        if (spec_.loss.empty()) {
            if (out.size() == 1 && out[0] == 1) spec_.loss = "binary_crossentropy";
            else if (out.size() == 1) spec_.loss = "categorical_crossentropy";
            else spec_.loss = "mse";
        }
        if (!spec_.metrics_given && spec_.loss != "mse") spec_.metrics = {"accuracy"};
        spec_.metrics_given = true;
        rebuild_objective();
    }

    // The objective of the spec's loss and metrics, with the threshold and class weights set.
    void rebuild_objective() {
        objective_ = Objective(spec_.loss, spec_.metrics, spec_.output_shape(), threshold_);
        objective_.set_class_weights(class_weights_);
    }

    // The first training frame's class_mode refines a picked loss, as the
    // output alone cannot tell: numbers (raw) train with mse, several classes
    // per image (multi_label) with binary_crossentropy over C sigmoids, masks
    // (mask) with sparse_categorical_crossentropy per pixel (binary_crossentropy
    // for one sigmoid channel), judged by pixel accuracy and mean IoU.
    void pick_loss_from_stream(const Frame& batch) {
        loss_picked_ = false;
        auto mode = batch.metadata.find("class_mode");
        if (mode == batch.metadata.end()) return;
        bool mask = mode->second == "mask";
        if (mode->second == "raw") spec_.loss = "mse";
        else if (mode->second == "multi_label") spec_.loss = "binary_crossentropy";
        else if (mask) {
            // Segmentation: each pixel's class, over C softmax channels or one sigmoid channel.
            std::vector<int64_t> out = spec_.output_shape();
            spec_.loss = out.size() == 3 && out[2] == 1 ? "binary_crossentropy" : "sparse_categorical_crossentropy";
        } else return;
        if (metrics_picked_)
            spec_.metrics = spec_.loss == "mse" ? std::vector<std::string>{}
                            : mask              ? std::vector<std::string>{"accuracy", "mean_iou"}
                                                : std::vector<std::string>{"accuracy"};
        rebuild_objective();
    }

    // Whether y is a mask (class_mode mask: the losses and metrics per pixel) and its ignore index.
    void set_target_kind(const Frame& batch) {
        auto mode = batch.metadata.find("class_mode");
        bool mask = mode != batch.metadata.end() && mode->second == "mask";
        objective_.set_mask(mask, mask ? ignore_index(batch, where_) : -1);
    }

    Spec spec_;
    Network net_;
    Objective objective_{LossSpec{}, {}, {}};
    double threshold_ = 0.5;             // --threshold
    std::vector<double> class_weights_;  // --class-weight, by class index
    bool loss_picked_ = false, metrics_picked_ = false;  // not named by the spec nor the command line
    Optimizer optimizer_;
    torch::Device device_ = torch::kCPU;
    std::vector<std::string> classes_;
    DType input_dtype_ = DType::U8;
    bool has_dtype_ = false;
    std::string state_ = "{}";
    mutable std::string where_;          // the last batch check_batch saw, for train_batch's messages
    mutable bool scale_checked_ = false;  // warn_scaled_twice, on the first batch
    bool train_checked_ = false;          // check_training, on the first training batch
    Collective* world_ = nullptr;  // a world of more than one, else null
    std::unique_ptr<GradientBuckets> buckets_;
};

}  // namespace

std::unique_ptr<Model> Model::create(const std::string& spec_json, const std::string& spec_name,
                                     const Overrides& overrides, uint64_t seed) {
    Spec spec = parse_spec(spec_json, spec_name);
    apply_overrides(spec, overrides);
    set_trainable(spec, overrides.freeze, overrides.unfreeze);
    torch::manual_seed(seed);  // dropout masks
    auto model = std::make_unique<TorchModel>(std::move(spec), seed);
    model->set_threshold(overrides.threshold);
    return model;
}

void Model::save(const std::string& path, const std::string& state_json) const {
    std::vector<uint8_t> bytes = encode(state_json);
    write_file_atomic(path, bytes.data(), bytes.size());
}

namespace {

// A model trained in Keras: its architecture, then its weights in our layouts
// (load_weights.hpp), with a fresh optimizer. `weights` given: `path` is the
// architecture (a spec), the weights are there.
std::unique_ptr<Model> load_keras(const std::string& path, const Overrides& overrides, const std::string& weights,
                                  uint64_t seed) {
    const auto read_start = std::chrono::steady_clock::now();
    KerasModel keras = read_keras_model(path, weights, true);  // (its spec's parse: well under a millisecond)
    const std::chrono::duration<double> read_time = std::chrono::steady_clock::now() - read_start;
    const KerasFile& file = keras.file;
    const std::string& source = keras.source;
    Spec spec = std::move(keras.spec);
    apply_overrides(spec, overrides);
    set_trainable(spec, overrides.freeze, overrides.unfreeze);
    torch::manual_seed(seed);
    // Each array copied once, straight into its tensor (copy_weight): restore
    // sees names and shapes. Dense's kernels stay in Keras' layout, their
    // parameters its transposed view: a plain copy where a transposing one took
    // twice cat's time of the whole file (bench/results/model_load.md).
    std::vector<MatchedWeight> matched = match_weights(spec, file, source, true);
    std::map<std::string, int64_t> keras_layout;
    for (const MatchedWeight& m : matched)
        if (keeps_keras_layout(m)) keras_layout[m.name] = source_page_offset(m);
    auto model = std::make_unique<TorchModel>(std::move(spec), seed, false, keras_layout);
    model->set_threshold(overrides.threshold);
    Frame tensors;
    std::map<std::string, const MatchedWeight*> by_name;
    for (const MatchedWeight& m : matched) {
        Tensor t;
        t.name = m.name;
        t.dtype = DType::F32;
        t.shape = m.weight.shape;
        tensors.tensors.push_back(std::move(t));
        by_name[m.name] = &m;
    }
    std::vector<std::string> classes = keras_class_names(file, source, model->output_shape());
    if (!classes.empty()) tensors.set_classes(classes);
    const auto copy_start = std::chrono::steady_clock::now();
    model->restore(tensors, source, false,
                   [&](const Tensor& t, torch::Tensor& dst) { copy_weight(*by_name.at(t.name), dst); });
    if (std::getenv("IMGPIPE_LOAD_TIME")) {  // the file's reading (HDF5: the child's), then the copy alone (bench/model_load.sh)
        std::chrono::duration<double> s = std::chrono::steady_clock::now() - copy_start;
        char text[64];
        std::snprintf(text, sizeof text, "file read in %.4f s", read_time.count());
        std::cerr << stderr_line_start() + progress_prefixed(source + ": " + text) + "\n";
        std::snprintf(text, sizeof text, "weights copied in %.4f s", s.count());
        std::cerr << stderr_line_start() + progress_prefixed(source + ": " + text) + "\n";
    }
    if (overrides.lr > 0) model->set_learning_rate(overrides.lr);
    return model;
}

}  // namespace

namespace {

std::unique_ptr<Model> load_model_file(const std::string& path, const Overrides& overrides, uint64_t seed) {
    ModelFile file(path);
    Frame& f = file.frame;
    Spec spec = parse_spec(f.metadata["spec"], path + ": spec");
    std::string old_optimizer = spec.optimizer.name;
    apply_overrides(spec, overrides);
    set_trainable(spec, overrides.freeze, overrides.unfreeze);
    auto model = std::make_unique<TorchModel>(spec, seed, false);
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
    model->set_threshold(overrides.threshold);
    model->restore(f, path, keep_optimizer, [&](const Tensor& t, torch::Tensor& dst) { file.read(t, dst); });
    if (overrides.lr > 0) model->set_learning_rate(overrides.lr);
    return model;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const Overrides& overrides, const std::string& weights,
                                   uint64_t seed) {
    // IMGPIPE_LOAD_TIME set: the load's own seconds on stderr (bench/model_load.sh),
    // apart from the process's start-up.
    auto start = std::chrono::steady_clock::now();
    std::unique_ptr<Model> model = !weights.empty() || !keras_file_kind(path).empty()
                                       ? load_keras(path, overrides, weights, seed)
                                       : load_model_file(path, overrides, seed);
    if (std::getenv("IMGPIPE_LOAD_TIME")) {
        std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
        char text[64];
        std::snprintf(text, sizeof text, "load %.4f s", s.count());
        std::cerr << stderr_line_start() + progress_prefixed(path + ": " + text) + "\n";
    }
    return model;
}

}  // namespace imgpipe::nn
