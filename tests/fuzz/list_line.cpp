// libFuzzer target: list lines (read_list over an Input, parse_list_line).
// The first byte picks '\n' or NUL records. Every entry read must format back
// to a record that parses to the same entry; so must a missing file's line.
#include "fuzz.hpp"
#include "list/list.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    bool nul = data[0] & 1;
    static fuzz::MemFile file;
    const std::string& path = file.put(data + 1, size - 1);
    fuzz::expect_clean([&] {
        Input in(path);
        ImageList list = read_list(in, nul);
        for (const ListEntry& e : list.missing) {
            if (!e.missing || e.path.empty()) fuzz::finding("missing", "a missing line without its path or its flag");
            std::string line = format_list_line(e, nul);
            line.pop_back();
            ListEntry back = parse_list_line(line, "round trip", nul);
            if (!back.missing || back.path != e.path) fuzz::finding("round trip", line);
        }
        for (const ListEntry& e : list.entries) {
            if (e.missing) fuzz::finding("missing", "a missing file among the entries");
            if (e.label >= 0 && size_t(e.label) >= list.classes.size()) fuzz::finding("label", "index beyond classes");
            std::string line = format_list_line(e, nul);
            line.pop_back();
            ListEntry back = parse_list_line(line, "round trip", nul);
            if (back.path != e.path || back.kind != e.kind || back.label != e.label || back.label_name != e.label_name ||
                back.classes != e.classes || back.numbers != e.numbers || back.weighted != e.weighted ||
                back.weight != e.weight || back.missing)
                fuzz::finding("round trip", line);
            if (e.kind != list.kind || e.weighted != list.weighted || e.numbers.size() != list.targets)
                fuzz::finding("list", "an entry unlike its list");
        }
        if (list.kind == TargetKind::numbers && list.target_names.size() != list.targets)
            fuzz::finding("targets", "a name for every number");
        for (const std::string& name : list.classes)
            if (name.empty()) fuzz::finding("classes", "an empty class name");
    });
    fuzz::expect_clean([&] {
        (void)parse_list_line(std::string(reinterpret_cast<const char*>(data + 1), size - 1), "fuzz", nul);
    });
    return 0;
}
