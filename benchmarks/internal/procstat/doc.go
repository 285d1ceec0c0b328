// Package procstat reads what this process costs: its CPU time and its
// resident memory.
package procstat
