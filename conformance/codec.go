package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/codec"
)

// RunCodec proves that c gives session.Manager what it needs of a codec: a
// stable, non-empty Name of at most 255 bytes; round trips of the field
// types sessions carry (strings, signed and unsigned integers, floats,
// bools, time.Time in UTC and in other zones compared with Equal, slices,
// maps, nested structs, pointers to structs, nil pointers); nil and empty
// collections that come back with length 0 (nil or empty: gob does not
// keep them apart) and pointers that keep being nil or non-nil; an output
// slice the caller owns; an error, never a panic, for empty input and for
// every truncation of a valid encoding of a struct (only structs: a prefix
// of a bare number can itself be a valid encoding); no panic for garbage,
// which may decode without error by chance; and safe concurrent use (run
// with -race). Each rule is a sub-test.
func RunCodec(t *testing.T, c codec.Codec) {
	t.Helper()
	for _, cc := range codecCases() {
		t.Run(cc.name, func(t *testing.T) {
			if err := runCodecCase(cc, c); err != nil {
				t.Errorf("%s: %v\ncontract: %s", cc.name, err, cc.rule)
			}
		})
	}
}

// codecCase is one row of RunCodec's suite.
type codecCase struct {
	name  string
	rule  string
	check func(c codec.Codec) error
}

func codecCases() []codecCase {
	return []codecCase{
		{"Name", "Name identifies the encoding in stored payloads: non-empty, at most 255 bytes, never changing.", checkCodecName},
		{"RoundTrip", "Unmarshal of Marshal's output gives back every field a session carries (times compared with Equal).", checkCodecRoundTrip},
		{"NilEmpty", "Nil and empty slices and maps come back with length 0; a nil pointer stays nil; a non-nil pointer stays non-nil.", checkCodecNilEmpty},
		{"OutputOwned", "Marshal's returned slice belongs to the caller: changing it changes no other encoding.", checkCodecOutputOwned},
		{"Empty", "Unmarshal must return an error, and not panic, for empty data.", checkCodecEmpty},
		{"Truncated", "Unmarshal must return an error, and not panic, for data that is truncated: every strict prefix of a struct's encoding.", checkCodecTruncated},
		{"Garbage", "Unmarshal must not panic for corrupt data: random bytes and mutated encodings.", checkCodecGarbage},
		{"Concurrent", "Implementations must be safe for concurrent use.", checkCodecConcurrent},
	}
}

// runCodecCase runs cc against c, turning a panic into an error.
func runCodecCase(cc codecCase, c codec.Codec) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return cc.check(c)
}

// codecSession is the kind of struct sessions carry.
type codecSession struct {
	Name     string
	Blank    string
	Int      int
	Int8     int8
	Int64    int64
	Uint64   uint64
	Float    float64
	Negative float64
	Flag     bool
	Off      bool
	UTC      time.Time
	Zoned    time.Time
	Roles    []string
	Counts   map[string]int
	Profile  codecProfile
	Device   *codecProfile
	Previous *codecProfile // nil
	Raw      []byte
}

type codecProfile struct {
	ID     string
	Scores []int
	Seen   time.Time
	Tags   map[string]string
}

func codecSample(i int) codecSession {
	zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
	return codecSession{
		Name:     fmt.Sprintf("Ada Lovelace #%d \x00 ünïcödé 🔑 \"quoted\" \\ <html> \n", i),
		Int:      -42 - i,
		Int8:     math.MinInt8,
		Int64:    math.MinInt64 + int64(i),
		Uint64:   math.MaxUint64 - uint64(i),
		Float:    math.Pi * float64(i+1),
		Negative: -0.1,
		Flag:     true,
		UTC:      time.Date(2025, 11, 25, 3, 29, 0, 123456789+i, time.UTC),
		Zoned:    time.Date(1999, 12, 31, 23, 59, 59, 999999999, zone),
		Roles:    []string{"admin", "", "editor", strings.Repeat("x", 300)},
		Counts:   map[string]int{"apple": 1, "pear": -2, "": 0, "big": math.MaxInt32},
		Profile: codecProfile{
			ID:     "profile",
			Scores: []int{3, 1, 4, 1, 5, 9, 2, 6},
			Seen:   time.Date(2024, 2, 29, 12, 0, 0, 0, zone),
			Tags:   map[string]string{"k": "v"},
		},
		Device: &codecProfile{ID: "phone", Scores: []int{i}, Seen: time.Date(2030, 1, 1, 0, 0, 0, 1, time.UTC)},
		Raw:    []byte{0, 1, 2, 0xfe, 0xff},
	}
}

