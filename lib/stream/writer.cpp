#include "stream/writer.hpp"

#include <cstring>

#include "stream/epoch.hpp"

namespace imgpipe {

EpochWriter::EpochWriter(Output& out, std::map<std::string, std::string> metadata, int64_t batch, bool labelled, MakeX make_x)
    : out_(out), batch_(batch), labelled_(labelled), make_x_(std::move(make_x)) {
    frame_.metadata = std::move(metadata);
}

void EpochWriter::flush() {
    if (paths_.empty() && skipped_.empty()) return;
    const int64_t k = int64_t(paths_.size());
    frame_.tensors.clear();
    frame_.tensors.push_back(make_x_(pixels_, k));
    if (labelled_) {
        Tensor y("y", DType::I32, {k});
        if (k) std::memcpy(y.data.data(), labels_.data(), labels_.size() * sizeof(int32_t));
        frame_.tensors.push_back(std::move(y));
    }
    frame_.set_paths(paths_);
    if (skipped_.empty()) frame_.metadata.erase(kSkippedKey);
    else frame_.metadata[kSkippedKey] = json_list(skipped_);  // so that the epoch still adds up
    frame_.set_meta_int("epoch", epoch_);
    frame_.set_meta_int("index", index_);
    write_frame(out_, frame_);
    index_ += k;
    paths_.clear(), labels_.clear(), pixels_.clear(), skipped_.clear();
}

void EpochWriter::begin_epoch(int64_t epoch) {
    if (epoch == epoch_) return;
    flush();
    epoch_ = epoch;
    in_epoch_ = index_ = 0;
}

void EpochWriter::add(const std::string& path, int32_t label, const uint8_t* pixels, size_t bytes) {
    paths_.push_back(path);
    labels_.push_back(label);
    pixels_.insert(pixels_.end(), pixels, pixels + bytes);
    ++in_epoch_, ++written_;
    if (int64_t(paths_.size()) == batch_) flush();
}

void EpochWriter::skip(const std::string& path) { skipped_.push_back(path); }

}  // namespace imgpipe
