// The batch stream (batchstream(5)): a concatenation of frames, each one
// safetensors document (u64 little-endian header length, JSON header, raw
// tensor bytes). Tensor "x" holds the inputs [n,h,w,c]; "y" the targets;
// __metadata__ holds format, classes, class_mode, paths, epoch, index, epoch_size.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/io.hpp"
#include "stream/epoch.hpp"

namespace imgpipe {

extern const char* const kStreamFormat;  // "batchstream/1"

enum class DType { U8, I32, F32 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "U8", "I32", "F32"
bool parse_dtype(const std::string& name, DType& out);

struct Tensor {
    std::string name;
    DType dtype = DType::U8;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;

    Tensor() = default;
    Tensor(std::string n, DType t, std::vector<int64_t> s);  // zero-filled
    int64_t elements() const;
    int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
    size_t row_bytes() const;  // bytes of one sample
    template <class T> T* values() { return reinterpret_cast<T*>(data.data()); }
    template <class T> const T* values() const { return reinterpret_cast<const T*>(data.data()); }
};

std::string shape_text(const std::vector<int64_t>& shape);  // "[32,64,64,3]"

struct Frame {
    std::vector<Tensor> tensors;
    std::map<std::string, std::string> metadata;

    Tensor* find(const std::string& name);
    const Tensor* find(const std::string& name) const;
    Tensor& get(const std::string& name);              // throws DataError if absent
    const Tensor& get(const std::string& name) const;
    int64_t samples() const;  // rows of "x" (0 if none)

    // Typed views of the metadata (lists are stored as JSON text).
    std::vector<std::string> classes() const;
    void set_classes(const std::vector<std::string>& names);
    std::vector<std::string> paths() const;
    void set_paths(const std::vector<std::string>& paths);
    int64_t meta_int(const std::string& key, int64_t fallback) const;
    void set_meta_int(const std::string& key, int64_t value);
};

std::string json_list(const std::vector<std::string>& items);
std::vector<std::string> parse_json_list(const std::string& text, const std::string& what);

// Parses a frame's JSON header (tensors without data, metadata) and returns
// the number of data bytes that follow it. check_format: the frame must be a
// batch stream's ("format": "batchstream/1"). The one parser of frame headers.
uint64_t parse_frame_header(const char* text, size_t size, Frame& frame, const std::string& where, bool check_format);

// Where a frame's bytes come from: a pipe (Input), a file at an offset (pread),
// or bytes in memory. read_frame is written once against it, so that every
// reader refuses a damaged frame in the same words.
class FrameSource {
public:
    static constexpr uint64_t kUnknown = ~uint64_t(0);
    virtual ~FrameSource() = default;
    // Reads up to n bytes; fewer only at the end of the source.
    virtual size_t read(void* dst, size_t n) = 0;
    // The bytes left, where the source knows (a file, memory); kUnknown for a pipe.
    virtual uint64_t remaining() const { return kUnknown; }
    // Passes over n bytes the caller does not want (only where remaining() is known).
    virtual void skip(uint64_t n);
};

class InputSource : public FrameSource {
public:
    explicit InputSource(Input& in) : in_(in) {}
    size_t read(void* dst, size_t n) override { return in_.read(dst, n); }

private:
    Input& in_;
};

class MemorySource : public FrameSource {
public:
    MemorySource(const uint8_t* data, size_t size) : p_(data), left_(size) {}
    size_t read(void* dst, size_t n) override;
    uint64_t remaining() const override { return left_; }
    void skip(uint64_t n) override;

private:
    const uint8_t* p_;
    size_t left_;
};

// A regular file read with pread from offset to end; name: for read errors.
class FileSource : public FrameSource {
public:
    FileSource(int fd, uint64_t offset, uint64_t end, std::string name)
        : fd_(fd), offset_(offset), end_(end), name_(std::move(name)) {}
    size_t read(void* dst, size_t n) override;
    uint64_t remaining() const override { return end_ - offset_; }
    void skip(uint64_t n) override { offset_ += n; }
    uint64_t offset() const { return offset_; }

private:
    int fd_;
    uint64_t offset_, end_;
    std::string name_;
};

// The one framing step: reads the 8-byte length, applies the header limit,
// reads the header into `header` (growing as bytes arrive), parses it, and
// reads the data (read_data) or checks that the source holds it (skips it).
// False when the source is empty at the frame's start. Every damaged frame is
// a DataError naming `where`, in one set of words (batchstream(5), ERRORS):
//   truncated frame (N of 8 length bytes)
//   not safetensors (starts with '...')
//   truncated frame (header: N of M bytes)
//   truncated frame (data: N of M bytes)
//   N trailing bytes after the frame        (decode_frame: a whole document)
bool read_frame(FrameSource& src, Frame& frame, std::vector<uint8_t>& header, const std::string& where,
                bool check_format, bool read_data = true);

// Serializes one frame (safetensors bytes).
std::vector<uint8_t> encode_frame(const Frame& frame);
// Parses one whole safetensors document held in memory (a model file, say):
// one frame by read_frame, nothing after it. check, if given, sees the frame
// before trailing bytes are refused (a model file names a batch stream as one).
Frame decode_frame(const uint8_t* data, size_t size, const std::string& where,
                   const std::function<void(const Frame&)>& check = nullptr);

void write_frame(Output& out, const Frame& frame);

class FrameReader {
public:
    // check_format: require "format": "batchstream/1" in the metadata.
    explicit FrameReader(Input& in, bool check_format = true) : in_(in), check_format_(check_format) {}
    // Reads the next frame; false at a clean end of stream. Throws DataError
    // naming the input and the frame number on a truncated or foreign frame,
    // and on an epoch that ended short of its size (EpochLedger).
    bool read(Frame& frame);
    // The frame just read began an epoch (the first frame does).
    bool began_epoch() const { return began_epoch_; }
    const EpochLedger& ledger() const { return ledger_; }
    int64_t frames_read() const { return frames_; }
    std::string where() const;  // "file: frame N" of the last frame read
    void rewind();

private:
    Input& in_;
    bool check_format_;
    int64_t frames_ = 0;
    std::vector<uint8_t> header_;
    EpochLedger ledger_;
    bool began_epoch_ = false;
};

}  // namespace imgpipe
