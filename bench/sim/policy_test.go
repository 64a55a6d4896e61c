package sim_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff/bench/sim"
	"github.com/backoff-go/backoff/internal/glmserver"
)

var writePolicies = flag.Bool("write", false, "TestPolicyTable: run the full policy table and write it to ../results")

// TestPolicyRun checks one small run of each policy on the fake clock: the
// counts add up with what the server saw, no retries means one attempt per
// request, and every policy meets the same faults on first attempts.
func TestPolicyRun(t *testing.T) {
	cfg := sim.DemoLoad
	cfg.Requests = 60
	for _, p := range sim.LoadPolicies() {
		t.Run(p.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r, err := sim.RunLoad(t.Context(), cfg, p, 1, glmserver.StartPipe)
				require.NoError(t, err)
				assert.Equal(t, 60, r.Requests)
				assert.Equal(t, int64(r.Attempts), r.Server.Requests, "every attempt reached the server once")
				assert.Equal(t, int64(r.Successes), r.Server.OK, "every whole answer was counted")
				if p.Options == nil {
					assert.Equal(t, r.Requests, r.Attempts)
					assert.Zero(t, r.Trips)
				}
				assert.LessOrEqual(t, r.Attempts, 4*r.Requests)
				assert.Positive(t, r.Successes)
			})
		})
	}
}

// TestPolicyTable writes the policy table of RESULTS.md: every policy over
// seeds 1..10 of the demo's load, on the fake clock. It runs only with
// -write (go test -run TestPolicyTable -args -write), as it takes a minute.
func TestPolicyTable(t *testing.T) {
	if !*writePolicies {
		t.Skip("run with -args -write to regenerate results/policies.*")
	}
	var rows []sim.PolicyRow
	for _, p := range sim.LoadPolicies() {
		var runs []sim.LoadRun
		for seed := uint64(1); seed <= 10; seed++ {
			synctest.Test(t, func(t *testing.T) {
				r, err := sim.RunLoad(t.Context(), sim.DemoLoad, p, seed, glmserver.StartPipe)
				require.NoError(t, err)
				runs = append(runs, r)
			})
		}
		rows = append(rows, sim.SumPolicy(p.Name, runs))
		t.Logf("%s: %+v", p.Name, rows[len(rows)-1])
	}
	dir := filepath.Join("..", "results")
	var csv, md bytes.Buffer
	require.NoError(t, sim.WritePolicyCSV(&csv, rows))
	require.NoError(t, sim.WritePolicyTable(&md, rows))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policies.csv"), csv.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policies.md"), md.Bytes(), 0o644))
	require.NoError(t, sim.PlotPolicies(rows, dir))
	fmt.Print(md.String())
}
