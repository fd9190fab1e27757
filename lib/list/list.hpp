// List lines (doc/design.md, "List lines"): one image per line ('\n'), or per
// NUL-terminated record with -0, tab-separated:
//   PATH                                 no target
//   PATH<TAB>INDEX<TAB>NAME              one class
//   PATH<TAB>classes=I:NAME|I:NAME...    several classes (multi-label; may be empty)
//   PATH<TAB>y=V[,V...]                  numbers (regression)
//   PATH<TAB>mask=MASK                   a mask of class indices (segmentation)
// each optionally followed by <TAB>w=W, the sample's weight, or
//   PATH<TAB>missing                     a table's row whose file is not there
// (imglist --table --keep-going), for imgprep to record as skipped. A line with no
// path declares: "<TAB>INDEX<TAB>NAME" a class no image has, "<TAB>targets=A|B"
// the names of the numbers.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli/io.hpp"

namespace imgpipe {

enum class TargetKind { none, one_class, classes, numbers, mask };
const char* target_kind_name(TargetKind kind);  // "no target", "one class", ..., "a mask (mask=)"

struct ListEntry {
    std::string path;
    TargetKind kind = TargetKind::none;
    int32_t label = -1;      // one_class: the index (-1: no label)
    std::string label_name;  // may be empty when the line gave only an index
    std::vector<std::pair<int32_t, std::string>> classes;  // several classes: (index, name), by index
    std::vector<double> numbers;                           // numbers: the targets
    std::string mask;                                      // mask: the mask's path
    bool weighted = false;
    double weight = 1;                      // w=: finite, >= 0
    std::vector<std::string> target_names;  // a "targets=" declaration
    bool missing = false;                   // "PATH<TAB>missing": no file, no target
    // A line with no path, "<TAB>INDEX<TAB>NAME", declares a class that has no
    // image in the list (an empty class folder), so its name and index survive.
    bool declares_class() const { return path.empty() && label >= 0 && !label_name.empty(); }
    bool declares_targets() const { return path.empty() && !target_names.empty(); }
    bool declares() const { return declares_class() || declares_targets(); }

    static ListEntry unlabelled(std::string path) {
        ListEntry e;
        e.path = std::move(path);
        return e;
    }
    static ListEntry missing_file(std::string path) {
        ListEntry e = unlabelled(std::move(path));
        e.missing = true;
        return e;
    }
    static ListEntry of_class(std::string path, int32_t label, std::string name) {
        ListEntry e = unlabelled(std::move(path));
        e.kind = TargetKind::one_class, e.label = label, e.label_name = std::move(name);
        return e;
    }
};

// Label indices are below this (ImageNet-21k has 21,841 classes).
constexpr int32_t kMaxClasses = 100000;
// Numbers a line may carry (y=): regression targets, not images.
constexpr size_t kMaxTargets = 4096;

// One record with its terminator ('\n', or '\0' when nul). Numbers are written
// in their shortest form that reads back to the same double.
std::string format_list_line(const ListEntry& entry, bool nul);
// Parses one record (without terminator); `where` is "list:17" for errors.
// With nul, the path may hold tabs: the other fields are taken from the end.
ListEntry parse_list_line(const std::string& record, const std::string& where, bool nul = false);
// A list line's number ("y=", "w="): a decimal the C locale reads, finite.
// False (and `value` untouched) otherwise.
bool parse_number(const std::string& text, double& value);
std::string format_number(double value);  // shortest round-trip form
// The path without its file name's extension: "a/b.jpg" -> "a/b" ("a.d/b" and "a/.x" have none).
std::string without_extension(const std::string& path);

struct ImageList {
    std::vector<ListEntry> entries;
    TargetKind kind = TargetKind::none;     // every entry's
    std::vector<std::string> classes;       // index -> name (one or several classes)
    std::vector<std::string> target_names;  // numbers: a name per column ("y0", "y1"... unless declared)
    size_t targets = 0;                     // numbers: columns per line
    bool weighted = false;                  // every entry has w=
    // "PATH<TAB>missing" lines, in order: files a table named that were not
    // there. Not in entries (they have no target), but to be recorded as skipped.
    std::vector<ListEntry> missing;
    bool labelled() const { return kind == TargetKind::one_class || kind == TargetKind::classes; }
    // The kinds whose classes are declared by "<TAB>INDEX<TAB>NAME" lines.
    bool has_classes() const { return labelled() || kind == TargetKind::mask; }
};

// Reads a whole list. Every line has the same kind of target (and as many
// numbers), and a weight on every line or none; one index always carries the
// same name. Blank lines are skipped; declarations add no entry; missing
// files go to `missing`, whatever the list's kind.
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
// every shard's stream names the same classes); missing files are sharded
// among themselves the same way, so that each is recorded once.
void keep_shard(ImageList& list, const Shard& shard);

}  // namespace imgpipe
