#include "stream/epoch.hpp"

#include "cli/error.hpp"
#include "stream/frame.hpp"

namespace imgpipe {

const char* const kSkippedKey = "skipped";
const char* const kDroppedKey = "dropped";

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
    bool begins = epochs_ == 0 || number != number_ || full();
    if (begins) {
        check_whole(where);
        ++epochs_;
        number_ = number;
        size_ = frame.meta_int("epoch_size", -1);
        seen_ = skipped_ = dropped_ = 0;
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

void EpochLedger::finish(const std::string& stream) const { check_whole(stream); }

}  // namespace imgpipe
