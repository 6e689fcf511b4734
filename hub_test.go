package pulse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConnectGetsHelloAndSnapshotAtOnce(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	src.set(gauge("a", 1), Metric{Name: "b_total", Kind: KindCounter, Value: 10, Labels: Labels{"path": "/"}, Unit: "requests"})
	require.NoError(t, th.Register(src, nil))
	seq := th.Tick(time.Second)

	c := th.dial("")
	hello := c.expect("hello")
	require.Equal(t, ProtocolVersion, hello.Version)
	require.EqualValues(t, 1000, hello.IntervalMS)
	require.Len(t, hello.Series, 2)
	snap := c.expect("snapshot")
	require.Equal(t, seq, snap.Seq)
	require.Equal(t, "connect", snap.Reason)
	require.Equal(t, 1.0, c.v.values["a"])
	require.Equal(t, 10.0, c.v.values[`b_total{path="/"}`])
	require.Equal(t, "counter", c.v.cat[`b_total{path="/"}`].Kind)
	require.Equal(t, "requests", c.v.cat[`b_total{path="/"}`].Unit)
}
