// The table reader (lib/list/table): CSV/TSV rows into list entries, as Keras'
// flow_from_dataframe reads them, and every bad table named by line and column.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "cli/error.hpp"
#include "list/table.hpp"

using namespace imgpipe;

namespace {
// Reads `text` as a table (file names are not checked unless asked).
Table table_of(const std::string& text, TableOptions o = TableOptions()) {
    char path[] = "/tmp/imgpipe-table-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, text.data(), text.size()) == ssize_t(text.size()));
    close(fd);
    struct Unlink {
        const char* p;
        ~Unlink() { unlink(p); }
    } gone{path};
    Input in(path);
    Table t = read_table(in, o);
    t.name = "t.csv";
    return t;
}
TableOptions unchecked() {
    TableOptions o;
    o.check_files = false;
    return o;
}
std::string lines(const Table& t) {
    std::string out;
    for (size_t i = 0; i < t.rows(); ++i) out += format_list_line(t.entry(i), false);
    return out;
}
// The message of the DataError that reading `text` throws, "where: message".
std::string refusal(const std::string& text, TableOptions o = unchecked()) {
    try {
        table_of(text, o);
    } catch (const DataError& e) {
        std::string where = e.where();
        return where.substr(where.find(':') == std::string::npos ? where.size() : where.find(':')) + ": " + e.what();
    }
    return "no error";
}
}  // namespace

TEST_CASE("a table's classes: sorted names, one per row", "[table]") {
    Table t = table_of("filename,class\nb.png,dog\na.png,cat\nc.png,10\n", unchecked());
    CHECK(t.kind == TargetKind::one_class);
    CHECK(t.classes == std::vector<std::string>{"10", "cat", "dog"});  // byte order, a number as its text
    CHECK(lines(t) == "b.png\t2\tdog\na.png\t1\tcat\nc.png\t0\t10\n");
    CHECK(t.line(1) == 3);
}

TEST_CASE("RFC 4180 quoting, a BOM, CRLF, blank lines", "[table]") {
    Table t = table_of("\xEF\xBB\xBF" "filename,class\r\n\"a,1.png\",\"say \"\"hi\"\"\"\r\n\r\n\"two\nlines.png\",x\r\n",
                       [] {
                           TableOptions o = unchecked();
                           o.allow_tabs = true;
                           return o;
                       }());
    REQUIRE(t.rows() == 2);
    CHECK(t.path(0) == "a,1.png");
    CHECK(t.classes == std::vector<std::string>{"say \"hi\"", "x"});
    CHECK(t.path(1) == "two\nlines.png");
    CHECK(t.line(1) == 4);  // the blank line counts
}

TEST_CASE("multi-label cells: Python lists, the separator, []", "[table]") {
    Table t = table_of("filename,class\na.png,\"['cat', 'dog']\"\nb.png,[]\nc.png,bird|cat\nd.png,cat\ne.png,\"[\"\"x\"\"]\"\n",
                       unchecked());
    CHECK(t.kind == TargetKind::classes);
    CHECK(t.classes == std::vector<std::string>{"bird", "cat", "dog", "x"});
    CHECK(lines(t) ==
          "a.png\tclasses=1:cat|2:dog\nb.png\tclasses=\nc.png\tclasses=0:bird|1:cat\nd.png\tclasses=1:cat\ne.png\tclasses=3:x\n");
    std::vector<std::string> names;
    bool listed;
    std::string why;
    CHECK(parse_label_cell("[1, 2]", "|", names, listed, why));
    CHECK(names == std::vector<std::string>{"1", "2"});
    CHECK(parse_label_cell("a;b", ";", names, listed, why));
    CHECK((listed && names == std::vector<std::string>{"a", "b"}));
    CHECK(parse_label_cell("a|b", "", names, listed, why));
    CHECK((!listed && names == std::vector<std::string>{"a|b"}));
    CHECK(!parse_label_cell("['a', 'b'", "|", names, listed, why));
    CHECK(!parse_label_cell("['a' 'b']", "|", names, listed, why));
    CHECK(!parse_label_cell("['a]", "|", names, listed, why));
    CHECK(!parse_label_cell("a||b", "|", names, listed, why));
}

TEST_CASE("--classes keeps its order and its unused names", "[table]") {
    TableOptions o = unchecked();
    o.classes = {"dog", "cat", "fish"};
    Table t = table_of("filename,class\na.png,cat\nb.png,dog\n", o);
    CHECK(t.classes == o.classes);
    CHECK(lines(t) == "a.png\t1\tcat\nb.png\t0\tdog\n");
    CHECK(refusal("filename,class\na.png,cat\nb.png,cow\n", o) ==
          ":3: column \"class\": class \"cow\" is not in --classes (dog, cat, fish)");
}

