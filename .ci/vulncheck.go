//go:build ignore

// Command vulncheck reads `govulncheck -format json` on stdin and decides
// what CI does with it. A vulnerability that the code reaches (a finding
// whose trace names a function) in a module fails the run: bumping the
// module fixes it. One in the standard library is printed as a warning
// and does not fail the run: the library's users build it with their own
// Go toolchain, and the fix is a newer toolchain, not a change here.
// Findings the code does not reach are counted, as govulncheck's own text
// output does.
//
//	govulncheck -format json ./... | go run .ci/vulncheck.go MODULE
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

func main() {
	name := "module"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	dec := json.NewDecoder(os.Stdin)
	called := map[string]string{} // osv → "module@version (fixed in …)"
	stdlib := map[string]string{}
	unreached := map[string]bool{}
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vulncheck: %s: reading govulncheck's output: %v\n", name, err)
			os.Exit(2)
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		top := f.Trace[0]
		if top.Function == "" {
			unreached[f.OSV] = true
			continue
		}
		where := fmt.Sprintf("%s@%s, fixed in %s", top.Module, top.Version, f.FixedVersion)
		if top.Module == "stdlib" || top.Module == "toolchain" {
			stdlib[f.OSV] = where
		} else {
			called[f.OSV] = where
		}
	}
	for id := range called {
		delete(unreached, id)
	}
	for id := range stdlib {
		delete(unreached, id)
	}
	report := func(label string, m map[string]string) {
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Printf("  %s %s (%s)\n", label, id, m[id])
		}
	}
	report("VULNERABLE", called)
	report("warning: standard library", stdlib)
	fmt.Printf("vulncheck: %s: %d reached in modules, %d reached in the standard library (fixed by a newer Go toolchain), %d not reached\n",
		name, len(called), len(stdlib), len(unreached))
	if len(called) > 0 {
		os.Exit(1)
	}
}
