#include "list/table.hpp"

#include <csv.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "cli/error.hpp"

namespace imgpipe {

bool parse_table_mode(const std::string& word, TableMode& mode) {
    static const std::pair<const char*, TableMode> modes[] = {
        {"categorical", TableMode::categorical}, {"binary", TableMode::binary}, {"sparse", TableMode::sparse},
        {"raw", TableMode::raw},                 {"input", TableMode::input},   {"none", TableMode::none}};
    for (const auto& [name, m] : modes)
        if (word == name) return mode = m, true;
    return false;
}

namespace {
// A cell in a message: quoted, its tabs, line breaks and NULs written as \t,
// \n, \r and \0, so that a diagnostic stays one line and whole.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\0') out += "\\0";
        else out += c;
    }
    return out + "\"";
}
uint64_t path_hash(const std::string& path) {  // FNV-1a
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char ch : path) h = (h ^ ch) * 0x100000001b3ull;
    return h;
}
// What a list line's name cannot hold: its separators, and NUL (-0's).
const std::string kBreaks("\t\n\r\0", 4);

// Levenshtein distance: for "did you mean" on a mistyped column name.
size_t distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string trimmed(const std::string& s) {
    size_t begin = s.find_first_not_of(" \t"), end = s.find_last_not_of(" \t");
    return begin == std::string::npos ? std::string() : s.substr(begin, end - begin + 1);
}

// pandas reads " 1.5" and "+2" as numbers: so do we. NaN and inf are refused
// (Keras would train on them, and one NaN poisons every weight).
bool read_number(const std::string& cell, double& value, std::string& why) {
    std::string text = trimmed(cell);
    if (!text.empty() && text[0] == '+') text.erase(0, 1);
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        if (ec == std::errc::result_out_of_range) return why = quoted(cell) + " is out of range", false;
        return why = quoted(cell) + " is not a number", false;
    }
    if (!std::isfinite(v)) return why = quoted(cell) + " is not a finite number", false;
    value = v;
    return true;
}

// One element of a list literal: 'a', "a" (with backslash escapes), or a bare
// word (a number: [1, 2]). `at` is past it and its trailing spaces afterwards.
bool list_item(const std::string& s, size_t& at, std::string& item, std::string& why) {
    item.clear();
    if (s[at] == '\'' || s[at] == '"') {
        const char quote = s[at++];
        for (;;) {
            if (at >= s.size()) return why = "a quote is not closed", false;
            char c = s[at++];
            if (c == quote) break;
            if (c == '\\') {
                if (at >= s.size()) return why = "a quote is not closed", false;
                c = s[at++];
                if (c == 'n') c = '\n';
                else if (c == 't') c = '\t';
            }
            item += c;
        }
    } else {
        while (at < s.size() && s[at] != ',' && s[at] != ']') item += s[at++];
        item = trimmed(item);
        if (item.empty()) return why = "an empty element", false;
    }
    while (at < s.size() && s[at] == ' ') ++at;
    return true;
}
}  // namespace

