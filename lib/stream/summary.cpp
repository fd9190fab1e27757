#include "stream/summary.hpp"

#include <algorithm>
#include <sstream>

namespace imgpipe {

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
std::string epochs_word(int64_t n) { return std::to_string(n) + (n == 1 ? " epoch" : " epochs"); }
}  // namespace

std::string StreamSummary::text() const {
    std::ostringstream o;
    o << "format:     " << (format_.empty() ? "?" : format_) << "\n";
    o << "frames:     " << frames_ << "\n";
    o << "samples:    " << samples_ << "\n";
    if (skipped_) o << "skipped:    " << skipped_ << " (recorded upstream: bad files)\n";
    if (dropped_) o << "dropped:    " << dropped_ << " (batchpack --drop-last)\n";
    if (max_batch_) o << "batch size: " << (min_batch_ == max_batch_ ? std::to_string(max_batch_) : std::to_string(min_batch_) + " to " + std::to_string(max_batch_)) << "\n";
    o << "tensors:    " << tensors_ << "\n";
    if (!class_mode_.empty()) o << "class mode: " << class_mode_ << "\n";
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
    if (!class_counts_.empty()) {
        o << "classes:    " << class_counts_.size() << "\n";
        for (size_t i = 0; i < class_counts_.size(); ++i)
            o << "  " << i << "\t" << (i < classes_.size() ? classes_[i] : "?") << "\t" << class_counts_[i] << "\n";
    }
    return o.str();
}

}  // namespace imgpipe
