// Go peer: a goroutine per connection, plain blocking Read/Write (Go sets
// TCP_NODELAY by default). bench/run-net.sh runs it with GOMAXPROCS=1.
// Usage: go_echo [PORT] [--port-file PATH] [--buf BYTES]   (default buffer: 16 KiB per connection)
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func serve(c net.Conn, bufSize int) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port, portFile, bufSize := 0, "", 16*1024
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--port-file" && i+1 < len(args):
			i++
			portFile = args[i]
		case args[i] == "--buf" && i+1 < len(args):
			i++
			bufSize, _ = strconv.Atoi(args[i])
			if bufSize <= 0 {
				fmt.Fprintln(os.Stderr, "go_echo: --buf needs a size in bytes")
				os.Exit(2)
			}
		case args[i] == "--port" && i+1 < len(args):
			i++
			port, _ = strconv.Atoi(args[i])
		case len(args[i]) > 0 && args[i][0] != '-':
			port, _ = strconv.Atoi(args[i])
		default:
			fmt.Fprintln(os.Stderr, "usage: go_echo [PORT] [--port-file PATH] [--buf BYTES]")
			os.Exit(2)
		}
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_echo:", err)
		os.Exit(1)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	fmt.Printf("go_echo: listening on 127.0.0.1:%d\n", bound)
	if portFile != "" {
		tmp := portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", bound)), 0o644); err == nil {
			os.Rename(tmp, portFile)
		}
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(c, bufSize)
	}
}
