#include "cli/error.hpp"

#include <cstdio>
#include <mutex>
#include <set>

namespace imgpipe {

namespace {
struct SkipTally {
    std::mutex mutex;  // nntrain reads its streams on threads of their own
    std::set<std::string> seen;
    std::vector<std::string> paths;
};
SkipTally& tally() {
    static SkipTally t;
    return t;
}
}  // namespace

void note_skipped_upstream(const std::vector<std::string>& paths) {
    SkipTally& t = tally();
    std::lock_guard<std::mutex> lock(t.mutex);
    for (const std::string& p : paths)
        if (t.seen.insert(p).second) t.paths.push_back(p);
}

const std::vector<std::string>& skipped_upstream() { return tally().paths; }

std::string printable_start(const uint8_t* p, size_t n) {
    std::string s;
    for (size_t i = 0; i < n && i < 8; ++i) {
        unsigned char c = p[i];
        if (c >= 32 && c < 127 && c != '\'' && c != '\\') {
            s += char(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            s += buf;
        }
    }
    return s;
}

}  // namespace imgpipe
