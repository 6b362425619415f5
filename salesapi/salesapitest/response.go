package salesapitest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the Content-Type of every JSON answer, as the spec writes it.
const ContentType = "application/json; charset=UTF-8"

// response is an answer built by a handler and written by write, which may
// damage it on purpose (see FaultKind).
type response struct {
	status int
	header http.Header // extra headers (Retry-After, WWW-Authenticate, Allow …)
	body   []byte
	damage Fault // a damaging fault to apply, or FaultNone
}

// springError is the error body of the API (a Spring Boot application).
type springError struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	Path      string `json:"path"`
}

func errorResponse(now time.Time, status int, msg, path string) response {
	b, _ := json.Marshal(springError{Timestamp: now.Format("2006-01-02T15:04:05.000-07:00"), Status: status,
		Error: http.StatusText(status), Message: msg, Path: path})
	return response{status: status, body: b}
}

func (r response) with(key, value string) response {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(key, value)
	return r
}

// htmlPage is what a proxy in front of the API might show instead of JSON.
const htmlPage = `<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Сервис временно недоступен</title></head>
<body><h1>Сервис временно недоступен</h1><p>Ведутся технические работы. Попробуйте позже.</p>
<hr><p>nginx</p></body></html>
`

// sentStatus is the status write sends: 0 if it drops the connection.
func (r response) sentStatus() int {
	switch r.damage.Kind {
	case FaultMalformed, FaultHTML, FaultEmpty:
		return http.StatusOK
	case FaultDrop:
		return 0
	}
	return r.status
}

// write sends resp. Every answer carries Date (of the sandbox clock); a JSON
// answer carries Content-Type application/json; charset=UTF-8.
func (s *Server) write(w http.ResponseWriter, resp response, now time.Time) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	status, body, ctype := resp.status, resp.body, ContentType
	switch resp.damage.Kind {
	case FaultMalformed:
		status, body = http.StatusOK, malformed(body)
	case FaultHTML:
		status, body, ctype = http.StatusOK, []byte(htmlPage), "text/html; charset=utf-8"
	case FaultEmpty:
		status, body = http.StatusOK, nil
	case FaultTruncated:
		if len(body) < 2 {
			body = []byte("[]")
		}
		hijack(w, func(bw *bufio.Writer) {
			fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
			h.Set("Content-Type", ctype)
			h.Set("Content-Length", strconv.Itoa(len(body)))
			_ = h.Write(bw)
			bw.WriteString("\r\n")
			bw.Write(body[:len(body)/2])
		})
		return
	case FaultDrop:
		hijack(w, nil)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// malformed turns a JSON body into one that is not JSON: the closing bracket
// becomes ",}".
func malformed(body []byte) []byte {
	if len(body) == 0 {
		return []byte(`[{"id":`)
	}
	out := append([]byte(nil), body[:len(body)-1]...)
	return append(out, ",}"...)
}

// hijack takes the connection over, writes what fill writes, and closes it.
func hijack(w http.ResponseWriter, fill func(*bufio.Writer)) {
	conn, bufrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not possible over HTTP/1.1; answer something broken anyway.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer conn.Close()
	if fill != nil {
		fill(bufrw.Writer)
		_ = bufrw.Flush()
	}
}
