// Go peers for weft's multi-worker benchmarks (bench/micro/runtime_bench.cpp):
// unbuffered channel ping-pong between two goroutines, and spawn throughput
// (8192 goroutines per round, each burning the same fixed work, spawned in
// batches of 128 by one spawner per P). bench/run.sh runs it with GOMAXPROCS=1
// and 2. Standard library only.
// Also the producer/consumer pool of BM_weft_rt_natural_pool: 8 producers and
// 8 consumers on one buffered channel(64), 40000 items of about 100 ns of
// work each (half burned by the producer, half by the consumer).
// Prints one line per benchmark: NAME VALUE (the median of -reps runs):
// go_rt_ping_pong ns per round trip, go_rt_spawn items (goroutines) per
// second, go_rt_pool items per second.
// Usage: go_runtime [-reps N] [-min-time SECONDS]
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
// returns that run's ns per op; fn returns the ops it did.
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
			want := int(float64(n/10) * 1.4 * float64(minTime) / float64(elapsed))
			if want > n {
				n = want
			}
		}
	}
}

// The same xorshift chain as runtime_bench's burn(): each step depends on the last.
func burn(x uint64, steps int) uint64 {
	for i := 0; i < steps; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// Results land here only when a burn yields 0 (never in practice), so the
// compiler must keep the work.
var sink uint64
var sinkMu sync.Mutex

// One op per round trip.
func pingPong(n int) float64 {
	ping, pong := make(chan int), make(chan int)
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
	return float64(n)
}

const (
	spawnGoroutines = 8192
	spawnBatch      = 128
	spawnWork       = 400
)

// One op per goroutine; n rounds of spawnGoroutines.
func spawn(n int) float64 {
	spawners := runtime.GOMAXPROCS(0)
	for r := 0; r < n; r++ {
		var all sync.WaitGroup
		all.Add(spawners)
		for s := 0; s < spawners; s++ {
			share := spawnGoroutines / spawners
			if s < spawnGoroutines%spawners {
				share++
			}
			go func(s, share int) {
				defer all.Done()
				for done := 0; done < share; {
					b := spawnBatch
					if share-done < b {
						b = share - done
					}
					var batch sync.WaitGroup
					batch.Add(b)
					for i := 0; i < b; i++ {
						seed := uint64(s*spawnGoroutines + done + 1)
						done++
						go func() {
							if burn(seed, spawnWork) == 0 {
								sinkMu.Lock()
								sink++
								sinkMu.Unlock()
							}
							batch.Done()
						}()
					}
					batch.Wait()
				}
			}(s, share)
		}
		all.Wait()
	}
	return float64(n * spawnGoroutines)
}

const (
	poolProducers = 8
	poolConsumers = 8
	poolItems     = 40000
	poolItemWork  = 100
)

// One op per item; n rounds of poolItems.
func pool(n int) float64 {
	for r := 0; r < n; r++ {
		ch := make(chan uint64, 64)
		var producing, consuming sync.WaitGroup
		producing.Add(poolProducers)
		consuming.Add(poolConsumers)
		for p := 0; p < poolProducers; p++ {
			go func(p int) {
				defer producing.Done()
				for i := p; i < poolItems; i += poolProducers {
					ch <- burn(uint64(i+1), poolItemWork/2)
				}
			}(p)
		}
		for c := 0; c < poolConsumers; c++ {
			go func() {
				defer consuming.Done()
				for v := range ch {
					if burn(v, poolItemWork/2) == 0 {
						sinkMu.Lock()
						sink++
						sinkMu.Unlock()
					}
				}
			}()
		}
		producing.Wait()
		close(ch)
		consuming.Wait()
	}
	return float64(n * poolItems)
}

func main() {
	reps := flag.Int("reps", 5, "runs per benchmark; the median is printed")
	minTime := flag.Float64("min-time", 0.5, "seconds per run, at least")
	flag.Parse()
	if *reps < 1 {
		fmt.Fprintln(os.Stderr, "go_runtime: -reps must be at least 1")
		os.Exit(2)
	}
	min := time.Duration(*minTime * float64(time.Second))
	median := func(fn func(int) float64) float64 {
		runs := make([]float64, *reps)
		for i := range runs {
			runs[i] = measure(min, fn)
		}
		sort.Float64s(runs)
		return runs[len(runs)/2]
	}
	fmt.Printf("go_rt_ping_pong %.2f\n", median(pingPong))
	fmt.Printf("go_rt_spawn %.0f\n", 1e9/median(spawn))
	fmt.Printf("go_rt_pool %.0f\n", 1e9/median(pool))
}
