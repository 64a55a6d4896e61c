package sim

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotContention draws two PNGs into dir (made if missing):
// contention_calls.png, the mean writes per run against the client count, and
// contention_time.png, the mean completion time (log scale), one line per
// strategy in the order the rows list them.
func PlotContention(rows []ContentionRow, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var names []string
	series := map[string][2]plotter.XYs{}
	for _, r := range rows {
		s, ok := series[r.Strategy]
		if !ok {
			names = append(names, r.Strategy)
		}
		s[0] = append(s[0], plotter.XY{X: float64(r.Clients), Y: r.CallsMean})
		s[1] = append(s[1], plotter.XY{X: float64(r.Clients), Y: r.TimeMSMean})
		series[r.Strategy] = s
	}
	runs := 0
	if len(rows) > 0 {
		runs = rows[0].Runs
	}
	figs := []struct {
		file, title, y string
		log            bool
	}{
		{"contention_calls.png", "Contention: work, in writes per run", "writes (mean of %d runs)", false},
		{"contention_time.png", "Contention: time until the last client succeeds", "ms (mean of %d runs, log scale)", true},
	}
	for i, f := range figs {
		p := plot.New()
		p.Title.Text = f.title
		p.X.Label.Text = "clients"
		p.X.Tick.Marker = integerTicks{}
		p.Y.Label.Text = fmt.Sprintf(f.y, runs)
		p.Legend.Top = true
		p.Legend.Left = true
		if f.log {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		p.Add(plotter.NewGrid())
		for j, name := range names {
			l, pts, err := plotter.NewLinePoints(series[name][i])
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(j)
			l.Dashes = plotutil.Dashes(j)
			pts.Color = plotutil.Color(j)
			pts.Shape = plotutil.Shape(j)
			p.Add(l, pts)
			p.Legend.Add(name, l, pts)
		}
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, f.file)); err != nil {
			return err
		}
	}
	return nil
}

