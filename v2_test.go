package pulse

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// v2Msg is any server message of protocol v2.
type v2Msg struct {
	Type       string             `json:"type"`
	Seq        uint64             `json:"seq"`
	From       *uint64            `json:"from"`
	Version    int                `json:"version"`
	Epoch      string             `json:"epoch"`
	Resume     *uint64            `json:"resume"`
	IntervalMS int64              `json:"interval_ms"`
	Reason     string             `json:"reason"`
	Series     []v2Entry          `json:"series"`
	Values     map[string]any     `json:"values"`
	Rates      map[string]any     `json:"rates"`
	Stale      []uint32           `json:"stale"`
	Removed    []uint32           `json:"removed"`
	Times      histTimes          `json:"times"`
	History    map[string]([]any) `json:"-"`
	Code       string             `json:"code"`
	raw        []byte
}

type v2Entry struct {
	ID   uint32 `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// v2View is the state a v2 client keeps, by id.
type v2View struct {
	epoch  string
	seq    uint64
	synced bool
	cat    map[uint32]v2Entry
	values map[uint32]float64
	rates  map[uint32]float64
	stale  map[uint32]bool
}

func newV2View() *v2View {
	return &v2View{cat: map[uint32]v2Entry{}, values: map[uint32]float64{}, rates: map[uint32]float64{}, stale: map[uint32]bool{}}
}

func id(s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		panic(fmt.Sprintf("not an id: %q", s))
	}
	return uint32(n)
}

// apply applies m, returning an error for a protocol violation.
func (v *v2View) apply(m *v2Msg) error {
	switch m.Type {
	case "hello":
		if m.Version != 2 || m.Epoch == "" {
			return fmt.Errorf("hello version %d epoch %q", m.Version, m.Epoch)
		}
		v.epoch = m.Epoch
		if m.Resume != nil {
			if len(m.Series) > 0 || *m.Resume != v.seq {
				return fmt.Errorf("resume hello at %d with %d series, view at %d", *m.Resume, len(m.Series), v.seq)
			}
			return nil
		}
		v.cat = map[uint32]v2Entry{}
		for _, e := range m.Series {
			v.cat[e.ID] = e
		}
	case "snapshot":
		if m.Series != nil || m.Reason != reasonConnect {
			v.cat = map[uint32]v2Entry{}
		}
		v.values, v.rates, v.stale = map[uint32]float64{}, map[uint32]float64{}, map[uint32]bool{}
		return v.state(m)
	case "delta":
		switch {
		case !v.synced:
			return fmt.Errorf("delta before any snapshot")
		case m.From != nil && (*m.From > v.seq || m.Seq <= v.seq):
			return fmt.Errorf("merged delta (%d, %d] after %d", *m.From, m.Seq, v.seq)
		case m.From == nil && m.Seq != v.seq+1:
			return fmt.Errorf("delta %d after %d", m.Seq, v.seq)
		}
		return v.state(m)
	}
	return nil
}

func (v *v2View) state(m *v2Msg) error {
	v.seq, v.synced = m.Seq, true
	for _, i := range m.Removed {
		delete(v.cat, i)
		delete(v.values, i)
		delete(v.rates, i)
		delete(v.stale, i)
	}
	for _, e := range m.Series {
		v.cat[e.ID] = e
	}
	for k, x := range m.Values {
		if _, ok := v.cat[id(k)]; !ok {
			return fmt.Errorf("value for id %s, absent from the catalogue", k)
		}
		v.values[id(k)] = num(x)
		delete(v.stale, id(k))
	}
	for k, x := range m.Rates {
		v.rates[id(k)] = num(x)
	}
	for _, i := range m.Stale {
		v.stale[i] = true
	}
	return nil
}

// byKey returns the values by series key, to compare with a v1 view.
func (v *v2View) byKey() map[string]float64 {
	out := map[string]float64{}
	for i, x := range v.values {
		out[v.cat[i].Key] = x
	}
	return out
}

type v2Conn struct {
	t testing.TB
	c *websocket.Conn
	v *v2View
}

func (th *testHub) dialV2(query string, opts *websocket.DialOptions) *v2Conn {
	th.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := "v=2"
	if query != "" {
		q += "&" + query
	}
	c, _, err := websocket.Dial(ctx, th.wsURL(q), opts)
	require.NoError(th.t, err)
	c.SetReadLimit(-1)
	th.t.Cleanup(func() { _ = c.CloseNow() })
	return &v2Conn{t: th.t, c: c, v: newV2View()}
}

func (tc *v2Conn) next() *v2Msg {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, data, err := tc.c.Read(ctx)
	require.NoError(tc.t, err)
	m := &v2Msg{raw: data}
	require.NoError(tc.t, json.Unmarshal(data, m), "%s", data)
	require.NoError(tc.t, tc.v.apply(m), "message %.300s", data)
	return m
}

func (tc *v2Conn) expect(typ string) *v2Msg {
	tc.t.Helper()
	m := tc.next()
	for m.Type == "history" && typ != "history" {
		m = tc.next()
	}
	require.Equal(tc.t, typ, m.Type, "message %.300s", m.raw)
	return m
}

func (tc *v2Conn) untilSeq(seq uint64) {
	tc.t.Helper()
	for !tc.v.synced || tc.v.seq < seq {
		tc.next()
	}
}

// The catalogue is sent once per connection, with an id per series;
// snapshots, deltas and history carry values by id; a subscribe's snapshot
// brings the catalogue of what the client now sees.
func TestV2CatalogueOnceValuesByID(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("a_g", 1), Metric{Name: "b_total", Kind: KindCounter, Value: 5}))
	th.Tick(time.Second)
	require.NoError(t, th.Publish(gauge("a_g", 2), Metric{Name: "b_total", Kind: KindCounter, Value: 7}))
	th.Tick(time.Second)

	c := th.dialV2("", nil)
	hello := c.expect("hello")
	require.Len(t, hello.Series, 2)
	require.NotZero(t, hello.Series[0].ID)
	snap := c.next()
	require.Equal(t, "snapshot", snap.Type)
	require.Nil(t, snap.Series, "connect: the catalogue is in hello only")
	require.NotContains(t, string(snap.raw), "a_g", "values by id, not by key")
	hist := c.next()
	require.Equal(t, "history", hist.Type)
	require.NotContains(t, string(hist.raw), "a_g")
	require.Equal(t, map[string]float64{"a_g": 2, "b_total": 7}, c.v.byKey())

	require.NoError(t, th.Publish(gauge("a_g", 3), gauge("c_new", 9)))
	seq := th.Tick(time.Second)
	d := c.expect("delta")
	require.Equal(t, seq, d.Seq)
	require.Len(t, d.Series, 1, "only the new series' entry")
	require.Equal(t, "c_new", d.Series[0].Key)
	require.Equal(t, map[string]float64{"a_g": 3, "b_total": 7, "c_new": 9}, c.v.byKey())

	require.NoError(t, c.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"unsubscribe","patterns":["*"]}`)))
	require.NoError(t, c.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"subscribe","patterns":["a_*"]}`)))
	for {
		m := c.expect("snapshot")
		if strings.Contains(string(m.raw), `"series":[{`) {
			break
		}
	}
	require.Equal(t, map[string]float64{"a_g": 3}, c.v.byKey())

	resp, err := http.Get(th.srv.URL + "?v=3")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "an unknown version is refused")
}

// A reconnecting v2 client that presents the Hub's epoch and its last seq
// gets a short hello and one merged delta: no catalogue, snapshot or
// history, and ends with the state of a fresh client. Another epoch, or a
// seq the Hub no longer covers, gets a normal connect.
func TestV2ResumeAfterACut(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("g", 0), gauge("gone", 1)))
	th.Tick(time.Second)
	c := th.dialV2("", nil)
	c.expect("hello")
	c.expect("snapshot")
	epoch, seq := c.v.epoch, c.v.seq
	require.NoError(t, c.c.CloseNow())

	for i := 1; i <= 5; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i))))
		if i == 2 {
			th.Unpublish(gauge("gone", 0))
			require.NoError(t, th.Publish(gauge("added", 42)))
		}
		th.Tick(time.Second)
	}
	fresh := th.dialV2("", nil)
	fresh.expect("hello")
	fresh.expect("snapshot")
	freshBytes := th.Stats().WireBytes

	r := th.dialV2(fmt.Sprintf("epoch=%s&seq=%d", epoch, seq), nil)
	r.v = c.v // the state the client kept
	hello := r.next()
	require.Equal(t, "hello", hello.Type)
	require.NotNil(t, hello.Resume)
	require.Empty(t, hello.Series)
	d := r.next()
	require.Equal(t, "delta", d.Type)
	require.NotNil(t, d.From)
	require.Equal(t, fresh.v.byKey(), r.v.byKey())
	require.EqualValues(t, 1, th.Stats().Resumes)
	resumed := th.Stats().WireBytes - freshBytes
	t.Logf("resume after 5 ticks: %d bytes (hello and merged delta)", resumed)

	other := th.dialV2("epoch=0123456789abcdef&seq=1", nil)
	require.Nil(t, other.expect("hello").Resume, "another Hub's epoch: a normal connect")
	other.expect("snapshot")
}

// rawFrame is one server frame as it arrived.
type rawFrame struct {
	b0      byte
	payload []byte
}

// rawDialDeflate opens a WebSocket by hand offering permessage-deflate as
// browsers do, and returns the handshake's Sec-WebSocket-Extensions.
func (th *testHub) rawDialDeflate(query string) (*rawWS, string) {
	th.t.Helper()
	addr := strings.TrimPrefix(th.srv.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	require.NoError(th.t, err)
	th.t.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_, err = fmt.Fprintf(conn, "GET /?%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
		query, addr, base64.StdEncoding.EncodeToString(key))
	require.NoError(th.t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(th.t, err)
	require.Equal(th.t, http.StatusSwitchingProtocols, resp.StatusCode)
	return &rawWS{t: th.t, conn: conn, br: br}, resp.Header.Get("Sec-WebSocket-Extensions")
}

// frame reads one server frame.
func (r *rawWS) frame() rawFrame {
	r.t.Helper()
	require.NoError(r.t, r.conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	var h [2]byte
	_, err := io.ReadFull(r.br, h[:])
	require.NoError(r.t, err)
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, err = io.ReadFull(r.br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, err = io.ReadFull(r.br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	require.NoError(r.t, err)
	p := make([]byte, n)
	_, err = io.ReadFull(r.br, p)
	require.NoError(r.t, err)
	return rawFrame{b0: h[0], payload: p}
}

// awaitPong reads server frames until a pong, and checks that it echoes
// payload.
func (r *rawWS) awaitPong(payload []byte) {
	r.t.Helper()
	for {
		if f := r.frame(); f.b0 == 0x80|opPong {
			require.Equal(r.t, payload, f.payload, "the pong echoes the ping's payload")
			return
		}
	}
}

// text returns the message of a data frame, inflated if RSV1 is set.
func (f rawFrame) text(t testing.TB) []byte {
	if f.b0&0x40 == 0 {
		return f.payload
	}
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(f.payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	require.NoError(t, err)
	return out
}

// Clients that offer permessage-deflate get the group's frame compressed
// once, the same bytes for each of them; a client that offered nothing
// gets the plain frame; DisableCompression negotiates nothing.
func TestDeflateIsComputedOncePerGroup(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	ms := make([]Metric, 200)
	for i := range ms {
		ms[i] = Metric{Name: "wide", Labels: Labels{"i": strconv.Itoa(i)}, Value: 1}
	}
	require.NoError(t, th.Publish(ms...))
	th.Tick(time.Second)
	const n = 5
	var zs [n]*rawWS
	for i := range zs {
		var ext string
		zs[i], ext = th.rawDialDeflate("v=2")
		require.Contains(t, ext, "permessage-deflate")
		require.Contains(t, ext, "server_no_context_takeover")
		for range 3 { // hello, snapshot, history
			zs[i].frame()
		}
	}
	plain := th.dialV2("", nil)
	plain.expect("hello")
	plain.expect("snapshot")
	inflating := th.dialV2("", &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
	inflating.expect("hello")
	inflating.expect("snapshot")

	before := th.Stats().Compressions
	for i := range ms {
		ms[i].Value = float64(i + 2)
	}
	require.NoError(t, th.Publish(ms...))
	seq := th.Tick(time.Second)
	var first rawFrame
	for i, z := range zs {
		f := z.frame()
		require.NotZero(t, f.b0&0x40, "RSV1: compressed")
		if i == 0 {
			first = f
			var m v2Msg
			require.NoError(t, json.Unmarshal(f.text(t), &m))
			require.Equal(t, seq, m.Seq)
			require.Len(t, m.Values, len(ms))
			t.Logf("delta of %d series: %d bytes plain, %d compressed", len(ms), len(f.text(t)), len(f.payload))
			continue
		}
		require.Equal(t, first, f, "the same compressed bytes for every client of the group")
	}
	require.EqualValues(t, 1, th.Stats().Compressions-before, "one compression per group message, not per client")

	plain.untilSeq(seq) // negotiated nothing: plain frames
	require.Equal(t, float64(2), plain.v.byKey()[`wide{i="0"}`])
	inflating.untilSeq(seq) // coder/websocket inflates the shared frames
	require.Equal(t, plain.v.byKey(), inflating.v.byKey())

	off := newTestHub(t, Options{DisableCompression: true})
	_, ext := off.rawDialDeflate("v=2")
	require.Empty(t, ext)
}
