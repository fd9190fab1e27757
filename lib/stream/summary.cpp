#include "stream/summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace imgpipe {

namespace {
constexpr int64_t kMaxColumns = int64_t(1) << 20;  // more classes or numbers than any list holds
}  // namespace

void StreamSummary::add(const Frame& frame, const std::string& where) {
    int64_t n = frame.samples();
    if (frames_ == 0) {
        std::ostringstream t;
        for (const Tensor& tensor : frame.tensors) {
            t << (t.tellp() > 0 ? "; " : "") << tensor.name << " " << dtype_name(tensor.dtype) << " [*";
            for (size_t i = 1; i < tensor.shape.size(); ++i) t << "," << tensor.shape[i];
            t << "]";
        }
        tensors_ = t.str();
        classes_ = frame.classes();
        class_counts_.assign(classes_.size(), 0);
        auto get = [&](const char* k) { auto it = frame.metadata.find(k); return it == frame.metadata.end() ? std::string() : it->second; };
        class_mode_ = get("class_mode");
        format_ = get("format");
        const Tensor* y = frame.find("y");
        const Tensor* x = frame.find("x");
        if (!y) target_ = Target::none;
        else if (y->dtype == DType::I32 && y->shape.size() == 1) target_ = Target::classes;
        else if (class_mode_ == "mask" && y->dtype == DType::U8 && y->shape.size() == 4 && y->shape[3] == 1) target_ = Target::mask;
        else if (x && y->shape.size() == x->shape.size() && y->shape.size() == 4) target_ = Target::image;
        else if (y->dtype == DType::F32 && y->shape.size() == 2)
            target_ = class_mode_ == "multi_label" ? Target::multi_hot : Target::numbers;
        else target_ = Target::other;
        if (y && y->shape.size() == 2) columns_ = y->shape[1];
        // A first frame of no rows may declare any width: no counters of absurd size.
        if (columns_ > kMaxColumns && (target_ == Target::multi_hot || target_ == Target::numbers)) target_ = Target::other;
        if (target_ == Target::multi_hot) class_counts_.assign(size_t(columns_), 0);
        if (target_ == Target::mask) {
            mask_values_.assign(256, 0);
            ignore_index_ = frame.meta_int("ignore_index", -1);
        }
        if (target_ == Target::numbers) {
            if (frame.metadata.count("targets")) target_names_ = parse_json_list(get("targets"), "metadata \"targets\"");
            sums_.assign(size_t(columns_), 0.0);
            mins_.assign(size_t(columns_), INFINITY);
            maxes_.assign(size_t(columns_), -INFINITY);
        }
        const Tensor* w = frame.find("w");
        weighted_ = w && w->dtype == DType::F32 && w->shape.size() == 1;
        weight_min_ = INFINITY, weight_max_ = -INFINITY;
    }
    // The epochs as every reader finds them (joined shards, cat a a), not as numbered.
    bool begins = ledger_.add(frame, where);
    auto shard = frame.metadata.find(kShardKey);
    if (begins) epochs_.push_back({ledger_.number(), -1, {}});
    if ((begins || ledger_.began_part()) && shard != frame.metadata.end()) epochs_.back().shards.push_back(shard->second);
    epochs_.back().size = ledger_.size();
    declared_.insert(frame.meta_int("epochs", -1));
    ++frames_;
    samples_ += n;
    skipped_ += int64_t(skipped_paths(frame).size());
    dropped_ += frame.meta_int(kDroppedKey, 0);
    if (n == 0) return;  // a frame of records only
    min_batch_ = std::min(min_batch_, n);
    max_batch_ = std::max(max_batch_, n);
    const Tensor* y = frame.find("y");
    const bool columns = y && y->dtype == DType::F32 && y->shape.size() == 2 && y->shape[1] == columns_;
    if (target_ == Target::multi_hot && columns) {
        const float* v = y->values<float>();
        for (int64_t i = 0; i < y->elements(); ++i)
            if (v[i] > 0.5f) ++class_counts_[size_t(i % columns_)], ++shown_;
    }
    if (target_ == Target::numbers && columns) {
        const float* v = y->values<float>();
        for (int64_t i = 0; i < y->elements(); ++i) {
            size_t c = size_t(i % columns_);
            sums_[c] += double(v[i]), mins_[c] = std::min(mins_[c], double(v[i])), maxes_[c] = std::max(maxes_[c], double(v[i]));
        }
    }
    if (target_ == Target::mask && y && y->dtype == DType::U8)
        for (int64_t i = 0; i < y->elements(); ++i) ++mask_values_[y->values<uint8_t>()[i]];
    const Tensor* w = frame.find("w");
    if (weighted_ && w && w->dtype == DType::F32) {
        for (int64_t i = 0; i < w->elements(); ++i) {
            double v = w->values<float>()[i];
            weight_sum_ += v, weight_min_ = std::min(weight_min_, v), weight_max_ = std::max(weight_max_, v), ++weights_;
        }
    }
    if (y && y->dtype == DType::I32 && y->shape.size() == 1) {
        for (int64_t i = 0; i < y->rows(); ++i) {
            int32_t c = y->values<int32_t>()[i];
            if (c < 0) continue;
            if (size_t(c) >= class_counts_.size()) class_counts_.resize(size_t(c) + 1, 0);
            ++class_counts_[size_t(c)];
        }
    }
}

