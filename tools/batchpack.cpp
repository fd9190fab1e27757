// batchpack: regroup a batch stream into batches, optionally shuffled through a window.
#include <iostream>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "stream/batch.hpp"
#include "stream/summary.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    App app("batchpack", "Regroup a batch stream into batches of -b samples (Keras batch_size, shuffle, last partial batch)");
    app.add_allow_skipped_option();
    app.add_seed_option();
    std::vector<std::string> inputs;
    std::string output;
    int64_t batch = 32, window = 0;
    bool drop_last = false, info = false;
    CLI::App& cli = app.cli();
    cli.add_option("streams", inputs, "Input streams (default: stdin)");
    cli.add_option("-b,--batch-size,--batch", batch, "Samples per batch (default 32, as Keras)")->check(CLI::PositiveNumber);
    cli.add_flag("--drop-last", drop_last, "Drop the partial batch at the end of each epoch");
    cli.add_option("--shuffle-buffer", window, "Shuffle through a window of K samples (seeded by --seed)")
        ->check(CLI::NonNegativeNumber);
    cli.add_flag("--info", info, "Print a summary of the stream (frames, samples, shapes, classes) instead of batches");
    cli.add_option("-o,--output", output, "Write to FILE (default: stdout)");

    return app.main(argc, argv, [&] {
        if (inputs.empty()) inputs.push_back("-");
        uint64_t seed = app.seed_given ? app.seed : fresh_seed();
        Batcher batcher(batch, drop_last, window, seed);
        StreamSummary summary;
        std::unique_ptr<Output> out;
        if (!info) out = std::make_unique<Output>(output, true);
        std::vector<Frame> ready;
        int64_t batches = 0, samples = 0;
        auto emit = [&] {
            for (const Frame& f : ready) {
                write_frame(*out, f);
                ++batches;
                samples += f.samples();
            }
            ready.clear();
        };
        auto print_info = [&] {
            Output text(output, false);
            text.write(summary.text());
            text.commit();
        };
        for (const std::string& path : inputs) {
            Input in(path);
            FrameReader reader(in);
            Frame frame;
            for (;;) {
                bool got = false;
                try {
                    got = reader.read(frame);
                } catch (const DataError&) {
                    if (info) print_info();  // what was read, then why the stream is bad
                    throw;
                }
                if (!got) break;
                if (info) {
                    try {
                        summary.add(frame, reader.where());
                    } catch (const DataError&) {
                        print_info();
                        throw;
                    }
                    continue;
                }
                try {
                    batcher.add(frame, ready);
                } catch (const DataError& e) {
                    throw DataError(reader.where(), e.what());
                }
                emit();
            }
        }
        if (info) {
            print_info();
            return 0;
        }
        batcher.finish(ready);
        emit();
        out->commit();
        std::string dropped = batcher.dropped() ? ", dropped " + std::to_string(batcher.dropped()) + " (--drop-last)" : "";
        app.note("batchpack: " + std::to_string(samples) + " samples in " + std::to_string(batches) + " batches" + dropped);
        return 0;
    });
}