// diffSession lists the fields in which got differs from want.
func diffSession(got, want codecSession) error {
	var d []string
	check := func(ok bool, field string, g, w any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s = %#v, want %#v", field, g, w))
		}
	}
	check(got.Name == want.Name, "Name", got.Name, want.Name)
	check(got.Blank == want.Blank, "Blank", got.Blank, want.Blank)
	check(got.Int == want.Int, "Int", got.Int, want.Int)
	check(got.Int8 == want.Int8, "Int8", got.Int8, want.Int8)
	check(got.Int64 == want.Int64, "Int64", got.Int64, want.Int64)
	check(got.Uint64 == want.Uint64, "Uint64", got.Uint64, want.Uint64)
	check(got.Float == want.Float, "Float", got.Float, want.Float)
	check(got.Negative == want.Negative, "Negative", got.Negative, want.Negative)
	check(got.Flag == want.Flag, "Flag", got.Flag, want.Flag)
	check(got.Off == want.Off, "Off", got.Off, want.Off)
	check(got.UTC.Equal(want.UTC), "UTC", got.UTC.String(), want.UTC.String())
	check(got.Zoned.Equal(want.Zoned), "Zoned", got.Zoned.String(), want.Zoned.String())
	check(slices.Equal(got.Roles, want.Roles), "Roles", got.Roles, want.Roles)
	check(mapsEqual(got.Counts, want.Counts), "Counts", got.Counts, want.Counts)
	if err := diffProfile(got.Profile, want.Profile); err != nil {
		d = append(d, "Profile: "+err.Error())
	}
	switch {
	case got.Device == nil:
		d = append(d, "Device = nil, want a non-nil pointer")
	default:
		if err := diffProfile(*got.Device, *want.Device); err != nil {
			d = append(d, "Device: "+err.Error())
		}
	}
	check(got.Previous == nil, "Previous", got.Previous, want.Previous)
	check(bytes.Equal(got.Raw, want.Raw), "Raw", got.Raw, want.Raw)
	if d == nil {
		return nil
	}
	return errors.New(strings.Join(d, "; "))
}

func diffProfile(got, want codecProfile) error {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID = %q, want %q", got.ID, want.ID))
	}
	if !slices.Equal(got.Scores, want.Scores) {
		d = append(d, fmt.Sprintf("Scores = %v, want %v", got.Scores, want.Scores))
	}
	if !got.Seen.Equal(want.Seen) {
		d = append(d, fmt.Sprintf("Seen = %v, want %v", got.Seen, want.Seen))
	}
	if !mapsEqual(got.Tags, want.Tags) {
		d = append(d, fmt.Sprintf("Tags = %v, want %v", got.Tags, want.Tags))
	}
	if d == nil {
		return nil
	}
	return errors.New(strings.Join(d, "; "))
}

// mapsEqual compares maps by content; nil and empty are equal.
func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// roundTrip marshals v and unmarshals the result into a new T.
func roundTrip[T any](c codec.Codec, v T) (T, error) {
	var got T
	enc, err := c.Marshal(v)
	if err != nil {
		return got, fmt.Errorf("Marshal: %w", err)
	}
	if err := c.Unmarshal(enc, &got); err != nil {
		return got, fmt.Errorf("Unmarshal of Marshal's output: %w", err)
	}
	return got, nil
}

func checkCodecName(c codec.Codec) error {
	name := c.Name()
	switch {
	case name == "":
		return errors.New("Name() is empty")
	case len(name) > 255:
		return fmt.Errorf("Name() has %d bytes, more than 255", len(name))
	}
	for range 3 {
		if again := c.Name(); again != name {
			return fmt.Errorf("Name() returned %q, then %q: it must never change", name, again)
		}
	}
	return nil
}

func checkCodecRoundTrip(c codec.Codec) error {
	for i := range 3 {
		want := codecSample(i)
		got, err := roundTrip(c, want)
		if err != nil {
			return err
		}
		if err := diffSession(got, want); err != nil {
			return fmt.Errorf("round trip of a session struct: %w", err)
		}
		// Through a pointer, as the Manager passes it.
		got = codecSession{}
		enc, err := c.Marshal(&want)
		if err != nil {
			return fmt.Errorf("Marshal of a pointer: %w", err)
		}
		if err := c.Unmarshal(enc, &got); err != nil {
			return fmt.Errorf("Unmarshal of Marshal's output for a pointer: %w", err)
		}
		if err := diffSession(got, want); err != nil {
			return fmt.Errorf("round trip of a pointer to a session struct: %w", err)
		}
	}
	// Session data need not be a struct.
	if got, err := roundTrip(c, 12345); err != nil || got != 12345 {
		return fmt.Errorf("round trip of an int = %v, %v; want 12345", got, err)
	}
	if got, err := roundTrip(c, "token ü"); err != nil || got != "token ü" {
		return fmt.Errorf("round trip of a string = %q, %v", got, err)
	}
	wantMap := map[string]string{"csrf": "abc", "lang": "de"}
	if got, err := roundTrip(c, wantMap); err != nil || !mapsEqual(got, wantMap) {
		return fmt.Errorf("round trip of a map = %v, %v; want %v", got, err, wantMap)
	}
	return nil
}

// codecNils holds every kind of nil and empty value a session may carry.
type codecNils struct {
	NilSlice   []string
	EmptySlice []string
	NilMap     map[string]int
	EmptyMap   map[string]int
	NilBytes   []byte
	EmptyBytes []byte
	NilPtr     *codecProfile
	Ptr        *codecProfile
	ZeroPtr    *codecProfile // points to a zero struct
	Mark       string
}

