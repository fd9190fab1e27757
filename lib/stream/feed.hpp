// Batches for training and validation, epoch by epoch: the nn tools' reader,
// torch-free, in the data library so that it is tested without torch.
// Epochs are the stream's own, in a file as in a pipe: an epoch ends where the
// next begins (EpochLedger), or after --steps-per-epoch batches. A regular
// file is indexed once (headers only); training epoch k reads the file's epoch
// k (its epochs in turn, from the first again when training runs longer), with
// an optional fresh frame order per pass. A pipe, FIFO or stdin is consumed in
// order. A stream is read ahead
// (up to 16 MB) by a thread of its own, so the producer never waits on a full
// pipe while a step runs: the pipeline's stages really run in parallel.
// Unbatched samples are regrouped by lib/stream's Batcher, as batchpack's are.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "cli/digest.hpp"
#include "cli/io.hpp"
#include "stream/batch.hpp"
#include "stream/frame.hpp"

namespace imgpipe {

struct FeedOptions {
    int64_t batch_size = 0;  // > 0: regroup samples into batches of this size
    int64_t steps = 0;       // > 0: batches per epoch, else the epoch boundaries
    bool shuffle = false;    // files only: a new frame order for every pass
    bool restart = false;    // files with steps: every epoch starts at the first frame (validation)
    uint64_t seed = 0;
    int64_t epochs = 1;             // for messages
    std::string role = "training";  // for messages
};

class BatchFeed {
public:
    BatchFeed(const std::string& path, const FeedOptions& options);
    ~BatchFeed();

    // A file every rank of a data-parallel run reads: this rank takes frames
    // rank, rank + ranks, ... of each pass (after its shuffle), as PyTorch's
    // DistributedSampler interleaves indices; with `drop_remainder` every rank
    // gets the same count (the last pass % ranks frames wait for a later pass).
    void share(int rank, int ranks, bool drop_remainder);
    // A file's content (every frame's header, which holds its samples' paths, and
    // the first and last frames' bytes) hashed to 20 bits, from 1: ranks compare it
    // to see whether they read the same data (one file, or copies of it) or each
    // its own (shards of equal size differ in their paths); 0 for a pipe.
    uint32_t fingerprint() const;
    // Starts epoch `epoch` (1-based).
    void begin_epoch(int64_t epoch);
    // The next batch of the current epoch; false when the epoch is over.
    // Throws DataError when a stream ends in the middle of --steps-per-epoch.
    bool next(Frame& batch);
    // True once a non-seekable stream has no more data.
    bool ended() const { return ended_; }
    bool seekable() const { return seekable_; }
    // Epochs in a file (its "epoch" metadata); 0 for a pipe.
    int64_t file_epochs() const { return int64_t(epochs_.size()); }
    // The epochs its producer writes in all, from the first frame's "epochs"
    // (imgprep --epochs; 0: no end), or -1 when the stream does not say.
    int64_t declared_epochs() const { return declared_epochs_; }
    // True when a pipe holds a frame after the epoch last read (more epochs follow).
    bool more_after_epoch() const { return !seekable_ && has_pending_; }
    // Batches in this epoch when known (progress bar total), else 0.
    int64_t steps_hint() const;
    int64_t samples_in_first_frame() const { return first_rows_; }
    // True when an unbatched stream is grouped into Keras' default 32.
    bool regrouped() const { return regrouped_; }
    int64_t batch_size() const { return o_.batch_size; }
    std::string name() const { return name_; }
    const std::string& role() const { return o_.role; }  // "training", "validation"
    std::string where() const;  // "file: frame N"

private:
    bool raw_next(Frame& frame);
    bool regrouped_next(Frame& batch);
    bool file_next(Frame& frame);
    bool stream_next(Frame& frame);
    void index_file();
    std::pair<size_t, size_t> file_epoch() const;  // frames [begin, end) of this epoch's pass

    FeedOptions o_;
    std::string name_;
    bool seekable_ = false, ended_ = false, regrouped_ = false;
    int64_t epoch_ = 0, produced_ = 0, delivered_ = 0;
    int rank_ = 0, ranks_ = 1;
    bool drop_remainder_ = false;
    int64_t first_rows_ = 0, declared_epochs_ = -1;
    // regular files
    int fd_ = -1;
    struct Entry { uint64_t offset, size; int64_t rows; };
    std::vector<Entry> index_;
    std::vector<size_t> epochs_;  // the first frame of each of the file's epochs
    std::vector<uint64_t> order_;
    size_t cursor_ = 0;
    bool start_pass_ = true;
    int64_t pass_ = 0;
    int64_t frame_number_ = 0;
    std::vector<uint8_t> buffer_;
    Digest headers_;  // every frame's header, for fingerprint()
    // streams
    std::unique_ptr<Input> in_;
    std::shared_ptr<struct ReadAhead> ahead_;  // a thread that drains the pipe while we train
    std::string stream_where_;
    Frame pending_;
    bool has_pending_ = false, pending_began_ = false, epoch_over_ = false, started_epoch_ = false;
    int64_t epoch_size_ = -1, total_frames_ = 0;
    // regrouping: the Batcher's epochs are this feed's (it finishes each)
    Batcher batcher_{1, false, 0, 0, Batcher::Epochs::Caller};
    std::deque<Frame> ready_;  // batches made and not yet taken
    bool raw_over_ = false;    // the epoch's frames are all read (and the batcher finished)
};

}  // namespace imgpipe
