package postgresbackend

// Channel returns the NOTIFY channel of b's table, for tests that look for
// its listener or send on it.
func Channel(b *Backend) string { return b.ch.name }
