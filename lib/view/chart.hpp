// Charts as SVG: learning curves (nntrain's history, JSON lines: one panel per
// quantity with its val_ twin), and nneval's pictures (predicted against true,
// per-class bars); rendered to PNG by libvips.
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

// Predicted against true for one target: a point per sample and the line y = x.
struct Scatter {
    std::string title;
    std::vector<double> truth, predicted;
};
// Panels of width x height pixels each, side by side, on square axes (the
// same range across and up, so y = x is the diagonal). At most 20,000 points
// a panel: of more samples, every k-th.
std::string scatter_svg(const std::vector<Scatter>& panels, int width, int height);

// Grouped bars in [0, 1]: for each category (a class) one bar per series
// (precision, recall, F1), values[series][category]; NaN draws no bar.
std::string bars_svg(const std::string& title, const std::vector<std::string>& categories,
                     const std::vector<std::string>& series, const std::vector<std::vector<double>>& values, int height);

// Renders a chart to a PNG file ("-": stdout) on a white background.
void save_chart_png(const std::string& svg, const std::string& path);

}  // namespace imgpipe
