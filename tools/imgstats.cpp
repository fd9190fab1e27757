// imgstats: per-channel mean and standard deviation of a stream's images
// (Keras' ImageDataGenerator.fit()), for imgprep's featurewise normalization.
#include "augment/augment.hpp"
#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "stream/frame.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    App app("imgstats", "Per-channel mean and std of a batch stream's images, as JSON (Keras' ImageDataGenerator.fit)");
    app.add_allow_skipped_option();
    std::string input = "-", output = "-", tensor = "x";
    CLI::App& cli = app.cli();
    cli.add_option("stream", input, "Input stream (default: stdin)");
    cli.add_option("--tensor", tensor, "Which image tensor (default x)");
    cli.add_option("-o,--output", output, "Write the JSON to FILE (default: stdout)");

    return app.main(argc, argv, [&] {
        Input in(input);
        FrameReader reader(in);
        Frame frame;
        std::unique_ptr<StatsAccumulator> stats;
        std::string dtype;
        int64_t samples = 0, channels = 0;
        while (reader.read(frame)) {
            const Tensor* t = frame.find(tensor);
            if (!t || t->shape.size() != 4 || t->dtype == DType::I32)
                throw DataError(reader.where(), "no image tensor \"" + tensor + "\" [n,h,w,c] of U8 or F32");
            if (!stats) {
                channels = t->shape[3];
                dtype = dtype_name(t->dtype);
                stats = std::make_unique<StatsAccumulator>(int(channels));
            }
            if (t->shape[3] != channels || dtype != dtype_name(t->dtype))
                throw DataError(reader.where(), "channels or dtype changed mid-stream");
            size_t pixels = size_t(t->shape[1] * t->shape[2]), sample = pixels * size_t(channels);
            for (int64_t i = 0; i < t->shape[0]; ++i) {
                if (t->dtype == DType::U8) stats->add_u8(t->values<uint8_t>() + size_t(i) * sample, pixels, int(channels));
                else stats->add_f32(t->values<float>() + size_t(i) * sample, pixels, int(channels));
            }
            samples += t->shape[0];
        }
        if (!stats) throw DataError(in.name(), "empty stream: no images to measure");
        ChannelStats result = stats->result(samples);
        result.dtype = dtype;
        Output out(output, false);
        out.write(result.to_json());
        out.commit();
        app.note("imgstats: " + std::to_string(samples) + " images, " + std::to_string(channels) + " channels");
        return 0;
    });
}
