/* A thread-per-connection line server in plain C and POSIX: blocking
   accept, read and write, a thread per client, a mutex-guarded count of the
   clients. Each line is answered with itself; "PING" with "PONG",
   "SLEEP <ms>" with "OK" after a sleep, "QUIT" closes; "COUNT" with the
   number of clients served so far. The port to weft is the one #include
   under USE_WEFT (and linking weft::weft and weft::hook): every connection
   then runs on a fiber, its blocking calls and its lock parking only that
   fiber.
   Usage: line_server [PORT] [--port-file PATH] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef USE_WEFT
#include <weft/pthread_compat.h>
#endif

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long clients_served;

static int write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends the answer to one line (with its '\n') to out; 0 closes the connection. */
static int answer(const char* line, size_t len, char* out, size_t* out_len, size_t cap) {
    char text[64];
    const char* reply = line;
    size_t n = len;
    if (len == 5 && memcmp(line, "QUIT\n", 5) == 0) return 0;
    if (len == 5 && memcmp(line, "PING\n", 5) == 0) {
        reply = "PONG\n";
        n = 5;
    } else if (len > 6 && memcmp(line, "SLEEP ", 6) == 0) {
        usleep((useconds_t)atoi(line + 6) * 1000);
        reply = "OK\n";
        n = 3;
    } else if (len == 6 && memcmp(line, "COUNT\n", 6) == 0) {
        pthread_mutex_lock(&count_lock);
        n = (size_t)snprintf(text, sizeof text, "%lu\n", clients_served);
        pthread_mutex_unlock(&count_lock);
        reply = text;
    }
    if (*out_len + n > cap) return 0;
    memcpy(out + *out_len, reply, n);
    *out_len += n;
    return 1;
}

static void* serve(void* arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096], pending[8192], out[16384];
    size_t have = 0;
    int open = 1;
    pthread_mutex_lock(&count_lock);
    ++clients_served;
    pthread_mutex_unlock(&count_lock);
    while (open) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || have + (size_t)n > sizeof pending) break;
        memcpy(pending + have, buf, (size_t)n);
        have += (size_t)n;
        size_t start = 0, out_len = 0;
        for (size_t i = 0; open && i < have; ++i) {
            if (pending[i] != '\n') continue;
            open = answer(pending + start, i - start + 1, out, &out_len, sizeof out);
            start = i + 1;
        }
        memmove(pending, pending + start, have - start);
        have -= start;
        if (out_len > 0 && write_all(fd, out, out_len) != 0) break;
    }
    close(fd);
    return NULL;
}

static const char usage[] =
    "usage: line_server [PORT] [--port-file PATH]\n"
    "  PORT              the port on 127.0.0.1 (0 to 65535, default 7200; 0 picks a free one)\n"
    "  --port-file PATH  write the port to PATH once listening\n"
    "  --help            this text\n";

static int usage_error(const char* what, const char* arg) {
    fprintf(stderr, "line_server: %s '%s'\n%s", what, arg, usage);
    return 2;
}

int main(int argc, char** argv) {
    int port = 7200, have_port = 0;
    const char* port_file = NULL;
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--port-file") == 0) {
            if (i + 1 >= argc) return usage_error("a value is missing after", a);
            port_file = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option", a);
        } else {
            char* end = NULL;
            errno = 0;
            long v = strtol(a, &end, 10);
            if (have_port || *a < '0' || *a > '9' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
                return usage_error(have_port ? "unexpected argument" : "PORT needs a number from 0 to 65535, not", a);
            port = (int)v;
            have_port = 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) {
        perror("line_server: socket");
        return 1;
    }
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(listener, SOMAXCONN) != 0) {
        perror("line_server: bind/listen");
        return 1;
    }
    socklen_t len = sizeof addr;
    getsockname(listener, (struct sockaddr*)&addr, &len);
    printf("line_server: listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    if (port_file) {
        FILE* f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", ntohs(addr.sin_port));
            fclose(f);
        }
    }
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
                usleep(10000); /* out of fds: let connections finish */
            else if (errno != EINTR && errno != ECONNABORTED)
                perror("line_server: accept");
            continue;
        }
        setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        int r = pthread_create(&t, &detached, serve, (void*)(intptr_t)conn);
        if (r != 0) {
            fprintf(stderr, "line_server: no thread for a connection: %s\n", strerror(r));
            close(conn);
        }
    }
}
