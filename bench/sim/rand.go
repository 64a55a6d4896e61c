package sim

import "math/rand/v2"

// splitmix64 is a bijective mixer: it turns a master seed and a run's
// coordinates into well-spread, independent seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// runSeed derives the seed of one run from the master seed and the run's
// coordinates, so that a run's result does not depend on which goroutine ran
// it or when.
func runSeed(master uint64, coords ...uint64) uint64 {
	s := splitmix64(master)
	for _, c := range coords {
		s = splitmix64(s ^ c)
	}
	return s
}

// newRand returns a generator for one stream of one run.
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(stream)))
}
