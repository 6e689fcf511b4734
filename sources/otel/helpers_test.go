package otelsource_test

import (
	"os"
	"testing"
	"time"

	"github.com/go-pulse/pulse/internal/hubtest"
	"github.com/go-pulse/pulse/internal/leakcheck"
)

// TestMain fails the run when any goroutine outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

// The shared helpers, under the names these tests use.
type snapshot = hubtest.Snapshot

var (
	byKey       = hubtest.ByKey
	num         = hubtest.Num
	serve       = hubtest.Serve
	getSnapshot = hubtest.GetSnapshot
	waitFor     = hubtest.WaitFor
)
