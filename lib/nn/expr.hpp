// The Lambda layer's expression language: a small, safe, differentiable
// arithmetic over one variable x, parsed once (no code is ever executed).
//   numbers, x, + - * / ** (right-associative, binds tighter than unary minus),
//   parentheses, abs exp log sqrt tanh sigmoid relu square, clip(e, lo, hi),
//   minimum(a, b), maximum(a, b). A leading "lambda x:" is accepted.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace imgpipe::nn {

struct Expr {
    enum Kind { Number, Var, Neg, Add, Sub, Mul, Div, Pow, Call } kind = Number;
    double value = 0;           // Number
    std::string function;       // Call
    std::vector<Expr> args;     // operands
};

// Throws std::invalid_argument("... at column N") for bad syntax or an unknown name.
Expr parse_expr(const std::string& text);
// Canonical text of an expression (parses back to the same tree).
std::string expr_text(const Expr& e);
// Evaluates on one double (for tests and for constant folding).
double eval_expr(const Expr& e, double x);

}  // namespace imgpipe::nn
