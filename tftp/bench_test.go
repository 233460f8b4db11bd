package tftp

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTransfer is one 8 MiB read over loopback with pin/tftp's client
// (blksize 1468), per server engine: the fixed timer on pin/tftp's own
// sender (unconnected socket, a deadline per packet) against the adaptive
// one (connected socket, send/read, a deadline re-armed once per RTO).
// Client and server share the process and the CPUs, so read the two rows
// of one run side by side, not as absolute costs.
//
//	go test -run '^$' -bench Transfer -count 5 ./tftp/
func BenchmarkTransfer(b *testing.B) {
	content := bytes.Repeat([]byte("node-switch boot storm "), 8<<20/23)
	for _, c := range []struct {
		name string
		o    Options
	}{{"fixed", Options{FixedTimeout: true}}, {"adaptive", Options{}}} {
		b.Run(c.name, func(b *testing.B) {
			addr, _, root := setupWith(b, c.o)
			if err := os.WriteFile(filepath.Join(root, "big"), content, 0o644); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(content)))
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for i := 0; i < b.N; i++ {
				got, err := get(b, addr, "127.0.0.2", "big", 1468)
				if err != nil || len(got) != len(content) {
					b.Fatalf("%v (%d bytes)", err, len(got))
				}
			}
			blocks := float64(b.N * (len(content)/1468 + 1))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/blocks, "ns/block")
			// CPU time moves less than wall time with the shared machine's
			// load; it includes the client's, the same in both rows.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/blocks, "cpu-ns/block")
		})
	}
}

// cpuTime is the process's user plus system time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
