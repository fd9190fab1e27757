#include "list/list.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "cli/error.hpp"

namespace imgpipe {

const char* target_kind_name(TargetKind kind) {
    switch (kind) {
        case TargetKind::none: return "no target";
        case TargetKind::one_class: return "one class";
        case TargetKind::classes: return "several classes (classes=)";
        case TargetKind::numbers: return "numbers (y=)";
        case TargetKind::mask: return "a mask (mask=)";
    }
    return "?";
}

bool parse_number(const std::string& text, double& value) {
    double v = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v)) return false;
    value = v;
    return true;
}

std::string format_number(double value) {
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
    return ec == std::errc() ? std::string(buf, ptr) : std::string("nan");
}

std::string without_extension(const std::string& path) {
    const size_t slash = path.rfind('/'), dot = path.rfind('.');
    const bool has = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
    return has ? path.substr(0, dot) : path;
}

namespace {
template <class Items, class Each>
std::string joined(const Items& items, char sep, Each each) {
    std::string out;
    bool first = true;
    for (const auto& item : items) {
        if (!first) out += sep;
        out += each(item);
        first = false;
    }
    return out;
}
}  // namespace

std::string format_list_line(const ListEntry& e, bool nul) {
    std::string line = e.path;
    if (e.missing)
        line += "\tmissing";
    else if (e.declares_targets())
        line += "\ttargets=" + joined(e.target_names, '|', [](const std::string& s) { return s; });
    else if (e.kind == TargetKind::one_class && e.label >= 0)
        line += "\t" + std::to_string(e.label) + "\t" + e.label_name;
    else if (e.kind == TargetKind::classes)
        line += "\tclasses=" + joined(e.classes, '|', [](const auto& c) { return std::to_string(c.first) + ":" + c.second; });
    else if (e.kind == TargetKind::numbers)
        line += "\ty=" + joined(e.numbers, ',', [](double v) { return format_number(v); });
    else if (e.kind == TargetKind::mask)
        line += "\tmask=" + e.mask;
    if (e.weighted && !e.missing) line += "\tw=" + format_number(e.weight);
    line += nul ? '\0' : '\n';
    return line;
}

namespace {
bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }
bool starts(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
bool tagged(const std::string& s) {
    return starts(s, "classes=") || starts(s, "y=") || starts(s, "targets=") || starts(s, "mask=") || s == "missing";
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t begin = 0;
    for (;;) {
        size_t at = s.find(sep, begin);
        out.push_back(s.substr(begin, at == std::string::npos ? std::string::npos : at - begin));
        if (at == std::string::npos) return out;
        begin = at + 1;
    }
}

int32_t label_index(const std::string& index, const std::string& where) {
    if (!all_digits(index)) throw DataError(where, "label index \"" + index + "\" is not a non-negative integer");
    // read_list keeps a name for every index up to the largest: bound it, so
    // one stray line cannot ask for billions of classes.
    if (index.size() > 9 || std::stol(index) >= kMaxClasses)
        throw DataError(where, "label index " + index + " is too large (a list holds at most " +
                                   std::to_string(kMaxClasses) + " classes)");
    return int32_t(std::stol(index));
}

// "classes=", "y=", "mask=" or "targets=": the field's value into e.
void read_tagged(const std::string& field, ListEntry& e, const std::string& where) {
    if (field == "missing") {
        e.missing = true;
    } else if (starts(field, "classes=")) {
        e.kind = TargetKind::classes;
        const std::string value = field.substr(8);
        if (value.empty()) return;  // an image of none of the classes
        for (const std::string& item : split(value, '|')) {
            const size_t colon = item.find(':');
            if (colon == std::string::npos || colon + 1 == item.size())
                throw DataError(where, "classes=: \"" + item + "\" is not INDEX:NAME");
            e.classes.emplace_back(label_index(item.substr(0, colon), where), item.substr(colon + 1));
        }
        std::sort(e.classes.begin(), e.classes.end());
        for (size_t i = 1; i < e.classes.size(); ++i)
            if (e.classes[i].first == e.classes[i - 1].first)
                throw DataError(where, "classes=: class " + std::to_string(e.classes[i].first) + " is listed twice");
    } else if (starts(field, "y=")) {
        e.kind = TargetKind::numbers;
        for (const std::string& item : split(field.substr(2), ',')) {
            double v;
            if (!parse_number(item, v)) throw DataError(where, "y=: \"" + item + "\" is not a finite number");
            if (e.numbers.size() == kMaxTargets)
                throw DataError(where, "y=: more than " + std::to_string(kMaxTargets) + " numbers");
            e.numbers.push_back(v);
        }
    } else if (starts(field, "mask=")) {
        e.kind = TargetKind::mask;
        e.mask = field.substr(5);
        if (e.mask.empty()) throw DataError(where, "mask=: an empty path");
    } else {  // targets=
        for (const std::string& name : split(field.substr(8), '|')) {
            if (name.empty()) throw DataError(where, "targets=: an empty name");
            e.target_names.push_back(name);
        }
    }
}

void read_weight(const std::string& field, ListEntry& e, const std::string& where) {
    if (!starts(field, "w=")) throw DataError(where, "\"" + field + "\" is not a weight (w=W)");
    if (!parse_number(field.substr(2), e.weight) || e.weight < 0)
        throw DataError(where, "w=: \"" + field.substr(2) + "\" is not a finite number >= 0");
    e.weighted = true;
}

// The fields after the path: a target (tagged, or INDEX[<TAB>NAME]) and then
// an optional weight.
void read_fields(const std::vector<std::string>& fields, ListEntry& e, const std::string& where) {
    size_t i = 0;
    if (i < fields.size() && tagged(fields[i])) {
        read_tagged(fields[i++], e, where);
    } else if (i < fields.size() && !starts(fields[i], "w=")) {
        e.kind = TargetKind::one_class;
        e.label = label_index(fields[i++], where);
        if (i < fields.size()) e.label_name = fields[i++];  // always the name, even when it starts with w=
    }
    if (i < fields.size()) read_weight(fields[i++], e, where);
    if (i < fields.size()) throw DataError(where, "too many tab-separated fields (use -0 for paths with tabs)");
}
}  // namespace

