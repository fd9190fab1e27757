// lib/view/mask: the class palette, the predicted mask, where nnpredict puts mask files.
#include <catch2/catch.hpp>

#include "cli/error.hpp"
#include "view/mask.hpp"

using namespace imgpipe;

TEST_CASE("the PASCAL VOC colour map, as VOCdevkit's labelcolormap computes it", "[mask]") {
    CHECK(voc_color(0) == Color{0, 0, 0});
    CHECK(voc_color(1) == Color{128, 0, 0});
    CHECK(voc_color(2) == Color{0, 128, 0});
    CHECK(voc_color(7) == Color{128, 128, 128});
    CHECK(voc_color(8) == Color{64, 0, 0});
    CHECK(voc_color(15) == Color{192, 128, 128});  // person
    CHECK(voc_color(20) == Color{0, 64, 128});     // tvmonitor
    CHECK(voc_color(255) == Color{224, 224, 192}); // VOC's own border colour: white when it is the ignore index
}

TEST_CASE("a stream's palette: its colours over VOC's, the ignore index white", "[mask]") {
    Frame f;
    CHECK(Palette::of(f).colors[255] == Color{224, 224, 192});
    f.metadata["colors"] = "[[1, 2, 3], [4, 5, 6]]";
    f.metadata["ignore_index"] = "255";
    Palette p = Palette::of(f);
    CHECK(p.colors[0] == Color{1, 2, 3});
    CHECK(p.colors[1] == Color{4, 5, 6});
    CHECK(p.colors[2] == Color{0, 128, 0});
    CHECK(p.colors[255] == Color{255, 255, 255});
    CHECK(p.ignore == 255);
    f.metadata["colors"] = "[[1, 2, 300]]";
    CHECK_THROWS_AS(Palette::of(f), DataError);
    f.metadata["colors"] = "not json";
    CHECK_THROWS_AS(Palette::of(f), DataError);
    f.metadata.erase("colors");
    f.metadata["ignore_index"] = "2.5";
    CHECK_THROWS_AS(Palette::of(f), DataError);
}

TEST_CASE("the predicted mask: argmax with ties to the lower class, one sigmoid above 0.5", "[mask]") {
    Tensor soft("x", DType::F32, {1, 1, 3, 3});
    float* p = soft.values<float>();
    const float values[] = {0.2f, 0.5f, 0.3f, 0.4f, 0.4f, 0.2f, 0.1f, 0.1f, 0.8f};
    std::copy(values, values + 9, p);
    Tensor m = predicted_mask(soft);
    CHECK(m.name == "y");
    CHECK(m.dtype == DType::U8);
    CHECK(m.shape == std::vector<int64_t>{1, 1, 3, 1});
    CHECK(std::vector<uint8_t>(m.values<uint8_t>(), m.values<uint8_t>() + 3) == std::vector<uint8_t>{1, 0, 2});
    Tensor sig("x", DType::F32, {1, 1, 3, 1});
    sig.values<float>()[0] = 0.5f, sig.values<float>()[1] = 0.51f, sig.values<float>()[2] = 0.1f;
    Tensor s = predicted_mask(sig);
    CHECK(std::vector<uint8_t>(s.values<uint8_t>(), s.values<uint8_t>() + 3) == std::vector<uint8_t>{0, 1, 0});
    CHECK_THROWS_AS(predicted_mask(Tensor("x", DType::F32, {2, 10})), DataError);
}

TEST_CASE("mask files mirror the source path inside the folder", "[mask]") {
    MaskWriter w("out", false);
    CHECK(w.mask_path("data/cat/1.jpg") == "out/data/cat/1.png");
    CHECK(w.mask_path("./a.b.jpeg") == "out/a.b.png");
    CHECK(w.mask_path("../../x/y") == "out/x/y.png");
    CHECK(w.mask_path("/abs/.hidden") == "out/abs/.hidden.png");
    CHECK_THROWS_AS(w.mask_path("a/../../b.png"), DataError);
    CHECK(mask_list_line("a.png", "m/a.png", true, 0.5) == "a.png\tmask=m/a.png\tw=0.5\n");
    CHECK_THROWS_AS(mask_list_line("a\tb.png", "m.png", false, 1), DataError);
}
