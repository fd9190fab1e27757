// Progress on stderr: a Keras-style bar redrawn in place when stderr is a
// terminal, and one summary line per call to line() otherwise, so cron and
// Make logs stay readable.
//
// On a terminal every line this process prints starts by clearing the line
// the cursor is on ("\r\033[K"): a bar drawn in place, this process's or
// another stage's of the same pipeline, is never left with text run into it.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace imgpipe {

// "12/40 [=====>........................] - ETA: 3s"; total <= 0 means unknown.
std::string format_bar(int64_t done, int64_t total, double elapsed_s, int width = 30);
// "3s", "1:02", "1:02:03"
std::string format_duration(double seconds);

// The tool whose name prefixes the bar and the lines of Progress ("imgprep: ");
// App sets it.
void set_progress_tool(const std::string& tool);
// "tool: text", unless text already starts with "tool:" (or no tool was set).
std::string progress_prefixed(const std::string& text);
// What a line written to stderr must start with: "\r\033[K" when stderr is a
// terminal (clearing any bar drawn in place), "" otherwise. Every line that
// goes to stderr (App::warn, App::note, Progress::line) starts with it.
std::string stderr_line_start();

class Progress {
public:
    explicit Progress(bool quiet);
    ~Progress();  // a bar still drawn is finished (when complete) or cleared
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    bool interactive() const { return interactive_; }
    // Redraws the bar (terminal only, at most 10 times a second unless done == total).
    void bar(int64_t done, int64_t total, const std::string& suffix = "");
    // Ends any bar and prints a line (unless quiet).
    void line(const std::string& text);
    void restart_clock();
    double elapsed() const;

private:
    bool quiet_, interactive_;
    bool bar_complete_ = false;  // the bar drawn last showed done == total
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace imgpipe
