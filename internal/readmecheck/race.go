//go:build race

package readmecheck

// raceEnabled says whether this package was built with -race.
const raceEnabled = true
