package sim

import (
	"context"
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// RateLimitRow is one line of the rate-limit table: one client count and
// policy, the means over the seeds. It is a plain value.
type RateLimitRow struct {
	Clients        int
	Policy         string
	Seeds          int
	GoodputRatio   float64 // successes ÷ what the server could serve
	ThrottledShare float64 // attempts answered 429 ÷ attempts
	P50MS, P99MS   float64 // latency of the requests that succeeded, from arrival
	ReconvergeS    float64 // the longer of the two reconvergences
}

// RateLimitSweep runs the scenario for every client count, seeds times
// each (seed master, master+1, ...), every policy side by side in each run,
// and returns the table's rows, in the order counts × policies, with the
// first run of the largest count for the plot. progress, when not nil, is
// told of each run as it ends.
func RateLimitSweep(ctx context.Context, cfg RateLimitConfig, counts []int, ps []RateLimitPolicy, seeds int, master uint64, progress io.Writer) ([]RateLimitRow, []RateLimitRun, error) {
	if seeds <= 0 {
		return nil, nil, fmt.Errorf("sim: ratelimit: seeds must be positive, not %d", seeds)
	}
	var rows []RateLimitRow
	var plotRuns []RateLimitRun
	for _, n := range counts {
		c := cfg
		c.Clients = n
		sums := make([]RateLimitRow, len(ps))
		for s := range seeds {
			runs, err := RunRateLimit(ctx, c, ps, runSeed(master, uint64(n), uint64(s)))
			if err != nil {
				return nil, nil, err
			}
			if n == slices.Max(counts) && s == 0 {
				plotRuns = runs
			}
			for i, r := range runs {
				p50, p99 := percentileMS(r.Latencies, 0.5), percentileMS(r.Latencies, 0.99)
				sums[i].GoodputRatio += r.GoodputRatio()
				sums[i].ThrottledShare += r.ThrottledShare()
				sums[i].P50MS += p50
				sums[i].P99MS += p99
				sums[i].ReconvergeS += r.Reconverge(c).Seconds()
				if progress != nil {
					fmt.Fprintf(progress, "clients=%d seed=%d %s: goodput %.3f, 429 %.4f, p50 %.0fms, p99 %.0fms, reconverge %.2fs\n",
						n, s, r.Policy, r.GoodputRatio(), r.ThrottledShare(), p50, p99, r.Reconverge(c).Seconds())
				}
			}
		}
		for i, p := range ps {
			k := float64(seeds)
			r := sums[i]
			rows = append(rows, RateLimitRow{
				Clients: n, Policy: p.Name, Seeds: seeds,
				GoodputRatio: r.GoodputRatio / k, ThrottledShare: r.ThrottledShare / k,
				P50MS: r.P50MS / k, P99MS: r.P99MS / k, ReconvergeS: r.ReconvergeS / k,
			})
		}
	}
	return rows, plotRuns, nil
}

// percentileMS is the q-quantile of ds in milliseconds (nearest rank); NaN
// for none.
func percentileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return float64(s[max(i, 0)]) / float64(time.Millisecond)
}

// RateLimitHeader is the CSV header of the rate-limit table.
var RateLimitHeader = []string{"clients", "policy", "goodput_ratio", "throttled_share", "p50_ms", "p99_ms", "reconverge_s"}

// WriteRateLimitCSV writes rows as CSV, with RateLimitHeader.
func WriteRateLimitCSV(w io.Writer, rows []RateLimitRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RateLimitHeader); err != nil {
		return err
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	for _, r := range rows {
		if err := cw.Write([]string{
			strconv.Itoa(r.Clients), r.Policy, f(r.GoodputRatio, 3), f(r.ThrottledShare, 4),
			f(r.P50MS, 0), f(r.P99MS, 0), f(r.ReconvergeS, 2),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// PlotRateLimit draws ratelimit.png (ratelimit_shared.png when
// cfg.Shared) into dir (made if missing): for one run, goodput (top) and
// 429s (bottom) per second over time, one line per policy, with the
// server's capacity dashed.
func PlotRateLimit(cfg RateLimitConfig, runs []RateLimitRun, dir string) error {
	if len(runs) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mk := func(title, y string, values func(RateLimitRun) []float64, withCapacity bool) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "time (s)"
		p.Y.Label.Text = y
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		xy := func(v []float64) plotter.XYs {
			pts := make(plotter.XYs, len(v))
			for i := range v {
				pts[i] = plotter.XY{X: (time.Duration(i) * cfg.Bin).Seconds(), Y: v[i]}
			}
			return pts
		}
		if withCapacity {
			l, err := plotter.NewLine(xy(runs[0].Capacity))
			if err != nil {
				return nil, err
			}
			l.Color = color.Gray{Y: 100}
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
			p.Legend.Add("capacity", l)
		}
		for j, r := range runs {
			l, err := plotter.NewLine(xy(values(r)))
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(j)
			p.Add(l)
			p.Legend.Add(r.Policy, l)
		}
		return p, nil
	}
	title, name := "Rate limit, "+strconv.Itoa(cfg.Clients)+" clients: goodput", "ratelimit.png"
	if cfg.Shared {
		title, name = "Rate limit, "+strconv.Itoa(cfg.Clients)+" clients sharing one policy instance: goodput", "ratelimit_shared.png"
	}
	top, err := mk(title, "successes/s", func(r RateLimitRun) []float64 { return r.Goodput }, true)
	if err != nil {
		return err
	}
	bottom, err := mk("429s", "429 answers/s", func(r RateLimitRun) []float64 { return r.Throttles }, false)
	if err != nil {
		return err
	}
	img := vgimg.New(9*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(8)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
