// List lines and the counter-based random generator.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>

#include "cli/error.hpp"
#include "cli/random.hpp"
#include "list/list.hpp"

using namespace imgpipe;

TEST_CASE("list lines round-trip with and without labels", "[list]") {
    ListEntry e = ListEntry::of_class("data/cats/001.jpg", 0, "cats");
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
    ListEntry e = ListEntry::of_class("cls/with\ttab\nand newline.png", 3, "cls");
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
    for (const char* p : {"a", "b", "c", "d", "e"}) list.entries.push_back(ListEntry::unlabelled(p));
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

TEST_CASE("list lines carry several classes, numbers and a weight, and read back exactly", "[list]") {
    ListEntry multi = parse_list_line("a.png\tclasses=3:dog|0:cat\tw=0.5", "list:1");
    CHECK(multi.kind == TargetKind::classes);
    REQUIRE(multi.classes.size() == 2);
    CHECK(multi.classes[0] == std::make_pair(0, std::string("cat")));  // sorted by index
    CHECK(multi.classes[1] == std::make_pair(3, std::string("dog")));
    CHECK(multi.weighted);
    CHECK(multi.weight == 0.5);
    CHECK(format_list_line(multi, false) == "a.png\tclasses=0:cat|3:dog\tw=0.5\n");

    ListEntry none = parse_list_line("b.png\tclasses=", "list:2");
    CHECK(none.kind == TargetKind::classes);
    CHECK(none.classes.empty());

    ListEntry numbers = parse_list_line("c.png\ty=0.1,-2.5e-07,3", "list:3");
    CHECK(numbers.kind == TargetKind::numbers);
    CHECK(numbers.numbers == std::vector<double>{0.1, -2.5e-07, 3});
    CHECK(format_list_line(numbers, false) == "c.png\ty=0.1,-2.5e-07,3\n");
    const std::string text = format_list_line(numbers, false);
    CHECK(parse_list_line(text.substr(0, text.size() - 1), "x").numbers == numbers.numbers);

    // The third field of INDEX<TAB>NAME is always the name, so any name reads back.
    ListEntry named = parse_list_line("d.png\t2\tw=1\tw=2", "list:4");
    CHECK(named.label_name == "w=1");
    CHECK(named.weight == 2);
    ListEntry weighted_class = ListEntry::of_class("e.png", 1, "w=3");
    weighted_class.weighted = true, weighted_class.weight = 1e-300;
    std::string line = format_list_line(weighted_class, false);
    line.pop_back();
    ListEntry back = parse_list_line(line, "x");
    CHECK(back.label_name == "w=3");
    CHECK(back.weight == 1e-300);

    // With -0 the fields come from the end.
    ListEntry tabbed = parse_list_line("dir\twith tab.png\ty=1.5\tw=2", "list:5", true);
    CHECK(tabbed.path == "dir\twith tab.png");
    CHECK(tabbed.numbers == std::vector<double>{1.5});
    CHECK(tabbed.weight == 2);
}

TEST_CASE("bad grown list lines are named", "[list]") {
    auto refused = [](const std::string& line, const std::string& words) {
        try {
            parse_list_line(line, "list:9");
        } catch (const DataError& e) {
            CHECK(std::string(e.what()).find(words) != std::string::npos);
            CHECK(e.where() == "list:9");
            return;
        }
        FAIL("accepted: " << line);
    };
    refused("a.png\ty=1,nan", "y=: \"nan\" is not a finite number");
    refused("a.png\ty=inf", "\"inf\" is not a finite number");
    refused("a.png\ty=", "\"\" is not a finite number");
    refused("a.png\ty=1\tw=-1", "w=: \"-1\" is not a finite number >= 0");
    refused("a.png\ty=1\tw=x", "is not a finite number >= 0");
    refused("a.png\ty=1\tz=2", "\"z=2\" is not a weight");
    refused("a.png\ty=1\tw=1\tw=2", "too many tab-separated fields");
    refused("a.png\tclasses=cat", "\"cat\" is not INDEX:NAME");
    refused("a.png\tclasses=1:a|1:b", "class 1 is listed twice");
    refused("a.png\tclasses=0:", "\"0:\" is not INDEX:NAME");
    refused("a.png\ttargets=a|b", "it goes alone on a line with no path");
    refused("\ty=1", "empty path");
}

TEST_CASE("a list holds one kind of target, the same count of numbers, and weights on every line or none", "[list]") {
    auto read = [](const std::string& text) {
        std::string path = "/tmp/imgpipe_test_list.txt";
        FILE* f = fopen(path.c_str(), "w");
        fputs(text.c_str(), f);
        fclose(f);
        Input in(path);
        return read_list(in, false);
    };
    ImageList numbers = read("\ttargets=angle|scale\na.png\ty=1,2\tw=1\nb.png\ty=3,4\tw=0\n");
    CHECK(numbers.kind == TargetKind::numbers);
    CHECK(numbers.targets == 2);
    CHECK(numbers.weighted);
    CHECK(numbers.target_names == std::vector<std::string>{"angle", "scale"});
    CHECK(read("a.png\ty=1\n").target_names == std::vector<std::string>{"y0"});

    ImageList multi = read("\t2\trocket\na.png\tclasses=0:cat|1:dog\nb.png\tclasses=\n");
    CHECK(multi.kind == TargetKind::classes);
    CHECK(multi.classes == std::vector<std::string>{"cat", "dog", "rocket"});
    CHECK(multi.entries.size() == 2);

    auto refused = [&](const std::string& text, const std::string& words) {
        try {
            read(text);
        } catch (const DataError& e) {
            CHECK(std::string(e.what()).find(words) != std::string::npos);
            return;
        }
        FAIL("accepted: " << text);
    };
    refused("a.png\ty=1\nb.png\ty=1,2\n", "y= holds 2 numbers, line 1 holds 1");
    refused("a.png\ty=1\nb.png\t0\tcat\n", "this line has one class, line 1 has numbers (y=)");
    refused("a.png\t0\tcat\nb.png\n", "mixes labelled and unlabelled lines");
    refused("a.png\ty=1\tw=1\nb.png\ty=2\n", "this line has no weight (w=), line 1 has one");
    refused("a.png\tclasses=0:a\nb.png\tclasses=0:b\n", "label 0 is \"b\" here but \"a\" earlier");
    refused("\ttargets=a|b\na.png\ty=1\n", "targets= names 2 numbers, but its lines hold 1");
    refused("\t0\tcat\na.png\ty=1\n", "declares classes, but its lines have numbers");
}

TEST_CASE("a missing file's line: PATH<TAB>missing, kept apart from the entries", "[list]") {
    ListEntry m = ListEntry::missing_file("img/gone.png");
    CHECK(format_list_line(m, false) == "img/gone.png\tmissing\n");
    CHECK(format_list_line(m, true) == std::string("img/gone.png\tmissing\0", 21));
    ListEntry back = parse_list_line("img/gone.png\tmissing", "list:3");
    CHECK(back.missing);
    CHECK(back.path == "img/gone.png");
    CHECK(back.kind == TargetKind::none);
    CHECK(parse_list_line("a\tb.png\tmissing", "list:3", true).path == "a\tb.png");
    CHECK(parse_list_line("a\tb.png\tmissing", "list:3", true).missing);
    // Class 3 named "missing" stays a class, with and without -0.
    CHECK(!parse_list_line("x.png\t3\tmissing", "list:3").missing);
    ListEntry named = parse_list_line("x.png\t3\tmissing", "list:3", true);
    CHECK((!named.missing && named.label == 3 && named.label_name == "missing" && named.path == "x.png"));
    CHECK_THROWS_WITH(parse_list_line("x.png\tmissing\tw=1", "list:4"), Catch::Contains("nothing after \"missing\""));
    CHECK_THROWS_WITH(parse_list_line("\tmissing", "list:5"), Catch::Contains("empty path"));

    // In a labelled, weighted list a missing line breaks no rule: it is set apart.
    char path[] = "/tmp/imgpipe-list-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string text = "a.png\t0\tcat\tw=2\nb.png\tmissing\nc.png\t1\tdog\tw=1\nd.png\tmissing\n";
    REQUIRE(write(fd, text.data(), text.size()) == ssize_t(text.size()));
    close(fd);
    Input in(path);
    ImageList list = read_list(in, false);
    unlink(path);
    REQUIRE(list.entries.size() == 2);
    CHECK(list.kind == TargetKind::one_class);
    CHECK(list.weighted);
    REQUIRE(list.missing.size() == 2);
    CHECK(list.missing[0].path == "b.png");
    CHECK(list.missing[1].path == "d.png");
    keep_shard(list, Shard{2, 2});  // each shard records its own share of them
    REQUIRE(list.missing.size() == 1);
    CHECK(list.missing[0].path == "d.png");
    CHECK(list.entries[0].path == "c.png");
}

TEST_CASE("a segmentation pair: PATH<TAB>mask=MASK, its classes declared, read back exactly, with -0 too", "[list]") {
    ListEntry pair = parse_list_line("img/a.jpg\tmask=masks/a.png\tw=2", "list:1");
    CHECK(pair.kind == TargetKind::mask);
    CHECK(pair.mask == "masks/a.png");
    CHECK(pair.weight == 2);
    CHECK(format_list_line(pair, false) == "img/a.jpg\tmask=masks/a.png\tw=2\n");
    ListEntry tabbed = parse_list_line(std::string("a\tb.jpg\tmask=m.png"), "list:2", true);
    CHECK(tabbed.path == "a\tb.jpg");
    CHECK(tabbed.mask == "m.png");
    CHECK_THROWS_WITH(parse_list_line("a.jpg\tmask=", "list:3"), Catch::Contains("mask=: an empty path"));

    std::string path = "/tmp/imgpipe_test_pairs.txt";
    auto read = [&](const std::string& text) {
        FILE* f = fopen(path.c_str(), "w");
        fputs(text.c_str(), f);
        fclose(f);
        Input in(path);
        return read_list(in, false);
    };
    ImageList list = read("\t0\tbg\n\t1\tcar\na.jpg\tmask=a.png\nb.jpg\tmask=b.png\n");
    CHECK(list.kind == TargetKind::mask);
    CHECK(list.has_classes());
    CHECK(list.classes == std::vector<std::string>{"bg", "car"});
    CHECK(list.entries[1].mask == "b.png");
    CHECK_THROWS_WITH(read("a.jpg\tmask=a.png\nb.jpg\t0\tcat\n"), Catch::Contains("this line has one class, line 1 has a mask (mask=)"));
}

TEST_CASE("a path without its extension: the file name's, never a folder's", "[list]") {
    CHECK(without_extension("a/b.jpg") == "a/b");
    CHECK(without_extension("b.tar.gz") == "b.tar");
    CHECK(without_extension("a.d/b") == "a.d/b");
    CHECK(without_extension("a/.x") == "a/.x");
    CHECK(without_extension("b") == "b");
}
