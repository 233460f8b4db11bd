package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

const profileColumns = `name, kind, kernel, initrd, append, local_boot, chain_partition, uefi_local_boot, coalesce(nfsroot, ''), template_bios, template_uefi, http, description, files_dir, uefi_chain, uefi_boot, kernel_arm64, initrd_arm64`

func getProfile(ctx context.Context, q queryer, name string) (Profile, error) {
	var p Profile
	err := q.QueryRowContext(ctx, `SELECT `+profileColumns+` FROM profiles WHERE name = ?`, name).Scan(
		&p.Name, &p.Kind, &p.Kernel, &p.Initrd, &p.Append, &p.LocalBoot, &p.ChainPartition, &p.UEFILocalBoot,
		&p.NFSRoot, &p.TemplateBIOS, &p.TemplateUEFI, &p.HTTP, &p.Description, &p.FilesDir, &p.UEFIChain, &p.UEFIBoot, &p.KernelARM64, &p.InitrdARM64)
	if errors.Is(err, sql.ErrNoRows) {
		return Profile{}, ErrNotFound
	}
	if err != nil {
		return Profile{}, err
	}
	rows, err := q.QueryContext(ctx, `SELECT key, file FROM boot_files WHERE profile = ?`, name)
	if err != nil {
		return Profile{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, f string
		if err := rows.Scan(&k, &f); err != nil {
			return Profile{}, err
		}
		if p.BootFiles == nil {
			p.BootFiles = map[string]string{}
		}
		p.BootFiles[k] = f
	}
	return p, rows.Err()
}

// Profile returns one profile.
func (s *Store) Profile(ctx context.Context, name string) (Profile, error) {
	p, err := getProfile(ctx, s.db, name)
	if err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", name, err)
	}
	return p, nil
}

