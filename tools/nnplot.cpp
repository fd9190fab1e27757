// nnplot: draw nntrain's history (JSON lines) as a learning-curve PNG.
#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "view/chart.hpp"
#include "view/picture.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    App app("nnplot", "Draw a training history (nntrain --history) as learning curves in a PNG");
    std::string input = "-", output, svg_output;
    int width = 420, height = 300;
    CLI::App& cli = app.cli();
    cli.add_option("history", input, "History file, JSON lines (default: stdin)");
    cli.add_option("-o,--output", output, "Write the PNG to FILE (default: stdout)");
    cli.add_option("--svg", svg_output, "Also write the chart as SVG to FILE");
    cli.add_option("--size", width, "Width of each panel in pixels (default 420)")->check(CLI::Range(160, 4000));
    cli.add_option("--height", height, "Height in pixels (default 300)")->check(CLI::Range(120, 4000));

    return app.main(argc, argv, [&] {
        start_vips("nnplot");
        Input in(input);
        History history = read_history(in);
        std::string svg = history_svg(history, width, height);
        if (!svg_output.empty()) write_file_atomic(svg_output, svg.data(), svg.size());
        VipsBlob* blob = vips_blob_copy(svg.data(), svg.size());
        vips::VImage chart;
        try {
            chart = vips::VImage::svgload_buffer(blob);
        } catch (const vips::VError& e) {
            vips_area_unref(VIPS_AREA(blob));
            throw Error(kSoftware, "", std::string("cannot render the chart: ") + e.what());
        }
        vips_area_unref(VIPS_AREA(blob));
        save_picture(chart.flatten(vips::VImage::option()->set("background", std::vector<double>{255})), output, "png");
        app.note("nnplot: " + std::to_string(history.epochs.size()) + " epochs, " + std::to_string(history.names.size()) + " curves");
        return 0;
    });
}
