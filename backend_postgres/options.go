package postgresbackend

import "time"

// Defaults of the options.
const (
	// DefaultTable is the table New uses unless WithTable says otherwise.
	DefaultTable = "sessionkit_sessions"
	// defaultCleanupInterval is how often the cleanup runs by default.
	defaultCleanupInterval = time.Minute
	// defaultCleanupBatch is how many expired rows one cleanup statement
	// deletes at most by default.
	defaultCleanupBatch = 1000
)

// An Option configures a Backend built by New. When an option is given more
// than once, the last one wins. New validates the options together and
// returns an error for what cannot work.
type Option func(*config)

type config struct {
	table         string
	createSchema  bool
	cleanupEvery  time.Duration
	cleanupBatch  int
	clock         func() time.Time // nil: time.Now
	cleanupReport func(deleted int, err error)
	events        bool
}

func defaultConfig() config {
	return config{
		table:        DefaultTable,
		createSchema: true,
		cleanupEvery: defaultCleanupInterval,
		cleanupBatch: defaultCleanupBatch,
		events:       true,
	}
}

// WithTable sets the table the sessions are stored in. name is a lower-case
// SQL identifier (letters a–z, digits and '_', not starting with a digit,
// at most 48 bytes), optionally qualified by a schema written the same way
// ("auth.sessions"); New returns an error for any other name, so the name
// can never inject SQL. The indexes are named after the table. The default
// is DefaultTable, "sessionkit_sessions", in the connection's search_path.
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithCreateSchema sets whether New creates the table and its indexes when
// they are missing. Creating them is idempotent and safe when several
// instances start at once. Pass false when migrations are run by other
// means (see Schema for the statements); New then checks nothing and the
// first statement on a missing table fails. The default is true.
func WithCreateSchema(create bool) Option {
	return func(c *config) { c.createSchema = create }
}

// WithCleanupInterval sets how often the backend deletes expired rows.
// Every instance runs the cleanup; instances skip the rows another one is
// deleting, so they share the work instead of waiting on each other.
// Expired rows are never returned whatever the interval; the cleanup only
// reclaims their space. 0 disables it (run the cleanup elsewhere, or let
// rows accumulate); a negative d is an error. The default is one minute.
func WithCleanupInterval(d time.Duration) Option {
	return func(c *config) { c.cleanupEvery = d }
}

// WithCleanupBatch sets how many expired rows one cleanup statement
// deletes at most; a run repeats statements until fewer than n rows were
// deleted, so that no statement holds many row locks for long. n must be
// positive. The default is 1000.
func WithCleanupBatch(n int) Option {
	return func(c *config) { c.cleanupBatch = n }
}

// WithClock sets the function the backend reads the current time from to
// judge whether a record is live; the time is passed to the database with
// every statement, so liveness follows the application's clock, never the
// database server's. It must be safe for concurrent use. nil selects the
// default. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}

// WithCleanupReport sets a function called after every cleanup run with
// the number of rows it deleted and the error that ended it, if any (a run
// stopped by Close reports nil). Use it for metrics or logs. It is called
// from the cleanup goroutine and must not block for long. nil selects the
// default. The default reports nothing.
func WithCleanupReport(report func(deleted int, err error)) Option {
	return func(c *config) { c.cleanupReport = report }
}

// WithEvents sets whether the backend's writes send their events (see
// Subscribe and Events in the package documentation). Events cost
// writers throughput: PostgreSQL serialises the commits of notifying
// transactions, so that with many concurrent writers a Create or Delete
// takes up to several times as long (the package documentation has the
// figures), also while nobody subscribes. Pass false when
// no instance subscribes; then the writes send nothing and Subscribe
// returns an error matching errors.ErrUnsupported. Every instance sharing
// the table must agree: the writes of an instance with events off are
// invisible to the subscribers of every other. The default is true.
func WithEvents(send bool) Option {
	return func(c *config) { c.events = send }
}
