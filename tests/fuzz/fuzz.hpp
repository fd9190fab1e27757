// Shared by the libFuzzer targets: a memory-backed file that Input can open by
// path, and the rule for what counts as a finding. An imgpipe::Error (a named,
// statused refusal) is the expected answer to bad bytes; any other exception
// would reach the user as "internal error" (exit 70), so it aborts the run.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cli/error.hpp"

namespace fuzz {

class MemFile {
public:
    MemFile() : fd_(memfd_create("fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) std::abort();
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    // Replaces the contents; returns a path that opens at offset 0.
    const std::string& put(const uint8_t* data, size_t size) {
        if (ftruncate(fd_, 0) != 0) std::abort();
        size_t done = 0;
        while (done < size) {
            ssize_t n = pwrite(fd_, data + done, size - done, off_t(done));
            if (n <= 0) std::abort();
            done += size_t(n);
        }
        return path_;
    }

private:
    int fd_;
    std::string path_;
};

[[noreturn]] inline void finding(const char* what, const std::string& detail) {
    std::fprintf(stderr, "FINDING: %s: %s\n", what, detail.c_str());
    std::abort();
}

// Runs body; imgpipe::Error is expected, anything else is a finding.
template <class F>
void expect_clean(F&& body) {
    try {
        body();
    } catch (const imgpipe::Error&) {
    } catch (const std::exception& e) {
        finding("exception other than imgpipe::Error", e.what());
    }
}

}  // namespace fuzz
