// Package readme runs README.md: every ```sh block, in document order,
// against the freshly built binary, so an example that stops working (a
// renamed flag, an unquoted range, a forgotten step) fails CI.
//
// The README's state carries from block to block as it does for a reader
// following it top to bottom: one inventory, one set of directories. The
// site's paths are moved under a temporary root by a fixed table (paths),
// and everything runs inside a network namespace "head" whose eno2 faces a
// namespace "nodes" where one sshd answers for every node (ForceCommand: a
// node-switch reboot reaches it but reboots nothing).
//
// A block that cannot run here is marked in the README source by an HTML
// comment right before it:
//
//	<!-- readme-test: skip (REASON) -->             not run; listed
//	<!-- readme-test: instead (REASON)
//	COMMANDS
//	-->                                              COMMANDS run in its place
//	<!-- readme-test: background (ready: "TEXT") --> started in the background (serve, demo);
//	                                                 stopped with Ctrl-C's SIGINT at the end of its section
//	<!-- readme-test: exit N (REASON) -->           must exit with status N
//	<!-- readme-test: needs PROG=PKG ... -->         skipped (listed) when a program or file is missing
//	<!-- readme-test: nfs-export PATH (REASON) -->   nfs-ganesha serves PATH from the head namespace
//	<!-- readme-test: output contains "S" ... -->    before a ```text block: the previous block's output has each S
//
// A ```crontab block's commands run in order, with the table's variables.
package readme

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
)

// paths are the site paths the README names, each moved under the test's
// root. Only these: a path the table misses is the machine's own, and a
// block writing there fails (or shows up in review of this table).
var paths = []string{
	"/etc/node-switch",
	"/var/lib/node-switch",
	"/srv/node-switch",
	"/srv/nfsroot",
	"/srv/tftp",
	"/usr/bin/node-switch",
	"/etc/systemd/system",
	"/etc/cron.d",
	"/etc/dhcp",
	"/etc/bash_completion.d",
	"/etc/default",
}

// standardDirs exist on any Debian head node before node-switch is
// installed; the README must create the others itself.
var standardDirs = []string{"/etc/systemd/system", "/etc/cron.d", "/etc/dhcp", "/etc/bash_completion.d", "/etc/default", "/usr/bin"}

// defaults are the binary's compiled-in paths, pointed under the root
// through their environment variables (the binary itself is unchanged).
var defaults = map[string]string{
	"NODE_SWITCH_DB":          "/var/lib/node-switch/inventory.db",
	"NODE_SWITCH_HOOKS_DIR":   "/etc/node-switch/hooks.d",
	"NODE_SWITCH_BOOT_ROOT":   "/srv/node-switch/boot",
	"NODE_SWITCH_REBOOT_KEY":  "/etc/node-switch/id_ed25519",
	"NODE_SWITCH_KNOWN_HOSTS": "/etc/node-switch/known_hosts",
}

// demoCache is the kernel cache the demo uses: the e2e suite's.
func demoCache(repo string) string {
	return cmp.Or(os.Getenv(assets.CacheEnv), filepath.Join(repo, "e2e", ".cache"))
}

// demoNetnsRE finds the namespace "demo" says it made; the README says
// Ctrl-C removes it.
var demoNetnsRE = regexp.MustCompile(`serving in network namespace (\S+)`)

// Addresses of the README's examples: the head (um64) and its nodes.
const (
	headAddrs = "10.20.0.1/16 192.168.1.1/24"
	nodeAddrs = "10.20.1.1/16 192.168.1.18/24 192.168.1.19/24 192.168.1.20/24 192.168.1.21/24 192.168.1.22/24 192.168.1.23/24"
	hostsFile = "127.0.0.1 localhost\n10.20.0.1 um64\n192.168.1.20 umu20\n192.168.1.21 umu21\n192.168.1.22 umu22\n192.168.1.23 umu23\n10.20.1.1 pc01\n"
)

type marker struct {
	kind   string   // skip, instead, background, exit, needs, nfs-export, output
	args   []string // words (quoted strings unquoted) before the reason
	reason string   // the parenthesised rest of the first line
	body   string   // lines after the first (instead)
}

type block struct {
	section string // the H2 heading it is under
	line    int    // README line of the opening fence
	lang    string
	body    string
	marker  *marker
}

