#include "nn/batch_check.hpp"

#include "cli/error.hpp"

namespace imgpipe::nn {

namespace {

std::string shape_star(const std::vector<int64_t>& per_sample) {
    std::string s = "[*";
    for (int64_t d : per_sample) s += "," + std::to_string(d);
    return s + "]";
}

std::vector<int64_t> per_sample(const std::vector<int64_t>& shape) {
    return shape.empty() ? shape : std::vector<int64_t>(shape.begin() + 1, shape.end());
}

}  // namespace

bool is_labels(const Tensor& y) {
    return y.dtype == DType::I32 && (y.shape.size() == 1 || (y.shape.size() == 2 && y.shape[1] == 1));
}

void check_batch(const BatchContract& model, const Frame& batch, const std::string& where, bool need_targets) {
    const Spec& spec = model.spec;
    const std::string& loss = spec.loss.name;
    const Tensor* x = batch.find("x");
    if (!x) throw DataError(where, "frame has no \"x\" tensor");
    if (x->dtype == DType::I32) throw DataError(where, "x is I32; the model takes U8 or F32 images");
    std::string want = std::string(model.trained_dtype ? dtype_name(*model.trained_dtype) : "U8 or F32") + " " +
                       shape_star(spec.input_shape);
    if (per_sample(x->shape) != spec.input_shape || x->shape.empty())
        throw DataError(where, "x is " + std::string(dtype_name(x->dtype)) + " " + shape_text(x->shape) +
                                   " but the model takes " + want);
    if (model.trained_dtype && x->dtype != *model.trained_dtype)
        throw DataError(where, "x is " + std::string(dtype_name(x->dtype)) + " " + shape_text(x->shape) +
                                   " but the model was trained on " + want);
    if (!need_targets) return;
    const Tensor* y = batch.find("y");
    if (!y) throw DataError(where, "frame has no \"y\" tensor (targets); the loss " + loss + " needs them");
    if (y->rows() != x->rows())
        throw DataError(where, "y has " + std::to_string(y->rows()) + " rows but x has " + std::to_string(x->rows()));
    std::vector<int64_t> out = spec.output_shape();
    if (is_labels(*y)) {
        if (out.size() != 1)
            throw DataError(where, "y holds class indices but the model outputs " + shape_star(out) +
                                       " (a loss on labels needs a flat output)");
        int64_t k = out[0] == 1 ? 2 : out[0];
        // The class names first, so the message does not depend on which labels a frame holds.
        std::vector<std::string> names = batch.classes();
        if (loss == "binary_crossentropy" && names.size() > 2)
            throw DataError(where, "the stream has " + std::to_string(names.size()) + " classes but the loss is "
                                   "binary_crossentropy, which is for two (use a softmax output of " +
                                   std::to_string(names.size()) + " units with categorical_crossentropy)");
        if (model.classes.empty() && !names.empty() && int64_t(names.size()) != k && !(out[0] == 1 && names.size() <= 2))
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
    if (!model.classes.empty()) {
        std::vector<std::string> names = batch.classes();
        if (!names.empty() && names != model.classes)
            throw DataError(where, "the stream's classes " + json_list(names) + " differ from the model's " +
                                       json_list(model.classes));
    }
}

}  // namespace imgpipe::nn
