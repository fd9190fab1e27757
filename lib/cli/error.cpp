#include "cli/error.hpp"

#include <cstdio>

namespace imgpipe {

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
