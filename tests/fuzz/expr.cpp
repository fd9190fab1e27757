// libFuzzer target: the Lambda expression parser. Bad syntax must be an
// std::invalid_argument naming the column; an expression that parses must
// print (expr_text) as text that parses to the same tree and value.
#include <cmath>
#include <stdexcept>

#include "fuzz.hpp"
#include "nn/expr.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    nn::Expr e;
    try {
        e = nn::parse_expr(text);
    } catch (const std::invalid_argument& err) {
        if (std::string(err.what()).find(" at column ") == std::string::npos) fuzz::finding("message", err.what());
        return 0;
    } catch (const std::exception& err) {
        fuzz::finding("exception other than invalid_argument", err.what());
    }
    std::string printed = nn::expr_text(e);
    nn::Expr back;
    try {
        back = nn::parse_expr(printed);
    } catch (const std::exception& err) {
        fuzz::finding("printed expression does not parse", printed + ": " + err.what());
    }
    if (nn::expr_text(back) != printed) fuzz::finding("round trip", printed + " vs " + nn::expr_text(back));
    for (double x : {0.0, 0.5, -2.0, 255.0}) {
        double a = nn::eval_expr(e, x), b = nn::eval_expr(back, x);
        if (!(a == b || (std::isnan(a) && std::isnan(b)))) fuzz::finding("value", printed);
    }
    return 0;
}
