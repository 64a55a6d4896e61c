module github.com/backoff-go/backoff/bench

go 1.25

replace github.com/backoff-go/backoff => ../

require (
	github.com/backoff-go/backoff v0.0.0-00010101000000-000000000000
	github.com/benbjohnson/clock v1.3.5
	github.com/jonboulle/clockwork v0.5.0
	github.com/sony/gobreaker/v2 v2.4.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
