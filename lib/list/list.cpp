#include "list/list.hpp"

#include "cli/error.hpp"

namespace imgpipe {

std::string format_list_line(const ListEntry& e, bool nul) {
    std::string line = e.path;
    if (e.label >= 0) line += "\t" + std::to_string(e.label) + "\t" + e.label_name;
    line += nul ? '\0' : '\n';
    return line;
}

namespace {
bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

int32_t label_index(const std::string& index, const std::string& where) {
    if (!all_digits(index)) throw DataError(where, "label index \"" + index + "\" is not a non-negative integer");
    // read_list keeps a name for every index up to the largest: bound it, so
    // one stray line cannot ask for billions of classes.
    if (index.size() > 9 || std::stol(index) >= kMaxClasses)
        throw DataError(where, "label index " + index + " is too large (a list holds at most " +
                                   std::to_string(kMaxClasses) + " classes)");
    return int32_t(std::stol(index));
}
}  // namespace

ListEntry parse_list_line(const std::string& record, const std::string& where, bool nul) {
    ListEntry e;
    if (nul) {
        // A NUL-terminated path may hold tabs: the label fields are the last
        // two ("INDEX<TAB>NAME") or the last one ("INDEX") when they hold a
        // label index, and the path is everything before them.
        size_t last = record.rfind('\t');
        size_t prev = last == std::string::npos || last == 0 ? std::string::npos : record.rfind('\t', last - 1);
        if (prev != std::string::npos && all_digits(record.substr(prev + 1, last - prev - 1))) {
            e.path = record.substr(0, prev);
            e.label = label_index(record.substr(prev + 1, last - prev - 1), where);
            e.label_name = record.substr(last + 1);
        } else if (last != std::string::npos && all_digits(record.substr(last + 1))) {
            e.path = record.substr(0, last);
            e.label = label_index(record.substr(last + 1), where);
        } else {
            e.path = record;
        }
        if (e.path.empty() && !e.declares_class()) throw DataError(where, "empty path");
        return e;
    }
    size_t tab1 = record.find('\t');
    e.path = record.substr(0, tab1);
    if (tab1 == std::string::npos) {
        if (e.path.empty()) throw DataError(where, "empty path");
        return e;
    }
    size_t tab2 = record.find('\t', tab1 + 1);
    e.label = label_index(record.substr(tab1 + 1, tab2 == std::string::npos ? std::string::npos : tab2 - tab1 - 1), where);
    if (tab2 != std::string::npos) {
        e.label_name = record.substr(tab2 + 1);
        if (e.label_name.find('\t') != std::string::npos)
            throw DataError(where, "more than three tab-separated fields (use -0 for paths with tabs)");
    }
    if (e.path.empty() && !e.declares_class()) throw DataError(where, "empty path");
    return e;
}

ImageList read_list(Input& in, bool nul) {
    ImageList list;
    std::string record;
    int64_t line = 0;
    bool any_labelled = false, any_unlabelled = false;
    while (in.read_record(record, nul ? '\0' : '\n')) {
        ++line;
        if (!nul && !record.empty() && record.back() == '\r') record.pop_back();
        if (record.empty()) continue;
        std::string where = in.name() + ":" + std::to_string(line);
        ListEntry e = parse_list_line(record, where, nul);
        if (e.label >= 0) {
            any_labelled = true;
            if (size_t(e.label) >= list.classes.size()) list.classes.resize(size_t(e.label) + 1);
            std::string& name = list.classes[size_t(e.label)];
            if (!e.label_name.empty()) {
                if (name.empty()) name = e.label_name;
                else if (name != e.label_name)
                    throw DataError(where, "label " + std::to_string(e.label) + " is \"" + e.label_name +
                                               "\" here but \"" + name + "\" earlier");
            }
        } else {
            any_unlabelled = true;
        }
        if (any_labelled && any_unlabelled)
            throw DataError(where, "mixes labelled and unlabelled lines");
        if (!e.declares_class()) list.entries.push_back(std::move(e));
    }
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
    std::vector<ListEntry> mine;
    for (size_t i = shard.k - 1; i < list.entries.size(); i += shard.n) mine.push_back(std::move(list.entries[i]));
    list.entries.swap(mine);
}

}  // namespace imgpipe
