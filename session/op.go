package session

// Op names a Manager method in log records and in Events.
type Op uint8

// The Manager methods that log and report events.
const (
	OpCreate Op = iota + 1
	OpGet
	OpGetFresh
	OpSave
	OpUpdate
	OpRenew
	OpDestroy
	OpRevoke
	OpListByOwner
	OpDestroyByOwner
)

// NumOps is one more than the largest Op, so that tables indexed by Op can
// be arrays.
const NumOps = int(OpDestroyByOwner) + 1

var opNames = [...]string{
	OpCreate: "create", OpGet: "get", OpGetFresh: "get_fresh", OpSave: "save", OpUpdate: "update",
	OpRenew: "renew", OpDestroy: "destroy", OpRevoke: "revoke", OpListByOwner: "list_by_owner",
	OpDestroyByOwner: "destroy_by_owner",
}

// String returns the method's name in snake case ("get", "get_fresh",
// "destroy_by_owner", ...), or "unknown".
func (o Op) String() string { return enumName(opNames[:], o) }

func enumName[E ~uint8](names []string, e E) string {
	if int(e) < len(names) && names[e] != "" {
		return names[e]
	}
	return "unknown"
}
