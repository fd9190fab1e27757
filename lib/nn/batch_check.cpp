#include "nn/batch_check.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

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

// Segmentation (class_mode mask): y U8 [n,h,w,1] class indices against an output [h,w,C],
// under a loss and metrics that read masks.
void check_mask(const BatchContract& model, const Frame& batch, const Tensor& y, const std::string& where) {
    const Spec& spec = model.spec;
    std::vector<int64_t> out = spec.output_shape();
    if (out.size() != 3)
        throw DataError(where, "y is a mask of class indices (class_mode mask) but the model outputs " + shape_star(out) +
                                   "; a segmentation model outputs [*,h,w,C] (C classes, softmax; or 1, sigmoid)");
    const int64_t C = out[2], K = std::max<int64_t>(C, 2);
    if (y.dtype != DType::U8 || y.shape.size() < 3 || y.shape.size() > 4 || (y.shape.size() == 4 && y.shape[3] != 1) ||
        y.shape[1] != out[0] || y.shape[2] != out[1])
        throw DataError(where, "y is " + std::string(dtype_name(y.dtype)) + " " + shape_text(y.shape) +
                                   " but the model's masks are U8 [*," + std::to_string(out[0]) + "," +
                                   std::to_string(out[1]) + ",1] (its output " + shape_star(out) + ")");
    std::string loss = spec.loss.name;
    if (model.loss_picked) loss = C == 1 ? "binary_crossentropy" : "sparse_categorical_crossentropy";
    bool fits = loss == "dice" || loss == "ce_dice" || (loss == "sparse_categorical_crossentropy" && C > 1) ||
                (loss == "binary_crossentropy" && C == 1);
    if (!fits)
        throw DataError(where, "the loss " + loss + " does not take a mask of class indices (class_mode mask) against " +
                                   shape_star(out) + "; use " +
                                   (C == 1 ? "binary_crossentropy (one sigmoid channel)"
                                           : "sparse_categorical_crossentropy (" + std::to_string(C) + " softmax channels)") +
                                   ", dice or ce_dice");
    for (const std::string& m : spec.metrics)
        if (m != "accuracy" && m != "mean_iou" && m != "iou" && m != "dice")
            throw DataError(where, "the metric " + m + " does not apply to a mask (class_mode mask); its metrics are "
                                   "accuracy (of the pixels), mean_iou, iou (each class's) and dice");
    std::vector<std::string> names = batch.classes();
    if (!names.empty() && int64_t(names.size()) != K && !(C == 1 && names.size() == 1))
        throw DataError(where, "the stream has " + std::to_string(names.size()) + " classes but the model outputs " +
                                   std::to_string(C) + " channel" + (C > 1 ? "s" : "") + " (" +
                                   (C == 1 ? "one sigmoid channel is for two classes" : "one per class") + ")");
    int64_t ignore = ignore_index(batch, where);
    std::vector<int64_t> count(256, 0);
    const uint8_t* v = y.values<uint8_t>();
    for (int64_t i = 0; i < y.elements(); ++i) ++count[v[i]];
    for (int64_t value = K; value < 256; ++value)
        if (count[size_t(value)] && value != ignore)
            throw DataError(where, "mask value " + std::to_string(value) + " (" + std::to_string(count[size_t(value)]) +
                                       " pixels) is not a class of the model's " + std::to_string(K) +
                                       (ignore >= 0 ? " nor the ignore index " + std::to_string(ignore) : " (the stream has no ignore_index)"));
}

}  // namespace

int64_t ignore_index(const Frame& batch, const std::string& where) {
    auto it = batch.metadata.find("ignore_index");
    if (it == batch.metadata.end() || it->second.empty()) return -1;
    const std::string& text = it->second;
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (*end || text.size() > 3 || !std::isdigit(static_cast<unsigned char>(text[0])) || v > 255)
        throw DataError(where, "metadata \"ignore_index\" is not a mask value 0 to 255: \"" + text + "\"");
    return v;
}

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
    auto mode = batch.metadata.find("class_mode");
    if (mode != batch.metadata.end() && mode->second == "mask") {
        check_mask(model, batch, *y, where);
        return;
    }
    if (loss == "dice" || loss == "ce_dice")
        throw DataError(where, "the loss " + loss + " is for masks of class indices (class_mode mask); this stream's "
                               "targets are not masks");
    for (const std::string& m : spec.metrics)
        if (m == "mean_iou" || m == "iou" || m == "dice")
            throw DataError(where, "the metric " + m + " is for masks of class indices (class_mode mask); this "
                                   "stream's targets are not masks");
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
