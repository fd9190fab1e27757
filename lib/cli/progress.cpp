#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

namespace {
std::string g_tool;
// A bar of this process is drawn in place on the terminal, the cursor after it.
bool g_bar_drawn = false;

bool stderr_is_terminal() { return ::isatty(2) == 1; }

// At exit, a bar still on the terminal is cleared, so the shell's prompt or
// the next stage's line starts on a clean line.
extern "C" void clear_bar_at_exit() {
    if (g_bar_drawn) std::cerr << "\r\033[K" << std::flush;
    g_bar_drawn = false;
}
}  // namespace

void set_progress_tool(const std::string& tool) { g_tool = tool; }

std::string progress_prefixed(const std::string& text) {
    if (g_tool.empty() || text.compare(0, g_tool.size() + 1, g_tool + ":") == 0) return text;
    return g_tool + ": " + text;
}

std::string stderr_line_start() {
    if (!stderr_is_terminal()) return "";
    g_bar_drawn = false;  // the caller's line replaces it
    return "\r\033[K";
}

Progress::Progress(bool quiet) : quiet_(quiet), interactive_(!quiet && stderr_is_terminal()) {
    static const bool registered = std::atexit(clear_bar_at_exit) == 0;
    (void)registered;
    restart_clock();
}

Progress::~Progress() {
    if (!g_bar_drawn) return;
    // A complete bar stays as its last word ("40/40 [====] - 3s"); one cut short
    // (an error is on its way) is cleared.
    std::cerr << (bar_complete_ ? "\n" : "\r\033[K") << std::flush;
    g_bar_drawn = false;
}

void Progress::restart_clock() { start_ = last_draw_ = std::chrono::steady_clock::now(); }

double Progress::elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::bar(int64_t done, int64_t total, const std::string& suffix) {
    if (!interactive_) return;
    auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::string text = "\r" + progress_prefixed(format_bar(done, total, elapsed()) + suffix) + "\033[K";
    std::cerr << text << std::flush;
    g_bar_drawn = true;
    bar_complete_ = total > 0 && done >= total;
}

void Progress::line(const std::string& text) {
    if (quiet_) return;
    std::cerr << stderr_line_start() + progress_prefixed(text) + "\n" << std::flush;
}

}  // namespace imgpipe
