package visits

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// histogram counts durations in buckets four to an octave, from 16 µs to
// about 17 s: fine enough for a p50 and a p99 within 19 %, and counts
// that add up across replicas and subtract across time.
type histogram struct {
	counts [numBuckets]atomic.Int64
}

const (
	bucketsPerOctave = 4
	firstBoundMicros = 16
	numBuckets       = 20*bucketsPerOctave + 1 // the last one is unbounded
)

// bounds are the buckets' upper bounds in microseconds.
var bounds = func() (b [numBuckets]int64) {
	for i := range numBuckets - 1 {
		b[i] = int64(math.Round(firstBoundMicros * math.Pow(2, float64(i)/bucketsPerOctave)))
	}
	b[numBuckets-1] = math.MaxInt64
	return b
}()

func (h *histogram) add(d time.Duration) {
	us := d.Microseconds()
	i, _ := slices.BinarySearch(bounds[:], us)
	h.counts[i].Add(1)
}

// snapshot returns each bucket's upper bound (the last is math.MaxInt64)
// and count.
func (h *histogram) snapshot() (upper, counts []int64) {
	counts = make([]int64, numBuckets)
	for i := range numBuckets {
		counts[i] = h.counts[i].Load()
	}
	return slices.Clone(bounds[:]), counts
}
