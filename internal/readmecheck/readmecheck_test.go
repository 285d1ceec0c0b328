package readmecheck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/readmecheck"
)

// readme is the repository's README, from this package's directory.
const readme = "../../README.md"

// Every Go block of the README is a program that compiles against this
// module and passes go vet.
func TestREADME(t *testing.T) {
	md, err := os.ReadFile(readme)
	require.NoError(t, err)
	blocks, err := readmecheck.Extract(md)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(blocks), 3, "the README's Go blocks: quick start, HTTP, conformance")
	// No deadline of its own: on a cold build cache go vet waits for the
	// module's packages to compile, which go test -timeout bounds.
	require.NoError(t, readmecheck.Check(t.Context(), ".", readme, blocks))
}

func TestExtract(t *testing.T) {
	md := "# Title\n\n```sh\ngo test ./...\n```\n\n```go\npackage main\n\nfunc main() {}\n```\n\ntext\n\n```go title\npackage x\n```\n```text\nnot go\n```\n"
	blocks, err := readmecheck.Extract([]byte(md))
	require.NoError(t, err)
	assert.Equal(t, []readmecheck.Block{
		{Line: 8, Code: "package main\n\nfunc main() {}\n"},
		{Line: 16, Code: "package x\n"},
	}, blocks)

	_, err = readmecheck.Extract([]byte("text\n```go\npackage main\n"))
	assert.ErrorContains(t, err, "line 2: the code block opened here is not closed")
}

// good is a block that passes: imports of this module and of its
// dependencies, every error handled.
const good = "```go\n" + `package main

import (
	"log"

	"github.com/redis/rueidis"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
)

type Cart struct{ Items map[string]int }

func main() {
	m, err := session.NewManager[Cart](memorybackend.New())
	if err != nil {
		log.Fatal(err)
	}
	_ = m
	_ = rueidis.ClientOption{}
}
` + "```\n"

// goodTest is a block that passes as a test file.
const goodTest = "```go\n" + `package mystore_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(tb testing.TB) backend.Backend { return memorybackend.New() })
}
` + "```\n"

// The blocks above pass.
func TestCheckPasses(t *testing.T) {
	_, blocks, err := checkSample(t, good+goodTest)
	require.Len(t, blocks, 2)
	require.NoError(t, err)
}

// The checker fails on each way a snippet can be broken, lists every
// problem of every block, and says where: the line in the Markdown file.
func TestCheckFindsBrokenBlocks(t *testing.T) {
	cases := []struct {
		name string
		md   string
		line int // of the problem, counting the block's first line as 1; 0: not checked
		want string
	}{
		{"Misspelled", strings.Replace(good, "session.NewManager", "session.NewManagr", 1), 15, "undefined: session.NewManagr"},
		{"Unused", strings.Replace(good, "\t_ = m\n", "", 1), 15, "declared and not used: m"},
		{"NoImport", strings.Replace(good, "\tmemorybackend \"github.com/sessionkit/sessionkit/backend_memory\"\n", "", 1), 14, "undefined: memorybackend"},
		{"UnusedImport", strings.Replace(good, "\t_ = rueidis.ClientOption{}\n", "", 1), 6, `"github.com/redis/rueidis" imported and not used`},
		{"Vet", strings.Replace(good, "\t_ = m\n", "\t_ = m\n\tlog.Printf(\"%d\", \"x\")\n", 1), 0, "Printf format %d has arg \"x\" of wrong type string"},
		{"Fragment", "```go\nm, err := session.NewManager[Cart](store)\n```\n", 1, "a Go block must be a whole file, beginning with its package clause"},
		{"NoMain", "```go\npackage main\n\nfunc helper() {}\n```\n", 1, "package main without func main"},
		{"NotFormatted", "```go\npackage main\n\nfunc main() {  }\n```\n", 3, "the block is not gofmt-ed from this line on"},
		{"BrokenTest", strings.Replace(goodTest, "conformance.Run(", "conformance.Runn(", 1), 0, "undefined: conformance.Runn"},
	}
	var md strings.Builder
	for _, tc := range cases {
		md.WriteString("Prose.\n" + tc.md)
	}
	name, blocks, err := checkSample(t, md.String())
	require.Len(t, blocks, len(cases))
	require.Error(t, err)
	for i, tc := range cases {
		want := tc.want
		if tc.line > 0 {
			want = fmt.Sprintf("%s:%d: %s", name, blocks[i].Line+tc.line-1, tc.want)
		}
		assert.Contains(t, err.Error(), want, tc.name)
	}
}

// checkSample writes md to a file and checks its blocks.
func checkSample(t *testing.T, md string) (name string, blocks []readmecheck.Block, err error) {
	t.Helper()
	name = filepath.Join(t.TempDir(), "sample.md")
	require.NoError(t, os.WriteFile(name, []byte(md), 0o644))
	blocks, err = readmecheck.Extract([]byte(md))
	require.NoError(t, err)
	return name, blocks, readmecheck.Check(t.Context(), ".", name, blocks)
}

// Check leaves nothing behind in the module.
func TestCheckCleansUp(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/x\n\ngo 1.26\n"), 0o644))
	blocks, err := readmecheck.Extract([]byte("```go\npackage main\n\nfunc main() {}\n```\n"))
	require.NoError(t, err)
	require.NoError(t, readmecheck.Check(t.Context(), dir, filepath.Join(dir, "README.md"), blocks))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only go.mod is left")
}
