// Regrouping samples: slicing frames into samples, joining samples into
// batches, and the windowed shuffle for streams too big to permute.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "cli/random.hpp"
#include "stream/frame.hpp"

namespace imgpipe {

// Samples [begin, end) of a frame, with their paths; "index" moves with them.
Frame slice_frame(const Frame& frame, int64_t begin, int64_t end);

// DataError (naming both shapes) unless the frames' tensors agree in names,
// dtypes and per-sample shapes.
void check_same_samples(const Frame& first, const Frame& other);

// Joins frames along the sample axis. Tensors must agree in names, dtypes and
// per-sample shapes (DataError otherwise, naming both shapes). Metadata comes
// from the first frame; paths are concatenated.
Frame concat_frames(const std::vector<Frame>& frames);

// Collects samples and emits frames of `batch` samples. A batch never spans two
// epochs: the partial batch at the end of an epoch is emitted (Keras) or, with
// drop_last, discarded and recorded as "dropped". With a shuffle window > 1,
// samples of one epoch leave in a random order drawn from (seed, epoch, sample
// index). Records of skipped samples travel on to the next batch of their epoch
// (or an empty frame at its end), so the epoch still adds up downstream.
// Epochs are the stream's own (its metadata, by the readers' EpochLedger), or
// with Epochs::Caller the caller's: each ends at finish() (the nn tools' feed,
// whose epochs are a file's passes or --steps-per-epoch batches, its frames in
// any order, already checked whole by their reader).
class Batcher {
public:
    enum class Epochs { Stream, Caller };
    Batcher(int64_t batch, bool drop_last, int64_t shuffle_window, uint64_t seed, Epochs epochs = Epochs::Stream);
    // Adds one frame (any number of samples); finished batches go to `ready`.
    void add(const Frame& frame, std::vector<Frame>& ready);
    // End of input (with Epochs::Caller, of the epoch): flushes what is left.
    void finish(std::vector<Frame>& ready);
    int64_t dropped() const { return dropped_; }

private:
    void flush_epoch(std::vector<Frame>& ready);
    void emit(Frame batch, std::vector<Frame>& ready);
    void emit_full(std::vector<Frame>& ready);
    void take(Frame sample, std::vector<Frame>& ready);
    Frame draw_from_window();
    int64_t batch_, window_;
    bool drop_last_;
    uint64_t seed_;
    Epochs epochs_;
    EpochLedger ledger_;  // where epochs begin: the readers' rule (Epochs::Stream)
    bool started_ = false;   // a frame came: later ones must agree with it
    bool in_epoch_ = false;  // an epoch is open: finish() or the next epoch flushes it
    uint64_t drawn_ = 0;
    int64_t emitted_in_epoch_ = 0;
    std::vector<Frame> window_samples_;
    std::vector<Frame> pending_;
    Frame empty_;  // the epoch's first frame with no rows: shapes to check, records to carry
    std::vector<std::string> skipped_;  // records not yet passed on
    int64_t dropped_here_ = 0;          // dropped (upstream or here) not yet passed on
    int64_t dropped_ = 0;
};

// Walks a stream sample by sample, whatever its batching.
class SampleCursor {
public:
    explicit SampleCursor(FrameReader& reader) : reader_(reader) {}
    // Moves to the next sample; false at the end of the stream.
    bool next();
    const Frame& frame() const { return frame_; }
    int64_t row() const { return row_; }  // the sample's row in frame()
    std::string path() const;             // its source path, or ""
    std::string where() const { return reader_.where(); }

private:
    FrameReader& reader_;
    Frame frame_;
    int64_t row_ = -1;
    std::vector<std::string> paths_;
};

}  // namespace imgpipe
