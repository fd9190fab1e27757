// imglist: list the images of a folder, with labels from its class folders,
// or the images of a table (--table), with the targets its columns hold.
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/random.hpp"
#include "list/table.hpp"
#include "list/walk.hpp"

using namespace imgpipe;

namespace {
struct Options {
    std::string root, subset, split, shard, output, classes_out;
    std::vector<std::string> classes, extensions;
    double validation_split = 0;
    bool no_labels = false, follow_links = false, hidden = false, shuffle = false, nul = false;
    // --table
    std::string table, x_col = "filename", weight_col, class_mode = "categorical", label_separator = "|", delimiter;
    std::vector<std::string> y_cols;  // empty: class
    bool keep_going = false, allow_skipped = false, allow_duplicates = false;
};

// The rows of `table` that a list keeps: the subset of --validation-split
// (hash by default; keras: the first rows, as flow_from_dataframe), shuffled,
// then sharded, as a folder's images are.
std::vector<size_t> table_rows(const Table& table, const Options& o, const App& app) {
    std::vector<size_t> keep;
    if (o.validation_split > 0) {
        const bool validation = o.subset == "validation";
        std::vector<bool> in_validation(table.rows());
        if (o.split == "keras") {
            // Keras drops missing files, then takes rows [0, int(F * n)): the rows
            // before the first training row are validation (a missing one too).
            size_t present = table.rows() - table.missing(), cut = size_t(o.validation_split * double(present)), seen = 0;
            for (size_t i = 0; i < table.rows(); ++i) {
                in_validation[i] = seen < cut;
                seen += !table.is_missing(i);
            }
        } else {
            // A seeded hash of the file name as the table writes it (relative to
            // FOLDER): membership stays put when the table grows or is reordered.
            const std::string prefix = o.root.empty() || o.root.back() == '/' ? o.root : o.root + "/";
            for (size_t i = 0; i < table.rows(); ++i) {
                std::string rel = table.path(i);
                if (!prefix.empty() && rel.rfind(prefix, 0) == 0) rel.erase(0, prefix.size());
                uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then mixed with the seed (as --split hash for folders)
                for (unsigned char ch : rel) h = (h ^ ch) * 0x100000001b3ull;
                in_validation[i] = double(mix64(h ^ mix64(app.seed)) >> 11) * 0x1.0p-53 < o.validation_split;
            }
        }
        for (size_t i = 0; i < table.rows(); ++i)
            if (in_validation[i] == validation) keep.push_back(i);
    } else {
        keep.resize(table.rows());
        for (size_t i = 0; i < keep.size(); ++i) keep[i] = i;
    }
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
    return keep;
}

int list_table(const Options& o, const App& app) {
    TableOptions t;
    if (!parse_table_mode(o.class_mode, t.mode)) {
        if (o.class_mode == "multi_output")
            throw UsageError("--class-mode multi_output: a model here has one output; take several numbers with raw "
                             "or several classes with categorical");
        throw UsageError("--class-mode: \"" + o.class_mode + "\" is not categorical, binary, sparse, raw, input or none");
    }
    const bool targets = t.mode != TableMode::input && t.mode != TableMode::none;
    if (!o.classes.empty() && (t.mode == TableMode::raw || !targets))
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
    t.classes = o.classes, t.directory = o.root, t.allow_tabs = o.nul, t.allow_duplicates = o.allow_duplicates;
    for (size_t i = 0; i < o.classes.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (o.classes[i] == o.classes[j]) throw UsageError("--classes names \"" + o.classes[i] + "\" twice");

    Input in(o.table);
    const Table table = read_table(in, t);
    if (table.rows() == 0) throw DataError(table.name, "no rows under the header");
    const std::vector<size_t> keep = table_rows(table, o, app);

    // Files not there: each named by its row; refused unless --keep-going,
    // which lists them as "PATH<TAB>missing" for imgprep to record as skipped.
    size_t missing = 0;
    for (size_t i : keep)
        if (table.is_missing(i)) {
            ++missing;
            app.warn(table.name + ":" + std::to_string(table.line(i)), "file not found: " + table.path(i));
        }
    const std::string missing_text = std::to_string(missing) + (missing == 1 ? " row names a file" : " rows name files") +
                                     " not found";
    if (missing && !o.keep_going) throw DataError(table.name, missing_text + " (--keep-going lists the others)");

    const bool labelled = !o.no_labels && (table.kind == TargetKind::one_class || table.kind == TargetKind::classes);
    std::vector<bool> used(table.classes.size(), false);
    for (size_t i : keep)
        if (!table.is_missing(i))
            for (int32_t c : table.labels(i)) used[size_t(c)] = true;
    Output out(o.output, false);
    if (labelled)  // a class no row of this list has (a --classes name, a split) is declared first
        for (size_t c = 0; c < table.classes.size(); ++c)
            if (!used[c]) out.write(format_list_line(ListEntry::of_class("", int32_t(c), table.classes[c]), o.nul));
    if (!o.no_labels && table.kind == TargetKind::numbers) {
        ListEntry names;
        names.target_names = table.target_names;
        out.write(format_list_line(names, o.nul));
    }
    for (size_t i : keep) {
        ListEntry e = table.entry(i);
        if (o.no_labels && !e.missing) e = ListEntry::unlabelled(e.path);
        out.write(format_list_line(e, o.nul));
    }
    out.commit();
    if (!o.classes_out.empty()) {
        std::string text;
        for (const std::string& c : table.classes) text += c + "\n";
        write_file_atomic(o.classes_out, text.data(), text.size());
    }
    // Keras' words (flow_from_dataframe).
    const std::string found = "imglist: Found " + std::to_string(keep.size() - missing) + " validated image filenames";
    app.note(found + (table.classes.empty() ? "." : " belonging to " + std::to_string(table.classes.size()) + " classes."));
    if (keep.empty()) {
        std::ostringstream part;
        if (!o.subset.empty()) part << "the " << o.subset << " subset of --validation-split " << o.validation_split << " (--split " << o.split << ")";
        if (!o.shard.empty()) part << (o.subset.empty() ? "" : " and ") << "shard " << o.shard;
        throw DataError(table.name, "no rows in " + part.str() + ": the table holds " + std::to_string(table.rows()));
    }
    if (missing) {
        app.warn(table.name, missing_text + ", listed as missing" + (o.allow_skipped ? "" : "; --allow-skipped accepts them"));
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
    cli.add_option("--classes", o.classes, "Only these class folders (a table: these classes), numbered in this order")
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
    cli.add_flag("-k,--keep-going", o.keep_going, "--table: list missing files as PATH<TAB>missing (warning for each), exit 65 at the end")
        ->needs(table);
    cli.add_flag("--allow-skipped", o.allow_skipped, "--table: with --keep-going, exit 0 although files were missing")->needs(table);
    cli.add_flag("--allow-duplicates", o.allow_duplicates, "--table: keep rows that name the same file (as Keras)")->needs(table);
    for (const char* name : {"--ext", "--follow-links", "--hidden"}) cli.get_option(name)->excludes(table);

    return app.main(argc, argv, [&] {
        if (o.validation_split > 0 && o.subset.empty()) throw UsageError("--validation-split needs --subset training|validation");
        if (!o.subset.empty() && o.validation_split <= 0) throw UsageError("--subset needs --validation-split");
        if (o.allow_skipped && !o.keep_going) throw UsageError("--allow-skipped needs --keep-going");
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
