package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGuestLoadTraceUnloadCLI runs kgen load, trace (stopped by a real
// SIGINT) and unload in a kgen guest with loader's test module.
func TestGuestLoadTraceUnloadCLI(t *testing.T) {
	if os.Getenv("KGEN_IN_VM") != "1" || os.Geteuid() != 0 {
		t.Skip("not root in a kgen guest (KGEN_IN_VM=1): this test loads a module; loader's TestVMKernels boots it")
	}
	ko := os.Getenv("KGEN_TESTMOD")
	if ko == "" {
		ko = "/root/kgen_testmod.ko"
	}
	var out, errb syncBuffer
	load := newLoadCmd(&out, &errb)
	load.SetArgs([]string{ko, "base=7"})
	if err := load.Execute(); err != nil {
		t.Fatalf("kgen load: %v\n%s", err, errb.String())
	}
	t.Logf("kgen load:\n%s%s", out.String(), errb.String())

	var tout, terr syncBuffer
	trace := newTraceCmd(&tout, &terr)
	trace.SetArgs([]string{"kgen_testmod", "--json"})
	done := make(chan error, 1)
	go func() { done <- trace.ExecuteContext(context.Background()) }()
	time.Sleep(500 * time.Millisecond)
	if err := os.WriteFile("/sys/module/kgen_testmod/parameters/fire", []byte("3"), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(tout.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("kgen trace: %v", err)
		}
		t.Logf("kgen trace returned %v after SIGINT", time.Since(start))
	case <-time.After(3 * time.Second):
		t.Fatal("kgen trace did not stop within 3s of SIGINT")
	}
	t.Logf("kgen trace --json:\n%s%s", tout.String(), terr.String())
	lines := strings.Split(strings.TrimSpace(tout.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], `"event":"tick","fields":{"comm":"kgen.test"`) ||
		!strings.Contains(lines[2], `"seq":3,"val":10}`) || !strings.Contains(lines[2], `"kgen_testmod_emit+0x0/`) {
		t.Errorf("trace output: %q", lines)
	}
	if !strings.Contains(terr.String(), "kgen trace: 3 events seen, 0 events lost") {
		t.Errorf("trace summary: %q", terr.String())
	}
	if b, _ := os.ReadFile("/sys/module/kgen_testmod/refcnt"); len(b) == 0 {
		t.Error("module gone after kgen trace was interrupted")
	}

	out, errb = syncBuffer{}, syncBuffer{}
	unload := newUnloadCmd(&out, &errb)
	unload.SetArgs([]string{"kgen_testmod"})
	if err := unload.Execute(); err != nil {
		t.Fatalf("kgen unload: %v\n%s", err, errb.String())
	}
	t.Logf("kgen unload:\n%s%s", out.String(), errb.String())
	if !strings.Contains(out.String(), "fire      3         0        0        3") {
		t.Errorf("unload counters: %q", out.String())
	}
	if _, err := os.Stat("/sys/module/kgen_testmod"); err == nil {
		t.Error("module still loaded")
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte(" - debugfs ")) || bytes.Contains(b, []byte(" - tracefs ")) {
		t.Errorf("kgen mounts left:\n%s", b)
	}
}
