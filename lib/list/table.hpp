// A table of images (CSV or TSV with a header row), read into list lines as
// Keras' flow_from_dataframe reads a DataFrame: a file-name column (x_col),
// target columns (y_col), an optional weight column (weight_col), a folder
// relative names are relative to (directory). Parsed by libcsv (RFC 4180),
// fed one physical line at a time so that every error names its line; a row
// is kept as a path and its targets, not as its cells.
#pragma once
#include <cstdint>
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
    TableMode mode = TableMode::categorical;
    std::string label_separator = "|";  // several classes in one cell (besides a ['a', 'b'] list)
    std::vector<std::string> classes;   // explicit classes, in this order; empty: the sorted set of names
    std::string directory;              // relative file names are joined to it; empty: as written
    bool allow_tabs = false;            // -0: a file name may hold tabs and newlines
    bool allow_duplicates = false;      // Keras keeps every row; we refuse a file named twice unless asked
    bool check_files = true;            // stat each file once; a row whose file is not there is `missing`
};

class Table {
public:
    std::string name;                       // the file, for messages
    TargetKind kind = TargetKind::none;     // one_class, classes (a list in some cell), numbers, none
    std::vector<std::string> classes;       // index -> name
    std::vector<std::string> target_names;  // numbers: the y columns
    bool weighted = false;

    size_t rows() const { return rows_.size(); }
    size_t missing() const { return missing_; }
    bool is_missing(size_t i) const { return rows_[i].missing; }
    int64_t line(size_t i) const { return rows_[i].line; }
    std::string path(size_t i) const { return paths_.substr(rows_[i].path_at, rows_[i].path_len); }
    // The row as a list line's entry (a missing file: ListEntry::missing_file).
    ListEntry entry(size_t i) const;
    // The row's classes, as indices (one or several).
    std::vector<int32_t> labels(size_t i) const;

private:
    friend class TableReader;
    struct Row {
        int64_t line = 0;
        uint64_t path_at = 0;
        uint32_t path_len = 0, target_at = 0, target_count = 0;
        double weight = 1;
        bool missing = false;
    };
    std::vector<Row> rows_;
    std::string paths_;                // every path, end to end
    std::vector<double> numbers_;      // numbers: target_count per row
    std::vector<uint32_t> label_ids_;  // classes: indices into classes, target_count per row
    size_t missing_ = 0;
};

// Reads the whole table. A bad table (quoting, a missing column, a cell that
// is not what its column holds, a duplicated file) is a DataError naming the
// file, the line and the column; a missing column is a DataError naming the
// columns there are. Missing files are not errors here: they are rows marked
// missing, for the caller to refuse or keep.
Table read_table(Input& in, const TableOptions& options);

// A cell's classes: a Python/JSON list literal ("['a', 'b']", '["a"]', "[]"),
// or names joined by `separator`, or one name. False (and why) for a
// malformed cell. `listed` says whether the cell held a list (several, or none).
bool parse_label_cell(const std::string& cell, const std::string& separator, std::vector<std::string>& names,
                      bool& listed, std::string& why);

}  // namespace imgpipe
