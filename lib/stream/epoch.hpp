// Where the epochs of a batch stream begin and end, and whether each one is
// whole (batchstream(5), COMPLETENESS). A pipe's exit status is its last
// command's, so a producer that stopped early must be caught from the stream
// alone: an epoch that ends short of its "epoch_size", with no record that the
// missing samples were skipped or dropped on purpose, is bad data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace imgpipe {

struct Frame;

// Metadata keys of the records (batchstream(5)).
extern const char* const kSkippedKey;  // "skipped": JSON list of the paths a producer skipped (bad files)
extern const char* const kDroppedKey;  // "dropped": samples dropped on purpose (batchpack --drop-last)
extern const char* const kShardKey;    // "shard": "K/N", the epoch is shard K of N of a list (imgprep --shard)

class EpochLedger {
public:
    // Accounts for the next frame. Returns true when it begins an epoch (the
    // first frame, a new "epoch" number, or a full epoch followed by more).
    // Shards joined with cat make one epoch: a whole shard K/N followed by
    // another shard of the same N and epoch number, not yet seen in this
    // epoch, continues it (began_part() then says so), and each part must be
    // whole as an epoch must.
    // Throws DataError naming `where` if the epoch before it ended short, or
    // if the frame overfills its epoch.
    bool add(const Frame& frame, const std::string& where);
    // The end of the stream: DataError naming `stream` if the last epoch is
    // short, or if no frame came at all (empty_stream_message()).
    void finish(const std::string& stream) const;

    bool began_part() const { return began_part_; }  // the last frame began another shard of the epoch
    bool full() const;  // the current epoch holds its declared size
    int64_t epochs() const { return epochs_; }   // epochs begun so far
    int64_t number() const { return number_; }   // the current epoch's "epoch" metadata
    int64_t size() const { return size_; }       // its "epoch_size", -1 if unknown
    int64_t samples() const { return seen_; }    // its samples so far
    // Paths recorded as skipped in the last frame added (for the report).
    const std::vector<std::string>& skipped_in_frame() const { return frame_skipped_; }

private:
    void check_whole(const std::string& where) const;
    int64_t epochs_ = 0, number_ = 0, size_ = -1, seen_ = 0, skipped_ = 0, dropped_ = 0;
    int64_t shard_ = 0, shards_ = 0;  // this part's shard K of N (0 of 0: not a shard)
    std::vector<bool> shards_seen_;   // the epoch's shards so far
    bool began_part_ = false;
    std::vector<std::string> frame_skipped_;
};

// The words every reader refuses a stream of no frames with: nothing was
// written, so no epoch can be whole, and the likely cause is a producer that
// failed on its first sample (its own message, above this one, says why).
std::string empty_stream_message();

// The skipped paths recorded in a frame (empty if none).
std::vector<std::string> skipped_paths(const Frame& frame);

}  // namespace imgpipe
