package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/codec"
)

// The suite must be able to fail. Each broken backend below is the
// reference backend with one deliberate flaw; every check of the suite runs
// against it directly (not as a sub-test, so that failing checks do not
// fail this test), and the checks named in caughtBy must each report an
// error.

var brokenBackends = []struct {
	name     string
	flaw     flaw
	caughtBy []string
}{
	{"NoCAS", flawNoCAS, []string{"Update/CAS"}},
	{"IgnoresDeadlines", flawIgnoresDeadlines, []string{"Expiry/Idle", "Expiry/NoResurrection"}},
	{"AliasesInput", flawAliasesInput, []string{"Isolation/CreateInput", "Isolation/UpdateInput"}},
	{"AliasesOutput", flawAliasesOutput, []string{"Isolation/CreateResult", "Isolation/UpdateResult", "Isolation/LoadResult", "Owner/Isolation"}},
	{"WrongErrors", flawWrongErrors, []string{"Load/NotFound", "Create/Exists", "Update/CAS", "Update/NotFound", "Touch/NotFound", "Errors/Distinct"}},
	{"DeleteMissingErrors", flawDeleteMissingErrors, []string{"Delete/Idempotent"}},
	{"CreateOverwrites", flawCreateOverwrites, []string{"Create/Exists", "Create/Concurrent"}},
	{"StaleOwnerIndex", flawStaleOwnerIndex, []string{"Owner/FollowsUpdate", "Owner/Anonymous"}},
	{"IndexKeepsDeleted", flawIndexKeepsDeleted, []string{"Owner/Deleted"}},
	{"UpdateRecreates", flawUpdateRecreates, []string{"Update/NotFound", "Update/Deleted"}},
	{"CreateKeepsVersion", flawCreateKeepsVersion, []string{"Create/Version"}},
	{"TouchBumpsVersion", flawTouchBumpsVersion, []string{"Touch/KeepsVersion"}},
	{"UpdateOverwritesCreatedAt", flawUpdateOverwritesCreatedAt, []string{"Update/Fields"}},
	{"IgnoresContext", flawIgnoresContext, []string{"Context/Canceled", "Context/DeadlineExceeded"}},
	{"CloseTwiceErrors", flawCloseTwiceErrors, []string{"Close/Twice"}},
	{"TruncatesKeysAtNUL", flawTruncatesAtNUL, []string{"Keys/Hostile"}},
	{"FoldsKeyCase", flawFoldsCase, []string{"Keys/Hostile"}},
	{"SecondPrecision", flawSecondPrecision, []string{"Create/Fields"}},
	{"RekeyKeepsOld", flawRekeyKeepsOld, []string{"Rekey/Moves", "Manager/Lifecycle"}},
	{"ListsExpired", flawListsExpired, []string{"Owner/Expired"}},
	{"DeleteByOwnerCountsExpired", flawDeleteByOwnerCountsAll, []string{"Owner/Expired"}},
	{"TouchResurrects", flawTouchResurrects, []string{"Expiry/NoResurrection"}},
	{"CreateRace", flawCreateRace, []string{"Create/Concurrent"}},
	{"UpdateRace", flawUpdateRace, []string{"Update/Concurrent", "Manager/ConcurrentUpdate"}},
	{"NotDurableUnapplied", flawNotDurableUnapplied, []string{"Errors/NotDurable", "Manager/Lifecycle"}},
	{"DeleteByOwnerOneRound", flawDeleteByOwnerOneRound, []string{"Rekey/DeleteByOwnerRace"}},
	{"EventsForFailedWrites", flawEventsForFailedWrites, []string{"Events/NoneForFailed"}},
	{"EventsBlockWriters", flawEventsBlockWriters, []string{"Events/Slow"}},
	{"EventsDroppedSilently", flawEventsDroppedSilently, []string{"Events/Slow"}},
	{"EventsOutOfOrder", flawEventsOutOfOrder, []string{"Events/Order", "Events/PerWrite"}},
	{"NoExpiredEvents", flawNoExpiredEvents, []string{"Events/Expired"}},
	{"NoRekeyEvent", flawNoRekeyEvent, []string{"Events/PerWrite", "Events/Order", "Manager/Events"}},
	{"EventsBeforeSubscribed", flawEventsBeforeSubscribed, []string{"Events/Subscribe"}},
	{"EventsSharedDelivery", flawEventsSharedDelivery, []string{"Events/Slow"}},
	{"EventsAfterCancel", flawEventsAfterCancel, []string{"Events/Subscribe"}},
	{"EventsConcurrent", flawEventsConcurrent, []string{"Events/Slow"}},
	{"ConflictCarriesStale", flawConflictCarriesStale, []string{"Update/ConflictRecord"}},
}

