// libFuzzer target: the table reader (read_table over an Input). The first
// byte picks the options (class mode, delimiter, -0, duplicates, a y column
// list); the rest is the table. A table that reads must give list lines that
// read_list reads back: the same entries, classes and targets.
#include "fuzz.hpp"
#include "list/table.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t pick = data[0];
    TableOptions o;
    o.check_files = false;
    o.mode = TableMode(pick % 6);
    o.delimiter = pick & 8 ? '\t' : ',';
    o.allow_tabs = pick & 16;
    o.allow_duplicates = pick & 32;
    if (o.mode == TableMode::raw) o.y_cols = pick & 64 ? std::vector<std::string>{"a", "b"} : std::vector<std::string>{"class"};
    if (pick & 128) o.weight_col = "w";
    if ((pick & 64) && o.mode != TableMode::raw) o.classes = {"b", "a"};
    static fuzz::MemFile file, list_file;
    const std::string& path = file.put(data + 1, size - 1);
    fuzz::expect_clean([&] {
        Input in(path);
        Table table = read_table(in, o);
        const bool nul = o.allow_tabs;
        std::string text;
        if (table.kind == TargetKind::numbers) {
            ListEntry names;
            names.target_names = table.target_names;
            text += format_list_line(names, nul);
        }
        if (table.kind == TargetKind::one_class || table.kind == TargetKind::classes)
            for (size_t c = 0; c < table.classes.size(); ++c)
                text += format_list_line(ListEntry::of_class("", int32_t(c), table.classes[c]), nul);
        for (size_t i = 0; i < table.rows(); ++i) {
            for (int32_t c : table.labels(i))
                if (c < 0 || size_t(c) >= table.classes.size()) fuzz::finding("label", "index beyond classes");
            text += format_list_line(table.entry(i), nul);
        }
        const std::string& lines = list_file.put(reinterpret_cast<const uint8_t*>(text.data()), text.size());
        Input list_in(lines);
        ImageList list = read_list(list_in, nul);
        if (list.entries.size() != table.rows()) fuzz::finding("round trip", "a row lost or gained: " + text);
        for (size_t i = 0; i < table.rows(); ++i) {
            const ListEntry e = table.entry(i);
            const ListEntry& back = list.entries[i];
            if (back.path != e.path || back.kind != e.kind || back.label != e.label || back.label_name != e.label_name ||
                back.classes != e.classes || back.numbers != e.numbers || back.weighted != e.weighted || back.weight != e.weight)
                fuzz::finding("round trip", format_list_line(e, nul));
        }
        if (table.kind == TargetKind::numbers && list.target_names != table.target_names)
            fuzz::finding("targets", "names lost");
    });
    return 0;
}
