// Learning curves: reading nntrain's history (JSON lines) and drawing it as
// SVG, one panel per quantity (loss, accuracy, ...) with its val_ twin.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cli/io.hpp"

namespace imgpipe {

struct History {
    std::vector<double> epochs;
    std::vector<std::string> names;                      // series in first-seen order
    std::map<std::string, std::vector<double>> values;   // NaN where an epoch lacks it
};

// Keys that are bookkeeping, not curves.
bool is_curve_key(const std::string& key);
// Reads JSON lines; a line that is not a JSON object is an error naming "file:line".
History read_history(Input& in);
// Panels of width x height pixels each, side by side.
std::string history_svg(const History& history, int width, int height);

}  // namespace imgpipe
