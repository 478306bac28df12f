// Go peers for weft's sync benchmarks (bench/micro/sync_bench.cpp): the same
// workloads on goroutines, channels and sync.Mutex. bench/run.sh runs it with
// GOMAXPROCS=1, as weft::run is one thread. Standard library only.
// Prints one line per benchmark: NAME NS_PER_OP (the median of -reps runs).
// Usage: go_sync [-reps N] [-min-time SECONDS]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

// measure runs fn(n) with growing n until one run takes at least minTime, and
// returns that run's time per op; fn returns the ops it did (n, or a count).
func measure(minTime time.Duration, fn func(n int) float64) float64 {
	n := 1
	for {
		start := time.Now()
		ops := fn(n)
		elapsed := time.Since(start)
		if elapsed >= minTime || n >= 1<<30 {
			return float64(elapsed.Nanoseconds()) / ops
		}
		n *= 10
		if elapsed > 0 {
			// Aim a little past minTime, as Google Benchmark does.
			want := int(float64(n/10) * 1.4 * float64(minTime) / float64(elapsed))
			if want > n {
				n = want
			}
		}
	}
}

// One op per message, one way: n round trips are 2n messages.
func channelPingPong(capacity int) func(int) float64 {
	return func(n int) float64 {
		ping, pong := make(chan int, capacity), make(chan int, capacity)
		done := make(chan struct{})
		go func() {
			for v := range ping {
				pong <- v
			}
			close(done)
		}()
		for i := 0; i < n; i++ {
			ping <- i
			<-pong
		}
		close(ping)
		<-done
		return float64(2 * n)
	}
}

var sink int

// One op per Lock+Unlock pair.
func mutexUncontended(n int) float64 {
	var m sync.Mutex
	counter := 0
	for i := 0; i < n; i++ {
		m.Lock()
		counter++
		m.Unlock()
	}
	sink = counter
	return float64(n)
}

// 100 goroutines loop on Lock, counter++, Gosched, Unlock: the holder yields
// inside the critical section, so the others queue on the mutex. The timing
// loop only yields; one op per Lock+Unlock pair of the 100.
const contendedGoroutines = 100

func mutexContended(n int) float64 {
	var m sync.Mutex
	var counter uint64
	stop := false // guarded by m, as counter is
	var wg sync.WaitGroup
	for i := 0; i < contendedGoroutines; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m.Lock()
				if stop {
					m.Unlock()
					return
				}
				counter++
				runtime.Gosched()
				m.Unlock()
			}
		}()
	}
	runtime.Gosched() // let every goroutine start
	m.Lock()
	start := counter
	m.Unlock()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	m.Lock()
	pairs := counter - start
	stop = true
	m.Unlock()
	wg.Wait()
	if pairs == 0 {
		pairs = 1
	}
	return float64(pairs)
}

func main() {
	reps := flag.Int("reps", 5, "runs per benchmark; the median is printed")
	minTime := flag.Float64("min-time", 0.5, "seconds per run, at least")
	flag.Parse()
	if *reps < 1 {
		fmt.Fprintln(os.Stderr, "go_sync: -reps must be at least 1")
		os.Exit(2)
	}
	min := time.Duration(*minTime * float64(time.Second))
	benches := []struct {
		name string
		fn   func(int) float64
	}{
		{"go_channel_ping_pong_unbuffered", channelPingPong(0)},
		{"go_channel_ping_pong_buffered", channelPingPong(16)},
		{"go_mutex_uncontended", mutexUncontended},
		{"go_mutex_contended", mutexContended},
	}
	for _, b := range benches {
		runs := make([]float64, *reps)
		for i := range runs {
			runs[i] = measure(min, b.fn)
		}
		sort.Float64s(runs)
		fmt.Printf("%s %.2f\n", b.name, runs[len(runs)/2])
	}
}
