package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ReplyError is an error reply ("-ERR ...", "-NOAUTH ...") from a server,
// as returned by [Server.Exec]. A network failure is any other error.
type ReplyError string

// Error returns the reply text without the leading '-'.
func (e ReplyError) Error() string { return string(e) }

// maxBulk bounds one bulk string the client accepts (DUMP of a test key is
// far below it); it keeps a corrupt length from allocating gigabytes.
const maxBulk = 64 << 20

// roundTrip opens a connection to addr, optionally authenticates, sends one
// command and returns its reply rendered as text (see Server.Do for the
// rendering). The whole exchange, dial included, is bounded by timeout.
func roundTrip(addr, password string, timeout time.Duration, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("redistest: empty command")
	}
	deadline := time.Now().Add(timeout)
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := send(conn, r, "AUTH", password); err != nil {
			return "", err
		}
	}
	return send(conn, r, args...)
}

func send(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return "", err
	}
	var out []string
	if err := readReply(r, &out, 0); err != nil {
		return "", err
	}
	return strings.Join(out, "\n"), nil
}

// readReply appends the text of one RESP2 reply to out; arrays are
// flattened, one element per entry. An error reply at the top level is
// returned as a ReplyError; nested in an array it is kept as text.
func readReply(r *bufio.Reader, out *[]string, depth int) error {
	if depth > 16 {
		return errors.New("redistest: reply nested too deeply")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return errors.New("redistest: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+', ':':
		*out = append(*out, body)
	case '-':
		if depth == 0 {
			return ReplyError(body)
		}
		*out = append(*out, body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxBulk {
			return fmt.Errorf("redistest: bad bulk length %q", body)
		}
		if n < 0 {
			*out = append(*out, "")
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		*out = append(*out, string(buf[:n]))
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n > 1<<20 {
			return fmt.Errorf("redistest: bad array length %q", body)
		}
		for i := 0; i < n; i++ {
			if err := readReply(r, out, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("redistest: unexpected reply %q", line)
	}
	return nil
}

// infoField returns the value of field in an INFO reply ("field:value"
// lines), or "" when it is absent.
func infoField(info, field string) string {
	for _, l := range strings.Split(info, "\n") {
		l = strings.TrimRight(l, "\r")
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return v
		}
	}
	return ""
}
