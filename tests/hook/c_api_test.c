/* weft's C API from C: a pthread-style program whose threads are weft
   threads, talking over socketpairs with plain blocking read/write (the hooks
   park the fibers). Run twice: from a plain main (the process runtime) and
   under weft_run (one worker). Prints "c_api_test: ok". */
#include <weft/c.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAIRS 4
#define ROUNDS 200

static int failures = 0;
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "c_api_test: FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                      \
        }                                                                    \
    } while (0)

static int write_all(int fd, const void* p, size_t n) {
    const char* c = (const char*)p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, void* p, size_t n) {
    char* c = (char*)p;
    while (n > 0) {
        ssize_t k = read(fd, c, n);
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Echoes 8-byte messages until the peer closes; returns how many. */
static void* echo_server(void* arg) {
    int fd = (int)(intptr_t)arg;
    uint64_t v;
    intptr_t n = 0;
    if (!weft_in_fiber()) return (void*)(intptr_t)-1;
    while (read_all(fd, &v, sizeof v) == 0) {
        if (write_all(fd, &v, sizeof v) != 0) break;
        ++n;
    }
    close(fd);
    return (void*)n;
}

struct client_arg {
    int fd;
    uint64_t base;
};

/* Sends ROUNDS values and checks each echo; returns the count of good ones. */
static void* client(void* p) {
    struct client_arg* a = (struct client_arg*)p;
    intptr_t good = 0;
    if (!weft_in_fiber()) return (void*)(intptr_t)-1;
    for (uint64_t i = 0; i < ROUNDS; ++i) {
        uint64_t v = a->base + i, back = 0;
        if (write_all(a->fd, &v, sizeof v) != 0 || read_all(a->fd, &back, sizeof back) != 0) break;
        if (back == v) ++good;
        if (i % 50 == 0) weft_yield();
        if (i % 100 == 0 && weft_sleep_ms(1) != 0) break;
    }
    close(a->fd);
    return (void*)good;
}

/* A detached thread reports on a socketpair of its own that it ran. */
static void* detached(void* arg) {
    int fd = (int)(intptr_t)arg;
    const char done = weft_in_fiber() ? 'y' : 'n';
    weft_sleep_ms(2);
    write_all(fd, &done, 1);
    close(fd);
    return NULL;
}

static void exchange(const char* where) {
    weft_thread_t servers[PAIRS], clients[PAIRS];
    struct client_arg args[PAIRS];
    for (int i = 0; i < PAIRS; ++i) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        args[i].fd = sv[1];
        args[i].base = (uint64_t)i * 1000000u;
        CHECK(weft_thread_create(&servers[i], echo_server, (void*)(intptr_t)sv[0]) == 0);
        CHECK(weft_thread_create(&clients[i], client, &args[i]) == 0);
    }
    int note[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, note) == 0);
    weft_thread_t d;
    CHECK(weft_thread_create(&d, detached, (void*)(intptr_t)note[1]) == 0);
    CHECK(weft_thread_detach(d) == 0);
    for (int i = 0; i < PAIRS; ++i) {
        void* got = NULL;
        CHECK(weft_thread_join(clients[i], &got) == 0);
        CHECK((intptr_t)got == ROUNDS);
        CHECK(weft_thread_join(servers[i], &got) == 0);
        CHECK((intptr_t)got == ROUNDS);
    }
    char done = 0;
    CHECK(read_all(note[0], &done, 1) == 0 && done == 'y');
    close(note[0]);
    if (failures) fprintf(stderr, "c_api_test: %s: %d failures\n", where, failures);
}

static void under_run(void* arg) {
    int* ran = (int*)arg;
    *ran = weft_in_fiber();
    exchange("under weft_run");
    CHECK(weft_run(under_run, arg) == EDEADLK);  /* already a worker */
}

int main(void) {
    CHECK(!weft_in_fiber());
    CHECK(weft_thread_create(NULL, echo_server, NULL) == EINVAL);
    exchange("from main");  /* threads on the process runtime */
    int ran = 0;
    CHECK(weft_run(under_run, &ran) == 0);
    CHECK(ran == 1);
    CHECK(weft_sleep_ms(1) == 0);  /* a plain thread sleeps */
    weft_yield();
    if (failures) return 1;
    printf("c_api_test: ok\n");
    return 0;
}
