#include "stream/feed.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "cli/error.hpp"
#include "cli/random.hpp"
#include "stream/epoch.hpp"

namespace imgpipe {

using nlohmann::json;

namespace {
void read_exactly(int fd, void* dst, size_t n, uint64_t offset, const std::string& where) {
    char* p = static_cast<char*>(dst);
    while (n) {
        ssize_t got = ::pread(fd, p, n, off_t(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw IoError(where, std::string("read failed: ") + std::strerror(errno));
        if (got == 0) throw DataError(where, "truncated frame");
        p += got;
        n -= size_t(got);
        offset += uint64_t(got);
    }
}

}  // namespace

// Reads frames on its own thread into a bounded queue. The thread shares this
// state (not the feed) and is detached, so a feed can be dropped while the thread
// is blocked in read() on a pipe whose producer is still running.
struct ReadAhead {
    static constexpr size_t kLimit = 16u << 20;
    std::unique_ptr<Input> in;
    std::unique_ptr<FrameReader> reader;
    std::mutex mutex;
    std::condition_variable changed;
    struct Item {
        Frame frame;
        std::string where;  // "stdin: frame N"
        bool began_epoch;   // the reader's EpochLedger: one rule for where epochs begin
    };
    std::deque<Item> frames;
    size_t bytes = 0;
    bool eof = false, stop = false;
    std::exception_ptr error;

    static size_t size_of(const Frame& f) {
        size_t n = 0;
        for (const Tensor& t : f.tensors) n += t.data.size();
        return n;
    }

    void run() {
        for (;;) {
            Frame f;
            bool got = false;
            try {
                got = reader->read(f);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mutex);
                error = std::current_exception();
                changed.notify_all();
                return;
            }
            std::unique_lock<std::mutex> lock(mutex);
            if (!got) {
                eof = true;
                changed.notify_all();
                return;
            }
            size_t n = size_of(f);
            changed.wait(lock, [&] { return stop || bytes == 0 || bytes + n <= kLimit; });
            if (stop) return;
            frames.push_back({std::move(f), reader->where(), reader->began_epoch()});
            bytes += n;
            changed.notify_all();
        }
    }

    // The next frame, where it came from and whether it began an epoch; false
    // at the end of the stream.
    bool pop(Frame& f, std::string& where, bool& began_epoch) {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return !frames.empty() || eof || error; });
        if (frames.empty()) {
            if (error) std::rethrow_exception(error);
            return false;
        }
        f = std::move(frames.front().frame);
        where = std::move(frames.front().where);
        began_epoch = frames.front().began_epoch;
        frames.pop_front();
        bytes -= size_of(f);
        changed.notify_all();
        return true;
    }
};

namespace {
// Closes the indexed file and tells the read-ahead thread to stop.
void release(int& fd, const std::shared_ptr<ReadAhead>& ahead) {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (ahead) {
        {
            std::lock_guard<std::mutex> lock(ahead->mutex);
            ahead->stop = true;
        }
        ahead->changed.notify_all();  // a thread blocked in read() ends at its next frame
    }
}
}  // namespace

BatchFeed::BatchFeed(const std::string& path, const FeedOptions& options) : o_(options) {
    in_ = std::make_unique<Input>(path);
    name_ = in_->name();
    seekable_ = in_->seekable();
    try {
        if (seekable_) {
            // stdin redirected from a file (nntrain < train.bs) is indexed like a named file.
            bool is_stdin = path.empty() || path == "-";
            fd_ = is_stdin ? ::fcntl(0, F_DUPFD_CLOEXEC, 0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd_ < 0) throw NoInputError(name_, std::string("cannot open: ") + std::strerror(errno));
            in_.reset();
            index_file();
        } else {
            ahead_ = std::make_shared<ReadAhead>();
            ahead_->in = std::move(in_);
            ahead_->reader = std::make_unique<FrameReader>(*ahead_->in);
            std::shared_ptr<ReadAhead> state = ahead_;
            std::thread([state] { state->run(); }).detach();  // it owns what it touches
            // Peek at the first frame: its batch size decides the regrouping.
            bool began = false;
            if (ahead_->pop(pending_, stream_where_, began)) {
                has_pending_ = true;
                pending_began_ = began;
                first_rows_ = pending_.samples();
                declared_epochs_ = pending_.meta_int("epochs", -1);
            } else {
                throw DataError(name_, empty_stream_message());  // the reader throws it first
            }
        }
        if (o_.batch_size > 0 && first_rows_ > 1)
            throw UsageError("--batch-size applies to unbatched streams, and " + name_ + " holds batches of " +
                             std::to_string(first_rows_) + " samples (regroup it with batchpack -b N instead)");
        if (o_.batch_size <= 0 && first_rows_ == 1) {
            o_.batch_size = 32;  // Keras' default batch size
            regrouped_ = true;
        }
        if (o_.batch_size > 0) batcher_ = Batcher(o_.batch_size, false, 0, 0, Batcher::Epochs::Caller);
    } catch (...) {
        release(fd_, ahead_);  // a throwing constructor runs no destructor
        throw;
    }
}

