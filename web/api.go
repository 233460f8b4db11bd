package web

import (
	"net/http"

	"github.com/node-switch/node-switch/nodes"
)

// The API's answers have the field names of the CLI's --json output, so a
// script moves between "node-switch ... --json", SSH and HTTP unchanged.

func (s *Server) apiNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	ns, err := s.st.Nodes(r.Context(), r.URL.Query().Get("range"))
	if ns == nil {
		ns = []nodes.Node{}
	}
	return ns, err
}

// clusterRow is a cluster as "cluster list --json" shows it.
type clusterRow struct {
	nodes.Cluster
	Kind  nodes.ProfileKind `json:"kind"`
	Nodes int               `json:"nodes"`
}

func (s *Server) apiClusters(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx := r.Context()
	cs, err := s.st.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := s.st.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	kinds := map[string]nodes.ProfileKind{}
	for _, p := range ps {
		kinds[p.Name] = p.Kind
	}
	all, err := s.st.Nodes(ctx, "")
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, n := range all {
		count[n.Cluster]++
	}
	rows := make([]clusterRow, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, clusterRow{Cluster: c, Kind: kinds[c.Profile], Nodes: count[c.Name]})
	}
	return rows, nil
}

func (s *Server) apiProfiles(w http.ResponseWriter, r *http.Request) (any, error) {
	ps, err := s.st.Profiles(r.Context())
	if ps == nil {
		ps = []nodes.Profile{}
	}
	return ps, err
}

func (s *Server) apiLog(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := s.logFilter(r.Context(), r.URL.Query(), 0)
	if err != nil {
		return nil, err
	}
	evs, err := s.st.Log(r.Context(), f)
	if evs == nil {
		evs = []nodes.Event{}
	}
	return evs, err
}
