package pulse

import (
	_ "embed"
	"net/http"
)

// clientJS is the browser client, js/pulse.js.
//
//go:embed js/pulse.js
var clientJS []byte

// jsType is the Content-Type of the JavaScript files served.
const jsType = "text/javascript; charset=utf-8"

// clientFile is pulse.js as JS and the dashboard serve it.
var clientFile = newStaticFile("pulse.js", jsType, clientJS)

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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { clientFile.serve(w, r, false) })
}
