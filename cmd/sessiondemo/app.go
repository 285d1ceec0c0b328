package main

import (
	"cmp"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// Account is the typed session data of the web demo.
type Account struct {
	Name     string    // as typed at login
	LoginAt  time.Time // when
	Counter  int       // the + button
	Device   string    // the browser at login, to tell devices apart
	Instance string    // the instance that served the login
}

// peer is another instance, for links.
type peer struct{ Name, URL string }

// app is one instance of the demo web application.
type app struct {
	name  string // "A", "B"
	url   string
	store string // where sessions live, for people
	peers []peer
	mw    *httpsession.Middleware[Account]
}

// handler is the instance's whole HTTP handler: cross-origin protection
// for the POST forms (http.CrossOriginProtection: browsers say where a
// request comes from in Sec-Fetch-Site and Origin), then the session
// middleware, then the routes.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /whoami", a.whoami)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /inc", a.inc)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /logout-everywhere", a.logoutEverywhere)
	mux.HandleFunc("POST /revoke", a.revoke)
	return http.NewCrossOriginProtection().Handler(a.mw.Handler(mux))
}

// ownerOf is the user ID of a name: names differing in case are one user.
func ownerOf(name string) string { return strings.ToLower(name) }

// device is one of the user's sessions on the home page.
type device struct {
	Handle  string
	Short   string
	Current bool
	Data    Account
	Idle    time.Time
}

type homePage struct {
	Instance string
	Store    string
	Peers    []peer
	S        *session.Session[Account]
	Devices  []device
	Message  string
}

