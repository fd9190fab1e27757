// Errors a user can act on: each carries the exit status <sysexits.h> gives it
// and the file (or "list:17", "stdin: frame 3") it is about.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace imgpipe {

enum Exit : int {
    kOk = 0,
    kBelowBar = 1,       // a check the user asked for failed (nneval --min-accuracy)
    kUsage = 64,         // EX_USAGE
    kDataErr = 65,       // EX_DATAERR: bad image, bad stream, bad model
    kNoInput = 66,       // EX_NOINPUT: cannot open input
    kUnavailable = 69,   // EX_UNAVAILABLE: another rank of a distributed run failed, or never came
    kSoftware = 70,      // EX_SOFTWARE: internal error
    kCantCreate = 73,    // EX_CANTCREAT: cannot create output
    kIoErr = 74,         // EX_IOERR: read or write failed (disk full)
    kBrokenPipe = 141,   // the reader went away (| head): quiet, as if killed by SIGPIPE
    kInterrupted = 130,  // SIGINT
    kTerminated = 143,   // SIGTERM
};

class Error : public std::runtime_error {
public:
    Error(int status, std::string where, const std::string& message)
        : std::runtime_error(message), status_(status), where_(std::move(where)) {}
    int status() const { return status_; }
    const std::string& where() const { return where_; }  // may be empty
private:
    int status_;
    std::string where_;
};

struct UsageError : Error {
    explicit UsageError(const std::string& m, std::string where = "") : Error(kUsage, std::move(where), m) {}
};
struct DataError : Error {
    DataError(std::string where, const std::string& m) : Error(kDataErr, std::move(where), m) {}
};
struct NoInputError : Error {
    NoInputError(std::string where, const std::string& m) : Error(kNoInput, std::move(where), m) {}
};
struct CantCreateError : Error {
    CantCreateError(std::string where, const std::string& m) : Error(kCantCreate, std::move(where), m) {}
};
struct IoError : Error {
    IoError(std::string where, const std::string& m) : Error(kIoErr, std::move(where), m) {}
};
struct UnavailableError : Error {
    UnavailableError(std::string where, const std::string& m) : Error(kUnavailable, std::move(where), m) {}
};
struct BrokenPipe : Error {
    BrokenPipe() : Error(kBrokenPipe, "", "broken pipe") {}
};

// Samples a producer upstream skipped on purpose (imgprep --keep-going), as
// the streams this process read recorded them: distinct paths, first seen
// first. App::main reports them at the end and exits 65 unless --allow-skipped.
void note_skipped_upstream(const std::vector<std::string>& paths);
const std::vector<std::string>& skipped_upstream();

// The first bytes of foreign input, printable, for "(starts with 'GIF8')" messages.
std::string printable_start(const uint8_t* data, size_t size);

}  // namespace imgpipe
