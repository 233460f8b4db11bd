package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/node-switch/node-switch/nodes"
)

// Inventory is what the scrape-time collector reads; *nodes.Store has it.
type Inventory interface {
	Clusters(ctx context.Context) ([]nodes.Cluster, error)
	Nodes(ctx context.Context, expr string) ([]nodes.Node, error)
}

// nodeGauges are the per-cluster node counts. Each is a gauge labelled by
// cluster, counting the nodes for which count is true: a new count is one more line.
var nodeGauges = []struct {
	name, help string
	count      func(nodes.Node) bool
}{
	{"nodes", "Nodes in each cluster.", func(nodes.Node) bool { return true }},
	{"nodes_masked", "Masked nodes in each cluster: DHCP, TFTP and HTTP give them nothing.", func(n nodes.Node) bool { return n.Masked }},
	{"nodes_boot_once", "Nodes of each cluster whose next boot goes to another cluster once (move --once).", func(n nodes.Node) bool { return n.OnceCluster != "" }},
}

// inventoryCollector reads the inventory when scraped, so the numbers are
// those of the moment, whoever changed it (CLI, SSH, a hand-run sqlite3).
type inventoryCollector struct {
	inv     Inventory
	timeout time.Duration
	descs   []*prometheus.Desc
	up      *prometheus.Desc
}

func newInventoryCollector(inv Inventory) *inventoryCollector {
	c := &inventoryCollector{inv: inv, timeout: 5 * time.Second,
		up: prometheus.NewDesc(namespace+"_inventory_up", "1 when the inventory could be read for this scrape, else 0.", nil, nil)}
	for _, g := range nodeGauges {
		c.descs = append(c.descs, prometheus.NewDesc(namespace+"_"+g.name, g.help, []string{"cluster"}, nil))
	}
	return c
}

func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.read()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		ch <- prometheus.NewInvalidMetric(c.up, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for cluster, per := range counts {
		for i, d := range c.descs {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(per[i]), cluster)
		}
	}
}

// read counts per cluster; every cluster is present, empty ones at 0.
func (c *inventoryCollector) read() (map[string][]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	clusters, err := c.inv.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	all, err := c.inv.Nodes(ctx, "")
	if err != nil {
		return nil, err
	}
	counts := make(map[string][]int, len(clusters))
	for _, cl := range clusters {
		counts[cl.Name] = make([]int, len(nodeGauges))
	}
	for _, n := range all {
		per, ok := counts[n.Cluster]
		if !ok {
			// A cluster removed between the two reads: the nodes are
			// still counted.
			per = make([]int, len(nodeGauges))
			counts[n.Cluster] = per
		}
		for i, g := range nodeGauges {
			if g.count(n) {
				per[i]++
			}
		}
	}
	return counts, nil
}

// Handler serves the exposition of the process-wide metrics and of inv's
// node counts (read at each scrape). A failed inventory read still serves
// everything else, with node_switch_inventory_up 0.
func Handler(inv Inventory, log *slog.Logger) http.Handler {
	registerProcess()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newInventoryCollector(inv))
	return promhttp.HandlerFor(prometheus.Gatherers{process, reg}, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are rare and small; a slow inventory must not pile
		// them up.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}
