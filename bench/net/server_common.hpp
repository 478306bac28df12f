// Shared by the plain peer echo servers: argument parsing and the port report.
// Usage of each server: NAME [PORT] [--port-file PATH]   (PORT 0, the default, picks a free port)
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace netbench {

struct server_args {
    int port = 0;
    std::string port_file;
};

inline server_args parse_server_args(const char* name, int argc, char** argv) {
    server_args a;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            a.port_file = argv[++i];
        } else if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            a.port = std::atoi(argv[++i]);
        } else if (argv[i][0] != '-') {
            a.port = std::atoi(argv[i]);
        } else {
            std::fprintf(stderr, "usage: %s [PORT] [--port-file PATH]\n", name);
            std::exit(2);
        }
    }
    return a;
}

// Prints "NAME: listening on 127.0.0.1:PORT" and writes PORT to the port file
// (written whole, then renamed, so a reader never sees half a number).
inline void report_port(const char* name, const server_args& a, int port) {
    std::printf("%s: listening on 127.0.0.1:%d\n", name, port);
    std::fflush(stdout);
    if (a.port_file.empty()) return;
    const std::string tmp = a.port_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
        std::fprintf(f, "%d\n", port);
        std::fclose(f);
        std::rename(tmp.c_str(), a.port_file.c_str());
    }
}

}  // namespace netbench
