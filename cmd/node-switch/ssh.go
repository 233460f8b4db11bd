package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// hostKeyFlag is shared by "serve" (the SSH service) and "ssh hostkey" so
// both find the same key by default: beside the inventory, where a backup of
// /var/lib/node-switch takes it along.
func hostKeyFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "ssh-host-key", EnvVars: []string{"NODE_SWITCH_SSH_HOST_KEY"},
		Usage: "the SSH front door's ed25519 host key, generated on first start (default: ssh_host_ed25519_key beside the inventory)"}
}

func hostKeyPath(c *cli.Context, st *nodes.Store) string {
	if p := c.String("ssh-host-key"); p != "" {
		return p
	}
	return filepath.Join(st.Dir(), "ssh_host_ed25519_key")
}

type hostKeyInfo struct {
	Path        string `json:"path,omitempty"`  // not shown over SSH: the daemon's files are its own
	Fingerprint string `json:"fingerprint"`     // SHA256:..., what OpenSSH and Posh-SSH 3 show
	MD5         string `json:"fingerprint_md5"` // aa:bb:..., what older Posh-SSH/SSH.NET show
	PublicKey   string `json:"public_key"`      // for a known_hosts line
}

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "ssh-key",
			Usage: "keys allowed through the SSH front door (node-switch serve --ssh-listen)",
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "register a public key (ed25519 or RSA; OpenSSH .pub, RFC 4716 or PEM) with a role",
					ArgsUsage: "FILE (- for standard input)",
					Description: "Role read runs listing commands (status, node list, log ...); role operate also\n" +
						"move, mask, unmask, reboot and power on. Keys are checked at every login, so\n" +
						"'ssh-key rm' locks a key out at once.",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "role", Required: true, Usage: "read or operate"},
						&cli.StringFlag{Name: "comment", Usage: "who holds the key (default: the comment in the key file); shown in the logbook"},
						jsonFlag(),
					},
					Action: creatingStore(sshKeyAdd),
				},
				{
					Name:   "list",
					Usage:  "list registered keys",
					Flags:  []cli.Flag{jsonFlag()},
					Action: withStore(sshKeyList),
				},
				{
					Name:      "rm",
					Usage:     "unregister a key",
					ArgsUsage: "FINGERPRINT (SHA256:... as ssh-key list shows it, without SHA256:, or a start of it only one key has)",
					Action:    withStore(sshKeyRm),
				},
			},
		}
	})
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "ssh",
			Usage: "the SSH front door",
			Subcommands: []*cli.Command{{
				Name:  "hostkey",
				Usage: "print the front door's host key fingerprint, to pin on clients",
				Description: "On the head node it reads the key file 'serve' uses (generated on serve's first\n" +
					"start) and never writes one unless --generate is given, e.g. to pin the key\n" +
					"before the daemon first starts. Over SSH it shows the key of the daemon the\n" +
					"connection was made to, without reading or writing any file.",
				Flags: []cli.Flag{hostKeyFlag(), jsonFlag(),
					&cli.BoolFlag{Name: "generate", Usage: "generate the key if there is none yet (as serve does on its first start)"}},
				Action: withStore(sshHostKey),
			}},
		}
	})
}

// daemonHostKey is the context key under which an SSH session passes the
// daemon's host key to "ssh hostkey".
type daemonHostKey struct{}

// sshHostKey prints the front door's host key. A read command writes
// nothing: over SSH it shows the key the daemon serves with (the file there
// may not be the one --ssh-host-key names by default, and a read key must
// not create private keys on the head), locally it reads the file and
// generates it only when asked.
func sshHostKey(c *cli.Context, st *nodes.Store) error {
	var (
		pub  ssh.PublicKey
		path string
	)
	if envOf(c).Actor.Channel == nodes.ChannelSSH {
		k, ok := c.Context.Value(daemonHostKey{}).(ssh.PublicKey)
		if !ok || k == nil {
			return errors.New("ssh hostkey: this session does not know the daemon's host key")
		}
		pub = k
	} else {
		path = hostKeyPath(c, st)
		var signer ssh.Signer
		var err error
		if c.Bool("generate") {
			var created bool
			signer, created, err = sshfront.LoadOrCreateHostKey(path)
			if err == nil && created {
				fmt.Fprintf(c.App.ErrWriter, "generated a new host key in %s\n", path)
			}
		} else {
			signer, err = sshfront.LoadHostKey(path)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no SSH host key at %s yet: 'node-switch serve' generates it on its first start "+
					"(if serve runs with --ssh-host-key or NODE_SWITCH_SSH_HOST_KEY, give the same here), "+
					"or 'node-switch ssh hostkey --generate' makes it now", path)
			}
		}
		if err != nil {
			return err
		}
		pub = signer.PublicKey()
	}
	info := hostKeyInfo{Path: path, Fingerprint: ssh.FingerprintSHA256(pub), MD5: ssh.FingerprintLegacyMD5(pub), PublicKey: sshfront.AuthorizedLine(pub)}
	if c.Bool("json") {
		return printJSON(c, info)
	}
	fmt.Fprintf(c.App.Writer, "%s (%s)\nMD5:%s\n%s\n", info.Fingerprint, pub.Type(), info.MD5, info.PublicKey)
	return nil
}

func sshKeyAdd(c *cli.Context, st *nodes.Store) error {
	file, err := oneArg(c, "public key file")
	if err != nil {
		return err
	}
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(envOf(c).Stdin, 64<<10))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("ssh-key add %s: %w", file, err)
	}
	role, err := nodes.ParseRole(c.String("role"))
	if err != nil {
		return usageError("ssh-key add %s: %v", file, err)
	}
	pub, comment, err := sshfront.ParsePublicKey(data)
	if err != nil {
		return usageError("ssh-key add %s: %v", file, err)
	}
	if c.IsSet("comment") {
		comment = c.String("comment")
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	k, err := st.AddSSHKey(ctx, actorOf(c), nodes.SSHKey{
		Fingerprint: sshfront.Fingerprint(pub), PublicKey: sshfront.AuthorizedLine(pub), Role: role, Comment: comment})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, k)
	}
	fmt.Fprintf(c.App.Writer, "added %s %s role %s", pub.Type(), k.Fingerprint, k.Role)
	if k.Comment != "" {
		fmt.Fprintf(c.App.Writer, " (%s)", nodes.Escape(k.Comment))
	}
	fmt.Fprintf(c.App.Writer, " (logbook #%d)\n", logged())
	return nil
}

func sshKeyList(c *cli.Context, st *nodes.Store) error {
	ks, err := st.SSHKeys(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, ks)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tROLE\tADDED\tCOMMENT")
	for _, k := range ks {
		typ := "?"
		if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey)); err == nil {
			typ = pk.Type()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, typ, k.Role, k.AddedAt.Format("2006-01-02"), nodes.Escape(k.Comment))
	}
	return tw.Flush()
}

func sshKeyRm(c *cli.Context, st *nodes.Store) error {
	fp, err := oneArg(c, "fingerprint")
	if err != nil {
		return err
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	k, err := st.RemoveSSHKey(ctx, actorOf(c), fp)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed %s role %s", k.Fingerprint, k.Role)
	if k.Comment != "" {
		fmt.Fprintf(c.App.Writer, " (%s)", nodes.Escape(k.Comment))
	}
	fmt.Fprintf(c.App.Writer, " (logbook #%d)\n", logged())
	return nil
}
