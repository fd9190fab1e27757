#include "stream/epoch.hpp"

#include "cli/error.hpp"
#include "stream/frame.hpp"

namespace imgpipe {

const char* const kSkippedKey = "skipped";
const char* const kDroppedKey = "dropped";
const char* const kShardKey = "shard";

namespace {

// "K/N" from 1/1 to 2^24/2^24 (more shards than any run has); {0, 0} without the key.
std::pair<int64_t, int64_t> shard_of(const Frame& frame, const std::string& where) {
    auto it = frame.metadata.find(kShardKey);
    if (it == frame.metadata.end()) return {0, 0};
    const std::string& t = it->second;
    int64_t k = 0, n = 0, *part = &k;
    bool digits = false;
    for (char c : t) {
        if (c == '/' && part == &k && digits) part = &n, digits = false;
        else if (c >= '0' && c <= '9' && *part < (1 << 24)) *part = *part * 10 + (c - '0'), digits = true;
        else part = nullptr;
        if (!part) break;
    }
    if (!part || part != &n || !digits || k < 1 || n < 1 || k > n || n > (1 << 24))
        throw DataError(where, "metadata \"shard\" is \"" + t.substr(0, 40) + "\", not K/N with 1 <= K <= N");
    return {k, n};
}

}  // namespace

std::vector<std::string> skipped_paths(const Frame& frame) {
    auto it = frame.metadata.find(kSkippedKey);
    return it == frame.metadata.end() ? std::vector<std::string>{} : parse_json_list(it->second, kSkippedKey);
}

bool EpochLedger::full() const { return size_ >= 0 && seen_ + skipped_ + dropped_ >= size_; }

void EpochLedger::check_whole(const std::string& where) const {
    if (epochs_ == 0 || size_ < 0 || full()) return;
    std::string skipped = skipped_ ? " (and " + std::to_string(skipped_) + " skipped upstream)" : "";
    throw DataError(where, "epoch " + std::to_string(number_ + 1) + " ended after " + std::to_string(seen_) + " of " +
                               std::to_string(size_) + " samples" + skipped +
                               ": the producer stopped early (an earlier stage failed: see its message)");
}

bool EpochLedger::add(const Frame& frame, const std::string& where) {
    int64_t number = frame.meta_int("epoch", epochs_ ? number_ : 0);
    auto [shard, shards] = shard_of(frame, where);
    bool same_epoch = epochs_ > 0 && number == number_;
    began_part_ = same_epoch && full() && shards && shards == shards_ && !shards_seen_[size_t(shard - 1)];
    bool begins = !same_epoch || (full() && !began_part_);
    // What ends here, an epoch or a shard's part of one (when another shard's frames come), is whole.
    if (begins || (same_epoch && shards && shard != shard_)) check_whole(where);
    if (begins || began_part_) {
        int64_t size = frame.meta_int("epoch_size", -1);
        if (began_part_) {
            size_ = size < 0 ? -1 : size_ + size;  // the joined epoch holds every part's samples
        } else {
            ++epochs_;
            number_ = number;
            size_ = size;
            seen_ = skipped_ = dropped_ = 0;
            shards_seen_.assign(size_t(shards), false);
        }
        shard_ = shard, shards_ = shards;
        if (shards) shards_seen_[size_t(shard - 1)] = true;
    }
    frame_skipped_ = skipped_paths(frame);
    int64_t dropped = frame.meta_int(kDroppedKey, 0);
    if (dropped < 0) throw DataError(where, "metadata \"dropped\" is negative");
    seen_ += frame.samples();
    skipped_ += int64_t(frame_skipped_.size());
    dropped_ += dropped;
    if (size_ >= 0 && seen_ + skipped_ + dropped_ > size_)
        throw DataError(where, "epoch " + std::to_string(number_ + 1) + " holds more than its epoch_size of " +
                                   std::to_string(size_) + " samples");
    return begins;
}

std::string empty_stream_message() {
    return "no frames: the stream is empty (did its producer stop before its first frame? its own message says why)";
}

void EpochLedger::finish(const std::string& stream) const {
    if (epochs_ == 0) throw DataError(stream, empty_stream_message());
    check_whole(stream);
}

}  // namespace imgpipe
