// A table of images (CSV or TSV with a header row), read into list lines as
// Keras' flow_from_dataframe reads a DataFrame: a file-name column (x_col),
// target columns (y_col), an optional weight column (weight_col), a folder
// relative names are relative to (directory). Parsed by libcsv (RFC 4180),
// fed one physical line at a time so that every error names its line; a row
// is kept as a path and its targets, not as its cells.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/io.hpp"
#include "list/list.hpp"

namespace imgpipe {

// Keras' class_mode names; multi_output is refused by the caller (one output only).
enum class TableMode { categorical, binary, sparse, raw, input, none };
// "categorical" -> TableMode; false for any other word.
bool parse_table_mode(const std::string& word, TableMode& mode);

struct TableOptions {
    char delimiter = ',';
    std::string x_col = "filename";
    std::vector<std::string> y_cols = {"class"};
    std::string weight_col;  // empty: no weights
    std::string mask_col;    // segmentation: each row's mask (the targets; y_cols unread)
    TableMode mode = TableMode::categorical;
    std::string label_separator = "|";  // several classes in one cell (besides a ['a', 'b'] list)
    std::vector<std::string> classes;   // explicit classes, in this order; empty: the sorted set of names
    std::string directory;              // relative file names are joined to it; empty: as written
    bool allow_tabs = false;            // -0: a file name may hold tabs and newlines
    bool allow_duplicates = false;      // Keras keeps every row; we refuse a file named twice unless asked
    bool check_files = true;            // stat each file once; a row whose file is not there is `missing`
    // Keep every row (its path and targets) in the Table. Without it (a file,
    // not a pipe), the Table holds what the rows add up to (classes, the
    // missing rows, 8 bytes a row to find duplicates, freed after), and
    // reread_table hands the rows on one by one: memory stays flat.
    bool keep_rows = true;
};

class Table;
using RowFunction = std::function<void(size_t index, int64_t line, const ListEntry& entry)>;
void reread_table(Input& in, const TableOptions& options, const Table& first, const RowFunction& each);

class Table {
public:
    std::string name;                       // the file, for messages
    TargetKind kind = TargetKind::none;     // one_class, classes (a list in some cell), numbers, mask, none
    std::vector<std::string> classes;       // index -> name
    std::vector<std::string> target_names;  // numbers: the y columns
    bool weighted = false;

    struct MissingRow {
        size_t index;
        int64_t line;
        std::string path;  // the file not there: the image, or its mask
    };
    std::vector<MissingRow> missing_rows;  // every row whose file (or mask) is not there, in order

    size_t rows() const { return count_; }
    size_t missing() const { return missing_rows.size(); }
    bool kept() const { return kept_; }  // the rows are here (path, line, entry, labels work)
    bool is_missing(size_t i) const { return rows_[i].missing; }
    int64_t line(size_t i) const { return rows_[i].line; }
    std::string path(size_t i) const { return paths_.substr(rows_[i].path_at, rows_[i].path_len); }
    // The row as a list line's entry (a missing file: ListEntry::missing_file).
    ListEntry entry(size_t i) const;
    // The row's classes, as indices (one or several).
    std::vector<int32_t> labels(size_t i) const;

private:
    friend class TableReader;
    friend void refuse_duplicates(Input&, const TableOptions&, Table&);
    struct Row {
        int64_t line = 0;
        uint64_t path_at = 0;
        uint32_t path_len = 0, target_at = 0, target_count = 0;
        uint64_t mask_at = 0;
        uint32_t mask_len = 0;
        double weight = 1;
        bool missing = false;
    };
    std::vector<Row> rows_;
    std::string paths_, masks_;        // every path (and mask path), end to end
    std::vector<double> numbers_;      // numbers: target_count per row
    std::vector<uint32_t> label_ids_;  // classes: indices into classes, target_count per row
    size_t count_ = 0;
    bool kept_ = true;
    std::vector<uint64_t> hashes_;  // not kept: each row's path hashed, to find duplicates
};

// Reads the whole table. A bad table (quoting, a missing column, a cell that
// is not what its column holds, a duplicated file) is a DataError naming the
// file, the line and the column; a missing column is a DataError naming the
// columns there are. Missing files are not errors here: they are rows marked
// missing, for the caller to refuse or keep.
Table read_table(Input& in, const TableOptions& options);
// Reads `in` again from the start (a file, read by read_table without
// keep_rows) and hands each row to `each` as a list entry, numbered as
// `first` found them, missing files as missing (no second stat).
// (Declared above, with RowFunction.)

// A cell's classes: a Python/JSON list literal ("['a', 'b']", '["a"]', "[]"),
// or names joined by `separator`, or one name. False (and why) for a
// malformed cell. `listed` says whether the cell held a list (several, or none).
bool parse_label_cell(const std::string& cell, const std::string& separator, std::vector<std::string>& names,
                      bool& listed, std::string& why);

}  // namespace imgpipe