var (
	markerRE = regexp.MustCompile(`^<!--\s*readme-test:\s*(\S+)\s*(.*)$`)
	wordRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|[^\s"(]+`)
)

// parse returns README's fenced blocks with their markers. A fence without
// a language is an error: every block says whether it is shell.
func parse(readme string) ([]block, error) {
	var (
		blocks  []block
		section string
		pending *marker
		lines   = strings.Split(readme, "\n")
	)
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "## "):
			section = strings.TrimPrefix(l, "## ")
			pending = nil
		case markerRE.MatchString(l):
			m := markerRE.FindStringSubmatch(l)
			first := m[2]
			var body []string
			for !strings.Contains(first, "-->") && i+1 < len(lines) && !strings.Contains(lines[i+1], "-->") {
				i++
				body = append(body, lines[i])
			}
			if !strings.Contains(first, "-->") {
				i++ // the closing line
			}
			first = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(first), "-->"))
			mk := &marker{kind: m[1], body: strings.Join(body, "\n")}
			if open := strings.Index(first, "("); open >= 0 {
				mk.reason = strings.TrimSuffix(strings.TrimSpace(first[open+1:]), ")")
				first = first[:open]
			}
			for _, w := range wordRE.FindAllString(first, -1) {
				if strings.HasPrefix(w, `"`) {
					u, err := strconv.Unquote(w)
					if err != nil {
						return nil, fmt.Errorf("README.md:%d: marker string %s: %v", i+1, w, err)
					}
					w = u
				}
				mk.args = append(mk.args, w)
			}
			pending = mk
		case strings.HasPrefix(l, "```"):
			lang := strings.TrimSpace(strings.TrimLeft(l, "`"))
			if lang == "" {
				return nil, fmt.Errorf("README.md:%d: a fenced block without a language: mark it ```sh (run by this test), ```text, ```powershell ...", i+1)
			}
			b := block{section: section, line: i + 1, lang: lang, marker: pending}
			var body []string
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				body = append(body, lines[i])
			}
			b.body = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, b)
			pending = nil
		case strings.TrimSpace(l) != "":
			pending = nil // a marker stands right before its block
		}
	}
	return blocks, nil
}

// site is the environment the README's commands run in.
type site struct {
	t        *testing.T
	root     string // stands for /
	work     string // the operator's working directory: a checkout
	bin      string
	head     *netlab.NS
	lab      *netlab.Lab
	replacer *strings.Replacer
	env      []string
	lastOut  string
	bg       []*background
	skipped  []string
	ran      int
}

// rewrite turns a README command into the one run here: the binary built
// once by netlab.Binary (and the demo's by netlab.DemoBinary) stands for
// "go run"/"go build", sudo is dropped
// (the test is root), and the site paths move under the root.
func (s *site) rewrite(text string) string {
	text = strings.ReplaceAll(text, "go build -o /usr/bin/node-switch ./cmd/node-switch", "install -m 755 "+s.bin+" /usr/bin/node-switch")
	text = strings.ReplaceAll(text, "go run ./cmd/node-switch-demo", netlab.DemoBinary(s.t)+" --node-switch "+s.bin)
	text = strings.ReplaceAll(text, "go run ./cmd/node-switch", s.bin)
	text = regexp.MustCompile(`(?m)^(\s*)sudo `).ReplaceAllString(text, "$1")
	return s.replacer.Replace(text)
}

// script wraps a block for bash: stop at the first failing command and say
// which README line it was; an unquoted glob that matches nothing (such as
// an unquoted node range) is an error instead of passing through by luck.
func script(body string, fenceLine int) string {
	return fmt.Sprintf("set -eE -o pipefail; shopt -s failglob; trap 'echo \"README.md:$((%d+LINENO-1)): exit $?: $BASH_COMMAND\" >&2' ERR\n%s", fenceLine, body)
}

func (s *site) command(text string) *exec.Cmd {
	cmd := s.head.Command("bash", "-c", text)
	cmd.Dir = s.work
	cmd.Env = s.env
	return cmd
}

