package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestWalkthrough(t *testing.T) {
	var out bytes.Buffer
	if err := walkthrough(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"counter=50 (no lost update)",
		"is not found: true",
		"ada has 2 sessions",
		"destroyed 2 sessions; laptop session not found: true",
		"after 10 min idle the session lives: true",
		"after 16 more idle minutes it is gone: true",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("walkthrough lacks %q:\n%s", want, out.String())
		}
	}
}
