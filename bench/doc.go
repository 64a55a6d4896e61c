// Package bench holds side-by-side benchmarks of backoff against other Go
// retry libraries, and simulations of what each strategy does to a service.
// It is its own module, so that those libraries never enter backoff's go.mod.
package bench
