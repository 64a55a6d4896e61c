#!/usr/bin/env bash
# compare.sh: run the peer benchmarks (bench/peers_bench_test.go) and the
# Limiter's (the root module's limiter_bench_test.go), and print their tables
# with benchstat (golang.org/x/perf/cmd/benchstat, pinned by the tool
# directive in bench/go.mod and run with go tool): the median and its 95%
# confidence interval of time, bytes and allocations per op, and each
# library against this library in the same case ("vs base", with benchstat's
# p-value: "~" when the difference is not significant).
#
#   bash bench/compare.sh                    # -count 10 of both, then the tables
#   COUNT=3 bash bench/compare.sh            # fewer runs, for a quick look
#   RAW=peers.txt LIMITER_RAW=limiter.txt bash bench/compare.sh   # also keep go test's raw outputs
#   BENCHTIME=200ms bash bench/compare.sh    # passed on as go test -benchtime
#   bash bench/compare.sh peers.txt [limiter.txt]  # only tabulate raw outputs already made
#
# go test names a sub-benchmark by position (BenchmarkPeers/success/cenkalti);
# benchstat compares across key=value parts, so the names are rewritten
# (BenchmarkPeers/case=success/lib=cenkalti) before it reads them.
set -euo pipefail

# Paths given by the caller are taken from where it stands, before the cd.
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

peers="" limiter=""
if [ $# -ge 1 ]; then
	peers="$(abs "$1")"
	[ $# -ge 2 ] && limiter="$(abs "$2")"
	cd "$(dirname "$0")"
else
	peers="${RAW:+$(abs "$RAW")}"
	limiter="${LIMITER_RAW:+$(abs "$LIMITER_RAW")}"
	cd "$(dirname "$0")"
	: "${peers:=$tmp/peers.txt}" "${limiter:=$tmp/limiter.txt}"
	args=(-run '^$' -benchmem -count "${COUNT:-10}")
	[ -n "${BENCHTIME:-}" ] && args+=(-benchtime "$BENCHTIME")
	go test "${args[@]}" -bench Peers . | tee "$peers" >&2
	# The Limiter and its floor (a channel semaphore, a mutex counter) in
	# one run, so that their ratios are read on the same machine load.
	(cd .. && go test "${args[@]}" -bench '^BenchmarkLimiter' .) | tee "$limiter" >&2
fi

grep -q '^BenchmarkPeers/' "$peers" || { echo "compare.sh: no BenchmarkPeers results in $peers" >&2; exit 1; }
# BenchmarkPeers/CASE/LIB-N → BenchmarkPeers/case=CASE/lib=LIB-N; backoff
# runs first in each case, so it is benchstat's base column.
sed -E 's#^BenchmarkPeers/([^/[:space:]]+)/([^[:space:]]+)-([0-9]+)([[:space:]])#BenchmarkPeers/case=\1/lib=\2-\3\4#' "$peers" >"$tmp/peers.bs"
echo "## Peers"
go tool benchstat -row /case -col /lib "$tmp/peers.bs"

if [ -n "$limiter" ]; then
	grep -q '^BenchmarkLimiter' "$limiter" || { echo "compare.sh: no BenchmarkLimiter results in $limiter" >&2; exit 1; }
	# BenchmarkLimiter/MODE[/parallel]-N and BenchmarkLimiterPeers/PEER[/parallel]-N
	# → BenchmarkLimiter/run=serial|parallel/impl=MODE|PEER-N.
	sed -E \
		-e 's#^BenchmarkLimiter(Peers)?/([^/[:space:]-]+)/parallel-([0-9]+)([[:space:]])#BenchmarkLimiter/run=parallel/impl=\2-\3\4#' \
		-e 's#^BenchmarkLimiter(Peers)?/([^/[:space:]-]+)-([0-9]+)([[:space:]])#BenchmarkLimiter/run=serial/impl=\2-\3\4#' \
		"$limiter" >"$tmp/limiter.bs"
	echo
	echo "## Limiter: Acquire+Done with a free slot, against the simplest fixed limits"
	go tool benchstat -row /run -col '/impl@(unpaced paced chan mutex)' "$tmp/limiter.bs"
fi
