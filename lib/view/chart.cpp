#include "view/chart.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "cli/error.hpp"
#include "view/picture.hpp"

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
// Round ticks: a step of 1, 2, 2.5 or 5 times a power of ten, and the
// multiples of it that enclose the data.
struct Ticks {
    double lo = 0, hi = 1;
    int mantissa_x2 = 2;  // the step's mantissa times 2 (2, 4, 5, 10), so 2.5 is exact
    int exponent = -1;    // step = mantissa * 10^exponent
    long first = 0, last = 0;  // lo = first * step, hi = last * step

    double step() const { return mantissa_x2 / 2.0 * std::pow(10.0, exponent); }
    // The k-th multiple of the step, computed from integers so that 3 * 0.1 is 0.3.
    double value(long k) const {
        double m = double(k) * mantissa_x2 / 2.0;
        return exponent >= 0 ? m * std::pow(10.0, exponent) : m / std::pow(10.0, -exponent);
    }
    // Every label of the axis has the same number of decimals, and no float noise.
    std::string label(long k) const {
        double v = value(k);
        int decimals = std::max(0, -exponent + (mantissa_x2 == 5 ? 1 : 0));
        char buf[48];
        if (decimals > 5 || std::fabs(v) >= 1e7) std::snprintf(buf, sizeof buf, "%g", v);
        else std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        return buf;
    }
};

// The fewest round ticks (at most max_intervals + 1) that enclose [y0, y1].
Ticks round_ticks(double y0, double y1, int max_intervals) {
    Ticks t;
    const double span = std::max(y1 - y0, 1e-300);
    int e = int(std::floor(std::log10(span / max_intervals))) - 1;
    for (;; ++e)
        for (int m2 : {2, 4, 5, 10}) {
            t.mantissa_x2 = m2;
            t.exponent = e;
            double s = t.step();
            // A tiny slack, so that 0.9 / 0.1 = 9.000000000000002 still counts as 9.
            t.first = long(std::floor(y0 / s + 1e-9));
            t.last = long(std::ceil(y1 / s - 1e-9));
            if (t.last == t.first) ++t.last;
            if (t.last - t.first <= max_intervals) {
                t.lo = t.value(t.first);
                t.hi = t.value(t.last);
                return t;
            }
        }
}

