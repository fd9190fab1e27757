#include "cli/app.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <csignal>
#include <iostream>
#include <new>
#include <thread>
#include <vector>

#include "cli/error.hpp"
#include "cli/progress.hpp"

namespace imgpipe {

const char* const kVersion = "0.1.0";

App::App(std::string tool, std::string description) : tool_(std::move(tool)), cli_(std::move(description), tool_) {
    cli_.set_version_flag("--version", std::string(tool_) + " (imgpipe) " + kVersion);
    cli_.add_flag("-q,--quiet", quiet, "No progress or summary on stderr; errors are still printed");
    cli_.get_formatter()->column_width(34);
    set_progress_tool(tool_);
}

void App::set_tool_label(const std::string& label) {
    tool_ = label;
    set_progress_tool(tool_);
}

void App::add_threads_option() {
    cli_.add_option("-j,--threads", threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
}

void App::add_seed_option() {
    cli_.add_option("--seed", seed, "Seed for every random draw (the same seed gives the same bytes)");
}

void App::add_allow_skipped_option() {
    cli_.add_flag("--allow-skipped", allow_skipped,
                  "Exit 0 although bad files were skipped upstream (as the stream records); they are still named");
}

namespace {
// Levenshtein distance, with a swap of two neighbours counting as one edit.
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
        for (size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[a.size()][b.size()];
}

// The first argument CLI11 left over that looks like an option ("--epoch",
// "--epoch=3", "-x"); not "-" (stdin) nor a negative number.
std::string unknown_option(const std::vector<std::string>& extras) {
    for (const std::string& a : extras)
        if (a.size() > 1 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1])) && a[1] != '.' && a != "--") return a;
    return "";
}

// CLI11's number checks print their bounds with std::to_string(double): "Value 0
// not in range 0.000000 to 1797693...", three hundred digits for the largest
// double. The checks are kept and only their words replaced, here where every
// tool's options are parsed, so each says "--batch-size: 0 is not a positive number".
bool parse_number(const std::string& text, double& value) {
    char* end = nullptr;
    value = std::strtod(text.c_str(), &end);
    return !text.empty() && end == text.c_str() + text.size() && std::isfinite(value);
}

void reword_number_checks(CLI::App& cli) {
    for (CLI::Option* o : cli.get_options({})) {
        for (int i = 0;; ++i) {
            CLI::Validator* v = nullptr;
            try {
                v = o->get_validator(i);
            } catch (const CLI::OptionNotFound&) {
                break;
            }
            // CLI11 2.1 gives its PositiveNumber and NonNegativeNumber these
            // descriptions (not names); CLI::Range(a, b) "FLOAT in [a - b]".
            if (!v->get_name().empty()) continue;
            const std::string d = v->get_description();
            if (d == "POSITIVE") {
                v->operation([](std::string& in) {
                    double x;
                    return parse_number(in, x) && x > 0 ? std::string() : in + " is not a positive number";
                });
            } else if (d == "NONNEGATIVE") {
                v->operation([](std::string& in) {
                    double x;
                    return parse_number(in, x) && x >= 0 ? std::string() : in + " is not a number of 0 or more";
                });
            } else {
                // A range: its own check still decides, only the words change.
                size_t open = d.find(" in ["), dash = d.rfind(" - ");
                if (open == std::string::npos || dash == std::string::npos || dash < open || d.back() != ']') continue;
                std::string bounds = d.substr(open + 5, dash - open - 5) + " to " + d.substr(dash + 3, d.size() - dash - 4);
                CLI::Validator check = *v;
                v->operation([check, bounds](std::string& in) {
                    return check(in).empty() ? std::string() : in + " is not in the range " + bounds;
                });
            }
        }
    }
}
}  // namespace