ListEntry parse_list_line(const std::string& record, const std::string& where, bool nul) {
    ListEntry e;
    std::vector<std::string> fields;
    if (nul) {
        // A NUL-terminated path may hold tabs: the other fields are taken from
        // the end (a weight, then a tagged field or INDEX<TAB>NAME or INDEX),
        // and the path is everything before them.
        std::string rest = record;
        auto last_field = [&rest]() {
            size_t tab = rest.rfind('\t');
            return tab == std::string::npos ? std::string() : rest.substr(tab + 1);
        };
        auto drop_last = [&rest]() { rest.erase(rest.rfind('\t')); };
        std::string weight;
        if (starts(last_field(), "w=")) weight = last_field(), drop_last();
        std::string last = last_field();
        size_t tab = rest.rfind('\t');
        size_t prev = tab == std::string::npos || tab == 0 ? std::string::npos : rest.rfind('\t', tab - 1);
        const bool index_name = prev != std::string::npos && all_digits(rest.substr(prev + 1, tab - prev - 1));
        // "3<TAB>missing" is class 3 named "missing", not a missing file.
        if (tab != std::string::npos && tagged(last) && !(last == "missing" && index_name)) {
            fields = {last};
            drop_last();
        } else if (index_name) {
            fields = {rest.substr(prev + 1, tab - prev - 1), last};
            rest.erase(prev);
        } else if (tab != std::string::npos && all_digits(last)) {
            fields = {last};
            drop_last();
        }
        if (!weight.empty()) fields.push_back(weight);
        e.path = rest;
    } else {
        fields = split(record, '\t');
        e.path = fields.front();
        fields.erase(fields.begin());
    }
    read_fields(fields, e, where);
    if (!e.target_names.empty() && (!e.path.empty() || e.weighted))
        throw DataError(where, "targets= declares the numbers' names: it goes alone on a line with no path");
    if (e.path.empty() && !e.declares()) throw DataError(where, "empty path");
    if (e.missing && e.weighted) throw DataError(where, "a missing file's line holds nothing after \"missing\"");
    return e;
}