BatchFeed::~BatchFeed() { release(fd_, ahead_); }

std::string BatchFeed::where() const {
    if (seekable_) return name_ + ": frame " + std::to_string(frame_number_);
    return stream_where_;
}

// Reads every frame's header (not its data): the frame count, sizes and rows,
// and where the file's epochs begin, by the same parser and ledger as a pipe.
void BatchFeed::index_file() {
    struct stat st {};
    ::fstat(fd_, &st);
    FileSource src(fd_, 0, uint64_t(st.st_size), name_);
    std::vector<uint8_t> header;
    EpochLedger ledger;
    Frame frame;
    for (;;) {
        uint64_t offset = src.offset();
        std::string where = name_ + ": frame " + std::to_string(index_.size() + 1);
        if (!read_frame(src, frame, header, where, true, false)) break;  // headers only: the data is read per batch
        headers_.add(header.data(), header.size());
        if (index_.empty()) declared_epochs_ = frame.meta_int("epochs", -1);
        if (ledger.add(frame, where)) epochs_.push_back(index_.size());
        note_skipped_upstream(ledger.skipped_in_frame());
        index_.push_back({offset, src.offset() - offset, frame.samples()});
    }
    ledger.finish(name_);
    int64_t rows = 0;
    for (const Entry& e : index_) rows += e.rows;
    if (rows == 0) throw DataError(name_, "the " + o_.role + " stream holds no samples");
    first_rows_ = index_[0].rows;
}

void BatchFeed::begin_epoch(int64_t epoch) {
    epoch_ = epoch;
    produced_ = 0;
    epoch_over_ = false;
    started_epoch_ = false;
    raw_over_ = false;
    // A file's epoch starts afresh; with --steps-per-epoch, samples left over
    // from the last epoch's frames open the next one (as a pipe's always do).
    if (seekable_ && (o_.steps == 0 || o_.restart)) {
        start_pass_ = true;
        batcher_ = Batcher(o_.batch_size, false, 0, 0, Batcher::Epochs::Caller);
        ready_.clear();
    }
}

void BatchFeed::share(int rank, int ranks, bool drop_remainder) {
    rank_ = rank;
    ranks_ = ranks;
    drop_remainder_ = drop_remainder;
}

uint32_t BatchFeed::fingerprint() const {
    if (!seekable_) return 0;
    // The headers (hashed while indexing), then the first and last frames' data,
    // read only here (a run of one process never asks): frames without paths (a
    // stream written by a script) can have equal headers and different pixels.
    Digest d = headers_;
    std::vector<uint8_t> bytes;
    for (size_t i : {size_t(0), index_.size() - 1}) {
        bytes.resize(index_[i].size);
        read_exactly(fd_, bytes.data(), bytes.size(), index_[i].offset, name_);
        d.add(bytes.data(), bytes.size());
    }
    return d.value();
}

std::pair<size_t, size_t> BatchFeed::file_epoch() const {
    size_t e = size_t(epoch_ - 1) % epochs_.size();
    return {epochs_[e], e + 1 < epochs_.size() ? epochs_[e + 1] : index_.size()};
}

bool BatchFeed::file_next(Frame& frame) {
    // Without --steps-per-epoch an epoch is one of the file's epochs (the
    // file's epochs in turn); with it, passes run on over the whole file
    // across epochs and wrap around.
    bool new_pass = start_pass_ || (o_.steps > 0 && cursor_ >= order_.size());
    if (o_.steps == 0 && !start_pass_ && cursor_ >= order_.size()) return false;
    if (new_pass) {
        ++pass_;
        auto [begin, end] = o_.steps > 0 ? std::pair<size_t, size_t>{0, index_.size()} : file_epoch();
        order_.resize(end - begin);
        // Drawn from the epoch (not a count of passes), so a resumed run reads
        // the interrupted epoch in the order the uninterrupted run did.
        if (o_.shuffle) order_ = permutation(end - begin, o_.seed, uint64_t(o_.steps > 0 ? pass_ : epoch_));
        else for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
        for (uint64_t& i : order_) i += begin;
        if (ranks_ > 1) {  // this rank's share of the pass, interleaved
            size_t n = drop_remainder_ ? order_.size() / size_t(ranks_) * size_t(ranks_) : order_.size();
            std::vector<uint64_t> mine;
            for (size_t i = size_t(rank_); i < n; i += size_t(ranks_)) mine.push_back(order_[i]);
            order_.swap(mine);
        }
        cursor_ = 0;
        start_pass_ = false;
        // A share with no samples (fewer frames than ranks, or a rank's frames
        // all records of skipped or dropped samples) gives nothing: read, its
        // frames would be passed over, and under --steps-per-epoch pass after
        // pass would follow for ever.
        bool samples = false;
        for (uint64_t i : order_) samples |= index_[i].rows > 0;
        if (!samples) {
            cursor_ = order_.size();
            return false;
        }
    }
    const Entry& e = index_[order_[cursor_]];
    frame_number_ = int64_t(order_[cursor_]) + 1;
    ++cursor_;
    buffer_.resize(e.size);
    read_exactly(fd_, buffer_.data(), e.size, e.offset, where());
    frame = decode_frame(buffer_.data(), buffer_.size(), where());
    return true;
}

