// Byte input and output with the project's failure rules: every error names
// the file; output to a named file is atomic (temporary file, then rename on
// commit), so a crash or a full disk never leaves a half-written file behind.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imgpipe {

// Reads a file, or stdin for "" and "-". Buffered; works on pipes and FIFOs.
class Input {
public:
    explicit Input(const std::string& path);
    ~Input();
    Input(const Input&) = delete;
    Input& operator=(const Input&) = delete;

    // Reads up to n bytes; returns how many (less than n only at end of input).
    size_t read(void* dst, size_t n);
    // Reads one byte-delimited record without the delimiter; false at end.
    bool read_record(std::string& out, char delimiter);
    // True when the input is a regular file that can be read again from the start.
    bool seekable() const { return seekable_; }
    void rewind();
    const std::string& name() const { return name_; }  // "stdin" or the path

private:
    bool fill();
    int fd_ = -1;
    bool owned_ = false;
    bool seekable_ = false;
    std::string name_;
    std::vector<char> buf_;
    size_t pos_ = 0, end_ = 0;
    bool eof_ = false;
};

// Writes to stdout for "" and "-", else atomically to the named file.
class Output {
public:
    // binary: refuse to write to a terminal.
    Output(const std::string& path, bool binary);
    ~Output();  // without commit(), removes the temporary file
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    void write(const void* data, size_t n);
    void write(const std::string& s) { write(s.data(), s.size()); }
    void flush();
    // Flushes, fsyncs and renames the temporary file into place.
    void commit();
    const std::string& name() const { return name_; }

private:
    void write_raw(const char* p, size_t n);
    int fd_ = -1;
    std::string name_, path_, tmp_;
    std::vector<char> buf_;
    size_t used_ = 0;
    bool committed_ = false;
};

// Reads a whole (small) file into memory, naming it in errors.
std::vector<uint8_t> read_file(const std::string& path);
// Writes a whole file atomically.
void write_file_atomic(const std::string& path, const void* data, size_t n);
// mkdir -p: dir and every folder above it; CantCreateError naming the one that failed.
void make_directories(const std::string& dir);

}  // namespace imgpipe