TEST_CASE("raw targets, weights and a folder", "[table]") {
    TableOptions o = unchecked();
    o.mode = TableMode::raw;
    o.y_cols = {"angle", "scale"};
    o.weight_col = "w";
    o.directory = "data";
    Table t = table_of("filename\tangle\tscale\tw\na.png\t 1.5\t+2\t0\n/abs/b.png\t-1e-3\t0.1\t2.5\n", [&] {
        o.delimiter = '\t';
        return o;
    }());
    CHECK(t.kind == TargetKind::numbers);
    CHECK(t.target_names == std::vector<std::string>{"angle", "scale"});
    CHECK(lines(t) == "data/a.png\ty=1.5,2\tw=0\n/abs/b.png\ty=-0.001,0.1\tw=2.5\n");
}

TEST_CASE("bad tables are named by line and column", "[table]") {
    TableOptions raw = unchecked();
    raw.mode = TableMode::raw;
    raw.y_cols = {"angle"};
    CHECK(refusal("filename,angle\na.png,1\nb.png,abc\n", raw) == ":3: column \"angle\": \"abc\" is not a number");
    CHECK(refusal("filename,angle\na.png,nan\n", raw) == ":2: column \"angle\": \"nan\" is not a finite number");
    CHECK(refusal("filename,angle\na.png,-inf\n", raw) == ":2: column \"angle\": \"-inf\" is not a finite number");
    CHECK(refusal("filename,angle\na.png,\n", raw) == ":2: column \"angle\": \"\" is not a number");
    TableOptions weighted = unchecked();
    weighted.weight_col = "w";
    CHECK(refusal("filename,class,w\na.png,cat,-1\n", weighted) == ":2: column \"w\": weight \"-1\" is negative");
    CHECK(refusal("filename,class,w\na.png,cat,NaN\n", weighted) == ":2: column \"w\": \"NaN\" is not a finite number");
    CHECK(refusal("filename,class\na.png,cat\nb.png,\n") ==
          ":3: column \"class\": an empty label (write [] for an image of none of the classes)");
    CHECK(refusal("filename,class\na.png,cat\n\"b.png,dog\n") ==
          ":3: unbalanced quotes (a quoted field must end with a quote followed by the separator or the line's end)");
    CHECK(refusal("filename,class\n\"a\"x.png,cat\n").find(":2: unbalanced quotes") == 0);
    CHECK(refusal("filename,class\na.png,cat,extra\n") == ":2: 3 fields, but the header names 2 columns");
    CHECK(refusal("filename,klass\na.png,cat\n") ==
          ":1: no column \"class\" (--y-col; did you mean \"klass\"?): the columns are \"filename\", \"klass\"");
    CHECK(refusal("name,label\na.png,cat\n") == ":1: no column \"class\" (--y-col): the columns are \"name\", \"label\"");
    CHECK(refusal("filename,class\n\"a\tb.png\",cat\n") ==
          ":2: column \"filename\": file name \"a\tb.png\" holds a tab or a line break (use -0)");
    CHECK(refusal("filename,class\n,cat\n") == ":2: column \"filename\": an empty file name");
    CHECK(refusal("") == ": no header row (the first row names the columns)");
    CHECK(refusal("filename,class\na.png,cat\nb.png,dog\na.png,dog\n") ==
          ":4: column \"filename\": file \"a.png\" is also on line 2 (Keras keeps both rows; --allow-duplicates does too)");
    TableOptions binary = unchecked();
    binary.mode = TableMode::binary;
    CHECK(refusal("filename,class\na.png,cat\nb.png,dog\nc.png,cow\n", binary) ==
          ": --class-mode binary needs exactly 2 classes, the table has 3: \"cat\", \"cow\", \"dog\"");
    CHECK(refusal("filename,class\na.png,cat|dog\n", binary) ==
          ":2: column \"class\": \"cat|dog\" is a list of classes: --class-mode binary takes one class per row "
          "(categorical takes several)");
}

TEST_CASE("duplicates when asked, and missing files marked", "[table]") {
    TableOptions o;
    o.allow_duplicates = true;
    o.directory = "/";
    Table t = table_of("filename,class\ntmp,x\nno/such/file.png,x\nno/such/file.png,x\n", o);
    REQUIRE(t.rows() == 3);
    CHECK(t.is_missing(0));  // a folder is not an image file
    CHECK(t.is_missing(1));
    CHECK(t.missing() == 3);
    CHECK(format_list_line(t.entry(1), false) == "/no/such/file.png\tmissing\n");
    char self[] = "/proc/self/exe";
    o.directory.clear();
    Table here = table_of(std::string("filename,class\n") + self + ",x\n", o);
    CHECK(!here.is_missing(0));
}