bool BatchFeed::stream_next(Frame& frame) {
    if (o_.steps == 0 && epoch_over_) return false;
    bool began = false;
    if (has_pending_) {
        frame = std::move(pending_);
        has_pending_ = false;
        began = pending_began_;
    } else if (!ahead_->pop(frame, stream_where_, began)) {
        ended_ = true;
        return false;
    }
    ++total_frames_;
    if (o_.steps > 0) return true;
    // An epoch ends where the next one begins (EpochLedger's rule).
    if (began && started_epoch_) {
        pending_ = std::move(frame);
        pending_began_ = true;
        has_pending_ = true;
        --total_frames_;
        epoch_over_ = true;
        return false;
    }
    started_epoch_ = true;
    int64_t size = frame.meta_int("epoch_size", -1);
    if (size > 0) epoch_size_ = size;
    return true;
}

bool BatchFeed::raw_next(Frame& frame) {
    for (;;) {  // frames without samples carry nothing to train on
        if (!(seekable_ ? file_next(frame) : stream_next(frame))) return false;
        if (frame.samples() > 0) return true;
    }
}

// Batches of --batch-size from the epoch's frames; the epoch's last is partial.
bool BatchFeed::regrouped_next(Frame& batch) {
    std::vector<Frame> made;
    while (ready_.empty() && !raw_over_) {
        Frame f;
        const bool more = raw_next(f);
        try {
            if (more) batcher_.add(f, made);
            else batcher_.finish(made);
        } catch (const DataError& e) {  // a sample that does not fit the others: name its frame
            throw DataError(where(), e.what());
        }
        raw_over_ = !more;
        for (Frame& b : made)
            if (b.samples() > 0) ready_.push_back(std::move(b));  // a frame of records alone trains nothing
        made.clear();
    }
    if (ready_.empty()) return false;
    batch = std::move(ready_.front());
    ready_.pop_front();
    return true;
}

bool BatchFeed::next(Frame& batch) {
    if (o_.steps > 0 && produced_ >= o_.steps) return false;
    if (o_.batch_size <= 0 ? raw_next(batch) : regrouped_next(batch)) {
        ++produced_;
        ++delivered_;
        return true;
    }
    if (o_.steps > 0 && !seekable_)
        throw DataError(name_, "the " + o_.role + " stream ran out of data: epoch " + std::to_string(epoch_) + " got " +
                                   std::to_string(produced_) + " of " + std::to_string(o_.steps) + " steps; " +
                                   std::to_string(o_.steps) + " steps x " + std::to_string(o_.epochs) + " epochs need " +
                                   std::to_string(o_.steps * o_.epochs) + " batches, the stream held " +
                                   std::to_string(delivered_) + " (imgprep --epochs 0 repeats the data without end)");
    return false;
}

int64_t BatchFeed::steps_hint() const {
    if (o_.steps > 0) return o_.steps;
    if (seekable_) {
        int64_t frames = 0, samples = 0;
        auto count = [&](size_t i) { ++frames, samples += index_[i].rows; };
        if (ranks_ > 1) {
            for (uint64_t i : order_) count(i);  // this rank's frames of the pass (it has begun)
        } else {
            auto [begin, end] = file_epoch();
            for (size_t i = begin; i < end; ++i) count(i);
        }
        return o_.batch_size <= 0 ? frames : (samples + o_.batch_size - 1) / o_.batch_size;
    }
    int64_t per = o_.batch_size > 0 ? o_.batch_size : first_rows_;
    if (epoch_size_ > 0 && per > 0) return (epoch_size_ + per - 1) / per;
    return 0;
}

}  // namespace imgpipe
