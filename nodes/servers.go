package nodes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"
)

// Boot servers that answer DHCP from a copy of the inventory record here
// which generation their copy reflects, and beat a heartbeat. A change
// (ops) then waits until every live server answers from it, so "the very
// next DHCP request sees a move" holds for every server, and a mask is in
// every server's copy before the command returns (a database that stops
// right after cannot leave a server answering the masked node).
//
// Liveness needs no clock shared between hosts: seen is the database's
// own clock (serversNow), written and compared by the database, and each
// server says how often it beats. A server is live while its last beat is
// younger than serverMissedBeats of its intervals; one that stops cleanly
// deletes its row, one that crashes ages out.

// serversMigration and serversMigrationPg are the schema of boot_servers,
// appended to migrations and pgMigrations under the next number. Runtime
// state, not inventory: no generation triggers (a heartbeat must never make
// a cache reread), and migrate-db does not copy it.
const (
	serversMigration = `
CREATE TABLE boot_servers (
	id         TEXT PRIMARY KEY,
	host       TEXT NOT NULL,
	pid        INTEGER NOT NULL,
	generation INTEGER NOT NULL,
	beat_ms    INTEGER NOT NULL,
	seen       INTEGER NOT NULL
);
`
	serversMigrationPg = `
CREATE TABLE boot_servers (
	id         TEXT COLLATE "C" PRIMARY KEY,
	host       TEXT COLLATE "C" NOT NULL,
	pid        BIGINT NOT NULL,
	generation BIGINT NOT NULL,
	beat_ms    BIGINT NOT NULL,
	seen       BIGINT NOT NULL
);
`
)

// ServerBeatEvery is how often a boot server beats.
const ServerBeatEvery = time.Second

// serverMissedBeats is how many of its heartbeat intervals a server may
// miss before a change stops waiting for it.
const serverMissedBeats = 3

// serverForgetAfter is how long the row of a server that stopped without
// saying so stays for "who was there" before the next server to start
// deletes it.
const serverForgetAfter = 24 * time.Hour

// serversNow is the database's clock in Unix microseconds.
func (s *Store) serversNow() string {
	if s.pg {
		return `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)`
}

// BootServer is one serve process answering DHCP from the inventory.
type BootServer struct {
	ID         string
	Host       string
	PID        int
	Generation int64         // the generation its answers reflect (at least)
	Beat       time.Duration // how often it says it is there
	Age        time.Duration // since it last said so, by the database's clock
}

// Live reports whether the server beat recently enough to be waited for.
func (b BootServer) Live() bool { return b.Age < serverMissedBeats*b.Beat }

// String names the server for an operator.
func (b BootServer) String() string { return fmt.Sprintf("%s (pid %d)", b.Host, b.PID) }

// ServerBeat is this process's row in boot_servers.
type ServerBeat struct {
	st    *Store
	id    string
	host  string
	pid   int
	every time.Duration
}

// JoinServers names this process as a boot server that beats every
// interval; nothing is written until its first Record.
func (s *Store) JoinServers(every time.Duration) *ServerBeat {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &ServerBeat{st: s, id: hex.EncodeToString(b), host: host, pid: os.Getpid(), every: every}
}

// Every is the heartbeat interval.
func (b *ServerBeat) Every() time.Duration { return b.every }

// Record says that this server answers from gen now, which is also its
// heartbeat. The row is written whole each time, so a database restored
// or failed over without it gets it back at the next beat.
func (b *ServerBeat) Record(ctx context.Context, gen int64) error {
	now := b.st.serversNow()
	_, err := b.st.db.ExecContext(ctx, `INSERT INTO boot_servers (id, host, pid, generation, beat_ms, seen)
VALUES (?, ?, ?, ?, ?, `+now+`)
ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, beat_ms = excluded.beat_ms, seen = excluded.seen`,
		b.id, b.host, b.pid, gen, b.every.Milliseconds())
	if err != nil {
		return fmt.Errorf("inventory %s: record boot server %s (pid %d) at generation %d: %w", b.st.path, b.host, b.pid, gen, err)
	}
	return nil
}

// Forget deletes the rows of servers unseen for serverForgetAfter (they
// stopped without saying so).
func (b *ServerBeat) Forget(ctx context.Context) error {
	_, err := b.st.db.ExecContext(ctx, `DELETE FROM boot_servers WHERE seen < `+b.st.serversNow()+` - ?`, serverForgetAfter.Microseconds())
	if err != nil {
		return fmt.Errorf("inventory %s: forget boot servers gone for a day: %w", b.st.path, err)
	}
	return nil
}

// Leave deletes this server's row: a change no longer waits for it.
func (b *ServerBeat) Leave(ctx context.Context) error {
	if _, err := b.st.db.ExecContext(ctx, `DELETE FROM boot_servers WHERE id = ?`, b.id); err != nil {
		return fmt.Errorf("inventory %s: remove boot server %s (pid %d): %w", b.st.path, b.host, b.pid, err)
	}
	return nil
}

// BootServers lists the boot servers that recorded themselves, live or
// not, by host and pid.
func (s *Store) BootServers(ctx context.Context) ([]BootServer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, host, pid, generation, beat_ms, `+s.serversNow()+` - seen FROM boot_servers ORDER BY host, pid, id`)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: list boot servers: %w", s.path, err)
	}
	defer rows.Close()
	var out []BootServer
	for rows.Next() {
		var b BootServer
		var beatMS, ageUS int64
		if err := rows.Scan(&b.ID, &b.Host, &b.PID, &b.Generation, &beatMS, &ageUS); err != nil {
			return nil, fmt.Errorf("inventory %s: list boot servers: %w", s.path, err)
		}
		b.Beat = time.Duration(beatMS) * time.Millisecond
		b.Age = time.Duration(ageUS) * time.Microsecond
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inventory %s: list boot servers: %w", s.path, err)
	}
	return out, nil
}

// WaitServers waits until every live boot server answers from generation
// gen or a later one, or until bound has passed, and returns the live ones
// still behind then (none: every server has it). It asks the database
// every few milliseconds; a server records its generation as soon as it
// applied a change, so the usual wait is one notification and one reload.
func (s *Store) WaitServers(ctx context.Context, gen int64, bound time.Duration) ([]BootServer, error) {
	deadline := time.Now().Add(bound)
	pause := time.Millisecond
	for {
		all, err := s.BootServers(ctx)
		if err != nil {
			return nil, err
		}
		var behind []BootServer
		for _, b := range all {
			if b.Live() && b.Generation < gen {
				behind = append(behind, b)
			}
		}
		left := time.Until(deadline)
		if len(behind) == 0 || left <= 0 {
			return behind, nil
		}
		select {
		case <-ctx.Done():
			return behind, ctx.Err()
		case <-time.After(min(pause, left)):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Behind says which servers lag and where, for an operator.
func Behind(servers []BootServer, gen int64) string {
	parts := make([]string, len(servers))
	for i, b := range servers {
		parts[i] = fmt.Sprintf("%s at generation %d", b, b.Generation)
	}
	return fmt.Sprintf("%s (the change is generation %d)", strings.Join(parts, ", "), gen)
}
