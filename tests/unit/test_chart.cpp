// lib/view/chart's pictures for nneval --plot: what the SVG holds.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "view/chart.hpp"

using namespace imgpipe;

namespace {
size_t count(const std::string& s, const std::string& part) {
    size_t n = 0;
    for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
    return n;
}
}  // namespace

TEST_CASE("a scatter panel per target: a point per sample, the y = x line, square axes", "[chart]") {
    Scatter a{"angle: MAE 1.5, R2 0.9000", {0, 10, 20}, {1, 12, 19}};
    Scatter b{"scale", {0.5, 1}, {0.6, 0.9}};
    std::string svg = scatter_svg({a, b}, 420, 420);
    CHECK(svg.find("width=\"840\" height=\"420\"") != std::string::npos);
    CHECK(count(svg, "<circle") == 5);
    CHECK(count(svg, "stroke-dasharray=\"6,3\"") == 2);  // one diagonal a panel
    CHECK(svg.find(">angle: MAE 1.5, R2 0.9000</text>") != std::string::npos);
    // The diagonal runs from the panel's lower left corner to its upper right one.
    CHECK(svg.find("<line x1=\"64\" y1=\"376\" x2=\"404\" y2=\"30\"") != std::string::npos);
}

TEST_CASE("a scatter of many samples draws every k-th, at most 20,000", "[chart]") {
    Scatter big{"y", std::vector<double>(50001, 1.0), std::vector<double>(50001, 2.0)};
    CHECK(count(scatter_svg({big}, 420, 420), "<circle") == 16667);  // every 3rd
}

TEST_CASE("bars: one per class and series, none for an undefined value", "[chart]") {
    std::string svg = bars_svg("per class", {"a", "b<c"}, {"precision", "recall", "F1"},
                               {{1.0, 0.5}, {0.25, NAN}, {0.4, 0.0}}, 320);
    // 5 bars, 3 legend swatches, the background and the frame.
    CHECK(count(svg, "<rect") == 5 + 3 + 2);
    CHECK(svg.find(">b&lt;c</text>") != std::string::npos);
    CHECK(svg.find(">precision</text>") != std::string::npos);
}
