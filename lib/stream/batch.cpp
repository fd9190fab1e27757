#include "stream/batch.hpp"

#include <cstring>
#include <sstream>

#include "cli/error.hpp"

namespace imgpipe {

Frame slice_frame(const Frame& frame, int64_t begin, int64_t end) {
    Frame out;
    out.metadata = frame.metadata;
    for (const Tensor& t : frame.tensors) {
        Tensor s;
        s.name = t.name;
        s.dtype = t.dtype;
        s.shape = t.shape;
        s.shape[0] = end - begin;
        size_t row = t.row_bytes();
        s.data.assign(t.data.begin() + ptrdiff_t(size_t(begin) * row), t.data.begin() + ptrdiff_t(size_t(end) * row));
        out.tensors.push_back(std::move(s));
    }
    std::vector<std::string> paths = frame.paths();
    if (!paths.empty()) {
        if (int64_t(paths.size()) != frame.samples())
            throw DataError("", "metadata \"paths\" has " + std::to_string(paths.size()) + " entries for " +
                                    std::to_string(frame.samples()) + " samples");
        out.set_paths(std::vector<std::string>(paths.begin() + begin, paths.begin() + end));
    }
    if (frame.metadata.count("index")) out.set_meta_int("index", frame.meta_int("index", 0) + begin);
    return out;
}

Frame concat_frames(const std::vector<Frame>& frames) {
    if (frames.empty()) return Frame{};
    if (frames.size() == 1) return frames[0];
    const Frame& first = frames[0];
    Frame out;
    out.metadata = first.metadata;
    std::vector<std::string> paths;
    bool have_paths = first.metadata.count("paths") > 0;
    for (const Tensor& t : first.tensors) {
        Tensor joined;
        joined.name = t.name;
        joined.dtype = t.dtype;
        joined.shape = t.shape;
        joined.shape[0] = 0;
        out.tensors.push_back(std::move(joined));
    }
    for (const Frame& f : frames) {
        if (f.tensors.size() != first.tensors.size())
            throw DataError("", "frames disagree on their tensors (" + std::to_string(first.tensors.size()) + " vs " +
                                    std::to_string(f.tensors.size()) + ")");
        for (size_t i = 0; i < f.tensors.size(); ++i) {
            const Tensor& t = f.tensors[i];
            Tensor& o = out.tensors[i];
            bool same = t.name == o.name && t.dtype == o.dtype && t.shape.size() == o.shape.size() &&
                        std::equal(t.shape.begin() + 1, t.shape.end(), o.shape.begin() + 1);
            if (!same) {
                std::vector<int64_t> a = first.tensors[i].shape, b = t.shape;
                a[0] = b[0] = -1;
                throw DataError("", "sample shape changed mid-stream: " + o.name + " " + dtype_name(o.dtype) + " " +
                                        shape_text(first.tensors[i].shape) + " then " + t.name + " " + dtype_name(t.dtype) +
                                        " " + shape_text(t.shape));
            }
            o.shape[0] += t.shape[0];
            o.data.insert(o.data.end(), t.data.begin(), t.data.end());
        }
        if (have_paths) {
            std::vector<std::string> p = f.paths();
            paths.insert(paths.end(), p.begin(), p.end());
        }
    }
    if (have_paths) out.set_paths(paths);
    return out;
}

Batcher::Batcher(int64_t batch, bool drop_last, int64_t shuffle_window, uint64_t seed)
    : batch_(batch), window_(shuffle_window), drop_last_(drop_last), seed_(seed) {}

void Batcher::emit_full(std::vector<Frame>& ready) {
    if (int64_t(pending_.size()) >= batch_) {
        ready.push_back(concat_frames(pending_));
        pending_.clear();
    }
}

void Batcher::take(Frame sample, std::vector<Frame>& ready) {
    pending_.push_back(std::move(sample));
    emit_full(ready);
}

Frame Batcher::draw_from_window() {
    Random rng(seed_, uint64_t(epoch_), drawn_++, Purpose::ShuffleBuffer);
    size_t pick = rng.below(window_samples_.size());
    std::swap(window_samples_[pick], window_samples_.back());
    Frame s = std::move(window_samples_.back());
    window_samples_.pop_back();
    return s;
}

void Batcher::flush_epoch(std::vector<Frame>& ready) {
    // Drain the shuffle window in random order, then the partial batch.
    while (!window_samples_.empty()) take(draw_from_window(), ready);
    if (!pending_.empty()) {
        if (drop_last_) dropped_ += int64_t(pending_.size());
        else ready.push_back(concat_frames(pending_));
        pending_.clear();
    }
}

void Batcher::add(const Frame& frame, std::vector<Frame>& ready) {
    int64_t epoch = frame.meta_int("epoch", 0);
    if (epoch != epoch_) {
        if (epoch_ != INT64_MIN) flush_epoch(ready);
        epoch_ = epoch;
        drawn_ = 0;
    }
    int64_t n = frame.samples();
    for (int64_t i = 0; i < n; ++i) {
        Frame s = n == 1 ? frame : slice_frame(frame, i, i + 1);
        if (window_ <= 1) {
            take(std::move(s), ready);
            continue;
        }
        window_samples_.push_back(std::move(s));
        // Window full: one random sample leaves for every one that arrives.
        if (int64_t(window_samples_.size()) >= window_) take(draw_from_window(), ready);
    }
}

void Batcher::finish(std::vector<Frame>& ready) { flush_epoch(ready); }

bool SampleCursor::next() {
    while (row_ + 1 >= frame_.samples()) {
        if (!reader_.read(frame_)) return false;
        row_ = -1;
        paths_ = frame_.paths();
    }
    ++row_;
    return true;
}

std::string SampleCursor::path() const { return size_t(row_) < paths_.size() ? paths_[size_t(row_)] : std::string(); }

void StreamSummary::add(const Frame& frame) {
    int64_t n = frame.samples();
    if (frames_ == 0) {
        std::ostringstream t;
        for (const Tensor& tensor : frame.tensors) {
            std::vector<int64_t> shape = tensor.shape;
            t << (t.tellp() > 0 ? "; " : "") << tensor.name << " " << dtype_name(tensor.dtype) << " [*";
            for (size_t i = 1; i < shape.size(); ++i) t << "," << shape[i];
            t << "]";
        }
        tensors_ = t.str();
        classes_ = frame.classes();
        class_counts_.assign(classes_.size(), 0);
        auto get = [&](const char* k) { auto it = frame.metadata.find(k); return it == frame.metadata.end() ? std::string() : it->second; };
        class_mode_ = get("class_mode");
        format_ = get("format");
        epoch_size_ = frame.meta_int("epoch_size", -1);
        first_epoch_ = frame.meta_int("epoch", -1);
    }
    last_epoch_ = frame.meta_int("epoch", -1);
    ++frames_;
    samples_ += n;
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

std::string StreamSummary::text() const {
    std::ostringstream o;
    o << "format:     " << (format_.empty() ? "?" : format_) << "\n";
    o << "frames:     " << frames_ << "\n";
    o << "samples:    " << samples_ << "\n";
    if (frames_) o << "batch size: " << (min_batch_ == max_batch_ ? std::to_string(max_batch_) : std::to_string(min_batch_) + " to " + std::to_string(max_batch_)) << "\n";
    o << "tensors:    " << tensors_ << "\n";
    if (!class_mode_.empty()) o << "class mode: " << class_mode_ << "\n";
    if (epoch_size_ >= 0) o << "epoch size: " << epoch_size_ << "\n";
    if (first_epoch_ >= 0) o << "epochs:     " << first_epoch_ << " to " << last_epoch_ << "\n";
    if (!class_counts_.empty()) {
        o << "classes:    " << class_counts_.size() << "\n";
        for (size_t i = 0; i < class_counts_.size(); ++i)
            o << "  " << i << "\t" << (i < classes_.size() ? classes_[i] : "?") << "\t" << class_counts_[i] << "\n";
    }
    return o.str();
}

}  // namespace imgpipe
