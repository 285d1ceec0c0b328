package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sessionkit/sessionkit/backend"
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

	// The live logout (live.go); live is nil where the store has no
	// events, and then the pages open no event stream.
	live      *hub
	peek      *httpsession.Middleware[Account] // mw's sessions, read without moving the idle deadline
	done      <-chan struct{}                  // closed when the server shuts down: the streams end
	heartbeat time.Duration                    // 0: heartbeatInterval
}

// handler is the instance's whole HTTP handler: cross-origin protection
// for the POST forms (http.CrossOriginProtection: browsers say where a
// request comes from in Sec-Fetch-Site and Origin), then the session
// middleware, then the routes. The event stream has a middleware of its
// own, a.peek, which never extends the session.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /favicon.ico", serveFavicon)
	mux.HandleFunc("GET /whoami", a.whoami)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /inc", a.inc)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /logout-everywhere", a.logoutEverywhere)
	mux.HandleFunc("POST /revoke", a.revoke)
	root := http.NewServeMux()
	root.Handle("/", a.mw.Handler(mux))
	peek := cmp.Or(a.peek, a.mw)
	root.Handle("GET /events", peek.Handler(http.HandlerFunc(a.events)))
	root.Handle("GET /devices", peek.Handler(http.HandlerFunc(a.devicesList)))
	return http.NewCrossOriginProtection().Handler(root)
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

// frame is what every page shows around its content: which instance
// served it, where its peers are, where sessions live, and a note.
type frame struct {
	Instance string
	Store    string
	Peers    []peer
	Message  string
}

// homePage is the data of the home page.
type homePage struct {
	frame
	S       *session.Session[Account]
	Devices []device
	Name    string // the login form's input, kept when it was rejected
	Live    bool   // the page opens an event stream for its session
}

// errorPage is the data of the page a failed request gets.
type errorPage struct {
	frame
	Title string
}

// nameRule says which names validName accepts, in the login form and in
// the note of a rejected name.
const nameRule = "1 to 40 characters: letters and digits of any script, spaces, dots (.), dashes (-) and underscores (_)"

// messages are the notes a redirect can ask the home page to show.
var messages = map[string]string{
	"in":      "You are logged in; your session has a new ID.",
	"out":     "You are logged out.",
	"revoked": "That device is logged out.",
	"nobody":  "Nobody was logged in on this browser, so no session was ended.",
}

func (a *app) frame(message string) frame {
	return frame{Instance: a.name, Store: a.store, Peers: a.peers, Message: message}
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	var msg string
	if m := r.URL.Query().Get("m"); m != "" {
		if n, ok := strings.CutPrefix(m, "all:"); ok {
			if k, err := strconv.Atoi(n); err == nil {
				msg = "Logged out everywhere: " + plural(k, "session") + " ended, on every device and instance."
			}
		} else {
			msg = messages[m]
		}
	}
	a.page(w, r, http.StatusOK, msg, "")
}

// page answers with the home page: status, a note, and the text to put
// back into the login form.
func (a *app) page(w http.ResponseWriter, r *http.Request, status int, msg, name string) {
	s, err := a.mw.Session(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := homePage{frame: a.frame(msg), S: s, Name: name, Live: a.live != nil && s.ID != ""}
	if s.Owner != "" {
		if p.Devices, err = a.devices(r, s); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	render(w, r, status, "home", p)
}

// render writes the named page template with status.
func render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		slog.ErrorContext(r.Context(), "sessiondemo: render", "page", name, "err", err)
	}
}

// plural is "1 session", "2 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
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

// validName says whether name keeps nameRule.
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
	typed := r.FormValue("name")
	name := strings.TrimSpace(typed)
	if !validName(name) {
		// The form again, with what was typed, so it can be corrected.
		a.page(w, r, http.StatusUnprocessableEntity, "That name was not accepted. A name is "+nameRule+".", typed)
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
	s, err := a.mw.Session(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if s.Owner == "" { // logged out in another tab, say, or everywhere from another device
		http.Redirect(w, r, "/?m=nobody", http.StatusSeeOther)
		return
	}
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

// fail answers a request that the session store failed with a page in
// the demo's layout: 503 Service Unavailable when the store cannot be
// reached, 500 otherwise. The error itself goes to the server log only.
// It is the middleware's error handler too, so a change that cannot be
// stored gets the same page; once the response has started, only the log
// line is left.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "sessiondemo", "instance", a.name, "path", r.URL.Path, "err", err)
	if errors.Is(err, httpsession.ErrHeadersWritten) {
		return
	}
	status, p := http.StatusInternalServerError, errorPage{
		frame: a.frame("Instance " + a.name + " could not carry out this request because the session store failed; the server log says why."),
		Title: "The session store failed",
	}
	if errors.Is(err, backend.ErrUnavailable) {
		status = http.StatusServiceUnavailable
		p.Title = "The session store is unavailable"
		p.Message = "Instance " + a.name + " cannot reach " + a.store + " right now, so it cannot tell who you are. Try again once the store is back."
	}
	render(w, r, status, "error", p)
}

// favicon is the demo's icon, a square in the blue of the instance label:
// PNG, which browsers accept at /favicon.ico too.
var favicon = func() []byte {
	img := image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{color.RGBA{0x2b, 0x6c, 0xb0, 0xff}})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory image into a buffer cannot fail
	}
	return buf.Bytes()
}()

