// Frames out of samples, as a producer writes them (imgprep): at most `batch`
// samples a frame, a frame never spans two epochs, "index" counts the epoch's
// samples before it, and each file the producer skipped is recorded in the
// epoch's next frame (or a frame of no samples at its end), so that every
// reader can check that the epoch adds up (batchstream(5), COMPLETENESS).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "stream/frame.hpp"

namespace imgpipe {

class EpochWriter {
public:
    // The x tensor of k samples from their U8 pixels, concatenated in order.
    using MakeX = std::function<Tensor(const std::vector<uint8_t>& pixels, int64_t k)>;
    // `metadata`: what every frame carries (format, class_mode, classes, epoch_size).
    // labelled: frames get y, the samples' class indices.
    EpochWriter(Output& out, std::map<std::string, std::string> metadata, int64_t batch, bool labelled, MakeX make_x);

    int64_t epoch() const { return epoch_; }        // -1 before the first
    int64_t in_epoch() const { return in_epoch_; }  // samples added to the current epoch
    int64_t written() const { return written_; }    // samples added in all

    // Ends the current epoch (writing what it holds) and starts `epoch`.
    void begin_epoch(int64_t epoch);
    void add(const std::string& path, int32_t label, const uint8_t* pixels, size_t bytes);
    // A file of the current epoch that the producer skipped on purpose.
    void skip(const std::string& path);
    // Writes what is held: the good samples before a bad file are never lost.
    void flush();

private:
    Output& out_;
    Frame frame_;
    int64_t batch_;
    bool labelled_;
    MakeX make_x_;
    int64_t epoch_ = -1, in_epoch_ = 0, index_ = 0, written_ = 0;
    std::vector<std::string> paths_, skipped_;
    std::vector<int32_t> labels_;
    std::vector<uint8_t> pixels_;
};

}  // namespace imgpipe
