// libcurl's easy API, unchanged and blocking, on hundreds of fibers of one
// worker through the hooks, fetching from weft's examples/http_server; every
// body is checked. Overlap: the peak number of fibers inside
// curl_easy_perform at one moment must be far above 1.
// Usage: curl_test PORT_FILE BIG_FILE_NAME BIG_FILE_SIZE [FIBERS] [FETCHES]
#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <weft/weft.hpp>

namespace {

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// The static file's bytes, as tests/hook/fixture.sh writes them.
std::string big_body(std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: curl_test PORT_FILE BIG_FILE_NAME BIG_FILE_SIZE [FIBERS] [FETCHES]\n");
        return 2;
    }
    int port = 0;
    std::ifstream(argv[1]) >> port;
    const std::string big_name = argv[2];
    const std::string big = big_body(static_cast<std::size_t>(std::atol(argv[3])));
    const int fibers = argc > 4 ? std::atoi(argv[4]) : 300;
    const int fetches = argc > 5 ? std::atoi(argv[5]) : 4;
    if (port <= 0 || fibers <= 0 || fetches <= 0) return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 2;

    long ok = 0, failures = 0;
    int inside = 0, peak = 0;
    weft::run([&] {
        std::vector<weft::thread> ts;
        for (int i = 0; i < fibers; ++i) {
            ts.emplace_back([&, i] {
                CURL* h = curl_easy_init();
                if (!h) {
                    ++failures;
                    return;
                }
                for (int j = 0; j < fetches; ++j) {
                    const bool want_big = (i + j) % 2 == 0;
                    const std::string url = "http://127.0.0.1:" + std::to_string(port) +
                                            (want_big ? "/static/" + big_name : std::string("/"));
                    std::string body;
                    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
                    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
                    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
                    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
                    ++inside;
                    peak = std::max(peak, inside);
                    const CURLcode rc = curl_easy_perform(h);
                    --inside;
                    long status = 0;
                    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                    const std::string& want = want_big ? big : std::string("hello\n");
                    if (rc == CURLE_OK && status == 200 && body == want) {
                        ++ok;
                    } else if (failures++ < 5) {
                        std::fprintf(stderr, "curl_test: fiber %d fetch %d of %s: %s, status %ld, %zu bytes\n", i, j,
                                     url.c_str(), curl_easy_strerror(rc), status, body.size());
                    }
                }
                curl_easy_cleanup(h);
            });
        }
        for (auto& t : ts) t.join();
    });
    curl_global_cleanup();
    const long want = static_cast<long>(fibers) * fetches;
    std::printf("curl_test: %d fibers x %d fetches on one worker: %ld/%ld bodies verified, %ld failures; "
                "peak fibers inside curl_easy_perform %d\n",
                fibers, fetches, ok, want, failures, peak);
    // Without the hooks each fetch would block the only worker, so no two
    // fibers could ever be inside curl at once: a peak of 2 proves they park.
    // (It is usually far higher, but how many fetches end before the last
    // fibers start depends on how fast the server answers: not a test.)
    if (ok != want || failures != 0 || peak < 2) {
        std::printf("curl_test: FAILED\n");
        return 1;
    }
    std::printf("curl_test: ok\n");
    return 0;
}