// Profiles lists every profile by name.
func (s *Store) Profiles(ctx context.Context) ([]Profile, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM profiles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	out := make([]Profile, 0, len(names))
	for _, n := range names {
		p, err := getProfile(ctx, s.db, n)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// BootOf returns the cluster and profile that decide what node n boots
// next: its pending boot-once cluster if it has one, else its own.
func (s *Store) BootOf(ctx context.Context, n Node) (Cluster, Profile, error) {
	c, err := getCluster(ctx, s.db, n.BootCluster())
	if err != nil {
		return Cluster{}, Profile{}, fmt.Errorf("node %s: cluster %s: %w", n.Name, n.BootCluster(), err)
	}
	p, err := getProfile(ctx, s.db, c.Profile)
	if err != nil {
		return Cluster{}, Profile{}, fmt.Errorf("node %s: profile %s: %w", n.Name, c.Profile, err)
	}
	return c, p, nil
}

// Local-disk methods a profile can name.
var (
	LocalBootMethods     = []string{"", "localboot", "chain"}
	UEFILocalBootMethods = []string{"", "none", "exit", "chainload"}
	// UEFIChains are the x86-64 UEFI loader chains ("" = signed when installed).
	UEFIChains = []string{"", UEFIChainSigned, UEFIChainSelfBuilt}
	// UEFIBoots are the UEFI network boot transports ("" = pxe).
	UEFIBoots = []string{"", UEFIBootPXE, UEFIBootHTTP}
)

// UEFI network boot transports a profile can name.
const (
	UEFIBootPXE  = "pxe"
	UEFIBootHTTP = "http"
)

// UEFI loader chains a profile can name.
const (
	UEFIChainSigned    = "signed"
	UEFIChainSelfBuilt = "self-built"
)

func validateProfile(ctx context.Context, q queryer, p Profile) error {
	if err := checkName("profile", p.Name); err != nil {
		return err
	}
	if err := checkProfileText(p); err != nil {
		return err
	}
	if _, err := ParseProfileKind(string(p.Kind)); err != nil {
		return err
	}
	for k := range p.BootFiles {
		if !slices.Contains(BootKeys, k) {
			return fmt.Errorf("unknown boot file key %q (want bios, uefi, arm64 or ipxe)", k)
		}
	}
	if !slices.Contains(LocalBootMethods, p.LocalBoot) {
		return fmt.Errorf("unknown BIOS local boot method %q (want localboot or chain)", p.LocalBoot)
	}
	if !slices.Contains(UEFILocalBootMethods, p.UEFILocalBoot) {
		return fmt.Errorf("unknown UEFI local boot method %q (want none, exit or chainload)", p.UEFILocalBoot)
	}
	if !slices.Contains(UEFIChains, p.UEFIChain) {
		return fmt.Errorf("unknown UEFI chain %q (want signed or self-built)", p.UEFIChain)
	}
	if !slices.Contains(UEFIBoots, p.UEFIBoot) {
		return fmt.Errorf("unknown UEFI boot %q (want pxe or http)", p.UEFIBoot)
	}
	if p.UEFIBoot == UEFIBootHTTP && p.UEFIChain == UEFIChainSigned {
		return fmt.Errorf("UEFI HTTP boot needs GRUB's http module, which the signed GRUB lacks: use --uefi-chain self-built (or auto), or --uefi-boot pxe")
	}
	if p.UEFIBoot == UEFIBootHTTP && p.Kind == KindFiles {
		return fmt.Errorf("kind files serves the site's configs with their own paths: --uefi-boot http does not apply")
	}
	if (p.KernelARM64 != "" || p.InitrdARM64 != "") && p.Kind != KindLinux && p.Kind != KindNFSRoot {
		return fmt.Errorf("an ARM64 kernel or initrd only goes with kind linux or nfsroot (clear them with --kernel-arm64 '' --initrd-arm64 '')")
	}
	if p.InitrdARM64 != "" && p.KernelARM64 == "" {
		return fmt.Errorf("an ARM64 initrd needs its ARM64 kernel (--kernel-arm64 FILE)")
	}
	if p.ChainPartition < 0 {
		return fmt.Errorf("chain partition %d is negative", p.ChainPartition)
	}
	switch p.Kind {
	case KindNFSRoot:
		if p.NFSRoot == "" {
			return fmt.Errorf("kind nfsroot needs an NFS root (--nfsroot NAME from 'nfsroot list')")
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM nfsroots WHERE name = ?`, p.NFSRoot).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("unknown NFS root %q (add it with 'nfsroot add')", p.NFSRoot)
		}
	case KindTemplate:
		if p.TemplateBIOS == "" && p.TemplateUEFI == "" {
			return fmt.Errorf("kind template needs a BIOS and/or UEFI template")
		}
	case KindFiles:
		if err := checkFilesDir(p.FilesDir); err != nil {
			return err
		}
		if p.HTTP {
			return fmt.Errorf("kind files serves the site's configs as they are, with their own paths: --http does not apply (use kind linux or template for kernels over HTTP)")
		}
	}
	if p.Kind != KindNFSRoot && p.NFSRoot != "" {
		return fmt.Errorf("an NFS root only goes with kind nfsroot")
	}
	if p.Kind != KindFiles && p.FilesDir != "" {
		return fmt.Errorf("a files directory only goes with kind files (clear it with --files '')")
	}
	return nil
}

// checkProfileText refuses control characters in a profile's text: its
// description, the paths and kernel command line that go into its rendered
// configs, and its templates, which may span lines but hold no other
// control character.
func checkProfileText(p Profile) error {
	fs := []textField{{FieldDescription, p.Description}, {FieldAppend, p.Append},
		{FieldPath, p.Kernel}, {FieldPath, p.Initrd}, {FieldPath, p.KernelARM64}, {FieldPath, p.InitrdARM64}, {FieldPath, p.FilesDir}}
	for _, k := range BootKeys {
		fs = append(fs, textField{FieldPath, p.BootFiles[k]})
	}
	if err := checkTexts("", fs...); err != nil {
		return err
	}
	if err := CheckLines(FieldTemplate, p.TemplateBIOS); err != nil {
		return fmt.Errorf("BIOS %w", err)
	}
	if err := CheckLines(FieldTemplate, p.TemplateUEFI); err != nil {
		return fmt.Errorf("UEFI %w", err)
	}
	return nil
}

// checkFilesDir accepts a directory of kind files: relative to the boot
// root, inside it, one line. Whether it exists is the boot root's
// business (bootprofiles.Check), as for kernels.
func checkFilesDir(dir string) error {
	switch {
	case dir == "":
		return fmt.Errorf("kind files needs the directory under the boot root that holds the site's pxelinux.cfg/ or grub.cfg (--files DIR, e.g. --files um64_linux; '.' for the top)")
	case strings.ContainsAny(dir, "\r\n\x00"):
		return fmt.Errorf("files directory %q contains a line break or NUL", dir)
	case !filepath.IsLocal(dir):
		return fmt.Errorf("files directory %q is not a plain path under the boot root (no leading '/', no '..')", dir)
	}
	return nil
}

func writeProfile(ctx context.Context, tx *sql.Tx, p Profile) error {
	var nfs any
	if p.NFSRoot != "" {
		nfs = p.NFSRoot
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO profiles (`+profileColumnsInsert+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, kernel=excluded.kernel, initrd=excluded.initrd, append=excluded.append,
		local_boot=excluded.local_boot, chain_partition=excluded.chain_partition, uefi_local_boot=excluded.uefi_local_boot,
		nfsroot=excluded.nfsroot, template_bios=excluded.template_bios, template_uefi=excluded.template_uefi,
		http=excluded.http, description=excluded.description, files_dir=excluded.files_dir, uefi_chain=excluded.uefi_chain, uefi_boot=excluded.uefi_boot,
		kernel_arm64=excluded.kernel_arm64, initrd_arm64=excluded.initrd_arm64`,
		p.Name, p.Kind, p.Kernel, p.Initrd, p.Append, p.LocalBoot, p.ChainPartition, p.UEFILocalBoot, nfs,
		p.TemplateBIOS, p.TemplateUEFI, p.HTTP, p.Description, p.FilesDir, p.UEFIChain, p.UEFIBoot, p.KernelARM64, p.InitrdARM64)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM boot_files WHERE profile = ?`, p.Name); err != nil {
		return err
	}
	for k, f := range p.BootFiles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO boot_files (profile, key, file) VALUES (?,?,?)`, p.Name, k, f); err != nil {
			return err
		}
	}
	return nil
}

const profileColumnsInsert = `name, kind, kernel, initrd, append, local_boot, chain_partition, uefi_local_boot, nfsroot, template_bios, template_uefi, http, description, files_dir, uefi_chain, uefi_boot, kernel_arm64, initrd_arm64`

// AddProfile adds a new profile.
func (s *Store) AddProfile(ctx context.Context, actor Actor, p Profile) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getProfile(ctx, tx, p.Name); err == nil {
			return fmt.Errorf("profile %s already exists (use 'profile set' to change it)", p.Name)
		}
		if err := validateProfile(ctx, tx, p); err != nil {
			return err
		}
		if err := writeProfile(ctx, tx, p); err != nil {
			return err
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionProfileAdd, Target: p.Name, Result: "kind " + string(p.Kind)})
		return err
	})
	if err != nil {
		return fmt.Errorf("add profile %s: %w", p.Name, err)
	}
	return nil
}

// UpdateProfile applies change to a stored profile in one transaction. The
// nodes booting it get the new event number, so their rendered configs say
// which change they follow. A new kind or NFS root passes the boot guard
// for the clusters booting the profile.
func (s *Store) UpdateProfile(ctx context.Context, actor Actor, name, reason string, change func(*Profile) error) (Profile, error) {
	var p Profile
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = getProfile(ctx, tx, name)
		if err != nil {
			return err
		}
		old := p
		if err := change(&p); err != nil {
			return err
		}
		p.Name = name
		if err := validateProfile(ctx, tx, p); err != nil {
			return err
		}
		if err := writeProfile(ctx, tx, p); err != nil {
			return err
		}
		// Only a new root (or a new kind) points nodes somewhere new; a
		// changed description of a profile on a root that failed since
		// does not need --force.
		if p.Kind != old.Kind || p.NFSRoot != old.NFSRoot {
			if err := s.guardProfileUsers(ctx, tx, name); err != nil {
				return err
			}
		}
		names, err := queryNames(ctx, tx, `SELECT n.name FROM nodes n JOIN clusters c ON n.cluster = c.name WHERE c.profile = ?`, name)
		if err != nil {
			return err
		}
		id, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionProfileSet, Nodes: names, Target: name, Reason: reason})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE nodes SET event = ? WHERE cluster IN (SELECT name FROM clusters WHERE profile = ?)`, id, name)
		return err
	})
	if err != nil {
		return Profile{}, fmt.Errorf("set profile %s: %w", name, err)
	}
	return p, nil
}

// RemoveProfile deletes a profile no cluster uses.
func (s *Store) RemoveProfile(ctx context.Context, actor Actor, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getProfile(ctx, tx, name); err != nil {
			return err
		}
		users, err := queryNames(ctx, tx, `SELECT name FROM clusters WHERE profile = ?`, name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("cluster %s uses it", users[0])
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE name = ?`, name); err != nil {
			return err
		}
		_, err = s.appendEvent(ctx, tx, actor, Event{Action: ActionProfileRemove, Source: name})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove profile %s: %w", name, err)
	}
	return nil
}

func queryNames(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	SortNames(out)
	return out, rows.Err()
}
