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
    std::vector<int64_t> class_counts_;  // sparse: images of each class; multi_label: images showing it; mask: pixels
    std::vector<int64_t> mask_values_;   // mask: pixels of each value 0..255
    int64_t ignore_index_ = -1;          // mask: the "ignore_index" metadata
    // What y is (batchstream(5), the y forms), from class_mode and y's dtype and shape.
    enum class Target { none, classes, multi_hot, numbers, image, mask, other } target_ = Target::none;
    int64_t columns_ = 0, shown_ = 0;  // y's columns; multi_label: classes shown in all
    std::vector<std::string> target_names_;  // raw: the "targets" metadata
    std::vector<double> sums_, mins_, maxes_;  // raw: per column
    bool weighted_ = false;
    double weight_sum_ = 0, weight_min_ = 0, weight_max_ = 0;
    int64_t weights_ = 0;
    std::string tensors_;  // "x U8 [*,64,64,3]; y I32 [*]" of the first frame
    std::string class_mode_, format_;
    EpochLedger ledger_;
    std::vector<Epoch> epochs_;
    std::set<int64_t> declared_;  // the "epochs" metadata seen (-1: a frame without it)
};

}  // namespace imgpipe
