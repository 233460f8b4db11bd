package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/node-switch/node-switch/nodes"
)

// sample is the value of the series name{labels} in g's exposition, and
// whether it is there.
func sample(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func TestDHCPPacket(t *testing.T) {
	registerProcess()
	for _, tc := range []struct {
		msgType  uint8
		decision Decision
		typ      string
		label    string
	}{
		{1, DHCPAnswered, "discover", "answered"},
		{3, DHCPNak, "request", "nak"},
		{3, DHCPOtherServer, "request", "other_server"},
		{4, DHCPNoReplyNeeded, "decline", "no_reply_needed"},
		{7, DHCPNoReplyNeeded, "release", "no_reply_needed"},
		{8, DHCPAnswered, "inform", "answered"},
		{2, DHCPMalformed, "other", "malformed"}, // an OFFER sent to a server
		{0, DHCPRateLimited, "none", "rate_limited"},
		{1, Decision(200), "discover", "failed"},
	} {
		labels := map[string]string{"type": tc.typ, "decision": tc.label}
		before, _ := sample(t, process, "node_switch_dhcp_packets_total", labels)
		DHCPPacket(tc.msgType, tc.decision)
		DHCPPacket(tc.msgType, tc.decision)
		after, ok := sample(t, process, "node_switch_dhcp_packets_total", labels)
		if !ok || after-before != 2 {
			t.Errorf("type %d decision %v: %v went from %v to %v (present %v), want +2", tc.msgType, tc.decision, labels, before, after, ok)
		}
	}
}

// TestDHCPSeriesAtStart: the series a dashboard needs exist before the
// first packet; combinations that never happened are not exported.
func TestDHCPSeriesAtStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&packetTable{desc: dhcpPackets.desc})
	for _, tc := range []struct {
		typ, decision string
		present       bool
	}{
		{"discover", "answered", true},
		{"request", "answered", true},
		{"discover", "unknown_mac", true},
		{"none", "rate_limited", true},
		{"none", "nak", false},
		{"release", "answered", false},
	} {
		v, ok := sample(t, reg, "node_switch_dhcp_packets_total", map[string]string{"type": tc.typ, "decision": tc.decision})
		if ok != tc.present || v != 0 {
			t.Errorf("%s/%s: present %v value %v, want present %v at 0", tc.typ, tc.decision, ok, v, tc.present)
		}
	}
}

func TestTransfers(t *testing.T) {
	registerProcess()
	for _, tc := range []struct {
		name   string
		count  func(Result, int64)
		metric string
		result Result
		label  string
		bytes  int64
	}{
		{"tftp sent", TFTPTransfer, "node_switch_tftp", Sent, "sent", 1234},
		{"tftp failed", TFTPTransfer, "node_switch_tftp", Failed, "failed", 512},
		{"tftp masked", TFTPTransfer, "node_switch_tftp", Masked, "masked", 0},
		{"http sent", HTTPTransfer, "node_switch_http", Sent, "sent", 4096},
		{"http aborted", HTTPTransfer, "node_switch_http", Aborted, "aborted", 100},
		// HTTP has no "failed": reported as an error, not lost.
		{"http failed", HTTPTransfer, "node_switch_http", Failed, "error", 0},
	} {
		labels := map[string]string{"result": tc.label}
		before, _ := sample(t, process, tc.metric+"_transfers_total", labels)
		bytesBefore, _ := sample(t, process, tc.metric+"_sent_bytes_total", nil)
		tc.count(tc.result, tc.bytes)
		after, _ := sample(t, process, tc.metric+"_transfers_total", labels)
		bytesAfter, _ := sample(t, process, tc.metric+"_sent_bytes_total", nil)
		if after-before != 1 || bytesAfter-bytesBefore != float64(tc.bytes) {
			t.Errorf("%s: transfers +%v bytes +%v, want +1 and +%d", tc.name, after-before, bytesAfter-bytesBefore, tc.bytes)
		}
	}
	if _, ok := sample(t, process, "node_switch_http_transfers_total", map[string]string{"result": "failed"}); ok {
		t.Error("HTTP exports a failed result it never reports")
	}
}

