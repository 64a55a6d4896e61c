module github.com/backoff-go/backoff/bench

go 1.25

replace github.com/backoff-go/backoff => ../
