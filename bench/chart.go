package main

import (
	"fmt"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"tvs/tests/harness"
)

// peers are the three systems of one run, in the charts' order.
var peers = []string{"tvs (nginx entry)", "tvs (HAProxy entry)", "tvsapp"}

// writeChart draws four panels from one run: the requests each tvs replica
// answered; requests/s and p99 of GET / for tvs behind nginx, tvs behind
// HAProxy and tvsapp, at 10 and 50 connections; and their latency
// distributions (CDF) at 50 connections, given in c50.
func writeChart(path string, r *results, c50 map[string]*harness.Result) error {
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
	spread.Title.Text = "Requests per tvs replica (GET /, both loads)"
	spread.Y.Label.Text = "requests"
	bars, err := plotter.NewBarChart(counts, vg.Points(30))
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	bars.Color = plotutil.Color(0)
	spread.Add(bars)
	spread.NominalX(hosts...)

	rps, err := grouped("GET / requests/s, same run", "requests/s",
		plotter.Values{r.EntryRPS, r.HAProxyRPS, r.TvsappRPS},
		plotter.Values{r.EntryRPSc50, r.HAProxyRPSc50, r.TvsappRPSc50})
	if err != nil {
		return err
	}
	p99, err := grouped("GET / p99 latency, same run", "ms",
		plotter.Values{r.EntryP99ms, r.HAProxyP99ms, r.TvsappP99ms},
		plotter.Values{r.EntryP99msc50, r.HAProxyP99msc50, r.TvsappP99msc50})
	if err != nil {
		return err
	}

	latency := plot.New()
	latency.Title.Text = "Latency of GET /, 50 connections"
	latency.X.Label.Text = "ms"
	latency.X.Scale = plot.LogScale{}
	latency.X.Tick.Marker = plot.LogTicks{Prec: -1}
	latency.Y.Label.Text = "fraction of requests at or below"
	for i, name := range peers {
		res := c50[name]
		if res == nil {
			continue
		}
		line, err := plotter.NewLine(cdf(res))
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		latency.Add(line)
		latency.Legend.Add(name, line)
	}
	latency.Legend.Top = true
	latency.Legend.Left = true
	latency.Add(plotter.NewGrid())

	const w, h = 12 * vg.Inch, 9 * vg.Inch
	canvas := vgsvg.New(w, h)
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{spread, latency}, {rps, p99}}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}

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

// grouped is a bar chart of the three peers at 10 and 50 connections.
func grouped(title, unit string, c10, c50 plotter.Values) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	width := vg.Points(24)
	for i, v := range []plotter.Values{c10, c50} {
		b, err := plotter.NewBarChart(v, width)
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		b.Color = plotutil.Color(i)
		b.Offset = vg.Length(2*i-1) * width / 2
		p.Add(b)
		p.Legend.Add([]string{"10 connections", "50 connections"}[i], b)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Millimeter * 4
	p.NominalX(peers...)
	return p, nil
}

// cdf samples the latency distribution at 200 points.
func cdf(l *harness.Result) plotter.XYs {
	if l.Sent == 0 {
		return plotter.XYs{{X: 0.01, Y: 0}}
	}
	const points = 200
	xys := make(plotter.XYs, 0, points)
	for i := range points {
		p := float64(i) * 100 / (points - 1)
		// The latency axis is logarithmic: no zero on it.
		xys = append(xys, plotter.XY{X: max(l.Percentile(p), 0.01), Y: p / 100})
	}
	return xys
}
