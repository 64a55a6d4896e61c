package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
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

func PlotOutage(cfg OutageConfig, rows []OutageRow, runs []OutageRun, dir string) error { return nil }
