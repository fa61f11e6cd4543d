//go:build ignore

// loadgen: the Go load generator for tether's benchmarks, with the semantics
// of the yardstick's loadgen (so the numbers compare) and the flags of
// bench/loadgen.ts (so the runner can use either):
//
//	go build -o /tmp/tether-loadgen loadgen.go
//	/tmp/tether-loadgen --addr 127.0.0.1:PORT --mode lp --size 64 --pipeline 64 --conns 1 --duration 3000
//
// Each connection keeps --pipeline messages in flight: a writer waits for a
// free token, takes every free token, and writes that many frames in one
// flush; a reader reads each echoed frame whole, compares it byte for byte
// with what was sent, and records its round-trip time (the first 65 536 per
// connection). Prints one JSON line; exits 1 on any error or mismatch.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	Mode     string  `json:"mode"`
	Conns    int     `json:"conns"`
	Size     int     `json:"size"`
	Pipeline int     `json:"pipeline"`
	Seconds  float64 `json:"seconds"`
	Msgs     int64   `json:"msgs"`
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	Errors   int64   `json:"errors"`
	Mismatch int64   `json:"mismatch"`
	CPUs     float64 `json:"cpu_s"`
	Loadgen  string  `json:"loadgen"`
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "server address")
	mode := flag.String("mode", "lp", "lp or line")
	conns := flag.Int("conns", 1, "connections")
	size := flag.Int("size", 64, "payload bytes")
	pipeline := flag.Int("pipeline", 1, "messages in flight per connection")
	durationMs := flag.Int("duration", 3000, "duration in ms")
	flag.Parse()
	if (*mode != "lp" && *mode != "line") || *conns < 1 || *size < 0 || *pipeline < 1 || *durationMs < 1 {
		fmt.Fprintln(os.Stderr, "bad flags: -mode lp|line, -conns >= 1, -size >= 0, -pipeline >= 1, -duration >= 1")
		os.Exit(2)
	}
	dur := time.Duration(*durationMs) * time.Millisecond

	var msgs, errs, mism int64
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	deadline := time.Now().Add(dur)
	start := time.Now()
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
			if err != nil {
				atomic.AddInt64(&errs, 1)
				return
			}
			defer c.Close()
			payload := make([]byte, *size)
			for j := range payload {
				payload[j] = byte('a' + (j+id)%26)
			}
			var frame []byte
			if *mode == "lp" {
				frame = make([]byte, 4+len(payload))
				binary.BigEndian.PutUint32(frame, uint32(len(payload)))
				copy(frame[4:], payload)
			} else {
				frame = append(append([]byte{}, payload...), '\n')
			}
			sent := make(chan time.Time, *pipeline+1)
			tokens := make(chan struct{}, *pipeline)
			done := make(chan struct{})
			local := make([]time.Duration, 0, 1<<16)
			go func() {
				defer close(done)
				br := bufio.NewReaderSize(c, 256<<10)
				got := make([]byte, len(frame))
				for t0 := range sent {
					if _, err := io.ReadFull(br, got); err != nil {
						atomic.AddInt64(&errs, 1)
						return
					}
					if !bytes.Equal(got, frame) {
						atomic.AddInt64(&mism, 1)
					}
					atomic.AddInt64(&msgs, 1)
					tokens <- struct{}{}
					if len(local) < cap(local) {
						local = append(local, time.Since(t0))
					}
				}
			}()
			bw := bufio.NewWriterSize(c, 256<<10)
			for k := 0; k < *pipeline; k++ {
				tokens <- struct{}{}
			}
		loop:
			for time.Now().Before(deadline) {
				n := 0
				select {
				case <-tokens:
					n = 1
				case <-time.After(time.Until(deadline)):
					break loop
				}
			more:
				for {
					select {
					case <-tokens:
						n++
					default:
						break more
					}
				}
				now := time.Now()
				for k := 0; k < n; k++ {
					if _, err := bw.Write(frame); err != nil {
						atomic.AddInt64(&errs, 1)
						break loop
					}
					sent <- now
				}
				if err := bw.Flush(); err != nil {
					atomic.AddInt64(&errs, 1)
					break
				}
			}
			close(sent)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			<-done
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	sort.Slice(lats, func(a, b int) bool { return lats[a] < lats[b] })
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[int(p*float64(len(lats)-1))].Microseconds())
	}
	r := result{*mode, *conns, *size, *pipeline, el, msgs, float64(msgs) / el,
		float64(msgs) * float64(*size) / el / 1e6, pct(0.5), pct(0.99), errs, mism,
		cpuSeconds(), "go"}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	if errs > 0 || mism > 0 {
		os.Exit(1)
	}
}
