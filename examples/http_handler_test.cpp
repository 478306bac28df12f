// The HTTP example's request handling without sockets (http_handler.cpp):
// what /static/ serves from a root holding a file, a directory, a FIFO and
// symbolic links in and out of it, with the handler's own file reader (the
// one the fuzzer uses) and with a reader that records what it was asked for;
// and when a request counts as under way (the server's header deadline).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "http_handler.hpp"

namespace {

namespace fs = std::filesystem;

class HttpHandler : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/weft-http-handler-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        root_ = dir_ + "/root";
        fs::create_directory(root_);
        std::ofstream(root_ + "/file.txt") << "static file body\n";
        std::ofstream(dir_ + "/secret.txt") << "outside the root\n";
        fs::create_directory(root_ + "/sub");
        ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0600), 0);
        fs::create_symlink(dir_ + "/secret.txt", root_ + "/out");
        fs::create_symlink("../secret.txt", root_ + "/up");
        fs::create_symlink(dir_, root_ + "/parent");
        fs::create_symlink("sub", root_ + "/sublink");
        fs::create_symlink("file.txt", root_ + "/in");
    }
    void TearDown() override {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }

    // The whole answer to one GET of url (keep-alive: s takes more).
    static std::string get(http_example::http_session& s, const std::string& url) {
        const std::string req = "GET " + url + " HTTP/1.1\r\nHost: x\r\n\r\n";
        std::string out;
        s.feed(req.data(), req.size(), [&](std::string_view r) {
            out.append(r);
            return true;
        });
        return out;
    }
    std::string get(const std::string& url) {
        http_example::http_session s(root_);
        return get(s, url);
    }

    std::string dir_, root_;
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST_F(HttpHandler, ServesARegularFileAndALinkThatStaysInside) {
    for (const char* name : {"/static/file.txt", "/static/in"}) {
        SCOPED_TRACE(name);
        const std::string r = get(name);
        EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK")) << r;
        EXPECT_NE(r.find("static file body"), std::string::npos) << r;
    }
}

// Before: a directory opened with the default reader (std::ifstream) read
// as empty and was answered 200 with an empty body.
TEST_F(HttpHandler, ADirectoryIsNotFound) {
    for (const char* name : {"/static/sub", "/static/sublink", "/static/parent"}) {
        SCOPED_TRACE(name);
        const std::string r = get(name);
        EXPECT_TRUE(starts_with(r, "HTTP/1.1 404")) << r;
    }
}

// Before: a link in the root to a file outside it was served.
TEST_F(HttpHandler, ALinkOutOfTheRootIsNotFound) {
    for (const char* name : {"/static/out", "/static/up"}) {
        SCOPED_TRACE(name);
        const std::string r = get(name);
        EXPECT_TRUE(starts_with(r, "HTTP/1.1 404")) << r;
        EXPECT_EQ(r.find("outside the root"), std::string::npos) << r;
    }
}

TEST_F(HttpHandler, TheReaderGetsOnlyResolvedRegularFilesInsideTheRoot) {
    std::vector<std::string> asked;
    http_example::http_session s(root_ + "/./", [&](const std::string& path, std::string& body) {
        asked.push_back(path);
        body = "x";
        return true;
    });
    for (const char* name : {"/static/sub", "/static/fifo", "/static/out", "/static/up", "/static/parent",
                             "/static/missing", "/static/in", "/static/file.txt"})
        get(s, name);
    const std::string real_root = fs::canonical(root_).string();
    EXPECT_EQ(asked, (std::vector<std::string>{real_root + "/file.txt", real_root + "/file.txt"}));
}

TEST_F(HttpHandler, ARootThatDoesNotExistServesNothing) {
    http_example::http_session s(dir_ + "/no-such-root");
    EXPECT_TRUE(starts_with(get(s, "/static/file.txt"), "HTTP/1.1 404"));
    EXPECT_TRUE(starts_with(get(s, "/"), "HTTP/1.1 200 OK"));
}

TEST(HttpSession, ARequestIsUnderWayFromItsFirstByteToItsAnswer) {
    http_example::http_session s("");
    std::string out;
    const auto send = [&](std::string_view r) {
        out.append(r);
        return true;
    };
    EXPECT_FALSE(s.mid_request());
    const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(s.feed(req.data(), 1, send));
    EXPECT_TRUE(s.mid_request());
    EXPECT_EQ(s.answered(), 0u);
    ASSERT_TRUE(s.feed(req.data() + 1, req.size() - 1, send));
    EXPECT_FALSE(s.mid_request());
    EXPECT_EQ(s.answered(), 1u);
    // A pipelined request's first bytes behind a whole one: under way again.
    const std::string two = req + "GE";
    ASSERT_TRUE(s.feed(two.data(), two.size(), send));
    EXPECT_EQ(s.answered(), 2u);
    EXPECT_TRUE(s.mid_request());
    EXPECT_TRUE(starts_with(http_example::http_session::request_timeout(), "HTTP/1.1 408"));
    EXPECT_NE(http_example::http_session::request_timeout().find("Connection: close"), std::string::npos);
}

}  // namespace
