// fiber_local<T>: one value per fiber, destroyed with its fiber; one per thread outside fibers.
#include <gtest/gtest.h>

#include <string>

#include "weft/weft.hpp"

namespace {

struct counted {
    static inline int alive = 0;
    int value = 0;
    counted() { ++alive; }
    counted(const counted& o) : value(o.value) { ++alive; }
    ~counted() { --alive; }
};

TEST(FiberLocal, EachFiberHasItsOwnValue) {
    weft::fiber_local<int> slot(100);
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        int ok = 0;
        for (int i = 0; i < 20; ++i)
            hs.push_back(weft::spawn([&, i] {
                EXPECT_EQ(*slot, 100);  // first use copies the initial value
                *slot = i;
                weft::this_fiber::yield();
                if (*slot == i) ++ok;
            }));
        for (auto& h : hs) h.join();
        EXPECT_EQ(ok, 20);
        EXPECT_EQ(*slot, 100);  // main fiber never wrote its own
    });
}

TEST(FiberLocal, ValuesAreDestroyedWhenTheFiberEnds) {
    weft::fiber_local<counted> slot;
    weft::run([&] {
        auto h = weft::spawn([&] {
            slot->value = 5;
            EXPECT_EQ(counted::alive, 1);
        });
        h.join();
        EXPECT_EQ(counted::alive, 0);
        weft::spawn([&] { slot->value = 1; }).detach();
        weft::this_fiber::yield();
        weft::this_fiber::yield();
        EXPECT_EQ(counted::alive, 0);
    });
}

TEST(FiberLocal, OutsideFibersEachThreadHasOne) {
    weft::fiber_local<std::string> slot(std::string("init"));
    *slot = "main thread";
    std::string seen;
    std::thread t([&] { seen = *slot; });
    t.join();
    EXPECT_EQ(seen, "init");
    EXPECT_EQ(*slot, "main thread");
    weft::run([&] { EXPECT_EQ(*slot, "init"); });
}

TEST(FiberLocal, ManySlots) {
    std::vector<std::unique_ptr<weft::fiber_local<int>>> slots;
    for (int i = 0; i < 64; ++i) slots.push_back(std::make_unique<weft::fiber_local<int>>(i));
    weft::run([&] {
        weft::spawn([&] {
            for (int i = 0; i < 64; ++i) EXPECT_EQ(**slots[i], i);
        }).join();
    });
}

}  // namespace
