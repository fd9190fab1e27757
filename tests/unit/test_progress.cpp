// Progress on a terminal: a bar drawn in place is cleared or finished before
// any other line, so no line runs into a bar; every line is prefixed.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/app.hpp"
#include "cli/progress.hpp"

using namespace imgpipe;

namespace {
// Runs body with stderr on fd, then puts stderr back.
void with_stderr_on(int fd, const std::function<void()>& body) {
    std::cerr.flush();
    int saved = ::dup(2);
    REQUIRE(saved >= 0);
    ::dup2(fd, 2);
    body();
    std::cerr.flush();
    ::dup2(saved, 2);
    ::close(saved);
}

// Runs body with stderr on a pseudo-terminal; returns the bytes the terminal received.
std::string on_terminal(const std::function<void()>& body) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
    termios t{};
    ::tcgetattr(slave, &t);
    t.c_oflag &= ~tcflag_t(OPOST);  // the bytes as written, no "\n" -> "\r\n"
    ::tcsetattr(slave, TCSANOW, &t);
    with_stderr_on(slave, body);
    ::close(slave);
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{master, POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) break;
        ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, size_t(n));
    }
    ::close(master);
    return out;
}

// What a reader sees on the terminal: "\r" goes back to the start of the line,
// "\033[K" erases to its end, "\n" starts a new line.
std::vector<std::string> screen(const std::string& bytes) {
    std::vector<std::string> lines{""};
    size_t col = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
        char c = bytes[i];
        std::string& l = lines.back();
        if (c == '\r') {
            col = 0;
        } else if (c == '\n') {
            lines.push_back("");
            col = 0;
        } else if (bytes.compare(i, 3, "\033[K") == 0) {
            if (col < l.size()) l.resize(col);
            i += 2;
        } else {
            if (col < l.size()) l[col] = c;
            else l += c;
            ++col;
        }
    }
    if (lines.back().empty()) lines.pop_back();
    return lines;
}

// A bar that is not complete is drawn only 100 ms after the last one.
void past_throttle() { std::this_thread::sleep_for(std::chrono::milliseconds(120)); }
}  // namespace

TEST_CASE("the terminal emulation of the tests", "[progress]") {
    CHECK(screen("\rab\033[K\rc\n") == std::vector<std::string>{"cb"});
    CHECK(screen("\rabc\033[K\r\033[Kd\n") == std::vector<std::string>{"d"});
}

TEST_CASE("a warning or a note after a bar is on a line of its own", "[progress]") {
    App app("tool", "test");
    std::string bytes = on_terminal([&] {
        Progress progress(false);
        past_throttle();
        progress.bar(3, 10);
        app.warn("f.png", "not an image");
        progress.bar(10, 10);
        app.note("other: 90 samples");  // another stage's line
    });
    CHECK(screen(bytes) == std::vector<std::string>{"tool: f.png: not an image", "other: 90 samples"});
}

TEST_CASE("a bar cut short is cleared when its Progress ends", "[progress]") {
    App app("tool", "test");
    std::string bytes = on_terminal([&] {
        {
            Progress progress(false);
            past_throttle();
            progress.bar(3, 10, " - loss: 0.5");
        }  // an exception on its way to App::main, say
        std::cerr << "tool: f: truncated\n";
    });
    CHECK(screen(bytes) == std::vector<std::string>{"tool: f: truncated"});
}

TEST_CASE("a complete bar is finished with a newline when its Progress ends", "[progress]") {
    App app("tool", "test");
    std::string bytes = on_terminal([&] {
        {
            Progress progress(false);
            progress.bar(10, 10, " - accuracy: 0.8750");
        }
        std::cerr << "batchpack: 90 samples\n";
    });
    std::vector<std::string> lines = screen(bytes);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].rfind("tool: 10/10 [==============================] - ", 0) == 0);
    CHECK(lines[0].find(" - accuracy: 0.8750") != std::string::npos);
    CHECK(lines[1] == "batchpack: 90 samples");
}

TEST_CASE("line() replaces the bar, prefixed with the tool once", "[progress]") {
    App app("tool", "test");
    std::string bytes = on_terminal([&] {
        Progress progress(false);
        progress.bar(10, 10);
        progress.line("90 samples in 3 batches");
        progress.bar(10, 10);
        progress.line("tool: epoch 2/2");
    });
    CHECK(screen(bytes) == std::vector<std::string>{"tool: 90 samples in 3 batches", "tool: epoch 2/2"});
}

TEST_CASE("every line on a terminal starts by clearing the line", "[progress]") {
    // Another process's bar may be on it: it is replaced, not run into.
    App app("tool", "test");
    std::string bytes = on_terminal([&] {
        std::cerr << "\rnneval: 3/10 [=====>....] - accuracy: 0.8750\033[K" << std::flush;  // another stage
        app.note("batchpack: 90 samples");
    });
    CHECK(screen(bytes) == std::vector<std::string>{"batchpack: 90 samples"});
}

TEST_CASE("quiet draws nothing; a log gets plain lines", "[progress]") {
    App app("tool", "test");
    CHECK(on_terminal([&] {
              Progress progress(true);
              progress.bar(10, 10);
              progress.line("x");
          }).empty());
    char name[] = "/tmp/imgpipe-progress.XXXXXX";
    int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    with_stderr_on(fd, [&] {
        Progress progress(false);
        CHECK_FALSE(progress.interactive());
        progress.bar(10, 10);
        progress.line("90 samples");
        app.warn("", "a warning");
    });
    std::string text(size_t(::lseek(fd, 0, SEEK_END)), '\0');
    ::pread(fd, &text[0], text.size(), 0);
    ::close(fd);
    ::unlink(name);
    CHECK(text == "tool: 90 samples\ntool: a warning\n");
}
