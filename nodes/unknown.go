package nodes

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultUnknownMax is how many unknown MACs the inventory keeps unless the
// server is told otherwise: far more machines than wait on one segment to be
// added, few enough that a flood of spoofed MACs costs a few hundred KiB.
const DefaultUnknownMax = 1000

// Unknown is a machine that asked for DHCP without a reservation and got no
// answer. It is bookkeeping: nothing a node boots depends on it, so its
// table has no generation triggers and a flood of spoofed MACs never makes
// the DHCP cache reread the inventory.
//
// JSON names are a contract (PowerShell); every key is always present, null
// when the client did not say.
type Unknown struct {
	MAC       string
	FirstSeen time.Time
	LastSeen  time.Time
	TimesSeen int64
	// Firmware is the label dhcp.Firmware.Label gives option 93 ("bios",
	// "uefi", "arm64", "-ipxe" appended for iPXE); "" when not sent.
	Firmware    string
	VendorClass string // option 60
	Interface   string // the served interface the request came in on
	Relay       string // giaddr of the relay that forwarded it; "" when not relayed
	Hostname    string // option 12
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// MarshalJSON writes every key, with null for what the client did not say.
func (u Unknown) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		MAC         string    `json:"mac"`
		FirstSeen   time.Time `json:"first_seen"`
		LastSeen    time.Time `json:"last_seen"`
		TimesSeen   int64     `json:"times_seen"`
		Firmware    *string   `json:"firmware"`
		VendorClass *string   `json:"vendor_class"`
		Interface   *string   `json:"interface"`
		Relay       *string   `json:"relay"`
		Hostname    *string   `json:"hostname"`
	}{u.MAC, u.FirstSeen, u.LastSeen, u.TimesSeen, nullable(u.Firmware), nullable(u.VendorClass),
		nullable(u.Interface), nullable(u.Relay), nullable(u.Hostname)})
}

// UnknownRecord is the outcome of one RecordUnknown batch.
type UnknownRecord struct {
	// Evicted rows were the least recently seen when the table was over
	// its cap.
	Evicted int
	// Reserved sightings were skipped: their MAC got a reservation between
	// the request and the flush.
	Reserved int
}

// RecordUnknown merges a batch of sightings (TimesSeen, FirstSeen and
// LastSeen covering the batch) into the unknown-MAC table in one
// transaction, then trims the table to max rows, dropping the least
// recently seen. Keeping the newest rather than refusing new ones means a
// flood leaves at most max rows of junk that ages out, while the machine an
// operator is waiting for is back in the list at its next DISCOVER. A MAC
// that has a reservation by now is skipped, so a sighting still in the
// server's buffer cannot bring back a machine "node add" just took in. It is
// not logged: it changes nothing a node boots.
func (s *Store) RecordUnknown(ctx context.Context, seen []Unknown, max int) (UnknownRecord, error) {
	var res UnknownRecord
	if len(seen) == 0 || max <= 0 {
		return res, nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res = UnknownRecord{}
		st, err := tx.PrepareContext(ctx, `
INSERT INTO unknown_macs AS u (mac, first_seen, last_seen, times_seen, firmware, vendor_class, interface, relay, hostname)
SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT),
	CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT) WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE mac = ?)
ON CONFLICT (mac) DO UPDATE SET
	first_seen   = CASE WHEN excluded.first_seen < u.first_seen THEN excluded.first_seen ELSE u.first_seen END,
	last_seen    = CASE WHEN excluded.last_seen > u.last_seen THEN excluded.last_seen ELSE u.last_seen END,
	times_seen   = u.times_seen + excluded.times_seen,
	firmware     = coalesce(nullif(excluded.firmware, ''), u.firmware),
	vendor_class = coalesce(nullif(excluded.vendor_class, ''), u.vendor_class),
	interface    = excluded.interface,
	relay        = excluded.relay,
	hostname     = coalesce(nullif(excluded.hostname, ''), u.hostname)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, u := range seen {
			// What a DHCP client says of itself is recorded, not refused:
			// the DHCP server already made it printable ASCII, and this
			// keeps any other writer to the same rule.
			u.VendorClass, u.Hostname = EscapeCut(FieldClientText, u.VendorClass), EscapeCut(FieldClientText, u.Hostname)
			r, err := st.ExecContext(ctx, u.MAC, u.FirstSeen.UnixMicro(), u.LastSeen.UnixMicro(), max64(u.TimesSeen, 1),
				u.Firmware, u.VendorClass, u.Interface, u.Relay, u.Hostname, u.MAC)
			if err != nil {
				return fmt.Errorf("record unknown %s: %w", u.MAC, err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				res.Reserved++
			}
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM unknown_macs WHERE mac IN
	(SELECT mac FROM unknown_macs ORDER BY last_seen DESC, mac DESC LIMIT -1 OFFSET ?)`, max)
		if err != nil {
			return fmt.Errorf("trim unknown MACs to %d: %w", max, err)
		}
		n, _ := r.RowsAffected()
		res.Evicted = int(n)
		return nil
	})
	return res, err
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