ImageList read_list(Input& in, bool nul) {
    ImageList list;
    std::string record;
    int64_t line = 0, kind_line = 0, weight_line = 0;
    bool declared_classes = false;
    while (in.read_record(record, nul ? '\0' : '\n')) {
        ++line;
        if (!nul && !record.empty() && record.back() == '\r') record.pop_back();
        if (record.empty()) continue;
        std::string where = in.name() + ":" + std::to_string(line);
        ListEntry e = parse_list_line(record, where, nul);
        auto name_class = [&](int32_t index, const std::string& label_name) {
            if (size_t(index) >= list.classes.size()) list.classes.resize(size_t(index) + 1);
            std::string& name = list.classes[size_t(index)];
            if (label_name.empty()) return;
            if (name.empty()) name = label_name;
            else if (name != label_name)
                throw DataError(where, "label " + std::to_string(index) + " is \"" + label_name + "\" here but \"" +
                                           name + "\" earlier");
        };
        if (e.declares_targets()) {
            if (!list.target_names.empty() && list.target_names != e.target_names)
                throw DataError(where, "targets= names other numbers than an earlier targets= line");
            list.target_names = e.target_names;
            continue;
        }
        if (e.label >= 0) name_class(e.label, e.label_name);
        for (const auto& [index, name] : e.classes) name_class(index, name);
        if (e.declares_class()) {
            declared_classes = true;
            continue;
        }
        if (e.missing) {  // no target to check against the others
            list.missing.push_back(std::move(e));
            continue;
        }
        const std::string previous = "line " + std::to_string(kind_line);
        if (!kind_line) {
            list.kind = e.kind, kind_line = line, list.targets = e.numbers.size();
            list.weighted = e.weighted, weight_line = line;
        } else if (e.kind != list.kind) {
            if ((e.kind == TargetKind::none) != (list.kind == TargetKind::none) &&
                (e.kind == TargetKind::one_class || list.kind == TargetKind::one_class))
                throw DataError(where, "mixes labelled and unlabelled lines (" + previous + " is " +
                                           (list.kind == TargetKind::none ? "unlabelled" : "labelled") + ")");
            throw DataError(where, std::string("this line has ") + target_kind_name(e.kind) + ", " + previous +
                                       " has " + target_kind_name(list.kind) + ": a list holds one kind of target");
        } else if (e.numbers.size() != list.targets) {
            throw DataError(where, "y= holds " + std::to_string(e.numbers.size()) + " numbers, " + previous +
                                       " holds " + std::to_string(list.targets));
        }
        if (e.weighted != list.weighted)
            throw DataError(where, std::string(e.weighted ? "this line has a weight (w=)" : "this line has no weight (w=)") +
                                       ", line " + std::to_string(weight_line) + (e.weighted ? " has none" : " has one") +
                                       ": weight every line or none");
        list.entries.push_back(std::move(e));
    }
    if (declared_classes && !list.has_classes() && kind_line)
        throw DataError(in.name(), "declares classes, but its lines have " + std::string(target_kind_name(list.kind)));
    if (declared_classes && !kind_line) list.kind = TargetKind::one_class;
    if (!list.target_names.empty() && (list.kind != TargetKind::numbers || list.target_names.size() != list.targets))
        throw DataError(in.name(), "targets= names " + std::to_string(list.target_names.size()) +
                                       " numbers, but its lines hold " + std::to_string(list.targets));
    if (list.kind == TargetKind::numbers && list.target_names.empty())
        for (size_t i = 0; i < list.targets; ++i) list.target_names.push_back("y" + std::to_string(i));
    // Classes no line named (a filtered list) keep their index as their name.
    for (size_t i = 0; i < list.classes.size(); ++i)
        if (list.classes[i].empty()) list.classes[i] = std::to_string(i);
    return list;
}

Shard parse_shard(const std::string& text) {
    const size_t slash = text.find('/');
    const std::string k = text.substr(0, slash), n = slash == std::string::npos ? "" : text.substr(slash + 1);
    // At most 18 digits: no overflow, and no shard count anyone needs is longer.
    auto number = [](const std::string& s) { return all_digits(s) && s.size() <= 18 ? std::stoull(s) : 0ull; };
    Shard shard{size_t(number(k)), size_t(number(n))};
    if (shard.k < 1 || shard.k > shard.n)
        throw UsageError("--shard wants K/N with 1 <= K <= N, not \"" + text + "\"");
    return shard;
}

void keep_shard(ImageList& list, const Shard& shard) {
    if (shard.n <= 1) return;  // the whole list: nothing to copy
    for (std::vector<ListEntry>* entries : {&list.entries, &list.missing}) {
        std::vector<ListEntry> mine;
        for (size_t i = shard.k - 1; i < entries->size(); i += shard.n) mine.push_back(std::move((*entries)[i]));
        entries->swap(mine);
    }
}

}  // namespace imgpipe
