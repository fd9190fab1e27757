// imglist: list the images of a folder, with labels from its class folders.
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/random.hpp"
#include "list/walk.hpp"

using namespace imgpipe;

namespace {
struct Options {
    std::string root, subset, split = "keras", shard, output, classes_out;
    std::vector<std::string> classes, extensions;
    double validation_split = 0;
    bool no_labels = false, follow_links = false, hidden = false, shuffle = false, nul = false;
};
}  // namespace

int main(int argc, char** argv) {
    App app("imglist", "List the images of a folder as list lines (PATH<TAB>LABEL<TAB>CLASS), labels from class folders");
    app.add_seed_option();
    Options o;
    CLI::App& cli = app.cli();
    cli.add_option("folder", o.root, "Folder of class folders (or of images)")->required();
    cli.add_option("--classes", o.classes, "Only these class folders, numbered in this order")->delimiter(',');
    cli.add_flag("--no-labels", o.no_labels, "Write paths only");
    cli.add_option("--ext", o.extensions, "Extensions to keep (default: png,jpg,jpeg,bmp,ppm,pgm,pbm,tif,tiff,webp,gif)")->delimiter(',');
    cli.add_flag("--follow-links", o.follow_links, "Descend into symbolic links to folders (loops are detected)");
    cli.add_flag("--hidden", o.hidden, "Keep files and folders whose names start with '.'");
    cli.add_flag("--shuffle", o.shuffle, "Shuffle the list (seeded by --seed)");
    // 0 < F < 1, as Keras: 1 would hold out every image and leave no training set.
    auto fraction = CLI::Validator(
        [](std::string& in) {
            char* end = nullptr;
            double f = std::strtod(in.c_str(), &end);
            bool ok = !in.empty() && *end == '\0' && f > 0 && f < 1;
            return ok ? std::string() : in + " is not a fraction between 0 and 1 (both excluded)";
        },
        "F");
    cli.add_option("--validation-split", o.validation_split, "Fraction held out for validation (0 < F < 1)")->check(fraction);
    cli.add_option("--subset", o.subset, "Which part of the split to list")->check(CLI::IsMember({"training", "validation"}));
    cli.add_option("--split", o.split, "keras: first fraction of each class; hash: seeded hash of the path")
        ->check(CLI::IsMember({"keras", "hash"}));
    cli.add_option("--shard", o.shard, "List only shard K of N (round robin, K from 1)");
    cli.add_flag("-0,--null", o.nul, "End records with NUL instead of newline");
    cli.add_option("--classes-out", o.classes_out, "Write the class names, one per line, to FILE");
    cli.add_option("-o,--output", o.output, "Write the list to FILE (default: stdout)");

    return app.main(argc, argv, [&] {
        if (o.validation_split > 0 && o.subset.empty()) throw UsageError("--validation-split needs --subset training|validation");
        if (!o.subset.empty() && o.validation_split <= 0) throw UsageError("--subset needs --validation-split");
        WalkOptions walk;
        walk.classes = o.classes;
        walk.extensions = o.extensions.empty() ? kDefaultExtensions : o.extensions;
        for (std::string& e : walk.extensions) {
            if (!e.empty() && e[0] == '.') e.erase(0, 1);
            for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
        }
        walk.follow_links = o.follow_links;
        walk.hidden = o.hidden;
        int lost = 0;
        Listing listing = walk_directory(o.root, walk, [&](const std::string& path, const std::string& message, bool loss) {
            lost += loss;
            app.warn(path, message);
        });

        std::vector<size_t> keep;
        std::vector<bool> validation;
        if (o.validation_split > 0)
            validation = o.split == "hash" ? split_hash(listing, o.root, o.validation_split, app.seed)
                                           : split_head(listing, o.validation_split);
        for (size_t i = 0; i < listing.entries.size(); ++i)
            if (validation.empty() || validation[i] == (o.subset == "validation")) keep.push_back(i);
        if (o.shuffle) {
            std::vector<uint64_t> order = permutation(keep.size(), app.seed_given ? app.seed : fresh_seed(), 0);
            std::vector<size_t> shuffled(keep.size());
            for (size_t i = 0; i < keep.size(); ++i) shuffled[i] = keep[order[i]];
            keep.swap(shuffled);
        }
        if (!o.shard.empty()) {
            const Shard shard = parse_shard(o.shard);
            std::vector<size_t> mine;
            for (size_t i = 0; i < keep.size(); ++i)
                if (shard.holds(i)) mine.push_back(keep[i]);
            keep.swap(mine);
        }

        // Every class folder is a class, empty or not (Keras): a class with no
        // image in this list is declared by a line of its own, first.
        std::vector<bool> listed(listing.classes.size(), false);
        for (size_t i : keep)
            if (!listing.classes.empty()) listed[listing.class_of[i]] = true;
        Output out(o.output, false);
        if (!o.no_labels)
            for (size_t c = 0; c < listing.classes.size(); ++c) {
                if (listed[c]) continue;
                out.write(format_list_line(ListEntry::of_class("", int32_t(c), listing.classes[c]), o.nul));
            }
        for (size_t i : keep) {
            ListEntry e = listing.entries[i];
            if (o.no_labels) e = ListEntry::unlabelled(e.path);
            if (!o.nul && e.path.find_first_of("\t\n") != std::string::npos)
                throw DataError(e.path, "path holds a tab or newline; use -0");
            out.write(format_list_line(e, o.nul));
        }
        out.commit();
        if (!o.classes_out.empty()) {
            std::string text;
            for (const std::string& c : listing.classes) text += c + "\n";
            write_file_atomic(o.classes_out, text.data(), text.size());
        }
        app.note("imglist: Found " + std::to_string(keep.size()) + " images belonging to " + std::to_string(listing.classes.size()) +
                 " classes.");
        // Images were found, but the split or the shard asked for took none of them.
        if (keep.empty() && !listing.entries.empty()) {
            std::ostringstream part;
            if (!o.subset.empty()) {
                part << "the " << o.subset << " subset of --validation-split " << o.validation_split;
                if (o.split == "keras") part << " (int(F x N) of each class's N images, as Keras)";
            }
            if (!o.shard.empty()) part << (o.subset.empty() ? "" : " and ") << "shard " << o.shard;
            throw DataError(o.root, "no images in " + part.str() + ": the folder holds " +
                                        std::to_string(listing.entries.size()));
        }
        if (keep.empty()) {
            std::string looked;
            for (size_t i = 0; i < walk.extensions.size(); ++i)
                looked += std::string(i == 0 ? "" : i + 1 == walk.extensions.size() ? " or " : ", ") + "." + walk.extensions[i];
            throw NoInputError(o.root, "no images found (no file ends in " + looked + ")");
        }
        return lost ? int(kNoInput) : int(kOk);
    });
}