const unknownColumns = `mac, first_seen, last_seen, times_seen, firmware, vendor_class, interface, relay, hostname`

func scanUnknown(sc interface{ Scan(...any) error }) (Unknown, error) {
	var u Unknown
	var first, last int64
	if err := sc.Scan(&u.MAC, &first, &last, &u.TimesSeen, &u.Firmware, &u.VendorClass, &u.Interface, &u.Relay, &u.Hostname); err != nil {
		return Unknown{}, err
	}
	u.FirstSeen = time.UnixMicro(first).UTC()
	u.LastSeen = time.UnixMicro(last).UTC()
	return u, nil
}

// Unknowns lists the unknown MACs, most recently seen first.
func (s *Store) Unknowns(ctx context.Context) ([]Unknown, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+unknownColumns+` FROM unknown_macs ORDER BY last_seen DESC, mac`)
	if err != nil {
		return nil, fmt.Errorf("list unknown MACs: %w", err)
	}
	defer rows.Close()
	out := []Unknown{}
	for rows.Next() {
		u, err := scanUnknown(rows)
		if err != nil {
			return nil, fmt.Errorf("list unknown MACs: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unknown MACs: %w", err)
	}
	return out, nil
}

// UnknownMAC returns one unknown MAC (any spelling); ErrNotFound when the
// DHCP server has not recorded it.
func (s *Store) UnknownMAC(ctx context.Context, mac string) (Unknown, error) {
	m, err := ParseMAC(mac)
	if err != nil {
		return Unknown{}, Invalid(err)
	}
	u, err := scanUnknown(s.db.QueryRowContext(ctx, `SELECT `+unknownColumns+` FROM unknown_macs WHERE mac = ?`, m))
	if errors.Is(err, sql.ErrNoRows) {
		return Unknown{}, fmt.Errorf("unknown MAC %s: %w", m, ErrNotFound)
	}
	if err != nil {
		return Unknown{}, fmt.Errorf("unknown MAC %s: %w", m, err)
	}
	return u, nil
}

// ClearUnknown forgets the unknown MACs given, or every one when macs is
// ["all"], in one transaction with its logbook entry. A MAC that is not in
// the list is bad input and nothing is forgotten. It returns the MACs
// forgotten.
func (s *Store) ClearUnknown(ctx context.Context, actor Actor, macs []string, reason string) ([]string, error) {
	if len(macs) == 0 {
		return nil, Invalid(errors.New("forget which unknown MACs? give MACs, or all"))
	}
	all := len(macs) == 1 && macs[0] == "all"
	want := make([]string, 0, len(macs))
	if !all {
		for _, m := range macs {
			if m == "all" {
				return nil, Invalid(errors.New(`"all" stands alone: give MACs, or all`))
			}
			p, err := ParseMAC(m)
			if err != nil {
				return nil, Invalid(err)
			}
			want = append(want, p)
		}
	}
	var gone []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		gone = nil
		if all {
			rows, err := tx.QueryContext(ctx, `SELECT mac FROM unknown_macs ORDER BY last_seen DESC, mac`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var m string
				if err := rows.Scan(&m); err != nil {
					rows.Close()
					return err
				}
				gone = append(gone, m)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM unknown_macs`); err != nil {
				return err
			}
		} else {
			for _, m := range want {
				r, err := tx.ExecContext(ctx, `DELETE FROM unknown_macs WHERE mac = ?`, m)
				if err != nil {
					return fmt.Errorf("%s: %w", m, err)
				}
				if n, _ := r.RowsAffected(); n == 0 {
					return Invalid(fmt.Errorf("MAC %s is not in the unknown list ('node-switch node unknown' shows it)", m))
				}
				gone = append(gone, m)
			}
		}
		result := fmt.Sprintf("forgot %d unknown MACs", len(gone))
		if len(gone) > 0 && len(gone) <= 20 {
			result += ": " + strings.Join(gone, " ")
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionUnknownClear, Reason: reason, Result: result})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("forget unknown MACs: %w", err)
	}
	return gone, nil
}

// forgetUnknown drops mac from the unknown list as a reservation for it is
// inserted in tx: it is known from now on.
func forgetUnknown(ctx context.Context, tx *sql.Tx, mac string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM unknown_macs WHERE mac = ?`, mac); err != nil {
		return fmt.Errorf("forget unknown MAC %s: %w", mac, err)
	}
	return nil
}
