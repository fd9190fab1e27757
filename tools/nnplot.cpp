// nnplot: draw nntrain's history (JSON lines) as a learning-curve PNG.
#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "view/chart.hpp"
#include "view/picture.hpp"

using namespace imgpipe;

namespace {
// "--size WxH", or "--size W" (the old spelling: the width alone).
void parse_panel_size(const std::string& text, bool height_given, int& width, int& height) {
    auto number = [&](const std::string& part, int low, const char* what) {
        if (part.empty() || part.size() > 5 || part.find_first_not_of("0123456789") != std::string::npos)
            throw UsageError("--size " + text + ": expected WxH in pixels, such as 420x300 (or W alone)");
        int v = std::stoi(part);
        if (v < low || v > 4000)
            throw UsageError("--size " + text + ": the " + what + " must be " + std::to_string(low) + " to 4000 pixels");
        return v;
    };
    size_t x = text.find_first_of("xX");
    width = number(text.substr(0, x), 160, "width");
    if (x == std::string::npos) return;
    if (height_given) throw UsageError("--size " + text + " and --height both give the height; give it once");
    height = number(text.substr(x + 1), 120, "height");
}
}  // namespace

int main(int argc, char** argv) {
    App app("nnplot", "Draw a training history (nntrain --history) as learning curves in a PNG");
    std::string input = "-", output, svg_output, size;
    int width = 420, height = 300;
    CLI::App& cli = app.cli();
    cli.add_option("history", input, "History file, JSON lines (default: stdin)");
    cli.add_option("-o,--output", output, "Write the PNG to FILE (default: stdout)");
    cli.add_option("--svg", svg_output, "Also write the chart as SVG to FILE");
    cli.add_option("-s,--size", size, "Each panel's WxH in pixels, as imgprep's --size (default 420x300); W alone sets the width");
    CLI::Option* height_option =
        cli.add_option("--height", height, "Height in pixels (default 300; the H of --size WxH)")->check(CLI::Range(120, 4000));

    return app.main(argc, argv, [&] {
        if (!size.empty()) parse_panel_size(size, height_option->count() > 0, width, height);
        start_vips("nnplot");
        Input in(input);
        History history = read_history(in);
        std::string svg = history_svg(history, width, height);
        if (!svg_output.empty()) write_file_atomic(svg_output, svg.data(), svg.size());
        save_chart_png(svg, output);
        app.note("nnplot: " + std::to_string(history.epochs.size()) + " epochs, " + std::to_string(history.names.size()) + " curves");
        return 0;
    });
}