// integerTicks labels the default ticks without decimals.
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// PlotOutage draws two PNGs into dir (made if missing), each with one panel
// per policy, from runs (one run per policy, in the order of rows):
// outage_load.png, the attempts reaching the server and the requests
// succeeding, per 100ms, as multiples of the steady load before the stall;
// and outage_backlog.png, the server's backlog (how long a new attempt would
// wait) in seconds, against the attempt timeout. The stall is shaded. When
// cfg.Down, the names start with longoutage_ rather than outage_, and
// when cfg.Shared, shared_ follows.
func PlotOutage(cfg OutageConfig, rows []OutageRow, runs []OutageRun, dir string) error {
	if len(rows) != len(runs) {
		return fmt.Errorf("sim: PlotOutage: %d rows but %d runs", len(rows), len(runs))
	}
	if len(rows) == 0 {
		return fmt.Errorf("sim: PlotOutage: nothing to plot")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	group := max(int(100*time.Millisecond/cfg.Bin), 1) // bins per plotted point
	step := (time.Duration(group) * cfg.Bin).Seconds()
	type series struct{ load, good, backlog plotter.XYs }
	all := make([]series, len(runs))
	var loadMax, backlogMax float64
	for k, r := range runs {
		steady := 0.0
		steadyBins := int(cfg.StallStart / cfg.Bin)
		for _, n := range r.Load[:steadyBins] {
			steady += float64(n)
		}
		steady = max(steady/float64(steadyBins)*float64(group), 1)
		for i := 0; i+group <= len(r.Load); i += group {
			var l, g int
			for j := i; j < i+group; j++ {
				l += r.Load[j]
				g += r.Goodput[j]
			}
			x := float64(i)*cfg.Bin.Seconds() + step/2
			all[k].load = append(all[k].load, plotter.XY{X: x, Y: float64(l) / steady})
			all[k].good = append(all[k].good, plotter.XY{X: x, Y: float64(g) / steady})
			loadMax = max(loadMax, float64(l)/steady, float64(g)/steady)
		}
		for i, b := range r.Backlog {
			x := float64(i+1) * cfg.Bin.Seconds()
			all[k].backlog = append(all[k].backlog, plotter.XY{X: x, Y: b.Seconds()})
			backlogMax = max(backlogMax, b.Seconds())
		}
	}
	prefix := "outage_"
	if cfg.Down {
		prefix = "longoutage_"
	}
	if cfg.Shared {
		prefix += "shared_"
	}
	recovery := func(r OutageRow) string {
		if r.RecoveredSeeds == r.Seeds {
			return fmt.Sprintf("recovers in %.2fs", r.RecoveryS)
		}
		return "never recovers"
	}
	figs := []struct {
		file, y string
		ymax    float64
		lines   func(s series) []plotter.XYs
		names   []string
	}{
		{prefix + "load.png", "× steady load", loadMax * 1.05,
			func(s series) []plotter.XYs { return []plotter.XYs{s.load, s.good} },
			[]string{"attempts at the server", "requests succeeding"}},
		{prefix + "backlog.png", "backlog, s", max(backlogMax*1.05, 0.5),
			func(s series) []plotter.XYs {
				timeout := plotter.XYs{{X: 0, Y: cfg.Timeout.Seconds()}, {X: cfg.Duration.Seconds(), Y: cfg.Timeout.Seconds()}}
				return []plotter.XYs{s.backlog, timeout}
			},
			[]string{"server backlog", "attempt timeout"}},
	}
	const cols = 2
	nrows := (len(rows) + cols - 1) / cols
	for _, f := range figs {
		plots := make([][]*plot.Plot, nrows)
		for j := range plots {
			plots[j] = make([]*plot.Plot, cols)
		}
		for k, row := range rows {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s: amplification %.2f, %s", row.Policy, row.Amplification, recovery(row))
			p.Title.TextStyle.Font.Size = vg.Points(10)
			p.X.Min, p.X.Max = 0, cfg.Duration.Seconds()
			p.Y.Min, p.Y.Max = 0, f.ymax
			p.Y.Label.Text = f.y
			if k/cols == nrows-1 || k+cols >= len(rows) {
				p.X.Label.Text = "time, s"
			}
			stall, err := plotter.NewPolygon(plotter.XYs{
				{X: cfg.StallStart.Seconds(), Y: 0}, {X: cfg.StallEnd.Seconds(), Y: 0},
				{X: cfg.StallEnd.Seconds(), Y: f.ymax}, {X: cfg.StallStart.Seconds(), Y: f.ymax},
			})
			if err != nil {
				return err
			}
			stall.Color = color.Gray{Y: 220}
			stall.LineStyle.Width = 0
			p.Add(stall, plotter.NewGrid())
			for i, xys := range f.lines(all[k]) {
				l, err := plotter.NewLine(xys)
				if err != nil {
					return err
				}
				l.Color = plotutil.Color(i)
				l.Width = vg.Points(1)
				p.Add(l)
				if k == 0 {
					p.Legend.Add(f.names[i], l)
				}
			}
			p.Legend.Top = true
			plots[k/cols][k%cols] = p
		}
		img := vgimg.New(11*vg.Inch, vg.Length(nrows)*2*vg.Inch)
		dc := draw.New(img)
		tiles := draw.Tiles{
			Rows: nrows, Cols: cols,
			PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
			PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4,
		}
		canvases := plot.Align(plots, tiles, dc)
		for j := range plots {
			for i, p := range plots[j] {
				if p != nil {
					p.Draw(canvases[j][i])
				}
			}
		}
		out, err := os.Create(filepath.Join(dir, f.file))
		if err != nil {
			return err
		}
		if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	return nil
}

// PlotPolicies draws policies.png into dir (made if missing): each policy's
// mean success rate against its attempts per request, with a bar from the
// worst seed to the best, one colour and glyph per policy, named in the
// legend.
func PlotPolicies(rows []PolicyRow, dir string) error {
	if len(rows) == 0 {
		return fmt.Errorf("sim: PlotPolicies: nothing to plot")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("The demo's fault mix: what each policy buys and costs (%d seeds)", rows[0].Seeds)
	p.X.Label.Text = "attempts per request (mean)"
	p.Y.Label.Text = "success rate, % (mean; bar: worst to best seed)"
	p.Add(plotter.NewGrid())
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Millimeter * 2
	p.Legend.YOffs = vg.Millimeter * 2
	for i, r := range rows {
		pts := errPoints{
			XYs:     plotter.XYs{{X: r.Amplification, Y: 100 * r.SuccessMean}},
			YErrors: plotter.YErrors{{Low: 100 * (r.SuccessMean - r.SuccessMin), High: 100 * (r.SuccessMax - r.SuccessMean)}},
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		sc.Radius = vg.Points(4)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		p.Add(bars, sc)
		p.Legend.Add(fmt.Sprintf("%s: %.1f%%, %.3f", r.Policy, 100*r.SuccessMean, r.Amplification), sc)
	}
	p.X.Min, p.X.Max = 0.98, max(p.X.Max, 1.3)
	return p.Save(9*vg.Inch, 6*vg.Inch, filepath.Join(dir, "policies.png"))
}

// errPoints are points with vertical error bars, as plotter.YErrorBars
// reads them.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}
