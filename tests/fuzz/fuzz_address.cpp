// libFuzzer target: weft::net::address::parse on arbitrary text. Whatever
// parses must format back (to_string) to text that parses to the same address.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "weft/net/address.hpp"

namespace {
[[noreturn]] void mismatch(std::string_view in, const std::string& out, const char* what) {
    std::fprintf(stderr, "fuzz_address: %s: input '%.*s', formatted '%s'\n", what,
                 static_cast<int>(in.size()), in.data(), out.c_str());
    std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::error_code ec;
    const weft::net::address a = weft::net::address::parse(text, ec);
    bool threw = false;
    try {
        (void)weft::net::address::parse(text);
    } catch (const std::system_error&) {
        threw = true;
    }
    if (threw != static_cast<bool>(ec)) mismatch(text, "", "the throwing and error_code forms disagree");
    if (ec) {
        if (!a.empty()) mismatch(text, a.to_string(), "a failed parse left an address");
        return 0;
    }
    if (a.empty()) mismatch(text, "", "a successful parse gave an empty address");
    const std::string out = a.to_string();
    const weft::net::address b = weft::net::address::parse(out, ec);
    if (ec) mismatch(text, out, "the formatted address does not parse");
    if (!(a == b) || a.port() != b.port() || a.is_v6() != b.is_v6())
        mismatch(text, out, "the formatted address parses to another address");
    return 0;
}
