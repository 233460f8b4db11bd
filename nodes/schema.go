package nodes

// migrations are applied in order on open; PRAGMA user_version records how
// many have run. Never edit a migration that has shipped: append a new one.
var migrations = []string{
	// 1: the whole first schema.
	`
CREATE TABLE profiles (
	name            TEXT PRIMARY KEY,
	kind            TEXT NOT NULL CHECK (kind IN ('linux','localdisk','nfsroot','template')),
	kernel          TEXT NOT NULL DEFAULT '',
	initrd          TEXT NOT NULL DEFAULT '',
	append          TEXT NOT NULL DEFAULT '',
	local_boot      TEXT NOT NULL DEFAULT '',
	chain_partition INTEGER NOT NULL DEFAULT 0,
	uefi_local_boot TEXT NOT NULL DEFAULT '',
	nfsroot         TEXT REFERENCES nfsroots(name),
	template_bios   TEXT NOT NULL DEFAULT '',
	template_uefi   TEXT NOT NULL DEFAULT '',
	http            INTEGER NOT NULL DEFAULT 0,
	description     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE boot_files (
	profile TEXT NOT NULL REFERENCES profiles(name) ON DELETE CASCADE ON UPDATE CASCADE,
	key     TEXT NOT NULL CHECK (key IN ('bios','uefi','arm64','ipxe')),
	file    TEXT NOT NULL,
	PRIMARY KEY (profile, key)
);
CREATE TABLE clusters (
	name        TEXT PRIMARY KEY,
	profile     TEXT NOT NULL REFERENCES profiles(name),
	description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE nodes (
	name        TEXT PRIMARY KEY,
	mac         TEXT NOT NULL UNIQUE,
	ip          TEXT NOT NULL UNIQUE,
	cluster     TEXT NOT NULL REFERENCES clusters(name),
	masked      INTEGER NOT NULL DEFAULT 0,
	mask_reason TEXT NOT NULL DEFAULT '',
	event       INTEGER NOT NULL DEFAULT 0,
	last_seen   INTEGER NOT NULL DEFAULT 0,
	firmware    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX nodes_cluster ON nodes(cluster);
CREATE TABLE subnets (
	prefix      TEXT PRIMARY KEY,
	routers     TEXT NOT NULL DEFAULT '',
	dns         TEXT NOT NULL DEFAULT '',
	domain      TEXT NOT NULL DEFAULT '',
	next_server TEXT NOT NULL DEFAULT '',
	lease_secs  INTEGER NOT NULL DEFAULT 0,
	extra       TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE nfsroots (
	name           TEXT PRIMARY KEY,
	server         TEXT NOT NULL,
	export         TEXT NOT NULL,
	kernel         TEXT NOT NULL DEFAULT '',
	initrd         TEXT NOT NULL DEFAULT '',
	kernel_version TEXT NOT NULL DEFAULT '',
	options        TEXT NOT NULL DEFAULT '',
	checked_at     INTEGER NOT NULL DEFAULT 0,
	check_ok       INTEGER NOT NULL DEFAULT 0,
	check_result   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE ssh_keys (
	fingerprint TEXT PRIMARY KEY,
	public_key  TEXT NOT NULL,
	role        TEXT NOT NULL CHECK (role IN ('read','operate')),
	comment     TEXT NOT NULL DEFAULT '',
	added_at    INTEGER NOT NULL
);
CREATE TABLE events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	channel TEXT NOT NULL,
	origin  TEXT NOT NULL DEFAULT '',
	action  TEXT NOT NULL,
	nodes   TEXT NOT NULL DEFAULT '',
	source  TEXT NOT NULL DEFAULT '',
	target  TEXT NOT NULL DEFAULT '',
	reason  TEXT NOT NULL DEFAULT '',
	result  TEXT NOT NULL DEFAULT ''
);
-- event_nodes lets "log umu[18-19]" find entries by node without parsing
-- the compressed range text; it deliberately has no foreign key so history
-- survives "node rm".
CREATE TABLE event_nodes (
	event INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
	node  TEXT NOT NULL,
	PRIMARY KEY (node, event)
) WITHOUT ROWID;
CREATE INDEX events_time ON events(time);
`,
	// 2: generation, a counter that every change to what a boot answer is
	// made from bumps, whoever makes it (node-switch or a hand-run sqlite3):
	// the DHCP cache rereads the inventory when, and only when, it moved.
	// Bookkeeping does not bump it: the logbook (events, event_nodes), the
	// sightings flush (nodes.last_seen, nodes.firmware), NFS-root check
	// results, SSH keys. The triggers run for each row, so a move of 500
	// nodes bumps it 500 times in its one transaction; readers compare, they
	// do not count.
	`
CREATE TABLE generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT INTO generation (id, n) VALUES (1, 1);
CREATE TRIGGER nodes_gen_insert AFTER INSERT ON nodes BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER nodes_gen_delete AFTER DELETE ON nodes BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER nodes_gen_update AFTER UPDATE OF name, mac, ip, cluster, masked, mask_reason, event ON nodes
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER clusters_gen_insert AFTER INSERT ON clusters BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER clusters_gen_delete AFTER DELETE ON clusters BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER clusters_gen_update AFTER UPDATE ON clusters BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER profiles_gen_insert AFTER INSERT ON profiles BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER profiles_gen_delete AFTER DELETE ON profiles BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER profiles_gen_update AFTER UPDATE ON profiles BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER boot_files_gen_insert AFTER INSERT ON boot_files BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER boot_files_gen_delete AFTER DELETE ON boot_files BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER boot_files_gen_update AFTER UPDATE ON boot_files BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER subnets_gen_insert AFTER INSERT ON subnets BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER subnets_gen_delete AFTER DELETE ON subnets BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER subnets_gen_update AFTER UPDATE ON subnets BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER nfsroots_gen_insert AFTER INSERT ON nfsroots BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER nfsroots_gen_delete AFTER DELETE ON nfsroots BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER nfsroots_gen_update AFTER UPDATE OF name, server, export, kernel, initrd, kernel_version, options ON nfsroots
	BEGIN UPDATE generation SET n = n + 1; END;
`,
	// 3: unknown_macs, machines that asked for DHCP without a reservation
	// (nodes.Unknown). Bookkeeping, like the sightings: deliberately no
	// generation triggers, so a flood of spoofed MACs never makes the DHCP
	// cache reread the inventory. Times are Unix microseconds, so "newest
	// first" and the eviction of the least recently seen are exact.
	`
CREATE TABLE unknown_macs (
	mac          TEXT PRIMARY KEY,
	first_seen   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	times_seen   INTEGER NOT NULL DEFAULT 1,
	firmware     TEXT NOT NULL DEFAULT '',
	vendor_class TEXT NOT NULL DEFAULT '',
	interface    TEXT NOT NULL DEFAULT '',
	relay        TEXT NOT NULL DEFAULT '',
	hostname     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX unknown_macs_last_seen ON unknown_macs(last_seen);
`,
	// 4: profile kind files (the site's own boot loader configs from a
	// directory under the boot root). SQLite cannot alter a CHECK, so the
	// table is rebuilt: rows kept aside, dropped (which cascades to
	// boot_files, kept aside too), created again under its name and filled,
	// so the clusters' deferred references are satisfied again by commit.
	`
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE boot_files_keep AS SELECT profile, key, file FROM boot_files;
CREATE TEMP TABLE profiles_keep AS SELECT * FROM profiles;
DROP TABLE profiles;
CREATE TABLE profiles (
	name            TEXT PRIMARY KEY,
	kind            TEXT NOT NULL CHECK (kind IN ('linux','localdisk','nfsroot','template','files')),
	kernel          TEXT NOT NULL DEFAULT '',
	initrd          TEXT NOT NULL DEFAULT '',
	append          TEXT NOT NULL DEFAULT '',
	local_boot      TEXT NOT NULL DEFAULT '',
	chain_partition INTEGER NOT NULL DEFAULT 0,
	uefi_local_boot TEXT NOT NULL DEFAULT '',
	nfsroot         TEXT REFERENCES nfsroots(name),
	template_bios   TEXT NOT NULL DEFAULT '',
	template_uefi   TEXT NOT NULL DEFAULT '',
	http            INTEGER NOT NULL DEFAULT 0,
	description     TEXT NOT NULL DEFAULT '',
	files_dir       TEXT NOT NULL DEFAULT ''
);
INSERT INTO profiles (name, kind, kernel, initrd, append, local_boot, chain_partition, uefi_local_boot, nfsroot,
	template_bios, template_uefi, http, description)
SELECT name, kind, kernel, initrd, append, local_boot, chain_partition, uefi_local_boot, nfsroot,
	template_bios, template_uefi, http, description FROM profiles_keep;
INSERT INTO boot_files (profile, key, file) SELECT profile, key, file FROM boot_files_keep;
DROP TABLE profiles_keep;
DROP TABLE boot_files_keep;
CREATE TRIGGER profiles_gen_insert AFTER INSERT ON profiles BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER profiles_gen_delete AFTER DELETE ON profiles BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER profiles_gen_update AFTER UPDATE ON profiles BEGIN UPDATE generation SET n = n + 1; END;
`,
	// 5: boot once (move --once). once_cluster is where the node's next
	// boot goes instead of its cluster, NULL when no once is pending; the
	// boot server clears it when the node fetches that boot's config.
	// once_event is the logbook entry that set it (who, when, why). Both
	// decide a boot answer, so the nodes trigger is rebuilt to watch them.
	`
ALTER TABLE nodes ADD COLUMN once_cluster TEXT REFERENCES clusters(name);
ALTER TABLE nodes ADD COLUMN once_event INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER nodes_gen_update;
CREATE TRIGGER nodes_gen_update AFTER UPDATE OF name, mac, ip, cluster, masked, mask_reason, event, once_cluster, once_event ON nodes
	BEGIN UPDATE generation SET n = n + 1; END;
`,
	// 6: each node's BMC (power control): address and user only. The
	// password stays in the file the operator named (mode 0600 or
	// stricter, checked), so neither the inventory nor a copy of it holds
	// a secret. Not part of any boot answer: no generation triggers.
	`
CREATE TABLE bmcs (
	node          TEXT PRIMARY KEY REFERENCES nodes(name) ON DELETE CASCADE ON UPDATE CASCADE,
	host          TEXT NOT NULL,
	port          INTEGER NOT NULL DEFAULT 623 CHECK (port BETWEEN 1 AND 65535),
	user          TEXT NOT NULL,
	password_file TEXT NOT NULL
);
`,
	// 7: web_users, the web console's local accounts (like ssh_keys, local
	// to the head node). Nothing a node boots depends on them: no
	// generation triggers. hash is a PHC string ($argon2id$...), never the
	// password.
	`
CREATE TABLE web_users (
	name     TEXT PRIMARY KEY,
	role     TEXT NOT NULL CHECK (role IN ('read','operate')),
	hash     TEXT NOT NULL,
	added_at INTEGER NOT NULL
);
`,
	// 8: profiles.uefi_chain, which x86-64 UEFI loader chain a profile's
	// nodes get ('' = the signed shim -> GRUB chain when the boot root holds
	// it). Existing profiles keep '' and so move to the signed chain once
	// bootroot init installs it; profiles_gen_update already covers the
	// column.
	`
ALTER TABLE profiles ADD COLUMN uefi_chain TEXT NOT NULL DEFAULT '';
`,
	// 9: profiles.uefi_boot, how UEFI nodes boot from the network when
	// their firmware can do both ('' = PXE over TFTP, 'http' = native UEFI
	// HTTP boot). profiles_gen_update already covers the column.
	`
ALTER TABLE profiles ADD COLUMN uefi_boot TEXT NOT NULL DEFAULT '';
`,
	// 10: profiles.kernel_arm64 and initrd_arm64, what the profile's ARM64
	// nodes (option 93 = 11) boot in place of kernel and initrd ('' = the
	// profile has no ARM64 kernel: such a node is refused a config).
	// profiles_gen_update already covers the columns.
	`
ALTER TABLE profiles ADD COLUMN kernel_arm64 TEXT NOT NULL DEFAULT '';
ALTER TABLE profiles ADD COLUMN initrd_arm64 TEXT NOT NULL DEFAULT '';
`,
	// 11: web_tokens, API tokens of web users (web-user token add). Only
	// the SHA-256 of a token is kept: tokens are 32 random bytes, so a fast
	// hash is enough and the API costs no password hash per request. id is
	// the start of that hash, what list, rm and the logbook show. A token
	// goes with its user (ON DELETE CASCADE, and web-user rm deletes them
	// itself too). Nothing a node boots depends on them: no generation
	// triggers.
	`
CREATE TABLE web_tokens (
	id         TEXT PRIMARY KEY,
	web_user   TEXT NOT NULL REFERENCES web_users(name) ON DELETE CASCADE,
	hash       TEXT NOT NULL UNIQUE,
	comment    TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX web_tokens_user ON web_tokens(web_user);
`,
	// 12: boot_servers, which generation each boot server answers from
	// (servers.go).
	serversMigration,
}
