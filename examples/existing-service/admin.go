package main

import (
	"html/template"
	"net/http"
	"strings"
)

// adminPage is GET /admin: the back office, with the live metrics the
// signed-in user may see. The page connects to the Hub with pulse.js; the
// browser sends the session cookie with the WebSocket handshake (same
// origin), so the Hub's Authorize sees the same user as this page.
func adminPage(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	visible := "every series"
	if ps := patternsFor(u); ps != nil {
		visible = strings.Join(ps, ", ")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = adminTemplate.Execute(w, struct {
		User    *user
		Visible string
	}{u, visible})
}

var adminTemplate = template.Must(template.New("admin").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Back office · Orders</title>
<link rel="icon" href="data:,">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}
header{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header form{margin-left:auto}
table{border-collapse:collapse;width:100%;margin-top:1rem}
td,th{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #8884}
td:nth-child(n+2),th:nth-child(n+2){text-align:right;font-variant-numeric:tabular-nums}
#status{font-size:.85em;padding:.1rem .5rem;border:1px solid #8888;border-radius:1rem}
</style>
</head>
<body>
<header>
<h1>Orders back office</h1>
<span id="status">connecting</span>
<form method="post" action="/logout"><button>Sign out {{.User.Name}}</button></form>
</header>
<p>Signed in as <b>{{.User.Name}}</b> ({{.User.Role}}); the metrics stream shows you <b>{{.Visible}}</b>.</p>
<p><button id="order">Place a test order</button> <span id="note" role="status"></span></p>
<table id="metrics">
<thead><tr><th>series</th><th>value</th><th>rate</th></tr></thead>
<tbody></tbody>
</table>
<script type="module">
import { connect } from "/pulse.js";

const tbody = document.querySelector("#metrics tbody");
const rows = new Map(); // series key -> <tr>
const fmt = (v) => (v === undefined ? "" : Number.isInteger(v) ? String(v) : v.toFixed(2));

const client = connect("/ws/metrics", {
  onStatus: (status) => { document.querySelector("#status").textContent = status; },
  onUpdate: (state) => {
    for (const [key, tr] of rows) {
      if (!state.series.has(key)) { tr.remove(); rows.delete(key); }
    }
    for (const key of [...state.series.keys()].sort()) {
      let tr = rows.get(key);
      if (!tr) {
        tr = document.createElement("tr");
        for (let i = 0; i < 3; i++) tr.appendChild(document.createElement("td"));
        tr.cells[0].textContent = key; // text, never markup
        rows.set(key, tr);
      }
      tbody.appendChild(tr); // in key order
      tr.cells[1].textContent = fmt(client.value(key));
      const rate = client.rate(key);
      tr.cells[2].textContent = rate === undefined ? "" : rate.toFixed(2) + "/s";
    }
  },
});

document.querySelector("#order").addEventListener("click", async () => {
  const note = document.querySelector("#note");
  const res = await fetch("/api/orders", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ item: "test order", quantity: 1 }),
  });
  note.textContent = res.ok ? "order " + (await res.json()).id + " placed" : "failed: " + res.status;
});
</script>
</body>
</html>
`))
