#include "view/chart.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "cli/error.hpp"

namespace imgpipe {

using nlohmann::json;

bool is_curve_key(const std::string& key) {
    return key != "epoch" && key != "lr" && key != "learning_rate" && key != "seconds" && key != "step" && key != "steps";
}

History read_history(Input& in) {
    History h;
    std::string line;
    int64_t number = 0;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    while (in.read_record(line, '\n')) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        std::string where = in.name() + ":" + std::to_string(number);
        json row = json::parse(line, nullptr, false);
        if (row.is_discarded() || !row.is_object()) throw DataError(where, "not a JSON object (a broken history line)");
        double epoch = row.contains("epoch") && row["epoch"].is_number() ? row["epoch"].get<double>() : double(h.epochs.size() + 1);
        h.epochs.push_back(epoch);
        for (auto& [key, value] : row.items()) {
            if (!is_curve_key(key) || !(value.is_number() || value.is_null())) continue;
            if (!h.values.count(key)) {
                h.names.push_back(key);
                h.values[key].assign(h.epochs.size() - 1, nan);
            }
            h.values[key].push_back(value.is_number() ? value.get<double>() : nan);
        }
        for (auto& [key, series] : h.values) series.resize(h.epochs.size(), nan);
    }
    if (h.epochs.empty()) throw DataError(in.name(), "empty history: no epochs to plot");
    return h;
}

namespace {
std::string number_text(double v) {
    char buf[32];
    if (std::fabs(v) >= 1000 || (std::fabs(v) < 0.01 && v != 0)) std::snprintf(buf, sizeof buf, "%.2g", v);
    else std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else out += c;
    }
    return out;
}
}  // namespace

std::string history_svg(const History& h, int width, int height) {
    std::vector<std::string> panels;  // base names: "loss", "accuracy", ...
    for (const std::string& n : h.names) {
        std::string base = n.rfind("val_", 0) == 0 ? n.substr(4) : n;
        if (std::find(panels.begin(), panels.end(), base) == panels.end()) panels.push_back(base);
    }
    if (panels.empty()) throw DataError("", "the history holds no numeric quantity to plot");
    std::stable_partition(panels.begin(), panels.end(), [](const std::string& p) { return p == "loss"; });
    std::ostringstream svg;
    int total_w = width * int(panels.size());
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << total_w << "\" height=\"" << height << "\" font-family=\"sans-serif\">\n";
    svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    const int left = 56, right = 16, top = 30, bottom = 40;
    double x0 = *std::min_element(h.epochs.begin(), h.epochs.end()), x1 = *std::max_element(h.epochs.begin(), h.epochs.end());
    if (x1 <= x0) x1 = x0 + 1;
    for (size_t p = 0; p < panels.size(); ++p) {
        const std::string& base = panels[p];
        int ox = int(p) * width, pw = width - left - right, ph = height - top - bottom;
        double y0 = INFINITY, y1 = -INFINITY;
        for (const std::string& name : {base, "val_" + base})
            if (h.values.count(name))
                for (double v : h.values.at(name))
                    if (std::isfinite(v)) { y0 = std::min(y0, v); y1 = std::max(y1, v); }
        if (!std::isfinite(y0)) { y0 = 0; y1 = 1; }
        if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
        double pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
        auto sx = [&](double x) { return ox + left + (x - x0) / (x1 - x0) * pw; };
        auto sy = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };
        svg << "<text x=\"" << ox + left << "\" y=\"20\" font-size=\"15\">" << escape(base) << "</text>\n";
        svg << "<rect x=\"" << ox + left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
            << "\" fill=\"none\" stroke=\"#888\"/>\n";
        for (int k = 0; k <= 4; ++k) {  // y grid and labels
            double v = y0 + (y1 - y0) * k / 4;
            svg << "<line x1=\"" << ox + left << "\" x2=\"" << ox + left + pw << "\" y1=\"" << sy(v) << "\" y2=\"" << sy(v)
                << "\" stroke=\"#eee\"/><text x=\"" << ox + left - 4 << "\" y=\"" << sy(v) + 4
                << "\" text-anchor=\"end\" font-size=\"11\">" << number_text(v) << "</text>\n";
        }
        int ticks = int(std::min<double>(x1 - x0, 8));
        for (int k = 0; k <= ticks; ++k) {  // epoch labels
            double e = x0 + (x1 - x0) * k / std::max(ticks, 1);
            svg << "<text x=\"" << sx(e) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\" font-size=\"11\">"
                << number_text(std::round(e)) << "</text>\n";
        }
        svg << "<text x=\"" << ox + left + pw / 2 << "\" y=\"" << height - 6 << "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
        const char* colours[] = {"#1f77b4", "#ff7f0e"};
        int legend = 0;
        for (int which = 0; which < 2; ++which) {
            std::string name = which ? "val_" + base : base;
            if (!h.values.count(name)) continue;
            const std::vector<double>& v = h.values.at(name);
            std::ostringstream points;
            for (size_t i = 0; i < v.size(); ++i)
                if (std::isfinite(v[i])) points << sx(h.epochs[i]) << "," << sy(v[i]) << " ";
            svg << "<polyline points=\"" << points.str() << "\" fill=\"none\" stroke=\"" << colours[which] << "\" stroke-width=\"2\""
                << (which ? " stroke-dasharray=\"6,3\"" : "") << "/>\n";
            for (size_t i = 0; i < v.size(); ++i)
                if (std::isfinite(v[i]))
                    svg << "<circle cx=\"" << sx(h.epochs[i]) << "\" cy=\"" << sy(v[i]) << "\" r=\"2.5\" fill=\"" << colours[which] << "\"/>";
            // Legend in the top margin, right-aligned, so it never hides a curve.
            int lx = ox + left + pw - 230 + 120 * legend++, ly = 20;
            svg << "\n<line x1=\"" << lx << "\" x2=\"" << lx + 22 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4 << "\" stroke=\""
                << colours[which] << "\" stroke-width=\"2\"" << (which ? " stroke-dasharray=\"6,3\"" : "") << "/><text x=\"" << lx + 26
                << "\" y=\"" << ly << "\" font-size=\"11\">" << escape(name) << "</text>\n";
        }
    }
    svg << "</svg>\n";
    return svg.str();
}

}  // namespace imgpipe
