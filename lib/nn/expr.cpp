#include "nn/expr.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace imgpipe::nn {

namespace {

struct FunctionInfo { const char* name; size_t arity; };
const FunctionInfo kFunctions[] = {
    {"abs", 1}, {"exp", 1}, {"log", 1}, {"sqrt", 1}, {"tanh", 1}, {"sigmoid", 1}, {"relu", 1},
    {"square", 1}, {"clip", 3}, {"minimum", 2}, {"maximum", 2},
};

class Parser {
public:
    explicit Parser(const std::string& text) : s_(text) {}

    Expr parse() {
        skip_lambda();
        Expr e = sum();
        space();
        if (pos_ != s_.size()) fail("unexpected " + quoted(s_[pos_]));
        return e;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::invalid_argument(why + " at column " + std::to_string(pos_ + 1));
    }
    // 'c', or a byte escape: a NUL or control byte would cut or garble the message.
    static std::string quoted(char c) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u >= 32 && u < 127) return std::string("'") + c + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
        return buf;
    }
    void space() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    bool eat(const char* token) {
        space();
        size_t n = std::char_traits<char>::length(token);
        if (s_.compare(pos_, n, token) != 0) return false;
        // "*" must not swallow the first star of "**"
        if (n == 1 && token[0] == '*' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') return false;
        pos_ += n;
        return true;
    }
    void skip_lambda() {
        space();
        if (s_.compare(pos_, 6, "lambda") == 0) {
            pos_ += 6;
            space();
            if (!eat("x") || !eat(":")) fail("expected \"lambda x:\"");
        }
    }
    static Expr node(Expr::Kind k, std::vector<Expr> args) {
        Expr e;
        e.kind = k;
        e.args = std::move(args);
        return e;
    }
    // Nesting is bounded so that a hostile spec cannot overflow the stack.
    static constexpr int kMaxDepth = 1000;  // about 500 parentheses
    struct Nest {
        Parser& p;
        explicit Nest(Parser& parser) : p(parser) {
            if (++p.depth_ > kMaxDepth) p.fail("expression nested too deeply");
        }
        ~Nest() { --p.depth_; }
    };
    Expr sum() {
        Nest nest(*this);
        Expr left = product();
        for (;;) {
            if (eat("+")) left = node(Expr::Add, {left, product()});
            else if (eat("-")) left = node(Expr::Sub, {left, product()});
            else return left;
        }
    }
    Expr product() {
        Expr left = unary();
        for (;;) {
            if (eat("*")) left = node(Expr::Mul, {left, unary()});
            else if (eat("/")) left = node(Expr::Div, {left, unary()});
            else return left;
        }
    }
    // Python: -x**2 is -(x**2), and 2**-1 is allowed.
    Expr unary() {
        Nest nest(*this);
        if (eat("-")) return node(Expr::Neg, {unary()});
        if (eat("+")) return unary();
        return power();
    }
    Expr power() {
        Expr base = atom();
        if (eat("**")) return node(Expr::Pow, {base, unary()});
        return base;
    }
    Expr atom() {
        space();
        if (pos_ >= s_.size()) fail("unexpected end of expression");
        char c = s_[pos_];
        if (c == '(') {
            ++pos_;
            Expr e = sum();
            if (!eat(")")) fail("expected ')'");
            return e;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
            const char* begin = s_.c_str() + pos_;
            char* end = nullptr;
            double v = std::strtod(begin, &end);
            if (end == begin) fail("bad number");
            pos_ += size_t(end - begin);
            Expr e;
            e.value = v;
            return e;
        }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t start = pos_;
            while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' || s_[pos_] == '.'))
                ++pos_;
            std::string name = s_.substr(start, pos_ - start);
            // Accept the module prefixes people write in Keras lambdas.
            for (const char* prefix : {"tf.math.", "tf.nn.", "tf.", "K.", "keras.ops.", "ops.", "np."})
                if (name.rfind(prefix, 0) == 0) name = name.substr(std::char_traits<char>::length(prefix));
            if (name == "x") {
                Expr e;
                e.kind = Expr::Var;
                return e;
            }
            if (name == "clip_by_value") name = "clip";
            const FunctionInfo* info = nullptr;
            for (const FunctionInfo& f : kFunctions)
                if (name == f.name) info = &f;
            if (!info) {
                pos_ = start;
                fail("unknown name \"" + name + "\" (the expression may use x, numbers, + - * / **, abs exp log sqrt "
                     "tanh sigmoid relu square clip minimum maximum)");
            }
            if (!eat("(")) fail("expected '(' after " + name);
            Expr e;
            e.kind = Expr::Call;
            e.function = name;
            e.args.push_back(sum());
            while (eat(",")) e.args.push_back(sum());
            if (!eat(")")) fail("expected ')'");
            if (e.args.size() != info->arity)
                fail(name + " takes " + std::to_string(info->arity) + " argument" + (info->arity > 1 ? "s" : "") +
                     ", got " + std::to_string(e.args.size()));
            return e;
        }
        fail("unexpected " + quoted(c));
    }

    const std::string& s_;
    size_t pos_ = 0;
    int depth_ = 0;
};

