package mailcatcher

import (
	"bytes"
	"html/template"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
)

// pageCSP locks the catcher's own pages down to "no script, no remote
// anything": they are plain server-rendered HTML plus one <style> block and
// a same-origin iframe for the mail's HTML body.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'; form-action 'none'"

// mailHTMLCSP is sent with the mail's own HTML. Mail HTML is untrusted (it
// may be a template bug rendering user input), so it gets a unique opaque
// origin, no script and no network access.
const mailHTMLCSP = "sandbox; default-src 'none'"

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).Parse(pagesText))

// pagesText is the whole UI; html/template escapes every value, so a
// subject like "<script>" renders as text.
const pagesText = `{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mail catcher (development only)</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
.note{background:#fff6d6;border:1px solid #e5c94f;padding:.5rem .75rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.75rem}
iframe{width:100%;height:32rem;border:1px solid #ccc}
</style></head><body>
<h1><a href="/">Mail catcher (development only)</a></h1>
<p class="note">Nothing leaves this machine: mail sent here is kept in memory only and is never delivered.</p>
{{end}}{{define "bottom"}}</body></html>
{{end}}
{{define "list"}}{{template "top"}}
<h2>Messages ({{len .}})</h2>
{{if .}}<table><thead><tr><th>Received</th><th>Received by</th><th>To</th><th>Subject</th></tr></thead><tbody>
{{range .}}<tr><td>{{.ReceivedAt.Format "2006-01-02 15:04:05"}}</td><td>{{.ReceivedBy}}, {{if .TLS}}TLS{{else}}no TLS{{end}}</td><td>{{join .To}}</td><td><a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td></tr>
{{end}}</tbody></table>{{else}}<p>No mail yet.</p>{{end}}
{{template "bottom"}}{{end}}
{{define "message"}}{{template "top"}}
<h2>{{if .Msg.Subject}}{{.Msg.Subject}}{{else}}(no subject){{end}}</h2>
<table>
<tr><th>Received</th><td>{{.Msg.ReceivedAt.Format "2006-01-02 15:04:05"}}</td></tr>
<tr><th>Received by</th><td>{{.Msg.ReceivedBy}}{{if ne .Msg.ReceivedBy .Msg.ReceivedOn}} ({{.Msg.ReceivedOn}}){{end}}, {{if .Msg.TLS}}over {{.Msg.TLS}}{{else}}in cleartext (no TLS){{end}}</td></tr>
<tr><th>Sender address</th><td>{{.Msg.From}}</td></tr>
<tr><th>Delivered to</th><td>{{join .Msg.To}}</td></tr>
{{range .Headers}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{with .Links}}<h3>Links</h3><ul>{{range .}}<li><a href="{{.}}" rel="noreferrer noopener">{{.}}</a></li>{{end}}</ul>{{end}}
{{if .Msg.Text}}<h3>Text</h3><pre>{{.Msg.Text}}</pre>{{end}}
{{if .Msg.HTML}}<h3>HTML</h3><iframe sandbox src="/messages/{{.Msg.ID}}/html" title="HTML body"></iframe>{{end}}
{{with .Msg.Attachments}}<h3>Attachments</h3><ul>{{range $i, $a := .}}<li><a href="/messages/{{$.Msg.ID}}/attachments/{{$i}}">{{if $a.Filename}}{{$a.Filename}}{{else}}(unnamed){{end}}</a> ({{$a.ContentType}}, {{len $a.Data}} bytes)</li>{{end}}</ul>{{end}}
{{template "bottom"}}{{end}}`

// Handler serves the developer UI:
//
//	GET /                                list, newest first
//	GET /messages/{id}                   headers, text, links, attachments
//	GET /messages/{id}/html              the HTML body, sandboxed by CSP
//	GET /messages/{id}/attachments/{n}   download attachment n (0-based)
//
// It has no authentication: serve it on a loopback listener only.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleList)
	mux.HandleFunc("GET /messages/{id}", s.handleMessage)
	mux.HandleFunc("GET /messages/{id}/html", s.handleHTML)
	mux.HandleFunc("GET /messages/{id}/attachments/{n}", s.handleAttachment)
	return mux
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	msgs := s.Messages()
	slices.Reverse(msgs)
	render(w, "list", msgs)
}

type headerLine struct{ Name, Value string }

func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	render(w, "message", struct {
		Msg     Message
		Headers []headerLine
		Links   []string
	}{m, headerLines(m.Raw), m.Links()})
}

func (s *Server) handleHTML(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if m.HTML == "" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", mailHTMLCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(m.HTML))
}

func (s *Server) handleAttachment(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= len(m.Attachments) {
		http.NotFound(w, r)
		return
	}
	a := m.Attachments[n]
	name := a.Filename
	if name == "" {
		name = "attachment-" + strconv.Itoa(n)
	}
	ct := a.ContentType
	if _, _, err := mime.ParseMediaType(ct); err != nil || ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	// "attachment" forces a download; the sandbox CSP covers a browser that
	// renders it anyway (e.g. the SecureMessage.html attachment).
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", mailHTMLCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(a.Data)
}

// lookup resolves {id}, writing a 404 when it is unknown or evicted.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (Message, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return Message{}, false
	}
	m, ok := s.message(id)
	if !ok {
		http.NotFound(w, r)
	}
	return m, ok
}

// render executes into a buffer first so a template error becomes a clean
// 500 instead of a half-written page.
func render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "mailcatcher: render page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// headerLines returns the raw message's headers in a stable order with
// RFC 2047 words decoded for display.
func headerLines(raw []byte) []headerLine {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(msg.Header))
	for k := range msg.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	var lines []headerLine
	for _, k := range names {
		for _, v := range msg.Header[k] {
			lines = append(lines, headerLine{k, decodeHeader(v)})
		}
	}
	return lines
}