func TestBrokenBackendsAreCaught(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, c := range cases() {
		known[c.name] = true
	}
	// All broken backends at once: the checks spend most of their time
	// waiting on deadlines.
	results := make([]map[string]error, len(brokenBackends))
	var wg sync.WaitGroup
	for i, bb := range brokenBackends {
		wg.Go(func() { results[i] = runAllChecks(t, bb.flaw, bb.caughtBy, 20*time.Second) })
	}
	wg.Wait()
	for i, bb := range brokenBackends {
		t.Run(bb.name, func(t *testing.T) {
			failed := results[i]
			if len(failed) == 0 {
				t.Fatalf("no check caught the broken backend %s", bb.name)
			}
			for _, name := range bb.caughtBy {
				switch {
				case !known[name]:
					t.Errorf("caughtBy names %q, which is not a case", name)
				case failed[name] == nil:
					t.Errorf("%s did not catch the broken backend %s", name, bb.name)
				default:
					t.Logf("%s: %v", name, firstLine(failed[name]))
				}
			}
			t.Logf("caught by %d checks: %s", len(failed), strings.Join(sortedKeys(failed), " "))
		})
	}
}

// runAllChecks runs every case against its own broken backend, all at
// once, and returns the errors by case name. Cases with a timeout of their
// own (thousands of writes) run only where heavy names them. Each case
// gets timeout, or its own if longer.
func runAllChecks(t *testing.T, f flaw, heavy []string, timeout time.Duration) map[string]error {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed = map[string]error{}
	)
	for _, c := range cases() {
		b := newRef(t, f)
		if c.needs.missing(b) != "" || c.timeout != 0 && !slices.Contains(heavy, c.name) {
			continue
		}
		wg.Go(func() {
			if err := runCase(t.Context(), c, b, max(c.timeout, timeout)); err != nil {
				mu.Lock()
				failed[c.name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// TestReferenceChecksDirectly runs every check against the correct
// reference backend the way the self-test does, all at once: the
// flawless backend must pass under the same load.
func TestReferenceChecksDirectly(t *testing.T) {
	t.Parallel()
	// The flawless backend shares the machine with 29 broken ones: it gets
	// a minute per case, so that only a hang fails it.
	for name, err := range runAllChecks(t, 0, []string{"Manager/ConcurrentUpdate", "Events/Slow"}, time.Minute) {
		t.Errorf("%s failed against the reference backend: %v", name, err)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Broken codecs, each built on encoding/json, and the RunCodec checks that
// must catch them.

// jsonBase is a correct codec the broken ones modify.
type jsonBase struct{}

func (jsonBase) Name() string                       { return "test-json" }
func (jsonBase) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonBase) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

type emptyName struct{ jsonBase }

func (emptyName) Name() string { return "" }

type longName struct{ jsonBase }

func (longName) Name() string { return strings.Repeat("n", 256) }

type unstableName struct {
	jsonBase
	n *atomic.Int64
}

func (c unstableName) Name() string { return fmt.Sprintf("v%d", c.n.Add(1)) }

// lossy drops the last field of every struct it decodes.
type lossy struct{ jsonBase }

func (lossy) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	if rv := reflect.ValueOf(v).Elem(); rv.Kind() == reflect.Struct && rv.NumField() > 0 {
		rv.Field(rv.NumField() - 1).SetZero()
	}
	return nil
}

// zoneless decodes every time.Time field as if its clock reading were UTC.
type zoneless struct{ jsonBase }

func (zoneless) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	rv := reflect.ValueOf(v).Elem()
	if rv.Kind() != reflect.Struct {
		return nil
	}
	for i := range rv.NumField() {
		if t, ok := rv.Field(i).Interface().(time.Time); ok {
			y, mo, d := t.Date()
			h, mi, s := t.Clock()
			rv.Field(i).Set(reflect.ValueOf(time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)))
		}
	}
	return nil
}

// lenient never reports an error from Unmarshal.
type lenient struct{ jsonBase }

func (lenient) Unmarshal(data []byte, v any) error {
	_ = json.Unmarshal(data, v)
	return nil
}

// panicky panics on input shorter than it expects.
type panicky struct{ jsonBase }

func (panicky) Unmarshal(data []byte, v any) error {
	if data[len(data)-1] != '}' && data[0] == '{' {
		panic("unexpected end of input")
	}
	return json.Unmarshal(data, v)
}

// sharedBuffer returns the same buffer from every Marshal.
type sharedBuffer struct {
	jsonBase
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (c sharedBuffer) Marshal(v any) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Reset()
	if err := json.NewEncoder(c.buf).Encode(v); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

// nilEmptyMixup turns nil pointers into pointers to zero values.
type nilEmptyMixup struct{ jsonBase }

func (nilEmptyMixup) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	rv := reflect.ValueOf(v).Elem()
	if rv.Kind() != reflect.Struct {
		return nil
	}
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
	}
	return nil
}

func TestBrokenCodecsAreCaught(t *testing.T) {
	t.Parallel()
	for _, bc := range []struct {
		name     string
		codec    codec.Codec
		caughtBy string
	}{
		{"EmptyName", emptyName{}, "Name"},
		{"LongName", longName{}, "Name"},
		{"UnstableName", unstableName{n: new(atomic.Int64)}, "Name"},
		{"Lossy", lossy{}, "RoundTrip"},
		{"Zoneless", zoneless{}, "RoundTrip"},
		{"Lenient", lenient{}, "Truncated"},
		{"LenientEmpty", lenient{}, "Empty"},
		{"Panicky", panicky{}, "Truncated"},
		{"PanickyEmpty", panicky{}, "Empty"},
		{"SharedBuffer", sharedBuffer{mu: new(sync.Mutex), buf: new(bytes.Buffer)}, "OutputOwned"},
		{"NilBecomesEmpty", nilEmptyMixup{}, "NilEmpty"},
	} {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			var found bool
			for _, cc := range codecCases() {
				if cc.name != bc.caughtBy {
					continue
				}
				found = true
				err := runCodecCase(cc, bc.codec)
				if err == nil {
					t.Fatalf("%s did not catch the broken codec %s", cc.name, bc.name)
				}
				t.Logf("%s: %v", cc.name, firstLine(err))
			}
			if !found {
				t.Fatalf("no codec case named %q", bc.caughtBy)
			}
		})
	}
	// The base the broken codecs modify is itself correct.
	for _, cc := range codecCases() {
		if err := runCodecCase(cc, jsonBase{}); err != nil {
			t.Errorf("%s failed for a correct JSON codec: %v", cc.name, err)
		}
	}
}

// TestFailuresPointAtTheCheck: a failure names the line of the check that
// failed, not the helper that noticed it.
func TestFailuresPointAtTheCheck(t *testing.T) {
	t.Parallel()
	for _, c := range cases() {
		if c.name != "Update/CAS" {
			continue
		}
		err := runCase(t.Context(), c, newRef(t, flawNoCAS), 10*time.Second)
		if err == nil {
			t.Fatal("Update/CAS passed against a backend without compare-and-swap")
		}
		if msg := located(err); !strings.HasPrefix(msg, "check_crud.go:") {
			t.Errorf("failure of Update/CAS reads %q, want it to begin with the check's file and line", msg)
		}
	}
}