bool parse_label_cell(const std::string& cell, const std::string& separator, std::vector<std::string>& names,
                      bool& listed, std::string& why) {
    names.clear();
    listed = false;
    const std::string text = trimmed(cell);
    if (!text.empty() && text.front() == '[') {  // a list, or a mistake: never a class named "[..."
        if (text.size() < 2 || text.back() != ']') return why = "list " + quoted(cell) + " does not end with ']'", false;
        listed = true;
        size_t at = 1;
        while (at < text.size() && text[at] == ' ') ++at;
        if (text[at] == ']' && at + 1 == text.size()) return true;  // [] : none of the classes
        for (;;) {
            std::string item;
            if (!list_item(text, at, item, why)) return why = "list " + quoted(cell) + ": " + why, false;
            names.push_back(item);
            if (at + 1 == text.size() && text[at] == ']') return true;
            if (at >= text.size() || text[at] != ',')
                return why = "list " + quoted(cell) + " is not ['a', 'b', ...]", false;
            ++at;
            while (at < text.size() && text[at] == ' ') ++at;
        }
    }
    if (cell.empty()) return why = "an empty label (write [] for an image of none of the classes)", false;
    if (!separator.empty() && cell.find(separator) != std::string::npos) {
        listed = true;
        size_t begin = 0;
        for (;;) {
            size_t end = cell.find(separator, begin);
            names.push_back(cell.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
            if (names.back().empty()) return why = quoted(cell) + " has an empty name between separators", false;
            if (end == std::string::npos) return true;
            begin = end + separator.size();
        }
    }
    names.push_back(cell);
    return true;
}

ListEntry Table::entry(size_t i) const {
    const Row& r = rows_[i];
    if (r.missing) return ListEntry::missing_file(path(i));
    ListEntry e = ListEntry::unlabelled(path(i));
    e.kind = kind;
    if (kind == TargetKind::numbers)
        e.numbers.assign(numbers_.begin() + r.target_at, numbers_.begin() + r.target_at + r.target_count);
    else if (kind == TargetKind::one_class)
        e.label = int32_t(label_ids_[r.target_at]), e.label_name = classes[size_t(e.label)];
    else if (kind == TargetKind::classes)
        for (int32_t c : labels(i)) e.classes.emplace_back(c, classes[size_t(c)]);
    else if (kind == TargetKind::mask)
        e.mask = masks_.substr(r.mask_at, r.mask_len);
    e.weighted = weighted, e.weight = r.weight;
    return e;
}

std::vector<int32_t> Table::labels(size_t i) const {
    const Row& r = rows_[i];
    std::vector<int32_t> out;
    if (kind != TargetKind::one_class && kind != TargetKind::classes) return out;
    for (uint32_t k = 0; k < r.target_count; ++k) out.push_back(int32_t(label_ids_[r.target_at + k]));
    return out;
}

// The reader behind read_table and reread_table: libcsv calls on_field() and
// on_row() as it parses each line it is fed.
class TableReader {
public:
    TableReader(Input& in, const TableOptions& o, const Table* first = nullptr, const RowFunction* each = nullptr)
        : in_(in), o_(o), first_(first), each_(each) {
        table_.name = in.name();
    }

    Table read() {
        csv_parser parser;
        if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) throw std::bad_alloc();
        csv_set_delim(&parser, static_cast<unsigned char>(o_.delimiter));
        csv_set_space_func(&parser, [](unsigned char) { return 0; });  // fields as written (RFC 4180)
        struct Free {
            csv_parser* p;
            ~Free() { csv_free(p); }
        } free_parser{&parser};
        std::string text;
        while (in_.read_record(text, '\n')) {
            ++line_;
            if (line_ == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // Excel's byte-order mark
            // A row starts on the first line that is not blank after the last row's end.
            if (!in_row_ && text.find_first_not_of('\r') != std::string::npos) row_line_ = line_, in_row_ = true;
            text += '\n';
            if (csv_parse(&parser, text.data(), text.size(), on_field, on_row, this) != text.size() && !error_)
                bad_quotes(parser);
            if (error_) std::rethrow_exception(error_);
        }
        if (csv_fini(&parser, on_field, on_row, this) != 0 && !error_) bad_quotes(parser);
        if (error_) std::rethrow_exception(error_);
        if (header_.empty()) throw DataError(table_.name, "no header row (the first row names the columns)");
        if (!each_) finish();
        return std::move(table_);
    }

private:
    static void on_field(void* s, size_t n, void* self) {
        auto* r = static_cast<TableReader*>(self);
        if (!r->error_) try {
                r->cells_.emplace_back(static_cast<const char*>(s), n);
            } catch (...) {
                r->error_ = std::current_exception();
            }
    }
    // Exceptions do not cross libcsv's C frames: they are kept and rethrown.
    static void on_row(int, void* self) {
        auto* r = static_cast<TableReader*>(self);
        if (!r->error_) try {
                r->row();
            } catch (...) {
                r->error_ = std::current_exception();
            }
        r->cells_.clear();
        r->in_row_ = false;
    }

    std::string where(int64_t line) const { return table_.name + ":" + std::to_string(line); }
    [[noreturn]] void bad_quotes(csv_parser& parser) {
        throw DataError(where(row_line_), std::string(csv_error(&parser) == CSV_EPARSE
                                                          ? "unbalanced quotes (a quoted field must end with a quote "
                                                            "followed by the separator or the line's end)"
                                                          : csv_strerror(csv_error(&parser))));
    }
    [[noreturn]] void bad_cell(size_t column, const std::string& why) const {
        throw DataError(where(row_line_), "column " + quoted(header_[column]) + ": " + why);
    }

    size_t column(const std::string& name, const char* option) const {
        for (size_t i = 0; i < header_.size(); ++i)
            if (header_[i] == name) return i;
        std::string there, hint;
        size_t best = std::string::npos;
        for (const std::string& h : header_) {
            there += (there.empty() ? "" : ", ") + quoted(h);
            size_t d = distance(h, name);
            if (d < best && d <= std::max<size_t>(1, name.size() / 3)) best = d, hint = h;
        }
        throw DataError(where(1), "no column " + quoted(name) + " (" + option +
                                      (hint.empty() ? "" : "; did you mean " + quoted(hint) + "?") +
                                      "): the columns are " + there);
    }

    void header() {
        header_ = cells_;
        if (o_.mode != TableMode::input && o_.mode != TableMode::none)
            for (const std::string& y : o_.y_cols) y_.push_back(column(y, "--y-col"));
        x_ = column(o_.x_col, "--x-col");
        if (!o_.weight_col.empty()) weight_ = column(o_.weight_col, "--weight-col");
        if (!o_.mask_col.empty()) mask_ = column(o_.mask_col, "--mask-col"), table_.kind = TargetKind::mask;
        table_.weighted = !o_.weight_col.empty();
        if (o_.mode == TableMode::raw) {
            table_.kind = TargetKind::numbers;
            for (const std::string& y : o_.y_cols) {
                if (y.empty() || y.find('|') != std::string::npos || y.find_first_of(kBreaks) != std::string::npos)
                    throw DataError(where(1), "column " + quoted(y) + ": a target's name holds a '|', tab or newline, "
                                              "or is empty (list lines cannot carry it)");
                table_.target_names.push_back(y);
            }
        } else if (o_.mode != TableMode::input && o_.mode != TableMode::none) {
            table_.kind = TargetKind::one_class;
            for (const std::string& c : o_.classes) {
                if (c.empty() || c.find_first_of(kBreaks) != std::string::npos)
                    throw UsageError("--classes: \"" + c + "\" is empty or holds a tab or a line break");
                intern(c);
            }
        }
    }

    uint32_t intern(const std::string& name) {
        auto [it, added] = ids_.emplace(name, uint32_t(names_.size()));
        if (added) names_.push_back(name), first_line_.push_back(row_line_);
        return it->second;
    }

    // -0 list lines take their fields from the end: a path whose tail looks like
    // one ("a<TAB>y=1", "a<TAB>3<TAB>b") would not read back as itself.
    static bool reads_back(const std::string& path) {
        try {
            ListEntry e = parse_list_line(path, "", true);
            return e.path == path && e.kind == TargetKind::none && !e.weighted && !e.missing;
        } catch (const Error&) {
            return false;
        }
    }

    void row() {
        if (header_.empty()) return header();
        if (cells_.size() != header_.size())
            throw DataError(where(row_line_), std::to_string(cells_.size()) + " field" + (cells_.size() == 1 ? "" : "s") +
                                                  ", but the header names " + std::to_string(header_.size()) + " columns");
        const size_t index = table_.count_++;
        const std::string& name = cells_[x_];
        if (name.empty()) bad_cell(x_, "an empty file name");
        if (!o_.allow_tabs && name.find_first_of("\t\n\r") != std::string::npos)
            bad_cell(x_, "file name " + quoted(name) + " holds a tab or a line break (use -0)");
        if (name.find('\0') != std::string::npos) bad_cell(x_, "file name holds a NUL byte");
        if (o_.allow_tabs && name.find('\t') != std::string::npos && !reads_back(name))
            bad_cell(x_, "file name " + quoted(name) + " ends in a tab and a field that a -0 list line would read as a target");
        // os.path.join: an absolute name stands alone
        auto joined = [&](const std::string& n) {
            return o_.directory.empty() || n[0] == '/' ? n : (o_.directory.back() == '/' ? o_.directory : o_.directory + "/") + n;
        };
        std::string path = joined(name);
        if (path.size() > UINT32_MAX) bad_cell(x_, "file name too long");
        mask_path_.clear();
        if (mask_ != std::string::npos) {
            const std::string& m = cells_[mask_];
            if (m.empty()) bad_cell(mask_, "an empty mask name");
            if (m.find_first_of(std::string("\t\n\r\0", 4)) != std::string::npos)
                bad_cell(mask_, "mask name " + quoted(m) + " holds a tab, a line break or a NUL");
            mask_path_ = joined(m);
            if (mask_path_.size() > UINT32_MAX) bad_cell(mask_, "mask name too long");
        }
        double weight = 1;
        std::string why;
        if (weight_ != std::string::npos) {
            if (!read_number(cells_[weight_], weight, why)) bad_cell(weight_, why);
            if (weight < 0) bad_cell(weight_, "weight " + quoted(cells_[weight_]) + " is negative");
        }
        numbers_.clear(), ids_here_.clear();
        if (table_.kind == TargetKind::numbers) {
            for (size_t c : y_) {
                double v;
                if (!read_number(cells_[c], v, why)) bad_cell(c, why);
                numbers_.push_back(v);
            }
        } else if (table_.kind == TargetKind::one_class || table_.kind == TargetKind::classes) {
            labels();
        }
        bool missing = false;
        if (o_.check_files) {
            struct stat st;
            missing = stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
            if (missing) table_.missing_rows.push_back({index, row_line_, path});
            else if (!mask_path_.empty() && (stat(mask_path_.c_str(), &st) != 0 || S_ISDIR(st.st_mode)))
                missing = true, table_.missing_rows.push_back({index, row_line_, mask_path_});
        } else if (first_) {  // the second reading: the first one stat()ed
            while (next_missing_ < first_->missing_rows.size() && first_->missing_rows[next_missing_].index < index)
                ++next_missing_;
            missing = next_missing_ < first_->missing_rows.size() && first_->missing_rows[next_missing_].index == index;
        }
        if (each_) return hand_on(index, path, weight, missing);
        if (!o_.keep_rows) {
            if (!o_.allow_duplicates) table_.hashes_.push_back(path_hash(path));
            return;
        }
        Table::Row r;
        r.line = row_line_, r.weight = weight, r.missing = missing;
        r.path_at = table_.paths_.size(), r.path_len = uint32_t(path.size());
        table_.paths_ += path;
        r.mask_at = table_.masks_.size(), r.mask_len = uint32_t(mask_path_.size());
        table_.masks_ += mask_path_;
        if (table_.kind == TargetKind::numbers) {
            r.target_at = uint32_t(table_.numbers_.size()), r.target_count = uint32_t(numbers_.size());
            table_.numbers_.insert(table_.numbers_.end(), numbers_.begin(), numbers_.end());
        } else {
            r.target_at = uint32_t(table_.label_ids_.size()), r.target_count = uint32_t(ids_here_.size());
            table_.label_ids_.insert(table_.label_ids_.end(), ids_here_.begin(), ids_here_.end());
        }
        table_.rows_.push_back(r);
    }

    // The second reading: the row as a list entry, classes numbered as the first reading found them.
    void hand_on(size_t index, std::string& path, double weight, bool missing) {
        ListEntry e = missing ? ListEntry::missing_file(std::move(path)) : ListEntry::unlabelled(std::move(path));
        if (!missing) {
            e.kind = first_->kind;
            if (e.kind == TargetKind::numbers) e.numbers = numbers_;
            if (e.kind == TargetKind::mask) e.mask = mask_path_;
            std::sort(ids_here_.begin(), ids_here_.end());
            if (e.kind == TargetKind::one_class)
                e.label = int32_t(ids_here_.at(0)), e.label_name = first_->classes[ids_here_[0]];
            else if (e.kind == TargetKind::classes)
                for (uint32_t c : ids_here_) e.classes.emplace_back(int32_t(c), first_->classes[c]);
            e.weighted = first_->weighted, e.weight = weight;
        }
        (*each_)(index, row_line_, e);
    }

    void labels() {
        const size_t c = y_[0];
        bool listed;
        std::string why;
        if (!parse_label_cell(cells_[c], o_.label_separator, names_here_, listed, why)) bad_cell(c, why);
        if (listed && o_.mode != TableMode::categorical)
            bad_cell(c, quoted(cells_[c]) + " is a list of classes: --class-mode " +
                            (o_.mode == TableMode::binary ? "binary" : "sparse") +
                            " takes one class per row (categorical takes several)");
        if (listed && !multi_line_) multi_line_ = row_line_;
        for (const std::string& n : names_here_) {
            if (n.empty()) bad_cell(c, "an empty class name in " + quoted(cells_[c]));
            if (n.find_first_of(kBreaks) != std::string::npos) bad_cell(c, "class " + quoted(n) + " holds a tab, a line break or a NUL");
            if (listed && n.find('|') != std::string::npos)
                bad_cell(c, "class " + quoted(n) + " holds a '|', which a list line of several classes cannot carry");
            // A fraction as a class name is a regression column read as classes (a forgotten
            // --class-mode raw gives one class per distinct number); Keras refuses non-strings.
            double number;
            if (o_.classes.empty() && parse_number(n, number) && n.find_first_of(".eE") != std::string::npos)
                bad_cell(c, quoted(n) + " is a number, not a class name: numbers are targets with --class-mode raw "
                                        "(to take them as class names, list them with --classes)");
            if (!o_.classes.empty() && !ids_.count(n)) {
                std::string listed_classes;
                for (const std::string& k : o_.classes) listed_classes += (listed_classes.empty() ? "" : ", ") + k;
                bad_cell(c, "class " + quoted(n) + " is not in --classes (" + listed_classes + ")");
            }
            uint32_t id = intern(n);
            if (std::find(ids_here_.begin(), ids_here_.end(), id) == ids_here_.end()) ids_here_.push_back(id);  // ['a', 'a'] is a
        }
    }

    void finish() {
        Table& t = table_;
        t.kept_ = o_.keep_rows;
        if (t.kind == TargetKind::one_class) {
            // Class indices: --classes' order, or the byte order of the names (Keras' sorted()).
            std::vector<uint32_t> order(names_.size());
            for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
            if (o_.classes.empty())
                std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return names_[a] < names_[b]; });
            std::vector<uint32_t> index(names_.size());
            for (uint32_t i = 0; i < order.size(); ++i) index[order[i]] = i, t.classes.push_back(names_[order[i]]);
            for (uint32_t& id : t.label_ids_) id = index[id];
            if (t.classes.size() > size_t(kMaxClasses))
                throw DataError(t.name, std::to_string(t.classes.size()) + " classes; a list holds at most " +
                                            std::to_string(kMaxClasses));
            if (multi_line_) {
                t.kind = TargetKind::classes;
                // A name read alone (--label-separator other than '|') may hold a '|'.
                for (size_t i = 0; i < names_.size(); ++i)
                    if (names_[i].find('|') != std::string::npos)
                        throw DataError(where(first_line_[i]), "column " + quoted(header_[y_[0]]) + ": class " +
                                                                   quoted(names_[i]) +
                                                                   " holds a '|', which a list line of several classes "
                                                                   "cannot carry (line " +
                                                                   std::to_string(multi_line_) + " makes the table multi-label)");
            }
            for (Table::Row& r : t.rows_) std::sort(t.label_ids_.begin() + r.target_at, t.label_ids_.begin() + r.target_at + r.target_count);
            if (o_.mode == TableMode::binary && t.classes.size() != 2) {
                std::string names;
                for (const std::string& c : t.classes) names += (names.empty() ? "" : ", ") + quoted(c);
                throw DataError(t.name, "--class-mode binary needs exactly 2 classes, the table has " +
                                            std::to_string(t.classes.size()) + (names.empty() ? "" : ": " + names));
            }
        }
        if (!o_.allow_duplicates && o_.keep_rows) duplicates();
    }

    // A file named twice: the pair whose second row comes first, by both lines.
    void duplicates() const {
        const Table& t = table_;
        std::vector<uint32_t> order(t.rows_.size());
        for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
        auto view = [&](uint32_t i) { return std::string_view(t.paths_).substr(t.rows_[i].path_at, t.rows_[i].path_len); };
        std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return view(a) < view(b); });
        size_t first = 0, second = 0;
        for (size_t i = 1; i < order.size(); ++i)
            if (view(order[i]) == view(order[i - 1]) && (!second || order[i] < second))
                first = order[i - 1], second = order[i];
        if (second)
            throw DataError(where(t.rows_[second].line),
                            "column " + quoted(header_[x_]) + ": file " + quoted(std::string(view(uint32_t(second)))) +
                                " is also on line " + std::to_string(t.rows_[first].line) +
                                " (Keras keeps both rows; --allow-duplicates does too)");
    }

    Input& in_;
    const TableOptions& o_;
    const Table* first_ = nullptr;  // the second reading: what the first one found
    const RowFunction* each_ = nullptr;
    size_t next_missing_ = 0;
    Table table_;
    std::vector<double> numbers_;
    std::vector<uint32_t> ids_here_;
    std::vector<std::string> names_here_;
    std::exception_ptr error_;
    int64_t line_ = 0, row_line_ = 1, multi_line_ = 0;
    bool in_row_ = false;
    std::vector<std::string> header_, cells_;
    size_t x_ = 0, weight_ = std::string::npos, mask_ = std::string::npos;
    std::string mask_path_;  // the row's mask, joined to the directory
    std::vector<size_t> y_;
    std::unordered_map<std::string, uint32_t> ids_;  // class name -> order of first sight
    std::vector<std::string> names_;
    std::vector<int64_t> first_line_;  // the line each name was first seen on
};