func (s *site) run(b block, text string, wantExit int) {
	t := s.t
	t.Helper()
	out, err := s.command(script(s.rewrite(text), b.line)).CombinedOutput()
	s.lastOut = string(out)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("README.md:%d: %v", b.line, err)
		}
		code = ee.ExitCode()
	}
	if code != wantExit {
		t.Fatalf("README.md:%d: exit %d, want %d:\n%s\noutput:\n%s", b.line, code, wantExit, b.body, out)
	}
	s.ran++
	t.Logf("README.md:%d: ok (exit %d)", b.line, code)
}

type background struct {
	line int
	cmd  *exec.Cmd
	done chan error
	out  *netlab.SyncBuffer
}

func (s *site) start(b block, ready string) {
	t := s.t
	t.Helper()
	cmd := s.command(script(s.rewrite(b.body), b.line))
	var out netlab.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so SIGINT reaches every process of it as
	// Ctrl-C in a terminal does; bash dies with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("README.md:%d: %v", b.line, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	bg := &background{line: b.line, cmd: cmd, done: done, out: &out}
	s.bg = append(s.bg, bg)
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var exited error
	if !netlab.WaitFor(180*time.Second, func() bool {
		select {
		case err := <-done:
			exited = fmt.Errorf("exited: %v", err)
			done <- err
			return true
		default:
		}
		return strings.Contains(out.String(), ready)
	}) || exited != nil {
		t.Fatalf("README.md:%d: %q never printed %q (%v):\n%s", b.line, b.body, ready, exited, out.String())
	}
	s.ran++
	t.Logf("README.md:%d: running in the background", b.line)
	s.lastOut = out.String()
}

// stopAll sends SIGINT (Ctrl-C) to each background block; each must stop
// by itself, successfully.
func (s *site) stopAll() {
	t := s.t
	for _, bg := range s.bg {
		syscall.Kill(-bg.cmd.Process.Pid, syscall.SIGINT)
		select {
		case err := <-bg.done:
			if err != nil {
				t.Errorf("README.md:%d: after Ctrl-C: %v", bg.line, err)
			}
		case <-time.After(30 * time.Second):
			syscall.Kill(-bg.cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("README.md:%d: still running 30 s after Ctrl-C", bg.line)
		}
	}
	for _, bg := range s.bg {
		m := demoNetnsRE.FindStringSubmatch(bg.out.String())
		if m == nil {
			continue
		}
		if out, _ := exec.Command("ip", "netns", "list").Output(); regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `\b`).Match(out) {
			t.Errorf("namespace %s is left after Ctrl-C (the README says demo removes it)", m[1])
		}
	}
	s.bg = nil
}

func (s *site) skip(b block, reason string) {
	s.skipped = append(s.skipped, fmt.Sprintf("README.md:%d (%s): %s", b.line, b.section, reason))
	s.t.Logf("README.md:%d: skipped: %s", b.line, reason)
}

// missing says which of "program=package" (or absolute path) is absent.
func missing(needs []string) string {
	for _, n := range needs {
		prog, pkg, _ := strings.Cut(n, "=")
		if pkg == "" {
			pkg = prog
		}
		if filepath.IsAbs(prog) {
			if _, err := os.Stat(prog); err != nil {
				return fmt.Sprintf("needs %s (apt-get install %s)", prog, pkg)
			}
		} else if _, err := exec.LookPath(prog); err != nil {
			return fmt.Sprintf("needs %s (apt-get install %s)", prog, pkg)
		}
	}
	return ""
}

