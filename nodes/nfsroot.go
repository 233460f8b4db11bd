package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

const nfsrootColumns = `name, server, export, kernel, initrd, kernel_version, options, checked_at, check_ok, check_result`

func scanNFSRoot(sc interface{ Scan(...any) error }) (NFSRoot, error) {
	var r NFSRoot
	var checkedAt int64
	if err := sc.Scan(&r.Name, &r.Server, &r.Export, &r.Kernel, &r.Initrd, &r.KernelVersion, &r.Options, &checkedAt, &r.CheckOK, &r.CheckResult); err != nil {
		return NFSRoot{}, err
	}
	if checkedAt != 0 {
		r.CheckedAt = time.Unix(checkedAt, 0).UTC()
	}
	return r, nil
}

func getNFSRoot(ctx context.Context, q queryer, name string) (NFSRoot, error) {
	r, err := scanNFSRoot(q.QueryRowContext(ctx, `SELECT `+nfsrootColumns+` FROM nfsroots WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return NFSRoot{}, ErrNotFound
	}
	return r, err
}

// NFSRoot returns one catalog entry.
func (s *Store) NFSRoot(ctx context.Context, name string) (NFSRoot, error) {
	r, err := getNFSRoot(ctx, s.db, name)
	if err != nil {
		return NFSRoot{}, fmt.Errorf("NFS root %s: %w", name, err)
	}
	return r, nil
}

// NFSRoots lists the catalog by name.
func (s *Store) NFSRoots(ctx context.Context) ([]NFSRoot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+nfsrootColumns+` FROM nfsroots ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list NFS roots: %w", err)
	}
	defer rows.Close()
	var out []NFSRoot
	for rows.Next() {
		r, err := scanNFSRoot(rows)
		if err != nil {
			return nil, fmt.Errorf("list NFS roots: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list NFS roots: %w", err)
	}
	return out, nil
}

// ValidateNFSRoot checks an entry as an operator typed it. The server and
// export end up verbatim on a kernel command line (nfsroot=server:export),
// where a space or a comma would silently split them.
func ValidateNFSRoot(r NFSRoot) error {
	if err := checkName("NFS root", r.Name); err != nil {
		return err
	}
	if err := checkTexts("", textField{FieldHost, r.Server}, textField{FieldPath, r.Export}, textField{FieldPath, r.Kernel},
		textField{FieldPath, r.Initrd}, textField{FieldPath, r.KernelVersion}, textField{FieldOptions, r.Options}); err != nil {
		return err
	}
	if r.Server == "" {
		return fmt.Errorf("no server: give the NFS server's address or host name")
	}
	if strings.ContainsAny(r.Server, " \t,/:") {
		return fmt.Errorf("server %q: want a bare IPv4 address or host name (no port, path or options)", r.Server)
	}
	if !strings.HasPrefix(r.Export, "/") {
		return fmt.Errorf("export %q: want an absolute path such as /srv/nfsroot/lab", r.Export)
	}
	if path.Clean(r.Export) != r.Export {
		return fmt.Errorf("export %q: write it as %s", r.Export, path.Clean(r.Export))
	}
	if strings.ContainsAny(r.Export, " \t,") {
		return fmt.Errorf("export %q: spaces and commas do not survive the kernel command line", r.Export)
	}
	if r.Kernel == "" || r.Initrd == "" {
		return fmt.Errorf("a diskless root needs a kernel and an initrd (files under the boot root)")
	}
	if strings.ContainsAny(r.KernelVersion, " \t/") {
		return fmt.Errorf("kernel version %q: want a name from /lib/modules such as 6.1.0-18-amd64", r.KernelVersion)
	}
	if strings.ContainsAny(r.Options, " \t") {
		return fmt.Errorf("options %q: want a comma-separated list such as vers=3,tcp", r.Options)
	}
	return CheckNFSOptions(r.Options)
}

// CheckNFSOptions refuses mount options for which an entry could never pass
// its check: the rendered nfsroot= and 'nfsroot check' speak NFSv3 over TCP
// only, so a root added with vers=4 or udp would stay unbootable. 'nfsroot
// add' refuses them up front; the check refuses entries made before.
func CheckNFSOptions(opts string) error {
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(o), "=")
		if (k == "v2" || k == "v3" || strings.HasPrefix(k, "v4")) && v == "" {
			// The kernel's shorthand for vers=N.
			k, v = "vers", strings.TrimPrefix(k, "v")
		}
		switch {
		case (k == "vers" || k == "nfsvers") && v != "3":
			return fmt.Errorf("options %q ask for NFS version %s; the kernel's nfsroot= that node-switch renders and its check speak NFSv3 only (use vers=3)", opts, v)
		case k == "udp" || (k == "proto" && v != "tcp"):
			return fmt.Errorf("options %q ask for UDP; node-switch checks and boots NFS over TCP only (use tcp)", opts)
		}
	}
	return nil
}

// AddNFSRoot adds a catalog entry. It starts unchecked, so no node can be
// moved onto it (without --force) before 'nfsroot check' has passed.
func (s *Store) AddNFSRoot(ctx context.Context, actor Actor, r NFSRoot) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := ValidateNFSRoot(r); err != nil {
			return err
		}
		if _, err := getNFSRoot(ctx, tx, r.Name); err == nil {
			return fmt.Errorf("it already exists (remove it first with 'nfsroot rm %s')", r.Name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO nfsroots (name, server, export, kernel, initrd, kernel_version, options) VALUES (?,?,?,?,?,?,?)`,
			r.Name, r.Server, r.Export, r.Kernel, r.Initrd, r.KernelVersion, r.Options); err != nil {
			return err
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionNFSRootAdd, Target: r.Name, Result: r.Server + ":" + r.Export})
		return err
	})
	if err != nil {
		return fmt.Errorf("add NFS root %s: %w", r.Name, err)
	}
	return nil
}

// RemoveNFSRoot deletes a catalog entry no profile uses.
func (s *Store) RemoveNFSRoot(ctx context.Context, actor Actor, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := getNFSRoot(ctx, tx, name)
		if err != nil {
			return err
		}
		users, err := queryNames(ctx, tx, `SELECT name FROM profiles WHERE nfsroot = ?`, name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("profile %s uses it: change or remove that profile first", strings.Join(users, ", "))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM nfsroots WHERE name = ?`, name); err != nil {
			return err
		}
		_, err = s.appendEvent(ctx, tx, actor, Event{Action: ActionNFSRootRemove, Source: name, Result: r.Server + ":" + r.Export})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove NFS root %s: %w", name, err)
	}
	return nil
}

// RecordNFSRootCheck stores the outcome of a check. Move reads it to refuse
// pointing nodes at a root that would leave them hanging at boot.
func (s *Store) RecordNFSRootCheck(ctx context.Context, actor Actor, name string, ok bool, result string) error {
	// The result is what the check saw (a mount's error output): kept,
	// escaped.
	result = EscapeCut(FieldResult, result)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getNFSRoot(ctx, tx, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE nfsroots SET checked_at = ?, check_ok = ?, check_result = ? WHERE name = ?`,
			s.now().Unix(), ok, result, name); err != nil {
			return err
		}
		verdict := "failed: "
		if ok {
			verdict = "ok: "
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionNFSRootCheck, Target: name, Result: verdict + result})
		return err
	})
	if err != nil {
		return fmt.Errorf("record check of NFS root %s: %w", name, err)
	}
	return nil
}
