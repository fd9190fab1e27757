// List lines (doc/design.md, "List lines"): PATH<TAB>LABEL_INDEX<TAB>LABEL_NAME, or
// PATH alone, one per line ('\n'), or NUL-terminated records with -0.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cli/io.hpp"

namespace imgpipe {

struct ListEntry {
    std::string path;
    int32_t label = -1;      // -1: no label
    std::string label_name;  // may be empty when the line gave only an index
    // A line with no path, "<TAB>INDEX<TAB>NAME", declares a class that has no
    // image in the list (an empty class folder), so its name and index survive.
    bool declares_class() const { return path.empty() && label >= 0 && !label_name.empty(); }
};

// Label indices are below this (ImageNet-21k has 21,841 classes).
constexpr int32_t kMaxClasses = 100000;

// One record with its terminator ('\n', or '\0' when nul).
std::string format_list_line(const ListEntry& entry, bool nul);
// Parses one record (without terminator); `where` is "list:17" for errors.
// With nul, the path may hold tabs: the label fields are taken from the end.
ListEntry parse_list_line(const std::string& record, const std::string& where, bool nul = false);

struct ImageList {
    std::vector<ListEntry> entries;
    std::vector<std::string> classes;  // index -> name; empty when unlabelled
    bool labelled() const { return !classes.empty(); }
};

// Reads a whole list. A list is labelled if any line is; then every line must be,
// and one index must always carry the same name. Blank lines are skipped;
// class declarations name classes but add no entry.
ImageList read_list(Input& in, bool nul);

// --shard K/N (imglist, imgprep): the K-th of N round-robin shards, K from 1,
// so that N machines or processes each take one. Item i (from 0) of a list is
// in it when i % N == K - 1.
struct Shard {
    size_t k = 1, n = 1;
    bool holds(size_t i) const { return i % n == k - 1; }
};
// "K/N", decimal digits only, 1 <= K <= N; anything else is a UsageError.
Shard parse_shard(const std::string& text);
// Keeps only the entries of `shard`, in order (classes are kept whole, so
// every shard's stream names the same classes).
void keep_shard(ImageList& list, const Shard& shard);

}  // namespace imgpipe
