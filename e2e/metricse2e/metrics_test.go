// Package metricse2e scrapes node-switch's /metrics with a real Prometheus
// while real DHCP clients (busybox udhcpc) boot against it, all in network
// namespaces the test creates and removes.
//
//	go test ./e2e/metricse2e/   (as root; skips without root or the programs)
package metricse2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

const (
	serverIP    = "10.77.0.1"
	metricsAddr = serverIP + ":9469"
	promAddr    = serverIP + ":9090"
)

var actor = nodes.Actor{Name: "e2e", Channel: nodes.ChannelCLI}

// TestPrometheusScrapesDHCP: the DHCP decisions Prometheus stores are
// exactly those the server logged for the clients' packets, node counts
// are the inventory's, and promtool accepts the exposition.
func TestPrometheusScrapesDHCP(t *testing.T) {
	lab := netlab.New(t)
	netlab.Require(t, "busybox", "curl", "prometheus", "promtool=prometheus")

	st := nodestest.Open(t)
	ctx := context.Background()
	if err := st.AddProfile(ctx, actor, nodes.Profile{Name: "linux", Kind: nodes.KindLinux,
		BootFiles: map[string]string{nodes.BootBIOS: "linux/pxelinux.0"}}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []string{"linux", "spare"} {
		if err := st.AddCluster(ctx, actor, nodes.Cluster{Name: cl, Profile: "linux"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []nodes.Node{
		{Name: "n1", MAC: "02:77:00:00:00:01", IP: netip.MustParseAddr("10.77.0.11"), Cluster: "linux"},
		{Name: "n2", MAC: "02:77:00:00:00:02", IP: netip.MustParseAddr("10.77.0.12"), Cluster: "linux"},
		{Name: "n3", MAC: "02:77:00:00:00:03", IP: netip.MustParseAddr("10.77.0.13"), Cluster: "linux"},
	} {
		if _, err := st.AddNode(ctx, actor, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetMask(ctx, actor, nodes.MaskRequest{Range: "n3", Mask: true, Reason: "disk replaced"}); err != nil {
		t.Fatal(err)
	}

	srv := lab.Namespace("srv")
	srv.Bridge("br0", serverIP+"/24")
	ns := netlab.Binary(t)
	serve := srv.Start(nil, ns, "--db", st.Path(), "serve", "--interface", "br0", "--log-level", "debug",
		"--tftp-listen=", "--http-listen=", "--ssh-listen=", "--metrics-listen", metricsAddr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node-switch output:\n%s", serve.Output())
		}
	})
	if !netlab.WaitFor(30*time.Second, func() bool {
		out := serve.Output()
		return serve.Exited() || strings.Contains(out, "dhcp listening") && strings.Contains(out, "metrics listening")
	}) || serve.Exited() {
		t.Fatalf("node-switch serve did not start:\n%s", serve.Output())
	}

	prom := startPrometheus(t, srv)

	// Two known nodes boot, a masked one and a stranger get nothing.
	for i, mac := range []string{"02:77:00:00:00:01", "02:77:00:00:00:02", "02:77:00:00:00:03", "02:77:00:00:00:99"} {
		c := lab.Namespace(fmt.Sprintf("c%d", i))
		port := fmt.Sprintf("p%d", i)
		lab.Veth(srv, port, c, "eth0")
		srv.Enslave(port, "br0")
		c.MustRun("ip", "link", "set", "eth0", "down")
		c.SetMAC("eth0", mac)
		c.MustRun("ip", "link", "set", "eth0", "up")
		got := udhcpc(t, c)
		if wantLease := i < 2; got != wantLease {
			t.Fatalf("client %s: lease %v, want %v", mac, got, wantLease)
		}
	}

	// What the server decided, from its own log: one line per packet.
	logged := func() map[string]float64 {
		want := map[string]float64{}
		for _, line := range strings.Split(serve.Output(), "\n") {
			switch {
			case strings.Contains(line, `msg="dhcp reply"`):
				want[field(line, "request")+"/answered"]++
			case strings.Contains(line, `msg="dhcp no reply"`) && strings.Contains(line, "node is masked"):
				want[field(line, "type")+"/masked"]++
			case strings.Contains(line, `msg="dhcp no reply"`) && strings.Contains(line, "not found"):
				want[field(line, "type")+"/unknown_mac"]++
			case strings.Contains(line, `msg="dhcp no reply"`), strings.Contains(line, `msg="dhcp cannot answer"`):
				t.Fatalf("a decision this test did not cause: %s", line)
			}
		}
		return want
	}
	const byDecision = `sum by (type, decision) (node_switch_dhcp_packets_total) > 0`
	var got, want map[string]float64
	if !netlab.WaitFor(20*time.Second, func() bool {
		want = logged()
		got = query(t, srv, byDecision, "type", "decision")
		return reflect.DeepEqual(got, want)
	}) {
		t.Fatalf("Prometheus has %v for %s; the server logged %v\nprometheus:\n%s", got, byDecision, want, prom.Output())
	}
	for _, k := range []string{"discover/answered", "request/answered", "discover/masked", "discover/unknown_mac"} {
		if want[k] == 0 {
			t.Errorf("no %s packet: the clients did not exercise it (%v)", k, want)
		}
	}
	t.Logf("Prometheus: %v", got)

	for _, tc := range []struct {
		q    string
		want map[string]float64
	}{
		{`node_switch_nodes`, map[string]float64{"linux": 3, "spare": 0}},
		{`node_switch_nodes_masked`, map[string]float64{"linux": 1, "spare": 0}},
	} {
		if got := query(t, srv, tc.q, "cluster"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := query(t, srv, `up{job="node-switch"}`); got[""] != 1 {
		t.Errorf("up = %v, want 1", got)
	}

	// The exposition passes Prometheus's own linter.
	body, err := srv.Run("curl", "-sf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, bad := range []string{"02:77:00", "n1", "10.77.0.11"} {
		if strings.Contains(body, bad) {
			t.Errorf("the exposition names a node, MAC or address (%q)", bad)
		}
	}
}

// startPrometheus runs Prometheus in ns, scraping node-switch every second,
// with its storage in a temporary directory.
func startPrometheus(t *testing.T, ns *netlab.NS) *netlab.Proc {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node-switch
    static_configs:
      - targets: ['%s']
`, metricsAddr)), 0o644)
	p := ns.Start(nil, "prometheus", "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	if !netlab.WaitFor(30*time.Second, func() bool {
		if p.Exited() {
			return true
		}
		_, err := ns.Run("curl", "-sf", "http://"+promAddr+"/-/ready")
		return err == nil
	}) || p.Exited() {
		t.Fatalf("prometheus did not become ready:\n%s", p.Output())
	}
	return p
}

// query runs an instant PromQL query through Prometheus's HTTP API and
// returns each series' value keyed by its labels' values joined with "/".
func query(t *testing.T, ns *netlab.NS, q string, labels ...string) map[string]float64 {
	t.Helper()
	out, err := ns.Run("curl", "-sf", "-G", "http://"+promAddr+"/api/v1/query", "--data-urlencode", "query="+q)
	if err != nil {
		t.Fatalf("query %s: %v: %s", q, err, out)
	}
	var resp struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Status != "success" {
		t.Fatalf("query %s: %v: %s", q, err, out)
	}
	got := map[string]float64{}
	for _, r := range resp.Data.Result {
		var key []string
		for _, l := range labels {
			key = append(key, r.Metric[l])
		}
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, r.Value[1], err)
		}
		got[strings.Join(key, "/")] = v
	}
	return got
}

// field is a key=VALUE of a log line, lower-cased, as metric labels are.
func field(line, key string) string {
	m := regexp.MustCompile(`\b` + key + `=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// udhcpc runs busybox udhcpc once on eth0 of ns and reports whether it got
// a lease; nothing is configured.
func udhcpc(t *testing.T, ns *netlab.NS) bool {
	t.Helper()
	_, err := ns.Run("busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "2", "-T", "1", "-s", "/bin/true")
	return err == nil
}