// Whole-epoch ticks: a step of 1, 2, 5, 10, 20, 50... epochs, the smallest
// whose labels, spaced on a plot of `pixels`, leave room between them.
int epoch_step(double x0, double x1, int pixels) {
    double widest = std::max(std::to_string(long(std::fabs(x0))).size(), std::to_string(long(std::fabs(x1))).size());
    double room = widest * 7 + 10;  // 11-pixel digits are about 6.5 pixels wide
    for (int step = 1;; step *= 10)
        for (int m : {1, 2, 5})
            if ((x1 - x0 <= 0) || double(m * step) / (x1 - x0) * pixels >= room) return m * step;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
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
    // The epochs, and the x axis: the epochs with a little room either side, so no point sits on the frame.
    const double first_epoch = *std::min_element(h.epochs.begin(), h.epochs.end());
    const double last_epoch = *std::max_element(h.epochs.begin(), h.epochs.end());
    double x0 = first_epoch - 0.5, x1 = last_epoch + 0.5;
    if (last_epoch > first_epoch) x0 = first_epoch - (last_epoch - first_epoch) * 0.03, x1 = last_epoch + (last_epoch - first_epoch) * 0.03;
    for (size_t p = 0; p < panels.size(); ++p) {
        const std::string& base = panels[p];
        int ox = int(p) * width, pw = width - left - right, ph = height - top - bottom;
        double y0 = INFINITY, y1 = -INFINITY;
        for (const std::string& name : {base, "val_" + base})
            if (h.values.count(name))
                for (double v : h.values.at(name))
                    if (std::isfinite(v)) { y0 = std::min(y0, v); y1 = std::max(y1, v); }
        // Axes within the data's sense: a quantity that is never negative (a loss, an
        // error, anything whose values are all >= 0) gets no negative axis; an accuracy
        // (in [0, 1]) no axis above 1.
        const bool nonnegative = !std::isfinite(y0) || y0 >= 0 || contains(base, "loss") || base == "mse" || base == "mae";
        const bool fraction = contains(base, "acc") && (!std::isfinite(y1) || (y0 >= 0 && y1 <= 1));
        if (!std::isfinite(y0)) { y0 = 0; y1 = 1; }
        const double data_min = y0;
        if (y1 - y0 < 1e-12 * std::max(1.0, std::fabs(y1))) {  // a flat line: a band around it
            double half = y0 == 0 ? 0.5 : std::fabs(y0) * 0.05;
            y0 -= half;
            y1 += half;
        }
        if (nonnegative) y0 = std::max(y0, std::min(data_min, 0.0));  // never clips a (strange) negative loss
        if (fraction) y1 = std::min(y1, 1.0);
        const Ticks yt = round_ticks(y0, y1, ph >= 360 ? 8 : 5);
        y0 = yt.lo;
        y1 = yt.hi;
        auto sx = [&](double x) { return ox + left + (x - x0) / (x1 - x0) * pw; };
        auto sy = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };
        svg << "<text x=\"" << ox + left << "\" y=\"20\" font-size=\"15\">" << escape(base) << "</text>\n";
        svg << "<rect x=\"" << ox + left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
            << "\" fill=\"none\" stroke=\"#888\"/>\n";
        for (long k = yt.first; k <= yt.last; ++k) {  // y grid and labels
            double v = yt.value(k);
            svg << "<line x1=\"" << ox + left << "\" x2=\"" << ox + left + pw << "\" y1=\"" << sy(v) << "\" y2=\"" << sy(v)
                << "\" stroke=\"#eee\"/><text x=\"" << ox + left - 4 << "\" y=\"" << sy(v) + 4
                << "\" text-anchor=\"end\" font-size=\"11\">" << yt.label(k) << "</text>\n";
        }
        const int step = epoch_step(x0, x1, pw);
        for (long e = long(std::ceil(first_epoch / step - 1e-9)) * step; e <= last_epoch + 1e-9; e += step) {  // epoch labels
            svg << "<text x=\"" << sx(double(e)) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\" font-size=\"11\">"
                << e << "</text>\n";
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

namespace imgpipe {

namespace {
const char* const kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
const size_t kMaxPoints = 20000;
// "12.5" for an axis label: the tick's own label.
std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}
}  // namespace

std::string scatter_svg(const std::vector<Scatter>& panels, int width, int height) {
    if (panels.empty()) throw DataError("", "nothing to plot");
    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width * int(panels.size()) << "\" height=\"" << height
        << "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    const int left = 64, right = 16, top = 30, bottom = 44;
    for (size_t p = 0; p < panels.size(); ++p) {
        const Scatter& s = panels[p];
        int ox = int(p) * width, pw = width - left - right, ph = height - top - bottom;
        double lo = INFINITY, hi = -INFINITY;
        for (const std::vector<double>* v : {&s.truth, &s.predicted})
            for (double x : *v)
                if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
        if (!std::isfinite(lo)) lo = 0, hi = 1;
        if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) lo -= 0.5, hi += 0.5;
        // One range for both axes: the diagonal is y = x, and a model that
        // shrinks its answers towards the mean shows as a flatter cloud.
        const Ticks t = round_ticks(lo, hi, std::min(pw, ph) >= 360 ? 8 : 5);
        auto sx = [&](double x) { return ox + left + (x - t.lo) / (t.hi - t.lo) * pw; };
        auto sy = [&](double y) { return top + (1 - (y - t.lo) / (t.hi - t.lo)) * ph; };
        svg << "<text x=\"" << ox + left << "\" y=\"20\" font-size=\"15\">" << escape(s.title) << "</text>\n";
        svg << "<rect x=\"" << ox + left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
            << "\" fill=\"none\" stroke=\"#888\"/>\n";
        for (long k = t.first; k <= t.last; ++k) {
            double v = t.value(k);
            svg << "<line x1=\"" << ox + left << "\" x2=\"" << ox + left + pw << "\" y1=\"" << sy(v) << "\" y2=\"" << sy(v)
                << "\" stroke=\"#eee\"/><text x=\"" << ox + left - 4 << "\" y=\"" << sy(v) + 4
                << "\" text-anchor=\"end\" font-size=\"11\">" << t.label(k) << "</text>\n";
            svg << "<line x1=\"" << sx(v) << "\" x2=\"" << sx(v) << "\" y1=\"" << top << "\" y2=\"" << top + ph
                << "\" stroke=\"#eee\"/><text x=\"" << sx(v) << "\" y=\"" << top + ph + 16
                << "\" text-anchor=\"middle\" font-size=\"11\">" << t.label(k) << "</text>\n";
        }
        svg << "<text x=\"" << ox + left + pw / 2 << "\" y=\"" << height - 8 << "\" text-anchor=\"middle\" font-size=\"12\">true</text>\n";
        svg << "<text transform=\"translate(" << ox + 14 << "," << top + ph / 2
            << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">predicted</text>\n";
        // Many points overlap: small and translucent, so density shows. Past
        // kMaxPoints every k-th sample is drawn: librsvg renders 20,000 circles in a
        // fraction of a second, a million in minutes.
        double r = s.truth.size() > 2000 ? 1.2 : 2.0;
        const size_t stride = (s.truth.size() + kMaxPoints - 1) / kMaxPoints;
        for (size_t i = 0; i < s.truth.size() && i < s.predicted.size(); i += std::max<size_t>(stride, 1))
            if (std::isfinite(s.truth[i]) && std::isfinite(s.predicted[i]))
                svg << "<circle cx=\"" << sx(s.truth[i]) << "\" cy=\"" << sy(s.predicted[i]) << "\" r=\"" << r << "\" fill=\""
                    << kColours[0] << "\" fill-opacity=\"0.45\"/>";
        svg << "\n<line x1=\"" << sx(t.lo) << "\" y1=\"" << sy(t.lo) << "\" x2=\"" << sx(t.hi) << "\" y2=\"" << sy(t.hi)
            << "\" stroke=\"" << kColours[3] << "\" stroke-width=\"1.5\" stroke-dasharray=\"6,3\"/>\n";
        svg << "<text x=\"" << ox + left + pw - 4 << "\" y=\"20\" text-anchor=\"end\" font-size=\"11\" fill=\"" << kColours[3]
            << "\">- - y = x</text>\n";
    }
    svg << "</svg>\n";
    return svg.str();
}

std::string bars_svg(const std::string& title, const std::vector<std::string>& categories,
                     const std::vector<std::string>& series, const std::vector<std::vector<double>>& values, int height) {
    if (categories.empty() || series.empty()) throw DataError("", "nothing to plot");
    const int left = 48, top = 52, bar = 14, gap = 18;
    size_t longest = 0;
    for (const std::string& c : categories) longest = std::max(longest, c.size());
    const int right = 16 + int(std::min<size_t>(longest, 40) * 5);  // the last name runs out to the right
    // Class names run down at 40 degrees under their bars: room for the longest.
    const int bottom = 20 + int(double(std::min<size_t>(longest, 40)) * 6.5 * 0.64);
    // A few classes spread over the width; many make it wider.
    const int pw = std::max((bar * int(series.size()) + gap) * int(categories.size()), 300), width = left + pw + right;
    const int group = pw / int(categories.size());
    height = std::max(height, top + bottom + 120);
    const int ph = height - top - bottom;
    auto sy = [&](double v) { return top + (1 - v) * ph; };
    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
        << "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg << "<text x=\"" << left << "\" y=\"20\" font-size=\"15\">" << escape(title) << "</text>\n";
    for (int k = 0; k <= 5; ++k) {
        double v = k / 5.0;
        svg << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << sy(v) << "\" y2=\"" << sy(v)
            << "\" stroke=\"#eee\"/><text x=\"" << left - 4 << "\" y=\"" << sy(v) + 4 << "\" text-anchor=\"end\" font-size=\"11\">"
            << number(v) << "</text>\n";
    }
    for (size_t c = 0; c < categories.size(); ++c) {
        int gx = left + int(c) * group + (group - bar * int(series.size())) / 2;
        for (size_t s = 0; s < series.size(); ++s) {
            double v = c < values[s].size() ? values[s][c] : NAN;
            if (!std::isfinite(v)) continue;
            v = std::clamp(v, 0.0, 1.0);
            svg << "<rect x=\"" << gx + int(s) * bar << "\" y=\"" << sy(v) << "\" width=\"" << bar - 2 << "\" height=\""
                << sy(0) - sy(v) << "\" fill=\"" << kColours[s % 4] << "\"/>";
        }
        int cx = gx + bar * int(series.size()) / 2;
        std::string name = categories[c].size() > 40 ? categories[c].substr(0, 39) + "..." : categories[c];
        svg << "\n<text transform=\"translate(" << cx << "," << top + ph + 14 << ") rotate(40)\" font-size=\"11\">" << escape(name)
            << "</text>\n";
    }
    svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph << "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (size_t s = 0; s < series.size(); ++s) {  // legend under the title
        int lx = left + 90 * int(s), ly = 40;
        svg << "<rect x=\"" << lx << "\" y=\"" << ly - 9 << "\" width=\"10\" height=\"10\" fill=\"" << kColours[s % 4]
            << "\"/><text x=\"" << lx + 14 << "\" y=\"" << ly << "\" font-size=\"11\">" << escape(series[s]) << "</text>\n";
    }
    svg << "</svg>\n";
    return svg.str();
}

void save_chart_png(const std::string& svg, const std::string& path) {
    VipsBlob* blob = vips_blob_copy(svg.data(), svg.size());
    vips::VImage chart;
    try {
        chart = vips::VImage::svgload_buffer(blob);
    } catch (const vips::VError& e) {
        vips_area_unref(VIPS_AREA(blob));
        throw Error(kSoftware, "", std::string("cannot render the chart: ") + e.what());
    }
    vips_area_unref(VIPS_AREA(blob));
    save_picture(chart.flatten(vips::VImage::option()->set("background", std::vector<double>{255})), path, "png");
}

}  // namespace imgpipe
