// Package shm is one uint64 counter shared by two processes on one machine
// through a memory-mapped file: the load generator adds the messages it
// received, a peer server's saturation loop reads it to keep a fixed window
// of messages in flight per client (see bench/README.md, "Saturation").
package shm

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Counter is a counter in a shared file. A nil *Counter counts nothing and
// reads 0.
type Counter struct {
	mem []byte
	v   *atomic.Uint64
}

// Create makes (or truncates) a counter file at path.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(4096)
}

// Open maps the counter file at path. An empty path returns a nil Counter.
func Open(path string) (*Counter, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mem, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %s: %w", path, err)
	}
	// The mapping is page aligned, so the first 8 bytes are a valid,
	// aligned atomic.Uint64.
	return &Counter{mem: mem, v: (*atomic.Uint64)(unsafe.Pointer(&mem[0]))}, nil
}

// Add adds d.
func (c *Counter) Add(d uint64) {
	if c != nil {
		c.v.Add(d)
	}
}

// Load reads the counter.
func (c *Counter) Load() uint64 {
	if c == nil {
		return 0
	}
	return c.v.Load()
}

// Close unmaps the counter.
func (c *Counter) Close() error {
	if c == nil {
		return nil
	}
	return syscall.Munmap(c.mem)
}
