package session

// CopyFuncFor exposes copyFunc to the external tests, which can use the
// shared benchmark types of internal/sessionbench.
func CopyFuncFor[T any]() func(*T) T { return copyFunc[T]() }