func checkCodecNilEmpty(c codec.Codec) error {
	want := codecNils{
		EmptySlice: []string{},
		EmptyMap:   map[string]int{},
		EmptyBytes: []byte{},
		Ptr:        &codecProfile{ID: "set"},
		ZeroPtr:    &codecProfile{},
		Mark:       "end",
	}
	got, err := roundTrip(c, want)
	if err != nil {
		return err
	}
	var d []string
	for _, f := range []struct {
		name string
		n    int
	}{
		{"NilSlice", len(got.NilSlice)}, {"EmptySlice", len(got.EmptySlice)},
		{"NilMap", len(got.NilMap)}, {"EmptyMap", len(got.EmptyMap)},
		{"NilBytes", len(got.NilBytes)}, {"EmptyBytes", len(got.EmptyBytes)},
	} {
		if f.n != 0 {
			d = append(d, fmt.Sprintf("%s has length %d, want 0", f.name, f.n))
		}
	}
	if got.NilPtr != nil {
		d = append(d, fmt.Sprintf("NilPtr = %#v, want nil", got.NilPtr))
	}
	if got.Ptr == nil || got.Ptr.ID != "set" {
		d = append(d, fmt.Sprintf("Ptr = %#v, want a pointer to ID \"set\"", got.Ptr))
	}
	if got.ZeroPtr == nil {
		d = append(d, "ZeroPtr = nil, want a non-nil pointer (to a zero struct)")
	}
	if got.Mark != "end" {
		d = append(d, fmt.Sprintf("Mark = %q, want \"end\"", got.Mark))
	}
	if d != nil {
		return errors.New(strings.Join(d, "; "))
	}
	return nil
}

func checkCodecOutputOwned(c codec.Codec) error {
	a, err := c.Marshal(codecSample(1))
	if err != nil {
		return fmt.Errorf("Marshal: %w", err)
	}
	b, err := c.Marshal(codecSample(2))
	if err != nil {
		return fmt.Errorf("Marshal: %w", err)
	}
	bCopy := bytes.Clone(b)
	scribble(a)
	if !bytes.Equal(b, bCopy) {
		return errors.New("changing the slice one Marshal returned changed the slice of another Marshal: they share memory")
	}
	var got codecSession
	if err := c.Unmarshal(b, &got); err != nil {
		return fmt.Errorf("Unmarshal: %w", err)
	}
	return diffSession(got, codecSample(2))
}

func checkCodecEmpty(c codec.Codec) error {
	for _, data := range [][]byte{nil, {}} {
		var v codecSession
		if err := c.Unmarshal(data, &v); err == nil {
			return fmt.Errorf("Unmarshal(%#v) returned no error, want one (an empty stored payload is corrupt)", data)
		}
	}
	return nil
}

func checkCodecTruncated(c codec.Codec) error {
	for i := range 2 {
		enc, err := c.Marshal(codecSample(i))
		if err != nil {
			return fmt.Errorf("Marshal: %w", err)
		}
		for n := 1; n < len(enc); n++ {
			var v codecSession
			if err := unmarshalNoPanic(c, enc[:n], &v); err == nil {
				return fmt.Errorf("Unmarshal of the first %d of %d bytes of an encoding returned no error, want one (truncated data)", n, len(enc))
			} else if errors.Is(err, errPanicked) {
				return fmt.Errorf("Unmarshal of the first %d of %d bytes of an encoding: %w", n, len(enc), err)
			}
		}
	}
	return nil
}

var errPanicked = errors.New("Unmarshal panicked")

// unmarshalNoPanic calls c.Unmarshal and turns a panic into an error
// matching errPanicked.
func unmarshalNoPanic(c codec.Codec, data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v on input %q", errPanicked, r, data)
		}
	}()
	return c.Unmarshal(data, v)
}

func checkCodecGarbage(c codec.Codec) error {
	r := rand.New(rand.NewPCG(0x5e55, 0x10f1))
	enc, err := c.Marshal(codecSample(0))
	if err != nil {
		return fmt.Errorf("Marshal: %w", err)
	}
	for i := range 2000 {
		var data []byte
		if i%2 == 0 {
			// Random bytes.
			data = make([]byte, 1+r.IntN(64))
			for j := range data {
				data[j] = byte(r.Uint32())
			}
		} else {
			// A valid encoding with a few bytes changed, inserted or cut.
			data = bytes.Clone(enc)
			for range 1 + r.IntN(4) {
				j := r.IntN(len(data))
				switch r.IntN(3) {
				case 0:
					data[j] = byte(r.Uint32())
				case 1:
					data = slices.Insert(data, j, byte(r.Uint32()))
				default:
					data = slices.Delete(data, j, j+1)
				}
			}
		}
		var v codecSession
		if err := unmarshalNoPanic(c, data, &v); errors.Is(err, errPanicked) {
			return err
		}
	}
	return nil
}

func checkCodecConcurrent(c codec.Codec) error {
	const goroutines, rounds = 8, 100
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Errorf("goroutine %d: panic: %v", g, r)
				}
			}()
			for i := range rounds {
				want := codecSample(g*rounds + i)
				got, err := roundTrip(c, want)
				if err == nil {
					err = diffSession(got, want)
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d, round %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
