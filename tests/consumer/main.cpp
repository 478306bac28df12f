// Smoke test for consumers of weft: only the umbrella header, only the public API.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <vector>

int main() {
    constexpr int kFibers = 4;
    constexpr int kYields = 3;
    bool ok = false;
    try {
        weft::run([&] {
            std::vector<int> results(kFibers, 0);
            std::vector<weft::fiber_handle> fibers;
            for (int i = 0; i < kFibers; ++i) {
                fibers.push_back(weft::spawn([&results, i] {
                    for (int k = 0; k < kYields; ++k) {
                        weft::this_fiber::sleep_for(std::chrono::milliseconds(1 + i));
                        weft::this_fiber::yield();
                        results[i] += i + 1;
                    }
                }));
            }
            for (auto& f : fibers) {
                f.join();
            }
            ok = weft::in_fiber();
            for (int i = 0; i < kFibers; ++i) {
                if (results[i] != kYields * (i + 1)) {
                    std::fprintf(stderr, "consumer: fiber %d produced %d, expected %d\n", i,
                                 results[i], kYields * (i + 1));
                    ok = false;
                }
            }
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer: exception: %s\n", e.what());
        return 1;
    }
    if (!ok) {
        std::fprintf(stderr, "consumer FAILED\n");
        return 1;
    }
    std::puts("consumer ok");
    return 0;
}
