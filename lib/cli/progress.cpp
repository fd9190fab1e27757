#include "cli/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace imgpipe {

std::string format_duration(double seconds) {
    long s = std::lround(std::max(0.0, seconds));
    char buf[32];
    if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
    else if (s < 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

std::string format_bar(int64_t done, int64_t total, double elapsed_s, int width) {
    std::string out;
    if (total <= 0) return std::to_string(done) + "/unknown - " + format_duration(elapsed_s);
    out = std::to_string(done) + "/" + std::to_string(total) + " [";
    int filled = int(double(width) * double(std::min(done, total)) / double(total));
    for (int i = 0; i < width; ++i)
        out += i < filled ? '=' : (i == filled && done < total ? '>' : '.');
    out += "]";
    if (done < total && done > 0) out += " - ETA: " + format_duration(elapsed_s / double(done) * double(total - done));
    else out += " - " + format_duration(elapsed_s);
    return out;
}

Progress::Progress(bool quiet) : quiet_(quiet), interactive_(!quiet && ::isatty(2)) { restart_clock(); }

void Progress::restart_clock() { start_ = last_draw_ = std::chrono::steady_clock::now(); }

double Progress::elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::bar(int64_t done, int64_t total, const std::string& suffix) {
    if (!interactive_) return;
    auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::string text = "\r" + format_bar(done, total, elapsed()) + suffix + "\033[K";
    std::cerr << text << std::flush;
    bar_open_ = true;
}

void Progress::line(const std::string& text) {
    if (quiet_) return;
    if (bar_open_) std::cerr << "\r\033[K";
    bar_open_ = false;
    std::cerr << text << "\n" << std::flush;
}

}  // namespace imgpipe