func TestCommand(t *testing.T) {
	registerProcess()
	for _, tc := range []struct {
		status int
		result string
	}{{0, "ok"}, {1, "failed"}, {2, "bad_usage"}, {3, "refused"}, {130, "failed"}} {
		labels := map[string]string{"channel": "ssh", "role": "operate", "result": tc.result}
		before, _ := sample(t, process, "node_switch_commands_total", labels)
		Command("ssh", "operate", tc.status)
		if after, _ := sample(t, process, "node_switch_commands_total", labels); after-before != 1 {
			t.Errorf("exit %d: %v went +%v, want +1", tc.status, labels, after-before)
		}
	}
}

func TestInventoryReload(t *testing.T) {
	registerProcess()
	n0, _ := sample(t, process, "node_switch_inventory_reload_duration_seconds", nil)
	e0, _ := sample(t, process, "node_switch_inventory_reload_errors_total", nil)
	InventoryReload(30*time.Millisecond, nil)
	InventoryReload(time.Second, errors.New("database is locked"))
	n1, _ := sample(t, process, "node_switch_inventory_reload_duration_seconds", nil)
	e1, _ := sample(t, process, "node_switch_inventory_reload_errors_total", nil)
	if n1-n0 != 1 || e1-e0 != 1 {
		t.Errorf("reloads +%v errors +%v, want +1 each", n1-n0, e1-e0)
	}
}

type fakeInventory struct {
	clusters []nodes.Cluster
	nodes    []nodes.Node
	err      error
}

func (f fakeInventory) Clusters(context.Context) ([]nodes.Cluster, error) { return f.clusters, f.err }
func (f fakeInventory) Nodes(context.Context, string) ([]nodes.Node, error) {
	return f.nodes, f.err
}

func TestInventoryCollector(t *testing.T) {
	inv := fakeInventory{
		clusters: []nodes.Cluster{{Name: "linux"}, {Name: "windows"}, {Name: "empty"}},
		nodes: []nodes.Node{
			{Name: "a1", Cluster: "linux"}, {Name: "a2", Cluster: "linux", Masked: true}, {Name: "a3", Cluster: "linux"},
			{Name: "w1", Cluster: "windows", Masked: true},
		},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newInventoryCollector(inv))
	for _, tc := range []struct {
		metric, cluster string
		want            float64
	}{
		{"node_switch_nodes", "linux", 3},
		{"node_switch_nodes_masked", "linux", 1},
		{"node_switch_nodes", "windows", 1},
		{"node_switch_nodes_masked", "windows", 1},
		{"node_switch_nodes", "empty", 0},
		{"node_switch_nodes_masked", "empty", 0},
	} {
		if got, ok := sample(t, reg, tc.metric, map[string]string{"cluster": tc.cluster}); !ok || got != tc.want {
			t.Errorf("%s{cluster=%q} = %v (present %v), want %v", tc.metric, tc.cluster, got, ok, tc.want)
		}
	}
	if up, _ := sample(t, reg, "node_switch_inventory_up", nil); up != 1 {
		t.Errorf("inventory_up %v, want 1", up)
	}
}

// TestHandlerInventoryDown: an inventory that cannot be read still gives a
// scrape with every other metric, and says so.
func TestHandlerInventoryDown(t *testing.T) {
	h := Handler(fakeInventory{err: errors.New("unable to open database file")}, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	body := string(b)
	for _, want := range []string{"node_switch_inventory_up 0", "node_switch_dhcp_packets_total{", "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape (status %d) lacks %q", rec.Code, want)
		}
	}
	if strings.Contains(body, "node_switch_nodes{") {
		t.Error("node counts exported from an inventory that could not be read")
	}
}

// BenchmarkDHCPPacket is the counters' whole per-packet cost.
func BenchmarkDHCPPacket(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			DHCPPacket(3, DHCPAnswered)
		}
	})
}
