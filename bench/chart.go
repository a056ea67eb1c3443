package main

import (
	"tvs/stack"

	"fmt"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// writeChart draws, side by side, the requests each replica answered and
// the latency distribution (as a CDF) of GET / at 10 and 50 connections.
func writeChart(path string, r *results, c10, c50 *stack.Result) error {
	hosts := make([]string, 0, len(r.RequestsPerReplica))
	for h := range r.RequestsPerReplica {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	counts := make(plotter.Values, len(hosts))
	for i, h := range hosts {
		counts[i] = float64(r.RequestsPerReplica[h])
	}
	spread := plot.New()
	spread.Title.Text = "Requests per replica (GET /, both loads)"
	spread.Y.Label.Text = "requests"
	bars, err := plotter.NewBarChart(counts, vg.Points(30))
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	bars.Color = plotutil.Color(0)
	spread.Add(bars)
	spread.NominalX(hosts...)

	latency := plot.New()
	latency.Title.Text = "Latency of GET / through entry"
	latency.X.Label.Text = "ms"
	latency.Y.Label.Text = "fraction of requests at or below"
	for i, l := range []struct {
		name string
		res  *stack.Result
	}{{"10 connections", c10}, {"50 connections", c50}} {
		line, err := plotter.NewLine(cdf(l.res))
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		latency.Add(line)
		latency.Legend.Add(l.name, line)
	}
	latency.Legend.Top = false
	latency.Legend.Left = false
	latency.Add(plotter.NewGrid())

	const w, h = 12 * vg.Inch, 4.5 * vg.Inch
	canvas := vgsvg.New(w, h)
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{spread, latency}}
	canvases := plot.Align(plots, tiles, dc)
	spread.Draw(canvases[0][0])
	latency.Draw(canvases[0][1])

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cdf samples the latency distribution at 200 points.
func cdf(l *stack.Result) plotter.XYs {
	if l.Sent == 0 {
		return plotter.XYs{{X: 0, Y: 0}}
	}
	const points = 200
	xys := make(plotter.XYs, 0, points)
	for i := range points {
		p := float64(i) * 100 / (points - 1)
		xys = append(xys, plotter.XY{X: l.Percentile(p), Y: p / 100})
	}
	return xys
}