// serveFavicon answers GET /favicon.ico, which browsers ask for on every
// site (the pages name it too).
func serveFavicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(favicon)
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

// pages are the demo's HTML pages: "home" and "error", both in one layout
// ("top" and "bottom").
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "just now" // a login whose data is still being stored (the list was fetched at its event)
		}
		return t.Local().Format("15:04:05 (Jan 2)")
	},
}).Parse(`{{define "top"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sessionkit demo · instance {{.Instance}}</title>
<link rel="icon" href="/favicon.ico" type="image/png">
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
.ended { background: #fed7d7; font-weight: bold; }
</style>
</head>
<body>
<p>Served by <span class="instance">instance {{.Instance}}</span>
{{range .Peers}} · open the same page on <a href="{{.URL}}">instance {{.Name}}</a>{{end}}<br>
<small>Sessions live in {{.Store}}.</small></p>
{{with .Message}}<p class="msg">{{.}}</p>{{end}}
{{end}}

{{define "bottom"}}</body>
</html>
{{end}}

{{define "devices"}}
<tr><th>Session</th><th>Browser</th><th>Logged in</th><th>Via</th><th></th></tr>
{{range .}}
<tr>
<td><code>{{.Short}}</code>{{if .Current}} <b>(this one)</b>{{end}}</td>
<td>{{.Data.Device}}</td>
<td>{{when .Data.LoginAt}}</td>
<td>instance {{.Data.Instance}}</td>
<td><form method="post" action="/revoke"><input type="hidden" name="handle" value="{{.Handle}}"><button>Log out this device</button></form></td>
</tr>
{{end}}
{{end}}

{{define "error"}}{{template "top" .}}
<h1>{{.Title}}</h1>
<p><a href="/">Try again</a></p>
{{template "bottom"}}{{end}}

{{define "home"}}{{template "top" .}}
{{if .Live}}<p id="ended" class="msg ended" hidden><span></span> <a href="/">Log in again</a></p>{{end}}
{{if .S.Owner}}
<h1>Hello, {{.S.Data.Name}}</h1>
<p>Logged in at {{when .S.Data.LoginAt}} on instance {{.S.Data.Instance}}.
Session <code>{{printf "%.8s" .S.Handle}}</code> (its Handle: a hash, never the ID in your cookie)
ends after {{when .S.IdleDeadline}} without activity, and at {{when .S.AbsoluteDeadline}} at the latest.</p>
{{else}}
<h1>Not logged in</h1>
<form method="post" action="/login">
<label>Name <input name="name" required maxlength="40" autofocus value="{{.Name}}"></label>
<button>Log in</button>
</form>
<p><small>A name is ` + nameRule + `; there is no password. Logging in gives the session a new ID (against session fixation) and keeps the counter.</small></p>
{{end}}

<h2>Counter: {{.S.Data.Counter}}</h2>
<form method="post" action="/inc"><button>+1</button></form>
<small>{{if .S.ID}}Stored in the session; the other instance shows the same number.{{else}}No session yet: this page created none and set no cookie. Press +1 to create one.{{end}}</small>

{{if .S.Owner}}
<h2>Your sessions</h2>
<table id="devices">{{template "devices" .Devices}}</table>
<p><small>Log in with the same name from another browser or a private window to add a device.</small></p>
<p>
<form method="post" action="/logout"><button>Log out</button></form>
<form method="post" action="/logout-everywhere"><button>Log out everywhere</button></form>
</p>
{{end}}
{{if .Live}}<script>
{
  // The live logout: the server says "ended" when this session is ended
  // anywhere, "reload" when this browser has a newer session (a login in
  // another tab), "devices" when the user's list of sessions changed. A
  // hidden page closes its stream, so that background tabs hold none of
  // the browser's few connections per host, and opens it again when
  // shown; the server then tells at once what happened meanwhile. This
  // page's own forms close it first.
  let es = null, done = false;
  const stop = () => { es?.close(); es = null; };
  const start = () => {
    if (done || es) return;
    es = new EventSource("/events?h={{.S.Handle}}");
    es.addEventListener("ended", e => {
      done = true; stop();
      const note = document.getElementById("ended");
      note.firstElementChild.textContent = e.data;
      note.hidden = false;
      for (const m of document.querySelectorAll(".msg:not(#ended)")) m.hidden = true; // "You are logged in", say
      for (const el of document.querySelectorAll("form button, form input")) el.disabled = true;
    });
    es.addEventListener("reload", () => { done = true; stop(); location.replace("/"); });
    es.addEventListener("devices", async () => {
      const r = await fetch("/devices");
      const rows = r.status === 200 ? await r.text() : null;
      const list = document.getElementById("devices");
      if (rows !== null && list && !done) list.innerHTML = rows;
    });
  };
  addEventListener("submit", () => { done = true; stop(); });
  addEventListener("pageshow", e => { if (e.persisted) { done = false; start(); } }); // back/forward cache
  document.addEventListener("visibilitychange", () => document.hidden ? stop() : start());
  if (!document.hidden) start();
}
</script>{{end}}
{{template "bottom"}}{{end}}
`))
