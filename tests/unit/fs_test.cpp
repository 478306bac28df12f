// weft::fs::file: round trips, bad input, and that a fiber doing file I/O
// never stalls the other fibers of its worker (a ticker fiber keeps
// ticking). Runs on whatever backend the workers take (WEFT_REACTOR picks:
// io_uring carries file calls in the ring, epoll through the offload pool).
// No test asserts how fast anything happens.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

namespace {

using weft::fs::file;

// A fresh directory under TMPDIR, removed with everything in it.
struct temp_dir {
    std::string path;
    temp_dir() {
        const char* t = std::getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/weft-fs-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        EXPECT_NE(::mkdtemp(buf.data()), nullptr);
        path = buf.data();
    }
    ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::vector<char> pattern(std::size_t n, unsigned seed = 1) {
    std::vector<char> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 12)) & 0xff);
    return v;
}

TEST(File, WriteThenReadBack) {
    temp_dir d;
    weft::run([&] {
        const auto data = pattern(300'000);
        {
            file f = file::open(d / "a", O_WRONLY | O_CREAT | O_TRUNC);
            EXPECT_EQ(f.write_all(data.data(), data.size()), data.size());
            f.sync();
            EXPECT_EQ(f.size(), data.size());
            f.close();
            EXPECT_FALSE(f.is_open());
        }
        file f = file::open(d / "a", O_RDONLY);
        std::vector<char> back(data.size() + 10);
        std::size_t got = 0;
        while (std::size_t n = f.read(back.data() + got, back.size() - got)) got += n;
        EXPECT_EQ(got, data.size());
        back.resize(got);
        EXPECT_EQ(back, data);
        EXPECT_EQ(f.read(back.data(), back.size()), 0u) << "end of file";
    });
}

TEST(File, PreadAndPwriteLeaveThePositionAlone) {
    temp_dir d;
    weft::run([&] {
        file f = file::open(d / "p", O_RDWR | O_CREAT | O_TRUNC, 0600);
        const std::string head = "hello, ", tail = "world";
        f.write_all(head.data(), head.size());
        EXPECT_EQ(f.pwrite_all(tail.data(), tail.size(), 100), tail.size());
        EXPECT_EQ(f.size(), 105u);
        char buf[16] = {};
        EXPECT_EQ(f.pread(buf, 5, 100), 5u);
        EXPECT_EQ(std::string(buf, 5), "world");
        EXPECT_EQ(f.pread(buf, sizeof buf, 105), 0u) << "at end of file";
        f.write_all("!", 1);  // still at offset 7
        EXPECT_EQ(f.pread(buf, 8, 0), 8u);
        EXPECT_EQ(std::string(buf, 8), "hello, !");
        struct stat st;
        ASSERT_EQ(::stat((d / "p").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
    });
}

TEST(File, WorksOutsideAFiberToo) {
    temp_dir d;
    file f = file::open(d / "plain", O_RDWR | O_CREAT | O_TRUNC);
    f.write_all("abc", 3);
    char buf[3];
    EXPECT_EQ(f.pread(buf, 3, 0), 3u);
    EXPECT_EQ(std::string(buf, 3), "abc");
    f.sync();
    EXPECT_EQ(f.size(), 3u);
}

TEST(File, ManyFibersOnARuntime) {
    temp_dir d;
    weft::runtime rt(weft::runtime_options{.workers = 2});
    std::atomic<int> ok{0};
    rt.run([&] {
        weft::task_group g;
        for (int i = 0; i < 16; ++i) {
            g.spawn([&, i] {
                const auto data = pattern(64 * 1024, static_cast<unsigned>(i));
                file f = file::open(d / ("m" + std::to_string(i)), O_RDWR | O_CREAT | O_TRUNC);
                for (int k = 0; k < 4; ++k) f.pwrite_all(data.data(), data.size(), k * data.size());
                std::vector<char> back(data.size());
                bool same = f.size() == 4 * data.size();
                for (int k = 0; k < 4; ++k) {
                    same = same && f.pread(back.data(), back.size(), k * data.size()) == back.size() && back == data;
                }
                if (same) ok.fetch_add(1);
            });
        }
        g.wait();
    });
    EXPECT_EQ(ok.load(), 16);
}

// A read that asks past the end gets what is there, then 0; pread past the
// end is 0 and leaves the position alone.
TEST(File, ShortReadAtEndOfFile) {
    temp_dir d;
    weft::run([&] {
        const auto data = pattern(10'000);
        {
            file f = file::open(d / "s", O_WRONLY | O_CREAT | O_TRUNC);
            f.write_all(data.data(), data.size());
        }
        file f = file::open(d / "s", O_RDONLY);
        std::vector<char> back(8192);
        EXPECT_EQ(f.read(back.data(), back.size()), 8192u);
        EXPECT_EQ(f.read(back.data(), back.size()), 10'000u - 8192u) << "the rest, short";
        EXPECT_TRUE(std::equal(back.begin(), back.begin() + (10'000 - 8192), data.begin() + 8192));
        EXPECT_EQ(f.read(back.data(), back.size()), 0u);
        EXPECT_EQ(f.pread(back.data(), back.size(), 1'000'000), 0u);
        EXPECT_EQ(f.pread(back.data(), 100, 9'950), 50u);
    });
}

// O_APPEND: every write_all lands at the end, whatever the position was.
TEST(File, AppendWritesGoToTheEnd) {
    temp_dir d;
    weft::run([&] {
        const auto a = pattern(5000, 1), b = pattern(7000, 2);
        {
            file f = file::open(d / "log", O_WRONLY | O_CREAT | O_TRUNC);
            f.write_all(a.data(), a.size());
        }
        {
            file f = file::open(d / "log", O_WRONLY | O_APPEND);
            f.write_all(b.data(), b.size());
            f.write_all(a.data(), 100);
            EXPECT_EQ(f.size(), a.size() + b.size() + 100);
        }
        file f = file::open(d / "log", O_RDONLY);
        std::vector<char> back(a.size() + b.size() + 100);
        EXPECT_EQ(f.pread(back.data(), back.size(), 0), back.size());
        EXPECT_TRUE(std::equal(a.begin(), a.end(), back.begin()));
        EXPECT_TRUE(std::equal(b.begin(), b.end(), back.begin() + static_cast<std::ptrdiff_t>(a.size())));
        EXPECT_TRUE(std::equal(a.begin(), a.begin() + 100, back.end() - 100));
    });
}

// 1,000 fibers on two workers read at once, ten to a file (100 files, so
// 100 descriptors: a low RLIMIT_NOFILE is no matter), each its own slice
// through pread on the shared file; every byte comes back: checksums match.
TEST(File, AThousandFibersReadFilesAtOnce) {
    temp_dir d;
    constexpr int files = 100, per_file = 10, n = files * per_file;
    constexpr std::size_t slice = 8 * 1024 + 123;
    auto sum = [](const char* p, std::size_t len) {
        std::uint64_t h = 1469598103934665603ull;  // FNV-1a
        for (std::size_t i = 0; i < len; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
        return h;
    };
    std::vector<std::uint64_t> wrote(n), read_back(n);
    weft::runtime rt(weft::runtime_options{.workers = 2});
    rt.run([&] {
        std::vector<file> fs(files);
        {
            weft::task_group g;
            for (int i = 0; i < files; ++i)
                g.spawn([&, i] {
                    const auto data = pattern(slice * per_file, static_cast<unsigned>(i));
                    file& f = fs[static_cast<std::size_t>(i)];
                    f = file::open(d / ("r" + std::to_string(i)), O_RDWR | O_CREAT | O_TRUNC);
                    f.write_all(data.data(), data.size());
                    for (int k = 0; k < per_file; ++k)
                        wrote[static_cast<std::size_t>(i * per_file + k)] = sum(data.data() + k * slice, slice);
                });
            g.wait();
        }
        weft::task_group g;
        for (int j = 0; j < n; ++j)
            g.spawn([&, j] {
                const int i = j / per_file, k = j % per_file;
                std::vector<char> back(slice);
                std::size_t got = 0;
                for (int t = 0; t < 100 && got < slice; ++t) {  // bounded: pread of a file may be short
                    const std::size_t m = fs[static_cast<std::size_t>(i)].pread(back.data() + got, slice - got,
                                                                                  k * slice + got);
                    if (m == 0) break;
                    got += m;
                }
                read_back[static_cast<std::size_t>(j)] = sum(back.data(), got);
            });
        g.wait();
    });
    int bad = 0;
    for (int j = 0; j < n; ++j)
        if (wrote[static_cast<std::size_t>(j)] != read_back[static_cast<std::size_t>(j)]) ++bad;
    EXPECT_EQ(bad, 0);
}

// A file over a pipe: a read waits for the writer without holding the
// worker (in the ring on io_uring, on an offload thread otherwise).
TEST(File, PipeReadWaitsForTheWriter) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    weft::run([&] {
        file rd(p[0]), wr(p[1]);
        std::string got;
        auto reader = weft::spawn([&] {
            char buf[64];
            while (std::size_t n = rd.read(buf, sizeof buf)) got.append(buf, n);
        });
        for (int i = 0; i < 3; ++i) {
            weft::this_fiber::sleep_for(std::chrono::milliseconds(5));
            wr.write_all("abc", 3);
        }
        wr.close();
        reader.join();
        EXPECT_EQ(got, "abcabcabc");
    });
}

// Opening a FIFO for reading waits until a writer opens it: the open parks
// only its fiber (an SQE of the ring on io_uring, an offload job
// otherwise), so the writer, a fiber of the same single worker, gets to
// open it. An open that held the worker would never return.
TEST(File, OpeningAFifoWaitsForItsWriterWithoutHoldingTheWorker) {
    temp_dir d;
    const std::string fifo = d / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    weft::runtime rt{{.workers = 1}};
    rt.run([&] {
        std::string got;
        std::error_code rec;
        auto reader = weft::spawn([&] {
            file rd = file::open(fifo, O_RDONLY, 0, rec);
            if (rec) return;
            char buf[16];
            while (std::size_t n = rd.read(buf, sizeof buf)) got.append(buf, n);
            rd.close();
        });
        weft::this_fiber::sleep_for(std::chrono::milliseconds(5));  // the reader is most likely in its open
        file wr = file::open(fifo, O_WRONLY);
        EXPECT_EQ(wr.write_all("fifo", 4), 4u);
        wr.close();
        reader.join();
        EXPECT_FALSE(rec) << rec.message();
        EXPECT_EQ(got, "fifo");
    });
}

// ---- bad input ---------------------------------------------------------------

TEST(FileErrors, OpenMissingIsENOENT) {
    temp_dir d;
    weft::run([&] {
        std::error_code ec;
        file f = file::open(d / "missing", O_RDONLY, ec);
        EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
        EXPECT_FALSE(f.is_open());
        try {
            file::open(d / "missing", O_RDONLY);
            ADD_FAILURE() << "no exception";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
            EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
        }
    });
}

TEST(FileErrors, EveryCallOnAClosedFileIsEBADF) {
    temp_dir d;
    weft::run([&] {
        for (int pass = 0; pass < 2; ++pass) {
            file f;  // pass 0: never opened; pass 1: closed
            if (pass == 1) {
                f = file::open(d / "c", O_RDWR | O_CREAT);
                f.close();
            }
            std::error_code ec;
            char buf[4];
            EXPECT_EQ(f.read(buf, 4, ec), 0u);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            f.pread(buf, 4, 0, ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(f.write_all(buf, 4, ec), 0u);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            f.pwrite_all(buf, 4, 0, ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            f.sync(ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(f.size(ec), 0u);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            f.close(ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_THROW(f.read(buf, 4), std::system_error);
            EXPECT_THROW(f.sync(), std::system_error);
            EXPECT_THROW(f.close(), std::system_error);
        }
    });
}

TEST(FileErrors, HugeSizesAndOffsetsAreInvalid) {
    temp_dir d;
    weft::run([&] {
        file f = file::open(d / "h", O_RDWR | O_CREAT | O_TRUNC);
        char buf[8] = {};
        std::error_code ec;
        const auto negative = static_cast<std::size_t>(-1);  // a negative size, converted
        EXPECT_EQ(f.read(buf, negative, ec), 0u);
        EXPECT_EQ(ec, std::errc::invalid_argument);
        f.write_all(buf, negative, ec);
        EXPECT_EQ(ec, std::errc::invalid_argument);
        f.pread(buf, 8, static_cast<std::uint64_t>(-1), ec);
        EXPECT_EQ(ec, std::errc::invalid_argument);
        f.pwrite_all(buf, 8, static_cast<std::uint64_t>(INT64_MAX) - 2, ec);  // offset + size overflows
        EXPECT_EQ(ec, std::errc::invalid_argument);
        EXPECT_EQ(f.size(), 0u) << "nothing was written";
        // A zero-size call is fine.
        EXPECT_EQ(f.read(buf, 0, ec), 0u);
        EXPECT_FALSE(ec);
    });
}

TEST(FileErrors, ReadingADirectoryIsEISDIR) {
    temp_dir d;
    weft::run([&] {
        file f = file::open(d.path, O_RDONLY | O_DIRECTORY);
        char buf[16];
        std::error_code ec;
        EXPECT_EQ(f.read(buf, sizeof buf, ec), 0u);
        EXPECT_EQ(ec, std::errc::is_a_directory);
        f.pread(buf, sizeof buf, 0, ec);
        EXPECT_EQ(ec, std::errc::is_a_directory);
        EXPECT_THROW(f.read(buf, sizeof buf), std::system_error);
        // Opening it for writing fails at open.
        file w = file::open(d.path, O_WRONLY, ec);
        EXPECT_EQ(ec, std::errc::is_a_directory);
    });
}

TEST(FileErrors, WritingAReadOnlyFileIsEBADF) {
    temp_dir d;
    weft::run([&] {
        { file::open(d / "ro", O_WRONLY | O_CREAT).write_all("x", 1); }
        file f = file::open(d / "ro", O_RDONLY);
        std::error_code ec;
        EXPECT_EQ(f.write_all("y", 1, ec), 0u);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        f.pwrite_all("y", 1, 0, ec);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        char c = 0;
        EXPECT_EQ(f.pread(&c, 1, 0), 1u);
        EXPECT_EQ(c, 'x') << "unchanged";
    });
}

// A file that reaches RLIMIT_FSIZE: the write that crosses it moves the
// bytes up to the limit and reports EFBIG, and a write at the limit moves
// nothing; the process gets no SIGXFSZ (whose default would end it) on
// either backend, and what was written reads back. In a child: the limit
// is the process's.
int file_size_limit_child(const std::string& path) {
    constexpr std::size_t limit = 64 * 1024;
    rlimit lim{};
    if (::getrlimit(RLIMIT_FSIZE, &lim) != 0) return 10;
    lim.rlim_cur = limit;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 11;
    int bad = 0;
    const auto check_file = [&](const char* name, bool on_fiber) {
        const auto data = pattern(limit + 40'000);
        std::error_code ec;
        file f = file::open(path + name, O_RDWR | O_CREAT | O_TRUNC, 0644, ec);
        if (ec) return bad = 20;
        const std::size_t n = f.write_all(data.data(), data.size(), ec);
        if (n != limit || ec != std::errc::file_too_large) {
            ADD_FAILURE() << name << ": wrote " << n << ", " << ec.message();
            return bad = 21;
        }
        if (f.write_all(data.data(), 1, ec) != 0 || ec != std::errc::file_too_large) return bad = 22;
        if (f.pwrite_all(data.data(), 10, limit + 5, ec) != 0 || ec != std::errc::file_too_large) return bad = 23;
        EXPECT_THROW(f.pwrite_all(data.data(), 10, limit), std::system_error);
        if (f.size() != limit) return bad = 24;
        std::vector<char> back(limit);
        if (f.pread(back.data(), back.size(), 0) != limit ||
            !std::equal(back.begin(), back.end(), data.begin()))
            return bad = 25;
        // Below the limit writes still work.
        if (f.pwrite_all("z", 1, 0, ec) != 1 || ec) return bad = 26;
        (void)on_fiber;
        return 0;
    };
    weft::run([&] { check_file("-fiber", true); });
    if (bad) return bad;
    check_file("-thread", false);  // outside a fiber: the plain calls
    if (bad) return bad;
    sigset_t pending;
    sigemptyset(&pending);
    if (::sigpending(&pending) != 0 || sigismember(&pending, SIGXFSZ)) return 30;
    return ::testing::Test::HasFailure() ? 31 : 0;
}

TEST(FileErrors, AWritePastTheFileSizeLimitIsEFBIGNotSIGXFSZ) {
    temp_dir d;
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(std::_Exit(file_size_limit_child(d / "big")), ::testing::ExitedWithCode(0), "");
}

// ---- the worker is never stalled ---------------------------------------------

// A ticker fiber yields in a loop; another fiber writes and reads a large
// file in big calls and fsyncs it. Each of its calls parks only that fiber,
// so the ticker runs during (almost) every one of them. (A call made on the
// worker thread itself would let the ticker run not once during it.)
TEST(FileNeverStallsTheWorker, TickerTicksDuringReadsWritesAndSync) {
    temp_dir d;
    weft::run([&] {
        std::atomic<bool> done{false};
        std::uint64_t ticks = 0;
        auto ticker = weft::spawn([&] {
            while (!done.load(std::memory_order_relaxed)) {
                ++ticks;
                weft::this_fiber::yield();
            }
        });
        constexpr std::size_t chunk = 4 << 20;  // 4 MiB per call
        constexpr int chunks = 8;                // a 32 MiB file
        const auto data = pattern(chunk);
        int calls = 0, calls_with_ticks = 0;
        auto timed = [&](auto&& call) {
            const std::uint64_t before = ticks;
            call();
            ++calls;
            if (ticks != before) ++calls_with_ticks;
        };
        file f = file::open(d / "big", O_RDWR | O_CREAT | O_TRUNC);
        for (int i = 0; i < chunks; ++i) timed([&] { f.write_all(data.data(), data.size()); });
        timed([&] { f.sync(); });
        std::vector<char> back(chunk);
        for (int i = 0; i < chunks; ++i) {
            timed([&] { EXPECT_EQ(f.pread(back.data(), back.size(), std::uint64_t(i) * chunk), chunk); });
        }
        EXPECT_EQ(back, data);
        done.store(true);
        ticker.join();
        EXPECT_EQ(calls, 2 * chunks + 1);
        // A call that completes before the worker next looks does not switch
        // at all (the scheduler picks the woken fiber again), and on a busy
        // machine the worker's thread may not get a CPU while a call is out,
        // so not every call shows ticks. One made on the worker thread shows
        // none, ever: 17 calls of 4 MiB without a single tick is the failure.
        EXPECT_GE(calls_with_ticks, 1) << "file calls held the worker: the ticker did not run during them";
    });
}

}  // namespace