// crontab runs the commands of a cron.d table in order, as cron would (sh,
// the table's variables), each of which must succeed.
func (s *site) crontab(b block) {
	t := s.t
	var env []string
	sc := bufio.NewScanner(strings.NewReader(s.rewrite(b.body)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t") {
			env = append(env, k+"="+v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 7 {
			t.Fatalf("README.md:%d: not a cron.d entry (minute hour dom month dow user command): %s", b.line+n, line)
		}
		// The command is what follows the sixth field, as written.
		rest := line
		for i := 0; i < 6; i++ {
			rest = strings.TrimLeft(rest, " \t")
			rest = rest[strings.IndexAny(rest, " \t"):]
		}
		cmd := s.head.Command("sh", "-c", strings.TrimSpace(rest))
		cmd.Dir = s.work
		cmd.Env = append(append([]string{}, s.env...), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README.md:%d: cron entry failed: %v\n%s\n%s", b.line+n, err, line, out)
		}
		s.ran++
		t.Logf("README.md:%d: cron entry ok", b.line+n)
	}
}

func TestREADME(t *testing.T) {
	netlab.Require(t, "bash", "ssh=openssh-client", "ssh-keygen=openssh-client", "ssh-keyscan=openssh-client", "/usr/sbin/sshd=openssh-server")
	lab := netlab.New(t)
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	text, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, lab: lab, bin: netlab.Binary(t), root: filepath.Join(t.TempDir(), "root"), work: filepath.Join(t.TempDir(), "checkout")}
	var pairs []string
	for _, p := range paths {
		pairs = append(pairs, p, s.root+p)
	}
	s.replacer = strings.NewReplacer(pairs...)
	s.setUp(repo)
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		// The demo boots a VM where QEMU is installed. Its kernel is
		// fetched here, before the lab's namespaces (which reach no
		// network) run it, into the cache the demo is pointed at.
		t.Setenv(assets.CacheEnv, demoCache(repo))
		if _, err := assets.DebianKernel(); err != nil {
			t.Fatalf("the demo's kernel: %v", err)
		}
	}

	var sections []string
	bySection := map[string][]block{}
	for _, b := range blocks {
		if _, ok := bySection[b.section]; !ok {
			sections = append(sections, b.section)
		}
		bySection[b.section] = append(bySection[b.section], b)
	}
	for _, sec := range sections {
		t.Run(sec, func(t *testing.T) {
			s.t = t
			defer s.stopAll()
			var prev *block
			for _, b := range bySection[sec] {
				s.block(b, prev)
				prev = &b
			}
		})
	}
	s.t = t
	t.Logf("ran %d blocks and cron entries; skipped %d blocks:\n%s", s.ran, len(s.skipped), strings.Join(s.skipped, "\n"))
}

func (s *site) block(b block, prev *block) {
	t := s.t
	m := b.marker
	kind := ""
	if m != nil {
		kind = m.kind
	}
	switch kind {
	case "", "exit", "background", "needs", "skip", "instead", "nfs-export", "output":
	default:
		t.Fatalf("README.md:%d: unknown readme-test marker %q", b.line, kind)
	}
	switch {
	case kind == "skip":
		s.skip(b, m.reason)
	case kind == "instead":
		s.skip(b, "instead: "+m.reason)
		s.run(b, m.body+"\n", 0)
	case kind == "nfs-export":
		if len(m.args) != 1 {
			t.Fatalf("README.md:%d: nfs-export wants one path", b.line)
		}
		s.head.StartGanesha(netlab.GaneshaExport{Path: s.rewrite(m.args[0])})
	case kind == "output":
		if b.lang != "text" || prev == nil || prev.lang != "sh" {
			t.Fatalf("README.md:%d: an output check belongs on a ```text block right after a ```sh block", b.line)
		}
		for _, want := range m.args[1:] {
			if !strings.Contains(s.lastOut, want) {
				t.Errorf("README.md:%d: the output of README.md:%d has no %q:\n%s", b.line, prev.line, want, s.lastOut)
			}
		}
	case b.lang == "crontab":
		s.crontab(b)
	case b.lang != "sh":
		// text, powershell ...: not run here.
	case kind == "needs" && missing(m.args) != "":
		s.skip(b, missing(m.args))
	case kind == "background":
		ready := strings.TrimSpace(strings.TrimPrefix(m.reason, "ready:"))
		u, err := strconv.Unquote(ready)
		if err != nil {
			t.Fatalf("README.md:%d: background wants (ready: \"TEXT\"): %v", b.line, err)
		}
		s.start(b, u)
	case kind == "exit":
		code, err := strconv.Atoi(m.args[0])
		if err != nil {
			t.Fatalf("README.md:%d: exit wants a number: %v", b.line, err)
		}
		s.run(b, b.body, code)
	default:
		s.run(b, b.body, 0)
	}
}

