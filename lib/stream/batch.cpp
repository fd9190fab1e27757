#include "stream/batch.hpp"

#include <cstring>

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

namespace {
std::string tensor_names(const Frame& f) {  // "x, y, w"
    std::string names;
    for (const Tensor& t : f.tensors) names += (names.empty() ? "" : ", ") + t.name;
    return names;
}
}  // namespace

void check_same_samples(const Frame& first, const Frame& f) {
    // Tensors are matched by name: producers may write them in any order.
    bool same_names = f.tensors.size() == first.tensors.size();
    for (const Tensor& t : f.tensors) same_names = same_names && first.find(t.name);
    for (const Tensor& t : first.tensors) same_names = same_names && f.find(t.name);
    if (!same_names)
        throw DataError("", "frames disagree on their tensors (" + tensor_names(first) + " then " + tensor_names(f) + ")");
    for (const Tensor& o : first.tensors) {
        const Tensor& t = *f.find(o.name);
        bool same = t.dtype == o.dtype && t.shape.size() == o.shape.size() &&
                    std::equal(t.shape.begin() + (t.shape.empty() ? 0 : 1), t.shape.end(), o.shape.begin() + (o.shape.empty() ? 0 : 1));
        auto per_sample = [](std::vector<int64_t> shape) {  // "[*,64,64,3]"
            std::string text = shape_text(shape);
            if (!shape.empty()) text = "[*" + text.substr(text.find_first_of(",]"));
            return text;
        };
        if (!same)
            throw DataError("", "sample shape changed mid-stream: " + o.name + " " + dtype_name(o.dtype) + " " +
                                    per_sample(o.shape) + " then " + t.name + " " + dtype_name(t.dtype) + " " +
                                    per_sample(t.shape));
    }
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
        check_same_samples(first, f);
        for (Tensor& o : out.tensors) {
            const Tensor& t = *f.find(o.name);
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

Batcher::Batcher(int64_t batch, bool drop_last, int64_t shuffle_window, uint64_t seed, Epochs epochs)
    : batch_(batch), window_(shuffle_window), drop_last_(drop_last), seed_(seed), epochs_(epochs) {}

void Batcher::emit(Frame batch, std::vector<Frame>& ready) {
    if (!skipped_.empty()) batch.metadata[kSkippedKey] = json_list(skipped_);
    if (dropped_here_) batch.set_meta_int(kDroppedKey, dropped_here_);
    skipped_.clear();
    dropped_here_ = 0;
    batch.set_meta_int("index", emitted_in_epoch_);
    emitted_in_epoch_ += batch.samples();
    ready.push_back(std::move(batch));
}

void Batcher::emit_full(std::vector<Frame>& ready) {
    if (int64_t(pending_.size()) >= batch_) {
        emit(concat_frames(pending_), ready);
        pending_.clear();
    }
}

void Batcher::take(Frame sample, std::vector<Frame>& ready) {
    pending_.push_back(std::move(sample));
    emit_full(ready);
}

Frame Batcher::draw_from_window() {
    Random rng(seed_, uint64_t(ledger_.number()), drawn_++, Purpose::ShuffleBuffer);
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
        if (drop_last_) {
            dropped_ += int64_t(pending_.size());
            dropped_here_ += int64_t(pending_.size());
        } else {
            emit(concat_frames(pending_), ready);
        }
        pending_.clear();
    }
    // Records with no batch left to ride on: a frame of no samples carries them.
    if (!skipped_.empty() || dropped_here_) emit(empty_, ready);
}

void Batcher::add(const Frame& frame, std::vector<Frame>& ready) {
    const bool stream = epochs_ == Epochs::Stream;
    const bool begins = stream ? ledger_.add(frame, "") : !in_epoch_;
    if (started_) check_same_samples(empty_, frame);  // across batches and epochs too
    // Another shard of a joined epoch is batched on its own, so that every
    // batch is of one shard and the output joins as the input did.
    if (begins || (stream && ledger_.began_part())) {
        if (in_epoch_) flush_epoch(ready);
        started_ = in_epoch_ = true;
        if (begins) drawn_ = 0, emitted_in_epoch_ = 0;
        // The epoch's shapes and metadata with no rows: what records ride on when no batch is left.
        empty_ = slice_frame(frame, 0, 0);
        empty_.metadata.erase(kSkippedKey);
        empty_.metadata.erase(kDroppedKey);
    }
    const std::vector<std::string> skipped = stream ? ledger_.skipped_in_frame() : skipped_paths(frame);
    skipped_.insert(skipped_.end(), skipped.begin(), skipped.end());
    dropped_here_ += frame.meta_int(kDroppedKey, 0);
    int64_t n = frame.samples();
    for (int64_t i = 0; i < n; ++i) {
        // Sliced even when whole: slice_frame checks that "paths" names every sample.
        Frame s = slice_frame(frame, i, i + 1);
        s.metadata.erase(kSkippedKey);  // the records travel apart from the samples
        s.metadata.erase(kDroppedKey);
        if (window_ <= 1) {
            take(std::move(s), ready);
            continue;
        }
        window_samples_.push_back(std::move(s));
        // Window full: one random sample leaves for every one that arrives.
        if (int64_t(window_samples_.size()) >= window_) take(draw_from_window(), ready);
    }
}

void Batcher::finish(std::vector<Frame>& ready) {
    if (in_epoch_) flush_epoch(ready);
    in_epoch_ = false;
}

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

}  // namespace imgpipe
