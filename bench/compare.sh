#!/usr/bin/env bash
# compare.sh: run the peer benchmarks (bench/peers_bench_test.go) and print a
# table of medians: time, bytes and allocations per op, and each library's
# time as a multiple of this library's in the same case.
#
#   bash bench/compare.sh                 # go test -bench Peers -count 10, then the table
#   COUNT=3 bash bench/compare.sh         # fewer runs, for a quick look
#   RAW=peers.txt bash bench/compare.sh   # also keep go test's raw output
#   BENCHTIME=200ms bash bench/compare.sh # passed on as go test -benchtime
#   bash bench/compare.sh peers.txt       # only tabulate a raw output already made
#
# Needs only Go, awk and sort: medians are computed here, not by benchstat.
set -euo pipefail

# Paths given by the caller are taken from where it stands, before the cd.
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

if [ $# -ge 1 ]; then
	raw="$(abs "$1")"
	cd "$(dirname "$0")"
else
	if [ -n "${RAW:-}" ]; then
		raw="$(abs "$RAW")"
	else
		raw="$(mktemp)"
		trap 'rm -f "$raw"' EXIT
	fi
	cd "$(dirname "$0")"
	go test -run '^$' -bench Peers -benchmem -count "${COUNT:-10}" ${BENCHTIME:+-benchtime "$BENCHTIME"} . | tee "$raw" >&2
fi

# Medians per benchmark of time, bytes and allocations per op, each column
# sorted on its own; cases and libraries keep the order go test ran them in.
grep '^BenchmarkPeers/' "$raw" | awk '
function sortn(v, n,   i, j, x) {
	for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j > 0 && v[j] > x; j--) v[j+1] = v[j]; v[j+1] = x }
}
function median(v, n) { sortn(v, n); return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2 }
{
	name = $1; sub(/-[0-9]+$/, "", name)          # drop the GOMAXPROCS suffix
	split(name, part, "/"); c = part[2]; l = part[3]; key = c SUBSEP l
	ns = b = allocs = ""
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op") ns = $i
		if ($(i+1) == "B/op") b = $i
		if ($(i+1) == "allocs/op") allocs = $i
	}
	if (ns == "" || b == "" || allocs == "") { print "compare.sh: no -benchmem columns in: " $0 > "/dev/stderr"; bad = 1; exit 1 }
	if (!(c in seenc)) { seenc[c] = 1; cases[++nc] = c }
	if (!(key in n)) { n[key] = 0; libs[c, ++nl[c]] = l }
	k = ++n[key]; T[key, k] = ns + 0; B[key, k] = b + 0; A[key, k] = allocs + 0
}
END {
	if (bad) exit 1
	if (nc == 0) { print "compare.sh: no BenchmarkPeers results" > "/dev/stderr"; exit 1 }
	for (key in n) {
		split("", t); split("", bb); split("", aa)
		for (k = 1; k <= n[key]; k++) { t[k] = T[key, k]; bb[k] = B[key, k]; aa[k] = A[key, k] }
		mt[key] = median(t, n[key]); mb[key] = median(bb, n[key]); ma[key] = median(aa, n[key])
	}
	printf "| case | library | runs | time/op (median) | B/op | allocs/op | time vs backoff |\n"
	printf "|---|---|---:|---:|---:|---:|---:|\n"
	for (i = 1; i <= nc; i++) {
		c = cases[i]; ours = mt[c, "backoff"]
		for (j = 1; j <= nl[c]; j++) {
			l = libs[c, j]; key = c SUBSEP l
			ratio = (ours > 0) ? sprintf("%.2fx", mt[key] / ours) : "n/a"
			printf "| %s | %s | %d | %.1f ns | %g | %g | %s |\n", c, l, n[key], mt[key], mb[key], ma[key], ratio
		}
	}
}'
