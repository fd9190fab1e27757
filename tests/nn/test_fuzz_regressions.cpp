// Findings of the libFuzzer targets in tests/fuzz/ on the torch-free parsers
// (spec and Lambda expressions), each kept as a case so that it stays fixed.
// The inputs are also in tests/fuzz/corpus/, which every fuzz run replays first.
#include <catch2/catch.hpp>


#include <cstdio>
#include <string>

#include "cli/error.hpp"
#include "nn/expr.hpp"
#include "nn/spec.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

TEST_CASE("a number too large for a double is a spec error, not an internal one (fuzz finding)", "[spec][fuzz]") {
    // nlohmann::json reports 1e999 as out_of_range, which escaped as "internal error" (exit 70).
    const char* text = R"({"input_shape": [28, 61e999, 1], "layers": [{"type": "Flatten"}]})";
    try {
        parse_spec(text, "big.json");
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(e.where() == "big.json");
        CHECK_THAT(e.what(), Catch::StartsWith("not valid JSON: ") && Catch::Contains("number overflow"));
    }
}

TEST_CASE("a control byte in an expression is named, not pasted into the message (fuzz finding)", "[lambda][fuzz]") {
    // A NUL byte once cut the message short at "unexpected '".
    CHECK_THROWS_WITH(parse_expr(std::string("x\0", 2)), "unexpected byte 0x00 at column 2");
    CHECK_THROWS_WITH(parse_expr("\x05x"), "unexpected byte 0x05 at column 1");
    CHECK_THROWS_WITH(parse_expr("x ; 2"), "unexpected ';' at column 3");
}

TEST_CASE("deep nesting is refused before it overflows the stack (fuzz finding)", "[lambda][fuzz]") {
    auto nested = [](int n, const std::string& open, const std::string& close) {
        std::string s;
        for (int i = 0; i < n; ++i) s += open;
        s += "x";
        for (int i = 0; i < n; ++i) s += close;
        return s;
    };
    CHECK(eval_expr(parse_expr(nested(150, "(", ")")), 2) == 2);
    CHECK_THROWS_WITH(parse_expr(nested(30000, "(", ")")), Catch::Contains("expression nested too deeply at column"));
    CHECK_THROWS_WITH(parse_expr(nested(30000, "-", "")), Catch::Contains("expression nested too deeply at column"));
    CHECK_THROWS_WITH(parse_expr(nested(30000, "abs(", ")")), Catch::Contains("expression nested too deeply at column"));
    std::string spec = R"({"input_shape": [4], "layers": [{"type": "Lambda", "function": ")" + nested(30000, "(", ")") +
                       R"("}, {"type": "Dense", "units": 1}]})";
    CHECK_THROWS_AS(parse_spec(spec, "deep.json"), DataError);
}

TEST_CASE("an infinite constant prints as text that parses back (fuzz finding)", "[lambda][fuzz]") {
    // x*1e999 printed as "(x*inf)", which does not parse.
    Expr e = parse_expr("x*1e999 - 1e999");
    std::string text = expr_text(e);
    CHECK(text == "((x*1e999)-1e999)");
    CHECK(expr_text(parse_expr(text)) == text);
    CHECK(expr_text(parse_expr("-1e999")) == "(-1e999)");
}

TEST_CASE("a key of the wrong JSON type is a spec error, not an internal one (fuzz finding)", "[spec][fuzz]") {
    // json::value() throws type_error when the key is there with another type:
    // a Keras 3 call argument whose class_name is an object escaped as exit 70.
    auto refused = [](const std::string& text, const std::string& words = "") {
        INFO(text);
        try {
            parse_spec(text, "bad.json");
            FAIL("no error");
        } catch (const DataError& e) {
            CHECK(e.where() == "bad.json");
            CHECK_THAT(e.what(), Catch::Contains(words));
        }
    };
    refused(R"({"class_name": "Functional", "config": {"name": "f", "layers": [
        {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [null, 4], "name": "in"}, "inbound_nodes": []},
        {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2},
         "inbound_nodes": [{"args": [{"class_name": {"a": 1}, "config": {}}], "kwargs": {}}]}],
        "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})");
    refused(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "kernel_initializer":
        {"class_name": "VarianceScaling", "config": {"scale": "2", "mode": "fan_in", "distribution": "normal"}}}]})",
            "\"kernel_initializer\": VarianceScaling's scale is \"2\"");
    refused(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "kernel_initializer":
        {"class_name": "VarianceScaling", "config": {"scale": 2, "mode": 1}}}]})", "VarianceScaling's mode is 1");
    // A nested model's "trainable" that is no boolean does not freeze it, and throws nothing.
    Spec s = parse_spec(R"({"class_name": "Sequential", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}},
        {"class_name": "Sequential", "config": {"name": "inner", "trainable": "no", "layers": [
            {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}}]}})", "nested.json");
    CHECK(s.trainable_params() == 10);
}
