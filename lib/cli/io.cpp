#include "cli/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli/error.hpp"

namespace imgpipe {

namespace {
constexpr size_t kBufferSize = 1 << 20;

std::string errno_text(int e) { return std::strerror(e); }

[[noreturn]] void throw_open_error(const std::string& path, int e) {
    throw NoInputError(path, "cannot open: " + errno_text(e));
}
}  // namespace

Input::Input(const std::string& path) : buf_(kBufferSize) {
    if (path.empty() || path == "-") {
        fd_ = 0;
        name_ = "stdin";
    } else {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) throw_open_error(path, errno);
        owned_ = true;
        name_ = path;
    }
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            if (owned_) ::close(fd_);  // a throwing constructor runs no destructor
            throw NoInputError(name_, "is a directory");
        }
        seekable_ = S_ISREG(st.st_mode);
    }
}

Input::~Input() {
    if (owned_) ::close(fd_);
}

bool Input::fill() {
    if (eof_) return false;
    pos_ = end_ = 0;
    for (;;) {
        ssize_t got = ::read(fd_, buf_.data(), buf_.size());
        if (got > 0) {
            end_ = size_t(got);
            return true;
        }
        if (got == 0) {
            eof_ = true;
            return false;
        }
        if (errno == EINTR) continue;
        throw IoError(name_, "read failed: " + errno_text(errno));
    }
}

size_t Input::read(void* dst, size_t n) {
    char* out = static_cast<char*>(dst);
    size_t done = 0;
    while (done < n) {
        if (pos_ == end_) {
            // Large reads bypass the buffer.
            if (n - done >= buf_.size() && !eof_) {
                ssize_t got = ::read(fd_, out + done, n - done);
                if (got > 0) { done += size_t(got); continue; }
                if (got == 0) { eof_ = true; break; }
                if (errno == EINTR) continue;
                throw IoError(name_, "read failed: " + errno_text(errno));
            }
            if (!fill()) break;
        }
        size_t take = std::min(n - done, end_ - pos_);
        std::memcpy(out + done, buf_.data() + pos_, take);
        pos_ += take;
        done += take;
    }
    return done;
}

bool Input::read_record(std::string& out, char delimiter) {
    out.clear();
    bool any = false;
    for (;;) {
        if (pos_ == end_ && !fill()) return any;
        any = true;
        const char* start = buf_.data() + pos_;
        const void* hit = std::memchr(start, delimiter, end_ - pos_);
        if (hit) {
            size_t len = size_t(static_cast<const char*>(hit) - start);
            out.append(start, len);
            pos_ += len + 1;
            return true;
        }
        out.append(start, end_ - pos_);
        pos_ = end_;
    }
}

void Input::rewind() {
    if (!seekable_) throw IoError(name_, "cannot rewind a pipe");
    if (::lseek(fd_, 0, SEEK_SET) < 0) throw IoError(name_, "seek failed: " + errno_text(errno));
    pos_ = end_ = 0;
    eof_ = false;
}

Output::Output(const std::string& path, bool binary) : buf_(kBufferSize) {
    if (path.empty() || path == "-") {
        fd_ = 1;
        name_ = "stdout";
        if (binary && ::isatty(1))
            throw UsageError("refusing to write binary data to a terminal; redirect it or use -o FILE");
        return;
    }
    name_ = path;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        // A device or FIFO (-o /dev/null): write to it directly, since
        // renaming a temporary file over it would replace it.
        fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd_ < 0) throw CantCreateError(path, "cannot open: " + errno_text(errno));
        return;
    }
    path_ = path;
    // The temporary file sits beside the target so that rename() is atomic.
    tmp_ = path + ".tmp." + std::to_string(::getpid());
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) throw CantCreateError(path, "cannot create: " + errno_text(errno));
}

Output::~Output() {
    if (!path_.empty() && !committed_) {
        ::close(fd_);
        ::unlink(tmp_.c_str());
        return;
    }
    // stdout, a device or a FIFO, left by an error: what was written before it
    // (whole frames, whole lines) still goes out, as if written unbuffered.
    if (path_.empty() && used_ > 0) {
        try {
            flush();
        } catch (const std::exception&) {
        }
    }
}

void Output::write_raw(const char* p, size_t n) {
    while (n > 0) {
        ssize_t put = ::write(fd_, p, n);
        if (put >= 0) {
            p += put;
            n -= size_t(put);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EPIPE) throw BrokenPipe();
        throw IoError(name_, "write failed: " + errno_text(errno));
    }
}

void Output::write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    if (used_ + n > buf_.size()) {
        flush();
        if (n >= buf_.size()) {
            write_raw(p, n);
            return;
        }
    }
    std::memcpy(buf_.data() + used_, p, n);
    used_ += n;
}

void Output::flush() {
    if (used_ == 0) return;
    size_t n = used_;
    used_ = 0;
    write_raw(buf_.data(), n);
}

void Output::commit() {
    flush();
    if (path_.empty()) return;
    if (::fsync(fd_) != 0 && errno != EINVAL)
        throw IoError(name_, "write failed: " + errno_text(errno));
    if (::close(fd_) != 0) {
        fd_ = -1;
        throw IoError(name_, "write failed: " + errno_text(errno));
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp_.c_str());
        committed_ = true;
        throw CantCreateError(path_, "cannot rename into place: " + errno_text(e));
    }
    committed_ = true;
}

std::vector<uint8_t> read_file(const std::string& path) {
    Input in(path);
    std::vector<uint8_t> data;
    size_t chunk = 1 << 16;
    for (;;) {
        size_t old = data.size();
        data.resize(old + chunk);
        size_t got = in.read(data.data() + old, chunk);
        data.resize(old + got);
        if (got < chunk) break;
        if (chunk < (1u << 24)) chunk *= 2;
    }
    return data;
}

void make_directories(const std::string& dir) {
    for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
        const std::string part = dir.substr(0, slash);
        if (!part.empty() && ::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST)
            throw CantCreateError(part, std::string("cannot create folder: ") + std::strerror(errno));
        if (slash == std::string::npos) break;
    }
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    Output out(path, false);
    out.write(data, n);
    out.commit();
}

}  // namespace imgpipe
