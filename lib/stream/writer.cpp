#include "stream/writer.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "cli/error.hpp"
#include "stream/epoch.hpp"

namespace imgpipe {

EpochWriter::EpochWriter(Output& out, std::map<std::string, std::string> metadata, int64_t batch, TargetLayout layout,
                         MakeX make_x)
    : out_(out), batch_(batch), layout_(layout), make_x_(std::move(make_x)) {
    frame_.metadata = std::move(metadata);
}

namespace {
template <class T> Tensor tensor_of(const char* name, DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
    Tensor t(name, dtype, std::move(shape));
    if (!values.empty()) std::memcpy(t.data.data(), values.data(), values.size() * sizeof(T));
    return t;
}
}  // namespace

float to_f32(double value, const std::string& where) {
    // Beyond F32 the cast would give inf (numpy's astype) or be undefined (C++): a target no model can fit.
    if (!(std::fabs(value) <= double(std::numeric_limits<float>::max()))) {
        char text[64];
        std::snprintf(text, sizeof text, "%g is beyond the range of F32 (%g)", value, double(std::numeric_limits<float>::max()));
        throw DataError(where, text);
    }
    return float(value);
}

void EpochWriter::flush() {
    if (paths_.empty() && skipped_.empty()) return;
    const int64_t k = int64_t(paths_.size());
    frame_.tensors.clear();
    frame_.tensors.push_back(make_x_(pixels_, k));
    using Y = TargetLayout::Y;
    switch (layout_.y) {
    case Y::none: break;
    case Y::classes: frame_.tensors.push_back(tensor_of("y", DType::I32, {k}, labels_)); break;
    case Y::multi_hot:
    case Y::numbers: frame_.tensors.push_back(tensor_of("y", DType::F32, {k, layout_.columns}, values_)); break;
    case Y::image:  // the image after every transform: x's dtype and values
        frame_.tensors.push_back(frame_.tensors[0]);
        frame_.tensors.back().name = "y";
        break;
    case Y::mask: frame_.tensors.push_back(tensor_of("y", DType::U8, {k, layout_.height, layout_.width, 1}, masks_)); break;
    }
    if (layout_.weighted) frame_.tensors.push_back(tensor_of("w", DType::F32, {k}, weights_));
    frame_.set_paths(paths_);
    if (skipped_.empty()) frame_.metadata.erase(kSkippedKey);
    else frame_.metadata[kSkippedKey] = json_list(skipped_);  // so that the epoch still adds up
    frame_.set_meta_int("epoch", epoch_);
    frame_.set_meta_int("index", index_);
    write_frame(out_, frame_);
    index_ += k;
    paths_.clear(), labels_.clear(), values_.clear(), weights_.clear(), pixels_.clear(), masks_.clear(), skipped_.clear();
}

void EpochWriter::begin_epoch(int64_t epoch) {
    if (epoch == epoch_) return;
    flush();
    epoch_ = epoch;
    in_epoch_ = index_ = 0;
}

void EpochWriter::add(const std::string& path, const SampleTarget& target, const uint8_t* pixels, size_t bytes) {
    using Y = TargetLayout::Y;
    if (layout_.y == Y::classes) labels_.push_back(target.label);
    if (layout_.y == Y::multi_hot) {
        size_t row = values_.size();
        values_.resize(row + size_t(layout_.columns), 0.0f);
        for (int32_t c : target.classes) {
            if (c < 0 || c >= layout_.columns)
                throw Error(kSoftware, path, "class " + std::to_string(c) + " beyond the stream's " +
                                    std::to_string(layout_.columns));
            values_[row + size_t(c)] = 1.0f;
        }
    }
    if (layout_.y == Y::numbers) {
        if (int64_t(target.numbers.size()) != layout_.columns)
            throw Error(kSoftware, path, std::to_string(target.numbers.size()) + " numbers for a stream of " +
                                std::to_string(layout_.columns));
        for (double v : target.numbers) values_.push_back(to_f32(v, path));
    }
    if (layout_.y == Y::mask) masks_.insert(masks_.end(), target.mask, target.mask + layout_.height * layout_.width);
    if (layout_.weighted) weights_.push_back(to_f32(target.weight, path));
    paths_.push_back(path);
    pixels_.insert(pixels_.end(), pixels, pixels + bytes);
    ++in_epoch_, ++written_;
    if (int64_t(paths_.size()) == batch_) flush();
}

void EpochWriter::skip(const std::string& path) { skipped_.push_back(path); }

}  // namespace imgpipe
