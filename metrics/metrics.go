// Package metrics is node-switch's Prometheus instrumentation: every metric's
// name, help and labels live here, and nothing else in the module imports
// client_golang. The servers (dhcp, tftp, httpboot, sshfront) call the small
// typed functions below; serve's --metrics-listen exposes them with Handler.
//
// The counters are process-wide, as Prometheus counters are: they start at
// zero when the process does and are incremented whether or not anything
// scrapes them, which costs an atomic add. The DHCP hot path goes further and
// touches no client_golang value at all: a packet is one atomic add into a
// fixed array indexed by (message type, decision), turned into samples only
// at scrape time.
//
// No label carries a MAC, node name, address or file name: a label value is
// a time series, and per-node series would grow without bound.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "node_switch"

// process holds the process-wide collectors; Handler adds the inventory's,
// which is per store.
var (
	process     = prometheus.NewRegistry()
	processOnce sync.Once
)

func registerProcess() {
	processOnce.Do(func() {
		process.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			collectors.NewBuildInfoCollector(),
			dhcpPackets,
			tftpTransfers, tftpBytes,
			httpTransfers, httpBytes,
			reloadSeconds, reloadErrors, snapshotOnly,
			commands,
		)
	})
}

// Result is how a TFTP read or an HTTP request ended.
type Result uint8

const (
	// Sent: the whole file went out.
	Sent Result = iota
	// Aborted: the client stopped the transfer (OVMF's size probe, a
	// closed connection).
	Aborted
	// Failed: the transfer broke on the network (timeouts, retries spent).
	Failed
	// NotFound: no such file, or a name that bootfs refuses.
	NotFound
	// Masked: the node is masked; it gets nothing.
	Masked
	// Refused: a write (TFTP WRQ, HTTP PUT/POST ...) or a forbidden file.
	Refused
	// Error: the server could not serve the file (inventory or disk fault).
	Error
	numResults
)

var resultNames = [numResults]string{"sent", "aborted", "failed", "not_found", "masked", "refused", "error"}

func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "error"
}

var (
	tftpTransfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "tftp", Name: "transfers_total",
		Help: "TFTP requests by how they ended (result: sent, aborted, failed, not_found, masked, refused, error).",
	}, []string{"result"})
	tftpBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "tftp", Name: "sent_bytes_total",
		Help: "File bytes sent over TFTP, including those of transfers that did not finish.",
	})
	httpTransfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "transfers_total",
		Help: "HTTP boot requests by how they ended (result: sent, aborted, not_found, masked, refused, error).",
	}, []string{"result"})
	httpBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "sent_bytes_total",
		Help: "Response body bytes sent by the HTTP boot server.",
	})
	// Resolved once: a transfer costs an array index, no label lookup.
	tftpByResult = resolve(tftpTransfers, Sent, Aborted, Failed, NotFound, Masked, Refused, Error)
	// HTTP has no retransmits to run out of: a broken transfer is Aborted.
	httpByResult = resolve(httpTransfers, Sent, Aborted, NotFound, Masked, Refused, Error)
)

// resolve creates the series of the results a server reports (at 0, so
// rate() finds them from the start) and returns their handles; any other
// result is counted as an error.
func resolve(v *prometheus.CounterVec, results ...Result) (out [numResults]prometheus.Counter) {
	for _, r := range results {
		out[r] = v.WithLabelValues(r.String())
	}
	for r := range out {
		if out[r] == nil {
			out[r] = out[Error]
		}
	}
	return out
}

// TFTPTransfer counts one TFTP request and the file bytes it sent.
func TFTPTransfer(r Result, bytes int64) {
	tftpByResult[min(r, Error)].Inc()
	if bytes > 0 {
		tftpBytes.Add(float64(bytes))
	}
}

// HTTPTransfer counts one HTTP boot request and the body bytes it sent.
func HTTPTransfer(r Result, bytes int64) {
	httpByResult[min(r, Error)].Inc()
	if bytes > 0 {
		httpBytes.Add(float64(bytes))
	}
}

var (
	reloadSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "inventory", Name: "reload_duration_seconds",
		Help: "Time to reread the inventory into the DHCP server's copy after a change; _count is the number of reloads.",
		// From a handful of nodes (milliseconds) to tens of thousands
		// (the benchmark's 10,000 take ~0.1 s).
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	})
	reloadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "inventory", Name: "reload_errors_total",
		Help: "Rereads of the inventory that failed (the request that needed it got no answer).",
	})
)

// snapshotOnly says the DHCP server cannot read the inventory (a
// PostgreSQL server down or failing over) and answers from its last copy.
var snapshotOnly = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: namespace, Subsystem: "inventory", Name: "snapshot_only",
	Help: "1 while the DHCP server cannot read the inventory and answers from its last copy; changes then wait for it.",
})

// InventoryUnreachable records whether the DHCP server answers from its
// last copy because the inventory cannot be read.
func InventoryUnreachable(unreachable bool) {
	if unreachable {
		snapshotOnly.Set(1)
	} else {
		snapshotOnly.Set(0)
	}
}

// InventoryReload records one reread of the DHCP server's inventory copy.
func InventoryReload(d time.Duration, err error) {
	if err != nil {
		reloadErrors.Inc()
		return
	}
	reloadSeconds.Observe(d.Seconds())
}

var commands = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: namespace, Name: "commands_total",
	Help: "Commands run through a front door, by channel (ssh, web), the caller's role and result (ok, failed, bad_usage, refused).",
}, []string{"channel", "role", "result"})

// Command counts one command from a front door (channel "ssh", later
// "web") by the caller's role and the CLI exit status it ended with: 0 ok,
// 1 failed, 2 bad usage, 3 refused by the policy.
func Command(channel, role string, status int) {
	result := "failed"
	switch status {
	case 0:
		result = "ok"
	case 2:
		result = "bad_usage"
	case 3:
		result = "refused"
	}
	commands.WithLabelValues(channel, role, result).Inc()
}
