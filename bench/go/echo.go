//go:build ignore

// echo: the Go anchor server for tether's benchmarks, with the semantics of
// the yardstick's goecho. Each file in this folder is its own program:
//
//	go build -o /tmp/tether-echo echo.go
//	/tmp/tether-echo -port 0            # plain: io.ReadFull header + payload, two writes per frame
//	/tmp/tether-echo -port 0 -bufio     # bufio reader/writer, flushed when the reader has nothing buffered
//	/tmp/tether-echo -port 0 -mode line # newline-delimited, "PING" answered "PONG"
//
// -mode lp (the default) is a 4-byte big-endian length, then the payload.
// Prints "listening on HOST:PORT" as its first line.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

func main() {
	host := flag.String("host", "127.0.0.1", "listen host")
	port := flag.Int("port", 7000, "listen port, 0 for a free one")
	mode := flag.String("mode", "lp", "lp or line")
	buffered := flag.Bool("bufio", false, "buffer reads and writes (lp)")
	maxFrame := flag.Uint("max", 16<<20, "largest accepted payload (lp)")
	flag.Parse()
	if *mode != "lp" && *mode != "line" {
		fmt.Fprintln(os.Stderr, "-mode must be lp or line")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		if *mode == "lp" {
			go serveLP(c, *buffered, uint32(*maxFrame))
		} else {
			go serveLine(c)
		}
	}
}

func serveLP(c net.Conn, buffered bool, max uint32) {
	defer c.Close()
	var r io.Reader = c
	var w io.Writer = c
	var br *bufio.Reader
	var bw *bufio.Writer
	if buffered {
		br = bufio.NewReaderSize(c, 64<<10)
		bw = bufio.NewWriterSize(c, 64<<10)
		r, w = br, bw
	}
	hdr := make([]byte, 4)
	buf := make([]byte, 64<<10)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr)
		if n > max {
			return
		}
		if int(n) > len(buf) {
			buf = make([]byte, n)
		}
		p := buf[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return
		}
		if _, err := w.Write(hdr); err != nil {
			return
		}
		if _, err := w.Write(p); err != nil {
			return
		}
		if buffered && br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}

func serveLine(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		msg := strings.TrimRight(line, "\r\n")
		if msg == "PING" {
			bw.WriteString("PONG\n")
		} else {
			bw.WriteString(msg + "\n")
		}
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}
