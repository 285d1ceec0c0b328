// Package readmecheck type-checks the Go code blocks of a Markdown file as
// programs of this module, so that a README snippet that no longer
// compiles fails go test ./... of the repository.
//
// Every block fenced with ```go must be a whole file, the way a user would
// paste it: a package clause, its imports, and func main in package main
// (a package whose name ends in _test is checked as a test file). It must
// be gofmt-ed. Check writes each block into a package of its own in a
// temporary directory inside the module and runs go vet on all of them
// at once: the compiler's type checker and vet's analyzers, against the
// module's own packages and go.mod. In a binary built with -race, go vet
// gets -race too, so that it reuses the packages go test -race builds. The directory's name starts with "_",
// so ./... patterns, run at the same time by others, do not see it.
// Errors name the Markdown file and its line numbers.
package readmecheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Block is one fenced Go code block of a Markdown file.
type Block struct {
	// Line is the line of the Markdown file on which the code starts (the
	// line after the opening fence), counting from 1.
	Line int
	// Code is the block's text, each line ending in a newline.
	Code string
}

// Extract returns the blocks of md fenced with a line "```go" (an info
// string may follow "go" after a space), in order. Other fenced blocks are
// skipped. A fence left open at the end of md is an error.
func Extract(md []byte) ([]Block, error) {
	var (
		blocks []Block
		open   bool // inside a fenced block
		isGo   bool
		code   strings.Builder
		start  int // the line of the open fence
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(nil, len(md)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !open && strings.HasPrefix(line, "```"):
			open, start = true, n
			info := strings.TrimPrefix(line, "```")
			isGo = info == "go" || strings.HasPrefix(info, "go ")
			code.Reset()
		case open && strings.TrimRight(line, " ") == "```":
			if isGo {
				blocks = append(blocks, Block{Line: start + 1, Code: code.String()})
			}
			open = false
		case open:
			code.WriteString(line)
			code.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if open {
		return nil, fmt.Errorf("line %d: the code block opened here is not closed", start)
	}
	return blocks, nil
}

// Check type-checks blocks, taken from the Markdown file name, with go
// vet. dir is a directory inside the module whose packages and
// dependencies the blocks use; Check creates its temporary directory
// there and removes it before it returns. The error, if any, lists every
// problem found, positioned in name.
func Check(ctx context.Context, dir, name string, blocks []Block) error {
	name, err := filepath.Abs(name)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "_readmecheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var problems []error
	var pkgs []string
	for i, b := range blocks {
		// The //line comment makes every position, the compiler's
		// included, a position in the Markdown file.
		src := "//line " + name + ":" + strconv.Itoa(b.Line) + "\n" + b.Code
		file, err := fileName(name, b, src)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		pkg := filepath.Join(tmp, "b"+strconv.Itoa(i+1))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkg, file), []byte(src), 0o644); err != nil {
			return err
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(filepath.Join(filepath.Base(tmp), filepath.Base(pkg))))
	}
	if len(pkgs) > 0 {
		args := []string{"vet"}
		if raceEnabled {
			// Built by go test -race: so are the packages the blocks
			// import, and with the same flags go vet reuses them.
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			problems = append(problems, fmt.Errorf("go vet: %w\n%s", err, vetReport(out)))
		}
	}
	return errors.Join(problems...)
}

// fileName checks what go vet would not (a whole, gofmt-ed file; func main
// in package main) and returns the name the block's file gets: main.go,
// or block_test.go in a package whose name ends in _test.
func fileName(name string, b Block, src string) (string, error) {
	where := fmt.Sprintf("%s:%d", name, b.Line)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		if !strings.HasPrefix(strings.TrimSpace(b.Code), "package ") {
			return "", fmt.Errorf("%s: a Go block must be a whole file, beginning with its package clause", where)
		}
		return "", err // positioned in name by the //line comment
	}
	if formatted, err := format.Source([]byte(b.Code)); err == nil && !bytes.Equal(formatted, []byte(b.Code)) {
		return "", fmt.Errorf("%s:%d: the block is not gofmt-ed from this line on", name, b.Line+firstDiff(b.Code, string(formatted)))
	}
	pkg := f.Name.Name
	if strings.HasSuffix(pkg, "_test") {
		return "block_test.go", nil
	}
	if pkg == "main" && !hasMain(f) {
		return "", fmt.Errorf("%s: package main without func main: a block is a whole program", where)
	}
	return "main.go", nil
}

// firstDiff is the index of the first line in which a and b differ.
func firstDiff(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i
		}
	}
	return min(len(al), len(bl))
}

func hasMain(f *ast.File) bool {
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "main" {
			return true
		}
	}
	return false
}

// vetReport drops the "# package" headers from go vet's output, which
// name the temporary packages, and the "vet: " before each problem.
func vetReport(out []byte) string {
	var lines []string
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		lines = append(lines, strings.TrimPrefix(line, "vet: "))
	}
	return strings.Join(lines, "")
}
