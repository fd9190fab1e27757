// A human summary of a stream (batchpack --info). Its epochs are the ones the
// EpochLedger finds (batchstream(5), "Epochs"), as every other reader finds
// them, set beside what the producer says it wrote (the "epochs" metadata,
// imgprep --epochs), so that a stream joined or cut with cat and head is
// described as it is, not as the producer made it.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "stream/epoch.hpp"
#include "stream/frame.hpp"

namespace imgpipe {

class StreamSummary {
public:
    // Throws DataError naming `where` as the EpochLedger does.
    void add(const Frame& frame, const std::string& where);
    std::string text() const;

private:
    struct Epoch {
        int64_t number = 0, size = -1;
        std::vector<std::string> shards;  // the "shard" of each joined part, in order
    };
    int64_t frames_ = 0, samples_ = 0, min_batch_ = INT64_MAX, max_batch_ = 0, skipped_ = 0, dropped_ = 0;
    std::vector<std::string> classes_;
    std::vector<int64_t> class_counts_;
    std::string tensors_;  // "x U8 [*,64,64,3]; y I32 [*]" of the first frame
    std::string class_mode_, format_;
    EpochLedger ledger_;
    std::vector<Epoch> epochs_;
    std::set<int64_t> declared_;  // the "epochs" metadata seen (-1: a frame without it)
};

}  // namespace imgpipe