// setUp builds the machine the README talks about: a checkout to work in,
// the site's standard directories, the files a site already has, the head
// and nodes namespaces, and an sshd on the nodes.
func (s *site) setUp(repo string) {
	t := s.t
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The checkout: the repository's files, by symbolic link, in a
	// directory of its own so the README's commands create files there.
	must(os.MkdirAll(s.work, 0o755))
	entries, err := os.ReadDir(repo)
	must(err)
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		abs, err := filepath.Abs(filepath.Join(repo, e.Name()))
		must(err)
		must(os.Symlink(abs, filepath.Join(s.work, e.Name())))
	}
	// Kernels are the site's (README: "Boot root"); their content is not looked at.
	must(os.WriteFile(filepath.Join(s.work, "vmlinuz"), []byte("not a kernel\n"), 0o644))
	must(os.WriteFile(filepath.Join(s.work, "initrd.gz"), []byte("not an initrd\n"), 0o644))
	for _, d := range append(standardDirs, "/root/.ssh") {
		must(os.MkdirAll(s.root+d, 0o755))
	}
	// The site's existing dhcpd.conf is the source system's.
	conf, err := os.ReadFile(filepath.Join(repo, "testdata", "um64-dhcpd.conf"))
	must(err)
	must(os.WriteFile(s.root+"/etc/dhcp/dhcpd.conf", conf, 0o644))

	s.env = append(os.Environ(), "HOME="+s.root+"/root", "PATH="+s.root+"/usr/bin:"+os.Getenv("PATH"),
		// The demo boots a VM where QEMU is installed: it shares the e2e
		// suite's kernel cache rather than fetch one per run.
		assets.CacheEnv+"="+demoCache(repo),
		// Belt and braces: the nodes' sshd runs a ForceCommand anyway.
		"NODE_SWITCH_REBOOT_COMMAND=echo node-switch README test: no reboot")
	for k, v := range defaults {
		s.env = append(s.env, k+"="+s.replacer.Replace(v))
	}

	s.head = s.lab.Namespace("head")
	nodesNS := s.lab.Namespace("nodes")
	s.lab.Veth(s.head, "eno2", nodesNS, "eth0")
	for _, a := range strings.Fields(headAddrs) {
		s.head.Addr("eno2", a)
	}
	for _, a := range strings.Fields(nodeAddrs) {
		nodesNS.Addr("eth0", a)
	}
	// "ip netns exec" binds /etc/netns/NAME/* over /etc: host names of
	// the examples, and an ssh client configuration whose known_hosts is
	// the one under the test's HOME (ssh itself takes ~ from passwd).
	etc := filepath.Join("/etc/netns", s.head.Name)
	t.Cleanup(func() {
		os.RemoveAll(etc)
		os.Remove("/etc/netns") // only if no one else's namespace has files there
	})
	must(os.MkdirAll(filepath.Join(etc, "ssh"), 0o755))
	must(os.WriteFile(filepath.Join(etc, "hosts"), []byte(hostsFile), 0o644))
	must(os.WriteFile(filepath.Join(etc, "ssh", "ssh_config"), []byte(fmt.Sprintf(
		"Host *\n  BatchMode yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile %s/root/.ssh/known_hosts\n  GlobalKnownHostsFile /dev/null\n  IdentitiesOnly yes\n  ConnectTimeout 30\n",
		s.root)), 0o644))

	// One sshd answers for every node. Its authorized key is the head's
	// reboot key (as if installed in each node's image, as the README
	// says); ForceCommand keeps a "reboot" from reaching this machine.
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	must(os.MkdirAll("/run/sshd", 0o755)) // sshd insists on its privilege separation directory
	sshdConf := filepath.Join(dir, "sshd_config")
	must(os.WriteFile(sshdConf, []byte(fmt.Sprintf(`Port 22
ListenAddress 0.0.0.0
HostKey %s
PidFile %s/sshd.pid
AuthorizedKeysFile %s/etc/node-switch/id_ed25519.pub
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
ForceCommand echo node-switch README test: no reboot
LogLevel ERROR
`, hostKey, dir, s.root)), 0o600))
	sshd := nodesNS.Start(nil, "/usr/sbin/sshd", "-D", "-e", "-f", sshdConf)
	if !netlab.WaitFor(30*time.Second, func() bool {
		_, err := s.head.Run("bash", "-c", "exec 3<>/dev/tcp/192.168.1.20/22")
		return err == nil || sshd.Exited()
	}) || sshd.Exited() {
		t.Fatalf("sshd did not start:\n%s", sshd.Output())
	}
}
