// Command-line parsing shared by the examples: flags that take a value,
// positional arguments, --help. Anything else (an unknown flag, a missing or
// malformed value) prints what is wrong and the usage, and exits with 2;
// --help prints the usage and exits with 0.
#pragma once

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace example_args {

class parser {
public:
    // usage: the whole text, starting with "usage: PROGRAM ...".
    parser(const char* program, const char* usage, int argc, char** argv)
        : program_(program), usage_(usage), argc_(argc), argv_(argv) {}

    // The next argument, or nullptr after the last. Handles --help / -h.
    const char* next() {
        if (++i_ >= argc_) return nullptr;
        const std::string_view a = argv_[i_];
        if (a == "--help" || a == "-h") {
            std::fputs(usage_, stdout);
            std::exit(0);
        }
        return argv_[i_];
    }

    static bool is_flag(const char* a) { return a[0] == '-' && a[1] != '\0'; }

    // The value after `flag`.
    const char* value(const char* flag) {
        if (i_ + 1 >= argc_) fail(std::string(flag) + " needs a value");
        return argv_[++i_];
    }

    // The value after `flag` as a whole decimal number from lo to hi.
    long number(const char* flag, long lo, long hi) {
        const std::string_view v = value(flag);
        long n = 0;
        const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || err != std::errc() || end != v.data() + v.size() || n < lo || n > hi)
            fail(std::string(flag) + " needs a number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                 ", not '" + std::string(v) + "'");
        return n;
    }

    [[noreturn]] void unknown(const char* arg) const {
        if (is_flag(arg)) fail("unknown option '" + std::string(arg) + "'");
        fail("unexpected argument '" + std::string(arg) + "'");
    }

    [[noreturn]] void fail(const std::string& what) const {
        std::fprintf(stderr, "%s: %s\n%s", program_, what.c_str(), usage_);
        std::exit(2);
    }

private:
    const char* program_;
    const char* usage_;
    int argc_;
    char** argv_;
    int i_ = 0;
};

}  // namespace example_args