namespace {
std::string number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", v);
    return text;
}
std::string epochs_word(int64_t n) { return std::to_string(n) + (n == 1 ? " epoch" : " epochs"); }
}  // namespace

std::string StreamSummary::text() const {
    std::ostringstream o;
    o << "format:     " << (format_.empty() ? "?" : format_) << "\n";
    o << "frames:     " << frames_ << "\n";
    o << "samples:    " << samples_ << "\n";
    if (skipped_) o << "skipped:    " << skipped_ << " (recorded upstream: bad or missing files)\n";
    if (dropped_) o << "dropped:    " << dropped_ << " (batchpack --drop-last)\n";
    if (max_batch_) o << "batch size: " << (min_batch_ == max_batch_ ? std::to_string(max_batch_) : std::to_string(min_batch_) + " to " + std::to_string(max_batch_)) << "\n";
    o << "tensors:    " << tensors_ << "\n";
    if (!class_mode_.empty()) o << "class mode: " << class_mode_ << "\n";
    switch (frames_ ? target_ : Target::none) {
    case Target::none:
        if (frames_) o << "targets:    none (no y)\n";
        break;
    case Target::classes: o << "targets:    a class index per image (y I32)\n"; break;
    case Target::image: o << "targets:    the image (y has x's shape)\n"; break;
    case Target::mask:
        o << "targets:    a mask per image, " << classes_.size() << " classes (y U8 class indices)";
        if (ignore_index_ >= 0) o << ", ignore index " << ignore_index_;
        o << "\n";
        break;
    case Target::other: o << "targets:    y of no form batchstream(5) names\n"; break;
    case Target::multi_hot:
        o << "targets:    multi-label, " << columns_ << " classes (y F32 multi-hot)";
        if (samples_) o << ", " << number(double(shown_) / double(samples_)) << " shown per image on average";
        o << "\n";
        break;
    case Target::numbers:
        o << "targets:    numbers, " << columns_ << (columns_ == 1 ? " column" : " columns") << " (y F32)\n";
        for (size_t c = 0; c < size_t(columns_) && samples_; ++c)
            o << "  " << (c < target_names_.size() ? target_names_[c] : "y" + std::to_string(c)) << "\tmean "
              << number(sums_[c] / double(samples_)) << ", " << number(mins_[c]) << " to " << number(maxes_[c]) << "\n";
        break;
    }
    if (weighted_) {
        o << "weights:    weighted (w F32)";
        if (weights_) o << ", " << number(weight_min_) << " to " << number(weight_max_) << ", mean " << number(weight_sum_ / double(weights_));
        o << "\n";
    }
    if (!epochs_.empty()) {
        const Epoch& first = epochs_.front();
        int64_t least = first.size, most = first.size;
        for (const Epoch& e : epochs_) least = std::min(least, e.size), most = std::max(most, e.size);
        if (least >= 0) {
            o << "epoch size: " << (least == most ? std::to_string(least) : std::to_string(least) + " to " + std::to_string(most));
            if (first.shards.size() == 1) o << " (shard " << first.shards[0] << ")";
            if (first.shards.size() > 1) {
                o << " (shards ";
                for (size_t i = 0; i < first.shards.size(); ++i) o << (i ? ", " : "") << first.shards[i];
                o << " joined)";
            }
            o << "\n";
        }
        // How many epochs the rule finds, and their "epoch" numbers.
        bool counting = true;
        for (size_t i = 1; i < epochs_.size(); ++i) counting = counting && epochs_[i].number == epochs_[i - 1].number + 1;
        o << "epochs:     " << epochs_.size() << " (numbered " << first.number;
        if (epochs_.size() > 1 && counting) o << " to " << epochs_.back().number;
        for (size_t i = 1; !counting && i < epochs_.size() && i < 8; ++i) o << ", " << epochs_[i].number;
        if (!counting && epochs_.size() > 8) o << ", ...";
        o << ")\n";
        // What the producer says it wrote, and whether this stream is that.
        const int64_t k = int64_t(epochs_.size());
        if (declared_.size() > 1) {
            o << "producer:   frames of producers that wrote different counts of epochs (imgprep --epochs";
            for (int64_t e : declared_) o << " " << (e < 0 ? "?" : std::to_string(e));
            o << "): streams joined end to end\n";
        } else if (int64_t e = *declared_.begin(); e == 0) {
            o << "producer:   a stream without end (imgprep --epochs 0); these are " << epochs_word(k) << " of it\n";
        } else if (e == k) {
            o << "producer:   wrote " << epochs_word(e) << " (imgprep --epochs " << e << "), as read here\n";
        } else if (e > 0 && e < k) {
            o << "producer:   wrote " << epochs_word(e) << " (imgprep --epochs " << e << "), but the stream holds " << k
              << ": streams joined end to end (cat), each read as epochs of their own\n";
        } else if (e > k) {
            o << "producer:   wrote " << epochs_word(e) << " (imgprep --epochs " << e << "), but the stream holds " << k
              << ": it was cut after an epoch's end\n";
        }
    }
    if (target_ == Target::mask && frames_) {
        // Pixels of each class, of the ignore index, and of values that are neither.
        o << "classes:    " << classes_.size() << " (pixels of each)\n";
        for (size_t i = 0; i < classes_.size(); ++i) o << "  " << i << "\t" << classes_[i] << "\t" << (i < 256 ? mask_values_[i] : 0) << "\n";
        if (ignore_index_ >= 0 && ignore_index_ < 256) o << "ignored:    " << mask_values_[size_t(ignore_index_)] << " pixels\n";
        std::string stray;
        int64_t strays = 0;
        for (size_t v = classes_.size(); v < 256; ++v)
            if (mask_values_[v] && int64_t(v) != ignore_index_) stray += (stray.empty() ? "" : ", ") + std::to_string(v), strays += mask_values_[v];
        if (strays) o << "no class:   " << strays << " pixels hold values that are no class (" << stray << ")\n";
    } else if (!class_counts_.empty()) {
        o << "classes:    " << class_counts_.size() << (target_ == Target::multi_hot ? " (images showing each)" : "") << "\n";
        for (size_t i = 0; i < class_counts_.size(); ++i)
            o << "  " << i << "\t" << (i < classes_.size() ? classes_[i] : "?") << "\t" << class_counts_[i] << "\n";
    }
    return o.str();
}

}  // namespace imgpipe
