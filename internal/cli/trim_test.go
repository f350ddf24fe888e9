package cli

import (
	"context"
	"os"
	"os/user"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"
)

// burst is where the test's garbage goes, so that the compiler keeps it.
var burst [][]byte

// TestTrimWhenIdle checks that garbage left by a burst is handed back to
// the system once the daemon goes quiet, and that the trimmer stops with
// its context.
func TestTrimWhenIdle(t *testing.T) {
	forced := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	before := forced()
	go func() { trimWhenIdle(ctx, 20*time.Millisecond, 1<<30, 1<<20); close(done) }()
	for range 64 {
		burst = append(burst, make([]byte, 64<<10)) // a 4 MiB burst
	}
	burst = nil
	for deadline := time.Now().Add(10 * time.Second); forced() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no forced collection after the burst")
		}
	}
	cancel()
	<-done

	// Busy (every interval allocates more than quiet): no trim.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go trimWhenIdle(ctx, 5*time.Millisecond, 0, 1)
	before = forced()
	for range 40 {
		burst = append(burst, make([]byte, 64<<10))
		time.Sleep(5 * time.Millisecond)
	}
	if forced() != before {
		t.Error("trimmed while busy")
	}
}

// TestReleaseCodePages checks that the executable's start-up pages are
// unmapped, and that the process runs on: cgo calls through the GOT, whose
// RELRO page must be left alone, and code that has to be mapped back.
func TestReleaseCodePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	exeRSS := func() int64 {
		exe, err := os.Readlink("/proc/self/exe")
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		ours := false
		for _, line := range strings.Split(string(b), "\n") {
			if isMappingLine([]byte(line)) {
				ours = strings.HasSuffix(line, " "+exe)
			} else if kb, ok := smapsKB([]byte(line), "Rss:"); ok && ours {
				total += kb << 10
			}
		}
		return total
	}
	before := exeRSS()
	released := releaseCodePages()
	after := exeRSS()
	if released <= 0 || after >= before {
		t.Fatalf("released %d bytes; the executable's RSS went from %d to %d", released, before, after)
	}
	// Code that ran at start-up runs again, and a cgo call still works.
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Current(); err != nil {
		t.Fatal(err)
	}
	if releaseCodePages() <= 0 {
		t.Error("nothing to release the second time")
	}
}

// TestWithinReadOnlySegments uses the layout of a real cardbridge build:
// the RELRO page is mapped from the same file page as the end of the
// read-only data, so only its address shows it is not read-only.
func TestWithinReadOnlySegments(t *testing.T) {
	segs := []segment{{0x400000, 0x402000}, {0x402000, 0x90a000}, {0x90a000, 0xe7a000}}
	for _, c := range []struct {
		lo, hi, bias uint64
		want         bool
	}{
		{0x402000, 0x90a000, 0, true},                          // text
		{0x90a000, 0xe7a000, 0, true},                          // rodata and the pc tables
		{0xe7a000, 0xe7b000, 0, false},                         // RELRO, in the writable segment
		{0xe7b000, 0xee6000, 0, false},                         // data
		{0x7f0000402000, 0x7f000090a000, 0x7f0000000000, true}, // a PIE's text
		{0x402000, 0x90a000, 0x7f0000000000, false},
	} {
		if got := within(segs, c.bias, c.lo, c.hi); got != c.want {
			t.Errorf("within(%#x-%#x, bias %#x) = %v", c.lo, c.hi, c.bias, got)
		}
	}
}
