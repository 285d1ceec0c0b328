package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// RandomKeyWithPrefix returns a key of the server that starts with prefix,
// trying RANDOMKEY at most tries times.
func RandomKeyWithPrefix(addr, prefix string, tries int) (string, error) {
	for range tries {
		k, err := Command(addr, "RANDOMKEY")
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(k, prefix) {
			return k, nil
		}
	}
	return "", fmt.Errorf("no key with prefix %q in %d RANDOMKEYs", prefix, tries)
}

// Yardsticks returns two server costs to hold a script against, in server
// time per call from INFO commandstats: a SET of a value of size bytes
// (with an expiry of a minute, to keys of its own, deleted afterwards) and
// an EVALSHA of the script "return 1", the cost of calling any script at
// all. It sends n of each on one connection, alternately and each after
// the reply to the one before, as a client waiting for its replies does,
// so that both meet the same conditions. Nothing else should send SET or
// EVALSHA meanwhile.
func Yardsticks(addr string, size, n int) (set, script time.Duration, err error) {
	if size < 0 || n <= 0 {
		return 0, 0, errors.New("Yardsticks: bad size or count")
	}
	sha, err := Command(addr, "SCRIPT", "LOAD", "return 1")
	if err != nil {
		return 0, 0, err
	}
	before, err := CommandStats(addr)
	if err != nil {
		return 0, 0, err
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		return 0, 0, err
	}
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	value := strings.Repeat("v", size)
	key := func(i int) string { return "redisproc:yardstick:" + strconv.Itoa(i) }
	for i := range n {
		if err := roundTrip(w, r, "SET", key(i), value, "EX", "60"); err != nil {
			return 0, 0, err
		}
		if err := roundTrip(w, r, "EVALSHA", sha, "0"); err != nil {
			return 0, 0, err
		}
	}
	after, err := CommandStats(addr)
	if err != nil {
		return 0, 0, err
	}
	for i := range n {
		writeCommand(w, "DEL", key(i))
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	for range n {
		if _, err := readLine(r); err != nil {
			return 0, 0, err
		}
	}
	d := after.Sub(before)
	if d["set"].Calls < int64(n) || d["evalsha"].Calls < int64(n) {
		return 0, 0, fmt.Errorf("Yardsticks: %d SET and %d EVALSHA calls counted, sent %d of each", d["set"].Calls, d["evalsha"].Calls, n)
	}
	return d.PerCall("set"), d.PerCall("evalsha"), nil
}

// roundTrip sends one command and reads its reply, which must be a simple
// string, an integer or a bulk string.
func roundTrip(w *bufio.Writer, r *bufio.Reader, args ...string) error {
	writeCommand(w, args...)
	if err := w.Flush(); err != nil {
		return err
	}
	line, err := readLine(r)
	if err != nil || line == "" || line[0] != '$' {
		return err
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return err
	}
	_, err = r.Discard(n + 2)
	return err
}

// readLine reads one reply line; an error reply is an error.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", errors.New(line[1:])
	}
	return line, nil
}

func writeCommand(w *bufio.Writer, args ...string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}
