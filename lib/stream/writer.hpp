// Frames out of samples, as a producer writes them (imgprep): at most `batch`
// samples a frame, a frame never spans two epochs, "index" counts the epoch's
// samples before it, and each file the producer skipped is recorded in the
// epoch's next frame (or a frame of no samples at its end), so that every
// reader can check that the epoch adds up (batchstream(5), COMPLETENESS).
// Whatever the target, a skipped file's row is simply in no frame.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "stream/frame.hpp"

namespace imgpipe {

// What y (and w) every frame carries (batchstream(5), the y forms).
struct TargetLayout {
    enum class Y {
        none,       // no y (class_mode "none")
        classes,    // I32 [n]: a class index each ("sparse")
        multi_hot,  // F32 [n, columns]: 1 for each class the image shows ("multi_label")
        numbers,    // F32 [n, columns]: the numbers ("raw")
        image,      // y = x, the image itself ("input")
        mask,       // U8 [n, height, width, 1]: a class index per pixel ("mask")
    };
    Y y = Y::none;
    int64_t columns = 0;    // multi_hot: the classes; numbers: the numbers per sample
    int64_t height = 0, width = 0;  // mask: its size
    bool weighted = false;  // every frame has w, F32 [n]
};

// One sample's target, as the layout reads it.
struct SampleTarget {
    int32_t label = -1;            // classes
    std::vector<int32_t> classes;  // multi_hot: the indices shown (each < columns)
    std::vector<double> numbers;   // numbers: `columns` of them, cast to F32 (as Keras' model casts float64)
    double weight = 1;             // weighted
    const uint8_t* mask = nullptr; // mask: height x width class indices
};

// A list's number as F32, as Keras' model casts float64 targets; DataError
// naming `where` for a number no F32 holds.
float to_f32(double value, const std::string& where);

class EpochWriter {
public:
    // The x tensor of k samples from their U8 pixels, concatenated in order.
    using MakeX = std::function<Tensor(const std::vector<uint8_t>& pixels, int64_t k)>;
    // `metadata`: what every frame carries (format, class_mode, classes, epoch_size).
    EpochWriter(Output& out, std::map<std::string, std::string> metadata, int64_t batch, TargetLayout layout, MakeX make_x);

    int64_t epoch() const { return epoch_; }        // -1 before the first
    int64_t in_epoch() const { return in_epoch_; }  // samples added to the current epoch
    int64_t written() const { return written_; }    // samples added in all

    // Ends the current epoch (writing what it holds) and starts `epoch`.
    void begin_epoch(int64_t epoch);
    void add(const std::string& path, const SampleTarget& target, const uint8_t* pixels, size_t bytes);
    // A file of the current epoch that the producer skipped on purpose.
    void skip(const std::string& path);
    // Writes what is held: the good samples before a bad file are never lost.
    void flush();

private:
    Output& out_;
    Frame frame_;
    int64_t batch_;
    TargetLayout layout_;
    MakeX make_x_;
    int64_t epoch_ = -1, in_epoch_ = 0, index_ = 0, written_ = 0;
    std::vector<std::string> paths_, skipped_;
    std::vector<int32_t> labels_;
    std::vector<float> values_, weights_;  // y rows (multi_hot, numbers); w
    std::vector<uint8_t> pixels_, masks_;
};

}  // namespace imgpipe
