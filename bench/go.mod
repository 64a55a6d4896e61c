module github.com/backoff-go/backoff/bench

go 1.25

replace github.com/backoff-go/backoff => ../

require (
	github.com/backoff-go/backoff v0.0.0-00010101000000-000000000000
	github.com/sony/gobreaker/v2 v2.4.0
)