std::string App::closest_option(const std::string& typed) const {
    if (typed.size() < 3 || typed.compare(0, 2, "--") != 0) return "";
    const std::string name = typed.substr(2);
    std::vector<std::string> names{"help"};
    for (const CLI::Option* o : cli_.get_options())
        for (const std::string& n : o->get_lnames()) names.push_back(n);
    // Close by spelling: one edit in a short name, two in a longer one.
    const size_t allowed = name.size() <= 4 ? 1 : 2;
    std::string best;
    size_t best_distance = allowed + 1;
    for (const std::string& n : names) {
        size_t d = edit_distance(name, n);
        if (d < best_distance) best = n, best_distance = d;
    }
    if (!best.empty()) return "--" + best;
    // Or the start of exactly one option's name ("--thr" for --threads).
    for (const std::string& n : names)
        if (name.size() >= 3 && n.compare(0, name.size(), name) == 0) {
            if (!best.empty()) return "";
            best = n;
        }
    return best.empty() ? "" : "--" + best;
}

bool App::parse(int argc, char** argv) {
    reword_number_checks(cli_);
    try {
        cli_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << cli_.help();
        return false;
    } catch (const CLI::CallForVersion&) {
        std::cout << cli_.version() << "\n";
        return false;
    } catch (const CLI::ParseError& e) {
        // An unknown option explains most other complaints (a value taken for a
        // positional, a required option "missing"), so it is named first.
        std::string unknown = unknown_option(cli_.remaining());
        if (!unknown.empty()) {
            std::string name = unknown.substr(0, unknown.find('='));
            std::string guess = closest_option(name);
            throw UsageError("unknown option " + name + (guess.empty() ? " (see --help)" : " (did you mean " + guess + "?)"));
        }
        throw UsageError(std::string(e.what()) + " (see --help)");
    }
    const CLI::Option* seed_option = cli_.get_option_no_throw("--seed");
    seed_given = seed_option && seed_option->count() > 0;
    if (!seed_given) seed = 0;
    return true;
}

int App::main(int argc, char** argv, const std::function<int()>& body) {
    // A closed pipe becomes EPIPE (handled quietly) and a file-size limit
    // becomes EFBIG (an error naming the file) instead of a silent death.
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGXFSZ, SIG_IGN);
    try {
        if (!parse(argc, argv)) return kOk;
        return report_skipped_upstream(body());
    } catch (const BrokenPipe&) {
        return kBrokenPipe;
    } catch (const Error& e) {
        warn(e.where(), e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        warn("", "out of memory");
        return kSoftware;
    } catch (const std::exception& e) {
        warn("", std::string("internal error: ") + e.what());
        return kSoftware;
    }
}

// Samples skipped upstream are an error at the end, as imgprep --keep-going's
// own skips are, unless --allow-skipped: either way they are named.
int App::report_skipped_upstream(int status) const {
    const std::vector<std::string>& skipped = skipped_upstream();
    if (skipped.empty() || status != kOk) return status;
    std::string names;
    for (size_t i = 0; i < skipped.size() && i < 3; ++i) names += (i ? ", " : "") + skipped[i];
    if (skipped.size() > 3) names += ", ... " + std::to_string(skipped.size() - 3) + " more";
    std::string text = std::to_string(skipped.size()) + (skipped.size() == 1 ? " sample was" : " samples were") +
                       " skipped upstream (" + names + ")";
    if (allow_skipped) {
        if (!quiet) warn("", text);
        return status;
    }
    warn("", text + "; --allow-skipped accepts them");
    return kDataErr;
}

void App::warn(const std::string& where, const std::string& message) const {
    std::string line = tool_ + ": ";
    if (!where.empty()) line += where + ": ";
    line += message + "\n";
    std::cerr << stderr_line_start() + line << std::flush;
}

void App::note(const std::string& message) const {
    if (!quiet) std::cerr << stderr_line_start() + message + "\n" << std::flush;
}

int App::thread_count() const {
    if (threads > 0) return threads;
    unsigned n = std::thread::hardware_concurrency();
    return n ? int(n) : 1;
}

namespace {
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_interrupt(int sig) {
    if (g_signal) {  // second signal: stop now, with the conventional status
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    g_signal = sig;
}
}  // namespace

void catch_interrupts() {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

int interrupt_signal() { return g_signal; }

}  // namespace imgpipe
