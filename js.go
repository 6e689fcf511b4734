package pulse

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// clientJS is the browser client, js/pulse.js.
//
//go:embed js/pulse.js
var clientJS []byte

// clientJSTag is the strong ETag of clientJS: a hash of its content.
var clientJSTag = func() string {
	sum := sha256.Sum256(clientJS)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// JS returns an http.Handler that serves pulse.js, the browser client of
// the wire protocol, embedded in this package: one dependency-free ES module
// exporting connect(url, options). Mount it next to the Hub and import it
// from a page:
//
//	mux.Handle("/ws/metrics", hub)
//	mux.Handle("/pulse.js", pulse.JS())
//
//	<script type="module">
//	import { connect } from "/pulse.js";
//	const client = connect("/ws/metrics", { onUpdate: (state) => render(state) });
//	</script>
//
// The client keeps the state (catalogue, values, rates, stale series and a
// per-series history), reconnects with backoff, resyncs after a gap in seq
// and falls back to Server-Sent Events when WebSocket is unavailable; its
// doc comment lists the options.
//
// The handler answers GET and HEAD (others get 405) with Content-Type
// text/javascript, a strong ETag (a hash of the file) and
// "Cache-Control: no-cache": browsers keep the file but revalidate it, and a
// matching If-None-Match gets 304 Not Modified, so an upgraded library is
// picked up at once and costs nothing otherwise. Range requests are
// supported. It serves the same bytes on any path it is mounted on.
//
// The handler holds no state: it is safe for concurrent use, and JS may be
// called any number of times.
func JS() http.Handler {
	return http.HandlerFunc(serveJS)
}

func serveJS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "pulse: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", clientJSTag)
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match (304), Range and HEAD.
	http.ServeContent(w, r, "pulse.js", time.Time{}, bytes.NewReader(clientJS))
}