// Duplicates, when rows were not kept: the hashes of the paths sorted in
// place (8 bytes a row, freed after); if two are equal, the table is read
// again for the rows with those hashes, and the first row whose path an
// earlier row named is refused with both lines (a mere collision passes).
void refuse_duplicates(Input& in, const TableOptions& o, Table& t) {
    std::vector<uint64_t> hashes;
    hashes.swap(t.hashes_);
    std::sort(hashes.begin(), hashes.end());
    std::unordered_set<uint64_t> twice;
    for (size_t i = 1; i < hashes.size(); ++i)
        if (hashes[i] == hashes[i - 1]) twice.insert(hashes[i]);
    std::vector<uint64_t>().swap(hashes);
    if (twice.empty()) return;
    std::unordered_map<std::string, int64_t> seen;  // path -> its first line
    reread_table(in, o, t, [&](size_t, int64_t line, const ListEntry& e) {
        if (!twice.count(path_hash(e.path))) return;
        auto [it, added] = seen.emplace(e.path, line);
        if (!added)
            throw DataError(t.name + ":" + std::to_string(line),
                            "column " + quoted(o.x_col) + ": file " + quoted(e.path) + " is also on line " +
                                std::to_string(it->second) + " (Keras keeps both rows; --allow-duplicates does too)");
    });
}

Table read_table(Input& in, const TableOptions& options) {
    TableOptions o = options;
    o.keep_rows = options.keep_rows || !in.seekable();  // a pipe is read once
    Table t = TableReader(in, o).read();
    if (!t.kept() && !o.allow_duplicates) refuse_duplicates(in, o, t);
    return t;
}

void reread_table(Input& in, const TableOptions& options, const Table& first, const RowFunction& each) {
    TableOptions o = options;
    o.classes = first.classes, o.check_files = false, o.allow_duplicates = true, o.keep_rows = false;
    in.rewind();
    Table again = TableReader(in, o, &first, &each).read();
    if (again.rows() != first.rows())
        throw DataError(first.name, "changed while it was read (" + std::to_string(first.rows()) + " rows, then " +
                                        std::to_string(again.rows()) + ")");
}

}  // namespace imgpipe
