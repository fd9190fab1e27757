// imglist: list the images of a folder, with labels from its class folders,
// or the images of a table (--table), with the targets its columns hold.
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/random.hpp"
#include "image/label_map.hpp"
#include "list/pairs.hpp"
#include "list/table.hpp"
#include "list/walk.hpp"

using namespace imgpipe;

namespace {
struct Options {
    std::string root, subset, split, shard, output, classes_out;
    std::string masks, mask_colors, mask_col;  // segmentation pairs
    std::vector<std::string> classes, extensions;
    double validation_split = 0;
    bool no_labels = false, follow_links = false, hidden = false, shuffle = false, nul = false;
    // --table
    std::string table, x_col = "filename", weight_col, class_mode = "categorical", label_separator = "|", delimiter;
    std::vector<std::string> y_cols;  // empty: class
    bool keep_going = false, allow_skipped = false, allow_duplicates = false;
};

// Which rows of a table the subset of --validation-split takes, row by row in
// table order: hash (a table's default) or keras (the first rows, as
// flow_from_dataframe, counted among the rows whose files are there).
struct TableSplit {
    const Options& o;
    const App& app;
    size_t cut = 0, present_seen = 0;
    TableSplit(const Options& options, const App& a, const Table& table) : o(options), app(a) {
        cut = size_t(o.validation_split * double(table.rows() - table.missing()));
    }
    bool keeps(const std::string& path, bool missing) {
        if (o.validation_split <= 0) return true;
        bool validation;
        if (o.split == "keras") {
            validation = present_seen < cut;  // a missing row before the first training row is validation
            present_seen += !missing;
        } else {
            // A seeded hash of the file name as the table writes it (relative to
            // FOLDER): membership stays put when the table grows or is reordered.
            const std::string prefix = o.root.empty() || o.root.back() == '/' ? o.root : o.root + "/";
            const size_t skip = !prefix.empty() && path.rfind(prefix, 0) == 0 ? prefix.size() : 0;
            uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then mixed with the seed (as --split hash for folders)
            for (size_t i = skip; i < path.size(); ++i) h = (h ^ static_cast<unsigned char>(path[i])) * 0x100000001b3ull;
            validation = double(mix64(h ^ mix64(app.seed)) >> 11) * 0x1.0p-53 < o.validation_split;
        }
        return validation == (o.subset == "validation");
    }
};

// The classes a mask's values stand for: --classes, or a colour map's names.
std::vector<std::string> mask_classes_of(const Options& o) {
    if (!o.classes.empty() && !o.mask_colors.empty()) throw UsageError("name the masks' classes once: --classes or --mask-colors");
    std::vector<std::string> names = o.mask_colors.empty() ? o.classes : ColorMap::read(o.mask_colors).names;
    if (names.empty())
        throw UsageError("masks need the classes their values stand for: --classes NAME,NAME,... (value 0 first) or --mask-colors FILE");
    if (names.size() > 256) throw UsageError("a mask holds 8-bit values: at most 256 classes");
    return names;
}

int list_table(const Options& o, App& app) {
    TableOptions t;
    if (!parse_table_mode(o.class_mode, t.mode)) {
        if (o.class_mode == "multi_output")
            throw UsageError("--class-mode multi_output: a model here has one output; take several numbers with raw "
                             "or several classes with categorical");
        throw UsageError("--class-mode: \"" + o.class_mode + "\" is not categorical, binary, sparse, raw, input or none");
    }
    std::vector<std::string> mask_classes;
    if (!o.mask_col.empty()) {  // the masks are the targets
        if (app.cli().count("--y-col") || app.cli().count("--class-mode"))
            throw UsageError("--mask-col: the masks are the targets; leave out --y-col and --class-mode");
        if (o.no_labels) throw UsageError("--no-labels lists images alone: leave out --mask-col");
        mask_classes = mask_classes_of(o);
        t.mode = TableMode::none, t.mask_col = o.mask_col;
    }
    const bool targets = t.mode != TableMode::input && t.mode != TableMode::none;
    if (!o.classes.empty() && o.mask_col.empty() && (t.mode == TableMode::raw || !targets))
        throw UsageError("--classes names classes; --class-mode " + o.class_mode + " has none");
    if (!o.weight_col.empty() && t.mode == TableMode::none)
        throw UsageError("--weight-col: --class-mode none has no target to weigh (input weighs the image)");
    if (targets && t.mode != TableMode::raw && o.y_cols.size() > 1)
        throw UsageError("--y-col: --class-mode " + o.class_mode + " reads one column (raw reads several)");
    if (o.delimiter.empty()) {
        const std::string& f = o.table;
        auto ends = [&f](const char* ext) { return f.size() >= 4 && f.compare(f.size() - 4, 4, ext) == 0; };
        t.delimiter = ends(".tsv") || ends(".tab") || ends(".TSV") ? '\t' : ',';
    } else if (o.delimiter == "\\t" || o.delimiter == "tab" || o.delimiter == "\t") {
        t.delimiter = '\t';
    } else if (o.delimiter.size() == 1 && o.delimiter != "\"" && o.delimiter != "\n" && o.delimiter != "\r") {
        t.delimiter = o.delimiter[0];
    } else {
        throw UsageError("--delimiter wants one character (or tab), not \"" + o.delimiter + "\"");
    }
    t.x_col = o.x_col, t.y_cols = o.y_cols.empty() ? std::vector<std::string>{"class"} : o.y_cols;
    t.weight_col = o.weight_col, t.label_separator = o.label_separator;
    t.classes = o.mask_col.empty() ? o.classes : std::vector<std::string>{}, t.directory = o.root, t.allow_tabs = o.nul, t.allow_duplicates = o.allow_duplicates;
    for (size_t i = 0; i < o.classes.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (o.classes[i] == o.classes[j]) throw UsageError("--classes names \"" + o.classes[i] + "\" twice");

    // A file is read twice (checked, then listed) so that memory stays flat;
    // a pipe, or a list to shuffle, is kept whole.
    Input in(o.table);
    t.keep_rows = o.shuffle || !in.seekable();
    const Table table = read_table(in, t);
    if (table.rows() == 0) throw DataError(table.name, "no rows under the header");

    // Files not there: each named by its row (in any subset: the table names
    // them), refused unless --keep-going, which lists them as
    // "PATH<TAB>missing" for imgprep to record as skipped.
    for (const Table::MissingRow& m : table.missing_rows)
        app.warn(table.name + ":" + std::to_string(m.line), "file not found: " + m.path);
    const size_t missing = table.missing();
    const std::string missing_text = std::to_string(missing) + (missing == 1 ? " row names a file" : " rows name files") +
                                     " not found";
    if (missing && !o.keep_going) throw DataError(table.name, missing_text + " (--keep-going lists the others)");

    // Every class is declared first, so that any part of the list (a subset,
    // a shard, its head) still numbers and names them all.
    Output out(o.output, false);
    for (size_t c = 0; c < mask_classes.size(); ++c)
        out.write(format_list_line(ListEntry::of_class("", int32_t(c), mask_classes[c]), o.nul));
    if (!o.no_labels && (table.kind == TargetKind::one_class || table.kind == TargetKind::classes))
        for (size_t c = 0; c < table.classes.size(); ++c)
            out.write(format_list_line(ListEntry::of_class("", int32_t(c), table.classes[c]), o.nul));
    if (!o.no_labels && table.kind == TargetKind::numbers) {
        ListEntry names;
        names.target_names = table.target_names;
        out.write(format_list_line(names, o.nul));
    }
    const Shard shard = o.shard.empty() ? Shard() : parse_shard(o.shard);
    size_t kept = 0, kept_missing = 0;
    auto write = [&](ListEntry e) {
        kept_missing += e.missing;
        ++kept;
        if (o.no_labels && !e.missing) e = ListEntry::unlabelled(e.path);
        out.write(format_list_line(e, o.nul));
    };
    TableSplit split(o, app, table);
    if (table.kept()) {  // split, shuffle, then shard, as a folder's images
        std::vector<size_t> keep;
        for (size_t i = 0; i < table.rows(); ++i)
            if (split.keeps(table.path(i), table.is_missing(i))) keep.push_back(i);
        if (o.shuffle) {
            std::vector<uint64_t> order = permutation(keep.size(), app.seed_given ? app.seed : fresh_seed(), 0);
            std::vector<size_t> shuffled(keep.size());
            for (size_t i = 0; i < keep.size(); ++i) shuffled[i] = keep[order[i]];
            keep.swap(shuffled);
        }
        for (size_t i = 0; i < keep.size(); ++i)
            if (shard.holds(i)) write(table.entry(keep[i]));
    } else {
        size_t position = 0;
        reread_table(in, t, table, [&](size_t, int64_t, const ListEntry& e) {
            if (split.keeps(e.path, e.missing) && shard.holds(position++)) write(e);
        });
    }
    out.commit();
    if (!o.classes_out.empty()) {
        std::string text;
        for (const std::string& c : table.classes) text += c + "\n";
        write_file_atomic(o.classes_out, text.data(), text.size());
    }
    // Keras' words (flow_from_dataframe).
    const std::string found = "imglist: Found " + std::to_string(kept - kept_missing) + " validated image filenames";
    if (!mask_classes.empty()) app.note(found + " with masks of " + std::to_string(mask_classes.size()) + " classes.");
    else app.note(found + (table.classes.empty() ? "." : " belonging to " + std::to_string(table.classes.size()) + " classes."));
    if (kept == 0) {
        std::ostringstream part;
        if (!o.subset.empty()) part << "the " << o.subset << " subset of --validation-split " << o.validation_split << " (--split " << o.split << ")";
        if (!o.shard.empty()) part << (o.subset.empty() ? "" : " and ") << "shard " << o.shard;
        throw DataError(table.name, "no rows in " + part.str() + ": the table holds " + std::to_string(table.rows()));
    }
    if (missing) {
        app.warn(table.name, missing_text + (kept_missing == missing ? "" : " (" + std::to_string(kept_missing) + " in this list)") +
                                 ", listed as missing" + (o.allow_skipped ? "" : "; --allow-skipped accepts them"));
        return o.allow_skipped ? int(kOk) : int(kDataErr);
    }
    return int(kOk);
}
}  // namespace

int main(int argc, char** argv) {
    App app("imglist", "List the images of a folder (labels from class folders) or of a table (--table) as list lines");
    app.add_seed_option();
    Options o;
    CLI::App& cli = app.cli();
    cli.add_option("folder", o.root, "Folder of class folders (or of images); with --table, what file names are relative to");
    // One comma-separated word per use, so that the folder after it stays the folder.
    cli.add_option("--classes", o.classes, "Only these class folders (a table: these classes; --masks: the masks' classes, value 0 first), numbered in this order")
        ->delimiter(',')
        ->allow_extra_args(false);
    cli.add_flag("--no-labels", o.no_labels, "Write paths only");
    cli.add_option("--ext", o.extensions, "Extensions to keep (default: png,jpg,jpeg,bmp,ppm,pgm,pbm,tif,tiff,webp,gif)")
        ->delimiter(',')
        ->allow_extra_args(false);
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
    cli.add_option("--split", o.split,
                   "keras: first fraction of each class (a table: of the table); hash: seeded hash of the path (a table's default)")
        ->check(CLI::IsMember({"keras", "hash"}));
    cli.add_option("--shard", o.shard, "List only shard K of N (round robin, K from 1)");
    cli.add_flag("-0,--null", o.nul, "End records with NUL instead of newline");
    cli.add_option("--classes-out", o.classes_out, "Write the class names, one per line, to FILE");
    cli.add_option("-o,--output", o.output, "Write the list to FILE (default: stdout)");
    // Tables (flow_from_dataframe).
    CLI::Option* table = cli.add_option("--table", o.table, "Read a table (CSV or TSV with a header row) instead of a folder");
    cli.add_option("--x-col", o.x_col, "--table: the column of file names (default: filename)")->needs(table);
    cli.add_option("--y-col", o.y_cols, "--table: the target column (raw: several, comma-separated; default: class)")
        ->delimiter(',')
        ->allow_extra_args(false)
        ->needs(table);
    cli.add_option("--weight-col", o.weight_col, "--table: the column of sample weights")->needs(table);
    cli.add_option("--class-mode", o.class_mode, "--table: categorical (default), binary, sparse, raw, input or none")->needs(table);
    cli.add_option("--label-separator", o.label_separator, "--table: what separates several classes in a cell (default: |)")
        ->needs(table);
    cli.add_option("--delimiter", o.delimiter, "--table: the field separator (default: tab for .tsv, comma otherwise)")->needs(table);
    cli.add_flag("-k,--keep-going", o.keep_going,
                 "--table: list missing files as PATH<TAB>missing; --masks: list the pairs; a warning for each, exit 65 at the end");
    cli.add_flag("--allow-skipped", o.allow_skipped, "With --keep-going, exit 0 although files were missing or unpaired");
    // Segmentation pairs.
    CLI::Option* masks = cli.add_option("--masks", o.masks, "Pair each image with the mask of the same relative path and stem in FOLDER (any image extension)");
    cli.add_option("--mask-col", o.mask_col, "--table: the column of each image's mask (segmentation)")->needs(table);
    cli.add_option("--mask-colors", o.mask_colors, "--masks, --mask-col: the classes, named by a colour map (JSON, as imgprep --mask-colors)");
    masks->excludes(table);
    cli.add_flag("--allow-duplicates", o.allow_duplicates, "--table: keep rows that name the same file (as Keras)")->needs(table);
    for (const char* name : {"--ext", "--follow-links", "--hidden"}) cli.get_option(name)->excludes(table);

    return app.main(argc, argv, [&] {
        if (o.validation_split > 0 && o.subset.empty()) throw UsageError("--validation-split needs --subset training|validation");
        if (!o.subset.empty() && o.validation_split <= 0) throw UsageError("--subset needs --validation-split");
        if (o.allow_skipped && !o.keep_going) throw UsageError("--allow-skipped needs --keep-going");
        if (o.keep_going && o.table.empty() && o.masks.empty()) throw UsageError("--keep-going is for --table or --masks");
        if (!o.mask_colors.empty() && o.masks.empty() && o.mask_col.empty()) throw UsageError("--mask-colors names the classes of --masks or --mask-col");
        if (!o.table.empty()) {
            if (o.split.empty()) o.split = "hash";  // a table's rows come in any order: the head of it is no sample
            return list_table(o, app);
        }
        if (o.root.empty()) throw UsageError("a folder is required (or --table FILE)");
        if (o.split.empty()) o.split = "keras";
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
        auto warn = [&](const std::string& path, const std::string& message, bool loss) {
            lost += loss;
            app.warn(path, message);
        };
        // Pairs: the folder's whole tree (no class folders), each image with its mask.
        size_t unpaired = 0;
        std::vector<std::string> mask_classes;
        Listing listing;
        if (!o.masks.empty()) {
            if (o.no_labels) throw UsageError("--no-labels lists images alone: leave out --masks");
            mask_classes = mask_classes_of(o);
            const std::vector<std::string> images = walk_tree(o.root, walk, warn);
            WalkOptions mask_walk = walk;
            mask_walk.extensions = kDefaultExtensions;
            const MaskPairing pairing = pair_masks(images, o.root, walk_tree(o.masks, mask_walk, warn), o.masks);
            for (const auto& [path, what] : pairing.problems) app.warn(path, what);
            unpaired = pairing.problems.size();
            if (unpaired && !o.keep_going)
                throw DataError(o.root, std::to_string(unpaired) + (unpaired == 1 ? " image or mask does" : " images or masks do") +
                                            " not pair (--keep-going lists the pairs)");
            for (const ListEntry& e : pairing.pairs) {
                if (e.mask.find_first_of("\t\n") != std::string::npos)
                    throw DataError(e.mask, "a mask's path may not hold a tab or newline");
                listing.entries.push_back(e);
                listing.class_of.push_back(0);
            }
        } else {
            listing = walk_directory(o.root, walk, warn);
        }

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
        for (size_t c = 0; c < mask_classes.size(); ++c)  // a mask holds indices: every class is declared
            out.write(format_list_line(ListEntry::of_class("", int32_t(c), mask_classes[c]), o.nul));
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
            for (const std::string& c : mask_classes.empty() ? listing.classes : mask_classes) text += c + "\n";
            write_file_atomic(o.classes_out, text.data(), text.size());
        }
        if (o.masks.empty())
            app.note("imglist: Found " + std::to_string(keep.size()) + " images belonging to " +
                     std::to_string(listing.classes.size()) + " classes.");
        else
            app.note("imglist: Found " + std::to_string(keep.size()) + " images with masks of " +
                     std::to_string(mask_classes.size()) + " classes.");
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
        if (unpaired) {
            app.warn(o.root, std::to_string(unpaired) + " unpaired image" + (unpaired == 1 ? "" : "s") + " or mask" +
                                 (unpaired == 1 ? "" : "s") + " left out" + (o.allow_skipped ? "" : "; --allow-skipped accepts that"));
            if (!o.allow_skipped) return int(kDataErr);
        }
        return lost ? int(kNoInput) : int(kOk);
    });
}
