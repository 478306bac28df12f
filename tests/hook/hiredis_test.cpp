// hiredis, unchanged and blocking, on 1,000 fibers of one worker through the
// hooks: each fiber runs SET/GET round trips on its own connection and checks
// every reply. Overlap is counted in the process: the peak number of fibers
// inside a redisCommand at one moment must be far above 1 (with the worker
// blocked in each call it would be exactly 1). The bar is a tenth of the
// fibers: how many start before the first ones finish depends on speed. A monitor fiber also samples the server's connected_clients,
// reported for information only: sampling depends on timing.
// Usage: hiredis_test PORT_FILE [FIBERS] [ROUNDS]
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <weft/weft.hpp>

namespace {

long connected_clients(redisContext* c) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "INFO clients"));
    long n = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        if (const char* p = std::strstr(r->str, "connected_clients:")) n = std::atol(p + std::strlen("connected_clients:"));
    }
    if (r) freeReplyObject(r);
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: hiredis_test PORT_FILE [FIBERS] [ROUNDS]\n");
        return 2;
    }
    int port = 0;
    std::ifstream(argv[1]) >> port;
    const int fibers = argc > 2 ? std::atoi(argv[2]) : 1000;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 20;
    if (port <= 0 || fibers <= 0 || rounds <= 0) {
        std::fprintf(stderr, "hiredis_test: bad port file or arguments\n");
        return 2;
    }

    std::atomic<long> checked{0}, failures{0};
    long peak = 0, samples = 0;
    long in_call = 0, peak_in_call = 0;  // one worker: plain counters
    weft::run([&] {
        bool done = false;
        weft::thread monitor([&] {
            redisContext* c = redisConnect("127.0.0.1", port);
            if (!c || c->err) {
                std::fprintf(stderr, "hiredis_test: monitor cannot connect: %s\n", c ? c->errstr : "no memory");
                ++failures;
                if (c) redisFree(c);
                return;
            }
            // Bounded: at most 60 s of 2 ms samples, whatever happens.
            for (int i = 0; i < 30000 && !done; ++i) {
                peak = std::max(peak, connected_clients(c));
                ++samples;
                usleep(2000);  // hooked: parks this fiber only
            }
            redisFree(c);
        });
        std::vector<weft::thread> clients;
        clients.reserve(static_cast<std::size_t>(fibers));
        for (int i = 0; i < fibers; ++i) {
            clients.emplace_back([&, i] {
                timeval tv{20, 0};  // redisConnectWithTimeout: SO_RCVTIMEO/SO_SNDTIMEO, honoured by the hooks
                redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
                if (!c || c->err) {
                    std::fprintf(stderr, "hiredis_test: fiber %d cannot connect: %s\n", i, c ? c->errstr : "no memory");
                    ++failures;
                    if (c) redisFree(c);
                    return;
                }
                for (int j = 0; j < rounds; ++j) {
                    const std::string key = "weft:hook:" + std::to_string(i) + ":" + std::to_string(j);
                    const std::string value = "v" + std::to_string(i * 7919 + j * 104729) + std::string(j % 64, 'x');
                    peak_in_call = std::max(peak_in_call, ++in_call);
                    auto* set = static_cast<redisReply*>(
                        redisCommand(c, "SET %b %b", key.data(), key.size(), value.data(), value.size()));
                    --in_call;
                    if (set && set->type == REDIS_REPLY_STATUS && std::strcmp(set->str, "OK") == 0) {
                        ++checked;
                    } else {
                        ++failures;
                    }
                    if (set) freeReplyObject(set);
                    auto* get = static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size()));
                    if (get && get->type == REDIS_REPLY_STRING && std::string(get->str, get->len) == value) {
                        ++checked;
                    } else {
                        if (failures++ < 5)
                            std::fprintf(stderr, "hiredis_test: fiber %d round %d: wrong GET reply (%s)\n", i, j,
                                         get ? (get->str ? get->str : "no string") : c->errstr);
                    }
                    if (get) freeReplyObject(get);
                    if (c->err) break;
                }
                redisFree(c);
            });
        }
        for (auto& t : clients) t.join();
        done = true;
        monitor.join();
    });

    const long want = 2L * fibers * rounds;
    std::printf("hiredis_test: %d fibers x %d SET/GET rounds on one worker: %ld/%ld replies checked, %ld failures; "
                "peak fibers inside a call %ld; peak connected_clients at the server %ld (%ld samples)\n",
                fibers, rounds, checked.load(), want, failures.load(), peak_in_call, peak, samples);
    if (failures.load() != 0 || checked.load() != want || peak_in_call < std::max(2, fibers / 10)) {
        std::printf("hiredis_test: FAILED\n");
        return 1;
    }
    std::printf("hiredis_test: ok\n");
    return 0;
}
