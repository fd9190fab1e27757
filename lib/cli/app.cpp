#include "cli/app.hpp"

#include <unistd.h>

#include <csignal>
#include <iostream>
#include <new>
#include <thread>

#include "cli/error.hpp"

namespace imgpipe {

const char* const kVersion = "0.1.0";

App::App(std::string tool, std::string description) : tool_(std::move(tool)), cli_(std::move(description), tool_) {
    cli_.set_version_flag("--version", std::string(tool_) + " (imgpipe) " + kVersion);
    cli_.add_flag("-q,--quiet", quiet, "No progress or summary on stderr; errors are still printed");
    cli_.get_formatter()->column_width(34);
}

void App::add_threads_option() {
    cli_.add_option("-j,--threads", threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
}

void App::add_seed_option() {
    cli_.add_option("--seed", seed, "Seed for every random draw (the same seed gives the same bytes)");
}

bool App::parse(int argc, char** argv) {
    try {
        cli_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << cli_.help();
        return false;
    } catch (const CLI::CallForVersion&) {
        std::cout << cli_.version() << "\n";
        return false;
    } catch (const CLI::ParseError& e) {
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
        return body();
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

void App::warn(const std::string& where, const std::string& message) const {
    std::string line = tool_ + ": ";
    if (!where.empty()) line += where + ": ";
    line += message + "\n";
    std::cerr << line << std::flush;
}

void App::note(const std::string& message) const {
    if (!quiet) std::cerr << message << "\n" << std::flush;
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
