package elasticsearch_test

import (
	"context"
	"testing"

	"tvs/webapp/visits"
)

// BenchmarkVisit is a visit through the recorder into the double, ten at a
// time: the group commit's cost per visit, as GET / pays it.
func BenchmarkVisit(b *testing.B) {
	d := newDoubleB(b)
	r, err := visits.Start(newStoreB(b, d.url), visits.Options{Host: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	b.SetParallelism(10)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Visit(context.Background())
		}
	})
}