// messages are the notes a redirect can ask the home page to show.
var messages = map[string]string{
	"in":      "You are logged in; your session has a new ID.",
	"out":     "You are logged out.",
	"revoked": "That device is logged out.",
	"name":    "Please enter a name of 1 to 40 letters, digits or spaces.",
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s, err := a.mw.Session(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := homePage{Instance: a.name, Store: a.store, Peers: a.peers, S: s}
	if m := r.URL.Query().Get("m"); m != "" {
		if n, ok := strings.CutPrefix(m, "all:"); ok {
			if _, err := strconv.Atoi(n); err == nil {
				p.Message = "Logged out everywhere: " + n + " sessions ended, on every device and instance."
			}
		} else {
			p.Message = messages[m]
		}
	}
	if s.Owner != "" {
		if p.Devices, err = a.devices(r, s); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := homeTmpl.Execute(w, p); err != nil {
		slog.ErrorContext(r.Context(), "sessiondemo: render", "err", err)
	}
}

// devices lists the sessions of s's owner, oldest login first.
func (a *app) devices(r *http.Request, s *session.Session[Account]) ([]device, error) {
	list, err := a.mw.Manager().ListByOwner(r.Context(), s.Owner)
	if err != nil {
		return nil, err
	}
	out := make([]device, 0, len(list))
	for _, d := range list {
		h := d.Handle()
		out = append(out, device{Handle: h, Short: h[:min(8, len(h))], Current: h == s.Handle(), Data: d.Data, Idle: d.IdleDeadline})
	}
	slices.SortFunc(out, func(x, y device) int {
		return cmp.Or(x.Data.LoginAt.Compare(y.Data.LoginAt), strings.Compare(x.Handle, y.Handle))
	})
	return out, nil
}

// whoamiReply is what GET /whoami answers, for scripts and tests.
type whoamiReply struct {
	Instance string   `json:"instance"`
	Owner    string   `json:"owner"`
	Name     string   `json:"name"`
	Counter  int      `json:"counter"`
	Handle   string   `json:"handle"`
	Devices  []string `json:"devices"`
}

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	s, err := a.mw.Session(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rep := whoamiReply{Instance: a.name, Owner: s.Owner, Name: s.Data.Name, Counter: s.Data.Counter, Handle: s.Handle(), Devices: []string{}}
	if s.Owner != "" {
		ds, err := a.devices(r, s)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, d := range ds {
			rep.Devices = append(rep.Devices, d.Handle)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// validName accepts 1 to 40 letters, digits, spaces, dots and dashes.
func validName(name string) bool {
	n := 0
	for _, c := range name {
		n++
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune(" .-_", c) {
			return false
		}
	}
	return n >= 1 && n <= 40
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.FormValue("name"))
	if !validName(name) {
		http.Redirect(w, r, "/?m=name", http.StatusSeeOther)
		return
	}
	// A real application checks a password here. Login first (a new ID;
	// another user's session on this browser is destroyed, not inherited),
	// then the user's data, stored before the redirect goes out.
	err := a.mw.Login(r, ownerOf(name))
	if err == nil {
		err = a.mw.Modify(r, func(acc *Account) {
			acc.Name, acc.LoginAt, acc.Instance = name, time.Now(), a.name
			acc.Device = browser(r.UserAgent())
		})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/?m=in", http.StatusSeeOther)
}

func (a *app) inc(w http.ResponseWriter, r *http.Request) {
	// Update, not Modify: two tabs clicking at once both count.
	if err := a.mw.Update(r, func(acc *Account) error { acc.Counter++; return nil }); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.mw.Logout(r); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/?m=out", http.StatusSeeOther)
}

func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	n, err := a.mw.LogoutEverywhere(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/?m=all:"+strconv.Itoa(n), http.StatusSeeOther)
}

// revoke logs out one device of the user: the session whose Handle the
// form names, among the user's own sessions only.
func (a *app) revoke(w http.ResponseWriter, r *http.Request) {
	s, err := a.mw.Session(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	handle := r.FormValue("handle")
	switch {
	case s.Owner == "" || handle == "":
	case handle == s.Handle():
		err = a.mw.Logout(r)
	default:
		err = a.revokeHandle(r, s.Owner, handle)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/?m=revoked", http.StatusSeeOther)
}

// revokeHandle destroys the session of owner with that Handle, if any. The
// Manager revokes only sessions it returned, so it lists owner's sessions
// and picks the one.
func (a *app) revokeHandle(r *http.Request, owner, handle string) error {
	m := a.mw.Manager()
	list, err := m.ListByOwner(r.Context(), owner)
	if err != nil {
		return err
	}
	for _, d := range list {
		if d.Handle() == handle {
			return m.Revoke(r.Context(), d)
		}
	}
	return nil // gone already
}

func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "sessiondemo", "instance", a.name, "path", r.URL.Path, "err", err)
	http.Error(w, "The session store failed; see the server log.", http.StatusServiceUnavailable)
}

// browser names the browser of a User-Agent header, roughly.
func browser(ua string) string {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go client"},
	} {
		if strings.Contains(ua, b.token) {
			return b.name
		}
	}
	if ua == "" {
		return "unknown"
	}
	return ua[:min(len(ua), 30)]
}

var homeTmpl = template.Must(template.New("home").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.Local().Format("15:04:05 (Jan 2)") },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sessionkit demo · instance {{.Instance}}</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
.instance { display: inline-block; padding: .1rem .6rem; border-radius: .3rem; background: #2b6cb0; color: white; font-weight: bold; }
.msg { background: #fefcbf; padding: .5rem .8rem; border-radius: .3rem; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
form { display: inline; }
button { font: inherit; cursor: pointer; }
code { background: #f0f0f0; padding: 0 .2rem; }
small { color: #666; }
</style>
</head>
<body>
<p>Served by <span class="instance">instance {{.Instance}}</span>
{{range .Peers}} · open the same page on <a href="{{.URL}}">instance {{.Name}}</a>{{end}}<br>
<small>Sessions live in {{.Store}}.</small></p>
{{with .Message}}<p class="msg">{{.}}</p>{{end}}
{{if .S.Owner}}
<h1>Hello, {{.S.Data.Name}}</h1>
<p>Logged in at {{when .S.Data.LoginAt}} on instance {{.S.Data.Instance}}.
Session <code>{{printf "%.8s" .S.Handle}}</code> (its Handle: a hash, never the ID in your cookie)
ends after {{when .S.IdleDeadline}} without activity, and at {{when .S.AbsoluteDeadline}} at the latest.</p>
{{else}}
<h1>Not logged in</h1>
<form method="post" action="/login">
<label>Name <input name="name" required maxlength="40" autofocus></label>
<button>Log in</button>
</form>
<p><small>Any name will do. Logging in gives the session a new ID (against session fixation) and keeps the counter.</small></p>
{{end}}

<h2>Counter: {{.S.Data.Counter}}</h2>
<form method="post" action="/inc"><button>+1</button></form>
<small>{{if .S.ID}}Stored in the session; the other instance shows the same number.{{else}}No session yet: this page created none and set no cookie. Press +1 to create one.{{end}}</small>

{{if .S.Owner}}
<h2>Your sessions</h2>
<table>
<tr><th>Session</th><th>Browser</th><th>Logged in</th><th>Via</th><th></th></tr>
{{range .Devices}}
<tr>
<td><code>{{.Short}}</code>{{if .Current}} <b>(this one)</b>{{end}}</td>
<td>{{.Data.Device}}</td>
<td>{{when .Data.LoginAt}}</td>
<td>instance {{.Data.Instance}}</td>
<td><form method="post" action="/revoke"><input type="hidden" name="handle" value="{{.Handle}}"><button>Log out this device</button></form></td>
</tr>
{{end}}
</table>
<p><small>Log in with the same name from another browser or a private window to add a device.</small></p>
<p>
<form method="post" action="/logout"><button>Log out</button></form>
<form method="post" action="/logout-everywhere"><button>Log out everywhere</button></form>
</p>
{{end}}
</body>
</html>
`))
