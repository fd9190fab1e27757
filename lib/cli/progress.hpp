// Progress on stderr: a Keras-style bar redrawn in place when stderr is a
// terminal, and one summary line per call to line() otherwise, so cron and
// Make logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace imgpipe {

// "12/40 [=====>........................] - ETA: 3s"; total <= 0 means unknown.
std::string format_bar(int64_t done, int64_t total, double elapsed_s, int width = 30);
// "3s", "1:02", "1:02:03"
std::string format_duration(double seconds);

class Progress {
public:
    explicit Progress(bool quiet);
    bool interactive() const { return interactive_; }
    // Redraws the bar (terminal only, at most 10 times a second unless done == total).
    void bar(int64_t done, int64_t total, const std::string& suffix = "");
    // Ends any bar and prints a line (unless quiet).
    void line(const std::string& text);
    void restart_clock();
    double elapsed() const;

private:
    bool quiet_, interactive_;
    bool bar_open_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace imgpipe