std::string number_text(double v) {
    if (std::isinf(v)) return v > 0 ? "1e999" : "-1e999";  // what Python and strtod read as infinity
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    std::string s = buf;
    if (s.find_first_of(".eEn") == std::string::npos) s += ".";  // "255." as people write it
    return s;
}

}  // namespace

Expr parse_expr(const std::string& text) { return Parser(text).parse(); }

std::string expr_text(const Expr& e) {
    auto bin = [&](const char* op) { return "(" + expr_text(e.args[0]) + op + expr_text(e.args[1]) + ")"; };
    switch (e.kind) {
        case Expr::Number: return e.value < 0 ? "(" + number_text(e.value) + ")" : number_text(e.value);
        case Expr::Var: return "x";
        case Expr::Neg: return "(-" + expr_text(e.args[0]) + ")";
        case Expr::Add: return bin("+");
        case Expr::Sub: return bin("-");
        case Expr::Mul: return bin("*");
        case Expr::Div: return bin("/");
        case Expr::Pow: return bin("**");
        case Expr::Call: {
            std::string s = e.function + "(";
            for (size_t i = 0; i < e.args.size(); ++i) s += (i ? ", " : "") + expr_text(e.args[i]);
            return s + ")";
        }
    }
    return "";
}

double eval_expr(const Expr& e, double x) {
    auto a = [&](size_t i) { return eval_expr(e.args[i], x); };
    switch (e.kind) {
        case Expr::Number: return e.value;
        case Expr::Var: return x;
        case Expr::Neg: return -a(0);
        case Expr::Add: return a(0) + a(1);
        case Expr::Sub: return a(0) - a(1);
        case Expr::Mul: return a(0) * a(1);
        case Expr::Div: return a(0) / a(1);
        case Expr::Pow: return std::pow(a(0), a(1));
        case Expr::Call: {
            const std::string& f = e.function;
            if (f == "abs") return std::fabs(a(0));
            if (f == "exp") return std::exp(a(0));
            if (f == "log") return std::log(a(0));
            if (f == "sqrt") return std::sqrt(a(0));
            if (f == "tanh") return std::tanh(a(0));
            if (f == "sigmoid") return 1 / (1 + std::exp(-a(0)));
            if (f == "relu") return std::max(0.0, a(0));
            if (f == "square") return a(0) * a(0);
            if (f == "clip") return std::min(std::max(a(0), a(1)), a(2));
            if (f == "minimum") return std::min(a(0), a(1));
            if (f == "maximum") return std::max(a(0), a(1));
        }
    }
    return 0;
}

}  // namespace imgpipe::nn
