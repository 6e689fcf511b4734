package main

import (
	"os"
	"strconv"
)

const rrPath = "/proc/sys/kernel/sched_rr_timeslice_ms"

// rrTimeslice sets the SCHED_RR time slice to ms and returns the function
// that puts the old value back. Under SCHED_RR a Go process's threads share
// their core in turns of this length: the default 100 ms would leave the
// runtime's sysmon thread (preemption, network polling) waiting behind the
// busy scheduler thread for up to 100 ms. Only SCHED_RR threads are
// affected.
func rrTimeslice(ms int) (func(), error) {
	old, err := os.ReadFile(rrPath)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(rrPath, []byte(strconv.Itoa(ms)), 0o644); err != nil {
		return nil, err
	}
	done := false
	restore := func() {
		if !done {
			done = true
			_ = os.WriteFile(rrPath, old, 0o644)
		}
	}
	atExit = append(atExit, restore)
	return restore, nil
}
