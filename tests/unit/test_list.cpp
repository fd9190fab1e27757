// List lines and the counter-based random generator.
#include <catch2/catch.hpp>

#include "cli/error.hpp"
#include "cli/random.hpp"
#include "list/list.hpp"

using namespace imgpipe;

TEST_CASE("list lines round-trip with and without labels", "[list]") {
    ListEntry e{"data/cats/001.jpg", 0, "cats"};
    CHECK(format_list_line(e, false) == "data/cats/001.jpg\t0\tcats\n");
    ListEntry p = parse_list_line("data/cats/001.jpg\t0\tcats", "list:1");
    CHECK(p.path == e.path);
    CHECK(p.label == 0);
    CHECK(p.label_name == "cats");
    ListEntry bare = parse_list_line("a b.png", "list:1");
    CHECK(bare.label == -1);
    CHECK(format_list_line(bare, true) == std::string("a b.png\0", 8));
}

TEST_CASE("a malformed list line names its line number", "[list]") {
    CHECK_THROWS_WITH(parse_list_line("x.png\tcat", "list:17"), Catch::Contains("not a non-negative integer"));
    try {
        parse_list_line("x.png\t-1\tcat", "list:17");
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(e.where() == "list:17");
        CHECK(e.status() == kDataErr);
    }
}

TEST_CASE("a huge label index is refused, not allocated (fuzz finding)", "[list]") {
    // "x.png<TAB>999999999" once made read_list allocate a billion class names.
    CHECK_THROWS_WITH(parse_list_line("x.png\t999999999", "list:3"), Catch::Contains("label index 999999999 is too large"));
    CHECK_THROWS_WITH(parse_list_line("x.png\t100000\tcat", "list:3"), Catch::Contains("at most 100000 classes"));
    CHECK_THROWS_WITH(parse_list_line("x.png\t99999999999999999999", "list:3"), Catch::Contains("too large"));
    CHECK(parse_list_line("x.png\t99999\tcat", "list:3").label == 99999);
}

TEST_CASE("with -0 a path may hold tabs and newlines; the label is read from the end (corpus finding)", "[list]") {
    // imglist -0 wrote "cls/with<TAB>tab.png<TAB>0<TAB>cls", which imgprep -0 read as label index "tab.png".
    ListEntry e{"cls/with\ttab\nand newline.png", 3, "cls"};
    std::string record = format_list_line(e, true);
    record.pop_back();
    ListEntry back = parse_list_line(record, "list:1", true);
    CHECK(back.path == e.path);
    CHECK(back.label == 3);
    CHECK(back.label_name == "cls");
    ListEntry index_only = parse_list_line("a\tb.png\t7", "list:1", true);
    CHECK(index_only.path == "a\tb.png");
    CHECK(index_only.label == 7);
    CHECK(index_only.label_name.empty());
    ListEntry bare = parse_list_line("photo\t2019.png", "list:1", true);
    CHECK(bare.path == "photo\t2019.png");
    CHECK(bare.label == -1);
    CHECK_THROWS_WITH(parse_list_line("\t1", "list:4", true), Catch::Contains("empty path"));
    // A line with no path declares a class that has no image in the list.
    CHECK(parse_list_line("\t1\tcat", "list:4", true).declares_class());
    CHECK(parse_list_line("\t2\trocket", "list:5").declares_class());
    CHECK_THROWS_WITH(parse_list_line("\t2", "list:6"), Catch::Contains("empty path"));
    // Newline-terminated lines keep the strict three-field rule.
    CHECK_THROWS_WITH(parse_list_line("with\ttab.png\t0\tcls", "list:2"), Catch::Contains("not a non-negative integer"));
}

TEST_CASE("--shard K/N: K from 1, round robin; anything else is a usage error", "[list]") {
    Shard s = parse_shard("2/3");
    CHECK(s.k == 2);
    CHECK(s.n == 3);
    CHECK(!s.holds(0));
    CHECK(s.holds(1));
    CHECK(s.holds(4));
    CHECK(parse_shard("1/1").holds(7));
    for (const char* bad : {"0/3", "4/3", "1/0", "3", "", "/", "1/", "/3", "1/-3", "-1/3", "+1/3", " 1/3", "1/3 ", "1/3/5",
                            "x/2", "1.0/2", "1/99999999999999999999"}) {
        CAPTURE(bad);
        try {
            parse_shard(bad);
            FAIL("accepted");
        } catch (const UsageError& e) {
            CHECK(std::string(e.what()) == std::string("--shard wants K/N with 1 <= K <= N, not \"") + bad + "\"");
            CHECK(e.status() == kUsage);
        }
    }
    ImageList list;
    for (const char* p : {"a", "b", "c", "d", "e"}) list.entries.push_back({p, -1, ""});
    keep_shard(list, parse_shard("2/2"));
    REQUIRE(list.entries.size() == 2);
    CHECK(list.entries[0].path == "b");
    CHECK(list.entries[1].path == "d");
}

TEST_CASE("the random generator depends only on its key", "[random]") {
    Random a(7, 1, 99, Purpose::Augment), b(7, 1, 99, Purpose::Augment), c(7, 2, 99, Purpose::Augment);
    uint64_t x = a.next();
    CHECK(x == b.next());
    CHECK(x != c.next());
    Random d(7, 1, 99, Purpose::Shuffle);
    CHECK(d.next() != x);
    double u = a.uniform();
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
}

TEST_CASE("permutations are permutations and change with the epoch", "[random]") {
    auto p0 = permutation(1000, 5, 0), p1 = permutation(1000, 5, 1);
    std::vector<uint64_t> sorted = p0;
    std::sort(sorted.begin(), sorted.end());
    for (uint64_t i = 0; i < 1000; ++i) REQUIRE(sorted[i] == i);
    CHECK(p0 != p1);
    CHECK(p0 == permutation(1000, 5, 0));
}
