// The one command-line base every tool is built on: the same -h/--help,
// --version, -q/--quiet, --seed and -j/--threads everywhere, diagnostics as
// "tool: file: message", and sysexits statuses.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace imgpipe {

extern const char* const kVersion;

class App {
public:
    App(std::string tool, std::string description);

    CLI::App& cli() { return cli_; }
    const std::string& tool() const { return tool_; }
    // The name messages start with, from now on ("nntrain (rank 1)").
    void set_tool_label(const std::string& label);

    // Options shared by every tool.
    bool quiet = false;
    uint64_t seed = 0;
    bool seed_given = false;  // false: seed was drawn from the clock
    int threads = 0;          // 0: all cores

    // Adds -j/--threads (only tools that use threads offer it).
    void add_threads_option();
    // Adds --seed (only tools that draw random numbers offer it).
    void add_seed_option();
    // Adds --allow-skipped (tools that read batch streams, and imgprep).
    void add_allow_skipped_option();
    bool allow_skipped = false;

    // Parses argv; throws UsageError on a bad command line. Returns false when
    // the command line asked for --help or --version (already printed).
    bool parse(int argc, char** argv);

    // parse() then body(), turning every exception into a message and an exit status.
    int main(int argc, char** argv, const std::function<int()>& body);

    // "tool: where: message" on stderr (where may be empty).
    void warn(const std::string& where, const std::string& message) const;
    // Prints unless --quiet.
    void note(const std::string& message) const;

    int thread_count() const;  // threads, or the number of cores

    // The real long option closest to a mistyped one ("--epoch" -> "--epochs"),
    // or "" when none is close.
    std::string closest_option(const std::string& typed) const;

private:
    int report_skipped_upstream(int status) const;
    std::string tool_;
    CLI::App cli_;
};

// SIGINT/SIGTERM: after catch_interrupts(), the first signal only sets a flag that
// long loops poll (nntrain finishes its step and saves); a second one kills.
void catch_interrupts();
int interrupt_signal();  // 0, SIGINT or SIGTERM

}  // namespace imgpipe
