package nodes

// pgMigrations are migrations (schema.go) on PostgreSQL, one for one: the
// same number, the same tables and columns, the same trigger-maintained
// generation counter, so a store reports the same schema version and gives
// the same results on either backend (TestBackendsAgree). Append a new
// SQLite migration and its PostgreSQL twin together; TestMigrationsInStep
// fails until both exist.
//
// Differences that are spelling, not meaning: INTEGER is BIGINT (SQLite's
// integers are 64-bit); text compares and sorts byte-wise (COLLATE "C", as
// SQLite's BINARY does, whatever the database's locale); a table is created
// before a table referring to it; a CHECK is altered in place instead of
// rebuilding the table; "user" is quoted (a reserved word). The schema
// version is in node_switch_schema, PostgreSQL having no user_version.
var pgMigrations = []string{
	// 1: the whole first schema.
	`
CREATE TABLE nfsroots (
	name           TEXT COLLATE "C" PRIMARY KEY,
	server         TEXT COLLATE "C" NOT NULL,
	export         TEXT COLLATE "C" NOT NULL,
	kernel         TEXT COLLATE "C" NOT NULL DEFAULT '',
	initrd         TEXT COLLATE "C" NOT NULL DEFAULT '',
	kernel_version TEXT COLLATE "C" NOT NULL DEFAULT '',
	options        TEXT COLLATE "C" NOT NULL DEFAULT '',
	checked_at     BIGINT NOT NULL DEFAULT 0,
	check_ok       BIGINT NOT NULL DEFAULT 0,
	check_result   TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE profiles (
	name            TEXT COLLATE "C" PRIMARY KEY,
	kind            TEXT COLLATE "C" NOT NULL CONSTRAINT profiles_kind_check CHECK (kind IN ('linux','localdisk','nfsroot','template')),
	kernel          TEXT COLLATE "C" NOT NULL DEFAULT '',
	initrd          TEXT COLLATE "C" NOT NULL DEFAULT '',
	append          TEXT COLLATE "C" NOT NULL DEFAULT '',
	local_boot      TEXT COLLATE "C" NOT NULL DEFAULT '',
	chain_partition BIGINT NOT NULL DEFAULT 0,
	uefi_local_boot TEXT COLLATE "C" NOT NULL DEFAULT '',
	nfsroot         TEXT COLLATE "C" REFERENCES nfsroots(name),
	template_bios   TEXT COLLATE "C" NOT NULL DEFAULT '',
	template_uefi   TEXT COLLATE "C" NOT NULL DEFAULT '',
	http            BIGINT NOT NULL DEFAULT 0,
	description     TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE boot_files (
	profile TEXT COLLATE "C" NOT NULL REFERENCES profiles(name) ON DELETE CASCADE ON UPDATE CASCADE,
	key     TEXT COLLATE "C" NOT NULL CHECK (key IN ('bios','uefi','arm64','ipxe')),
	file    TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (profile, key)
);
CREATE TABLE clusters (
	name        TEXT COLLATE "C" PRIMARY KEY,
	profile     TEXT COLLATE "C" NOT NULL REFERENCES profiles(name),
	description TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE nodes (
	name        TEXT COLLATE "C" PRIMARY KEY,
	mac         TEXT COLLATE "C" NOT NULL UNIQUE,
	ip          TEXT COLLATE "C" NOT NULL UNIQUE,
	cluster     TEXT COLLATE "C" NOT NULL REFERENCES clusters(name),
	masked      BIGINT NOT NULL DEFAULT 0,
	mask_reason TEXT COLLATE "C" NOT NULL DEFAULT '',
	event       BIGINT NOT NULL DEFAULT 0,
	last_seen   BIGINT NOT NULL DEFAULT 0,
	firmware    TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX nodes_cluster ON nodes(cluster);
CREATE TABLE subnets (
	prefix      TEXT COLLATE "C" PRIMARY KEY,
	routers     TEXT COLLATE "C" NOT NULL DEFAULT '',
	dns         TEXT COLLATE "C" NOT NULL DEFAULT '',
	domain      TEXT COLLATE "C" NOT NULL DEFAULT '',
	next_server TEXT COLLATE "C" NOT NULL DEFAULT '',
	lease_secs  BIGINT NOT NULL DEFAULT 0,
	extra       TEXT COLLATE "C" NOT NULL DEFAULT '{}'
);
CREATE TABLE ssh_keys (
	fingerprint TEXT COLLATE "C" PRIMARY KEY,
	public_key  TEXT COLLATE "C" NOT NULL,
	role        TEXT COLLATE "C" NOT NULL CHECK (role IN ('read','operate')),
	comment     TEXT COLLATE "C" NOT NULL DEFAULT '',
	added_at    BIGINT NOT NULL
);
-- Logbook numbers without gaps, as SQLite gives them: a sequence would
-- burn a number on every rolled-back change. Safe because every writer
-- holds the write lock (store_pg.go) when it appends.
CREATE FUNCTION node_switch_next_event() RETURNS BIGINT LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT COALESCE(MAX(id), 0) + 1 FROM events);
END $$;
CREATE TABLE events (
	id      BIGINT PRIMARY KEY DEFAULT node_switch_next_event(),
	time    BIGINT NOT NULL,
	actor   TEXT COLLATE "C" NOT NULL,
	channel TEXT COLLATE "C" NOT NULL,
	origin  TEXT COLLATE "C" NOT NULL DEFAULT '',
	action  TEXT COLLATE "C" NOT NULL,
	nodes   TEXT COLLATE "C" NOT NULL DEFAULT '',
	source  TEXT COLLATE "C" NOT NULL DEFAULT '',
	target  TEXT COLLATE "C" NOT NULL DEFAULT '',
	reason  TEXT COLLATE "C" NOT NULL DEFAULT '',
	result  TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE event_nodes (
	event BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
	node  TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (node, event)
);
CREATE INDEX events_time ON events(time);
`,
	// 2: generation (see schema.go). On PostgreSQL a change of it also
	// notifies the channel node_switch_generation at commit, so every boot
	// server LISTENing learns of a boot-affecting commit without asking
	// (PgCommits); PostgreSQL folds the identical notifications of one
	// transaction into one.
	`
CREATE TABLE generation (
	id BIGINT PRIMARY KEY CHECK (id = 1),
	n  BIGINT NOT NULL
);
INSERT INTO generation (id, n) VALUES (1, 1);
CREATE FUNCTION node_switch_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE generation SET n = n + 1;
	RETURN NULL;
END $$;
CREATE FUNCTION node_switch_notify_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('node_switch_generation', '');
	RETURN NULL;
END $$;
CREATE TRIGGER generation_notify AFTER UPDATE ON generation FOR EACH ROW EXECUTE FUNCTION node_switch_notify_generation();
CREATE TRIGGER nodes_gen_insert AFTER INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER nodes_gen_delete AFTER DELETE ON nodes FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER nodes_gen_update AFTER UPDATE OF name, mac, ip, cluster, masked, mask_reason, event ON nodes
	FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER clusters_gen_insert AFTER INSERT ON clusters FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER clusters_gen_delete AFTER DELETE ON clusters FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER clusters_gen_update AFTER UPDATE ON clusters FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER profiles_gen_insert AFTER INSERT ON profiles FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER profiles_gen_delete AFTER DELETE ON profiles FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER profiles_gen_update AFTER UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER boot_files_gen_insert AFTER INSERT ON boot_files FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER boot_files_gen_delete AFTER DELETE ON boot_files FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER boot_files_gen_update AFTER UPDATE ON boot_files FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER subnets_gen_insert AFTER INSERT ON subnets FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER subnets_gen_delete AFTER DELETE ON subnets FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER subnets_gen_update AFTER UPDATE ON subnets FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER nfsroots_gen_insert AFTER INSERT ON nfsroots FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER nfsroots_gen_delete AFTER DELETE ON nfsroots FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
CREATE TRIGGER nfsroots_gen_update AFTER UPDATE OF name, server, export, kernel, initrd, kernel_version, options ON nfsroots
	FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
`,
	// 3: unknown_macs (see schema.go): bookkeeping, no generation triggers.
	`
CREATE TABLE unknown_macs (
	mac          TEXT COLLATE "C" PRIMARY KEY,
	first_seen   BIGINT NOT NULL,
	last_seen    BIGINT NOT NULL,
	times_seen   BIGINT NOT NULL DEFAULT 1,
	firmware     TEXT COLLATE "C" NOT NULL DEFAULT '',
	vendor_class TEXT COLLATE "C" NOT NULL DEFAULT '',
	interface    TEXT COLLATE "C" NOT NULL DEFAULT '',
	relay        TEXT COLLATE "C" NOT NULL DEFAULT '',
	hostname     TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX unknown_macs_last_seen ON unknown_macs(last_seen);
`,
	// 4: profile kind files. PostgreSQL alters the CHECK in place; the
	// profiles triggers stay as they are.
	`
ALTER TABLE profiles DROP CONSTRAINT profiles_kind_check;
ALTER TABLE profiles ADD CONSTRAINT profiles_kind_check CHECK (kind IN ('linux','localdisk','nfsroot','template','files'));
ALTER TABLE profiles ADD COLUMN files_dir TEXT COLLATE "C" NOT NULL DEFAULT '';
`,
	// 5: boot once; the nodes update trigger watches the new columns.
	`
ALTER TABLE nodes ADD COLUMN once_cluster TEXT COLLATE "C" REFERENCES clusters(name);
ALTER TABLE nodes ADD COLUMN once_event BIGINT NOT NULL DEFAULT 0;
DROP TRIGGER nodes_gen_update ON nodes;
CREATE TRIGGER nodes_gen_update AFTER UPDATE OF name, mac, ip, cluster, masked, mask_reason, event, once_cluster, once_event ON nodes
	FOR EACH ROW EXECUTE FUNCTION node_switch_bump_generation();
`,
	// 6: each node's BMC; not part of a boot answer.
	`
CREATE TABLE bmcs (
	node          TEXT COLLATE "C" PRIMARY KEY REFERENCES nodes(name) ON DELETE CASCADE ON UPDATE CASCADE,
	host          TEXT COLLATE "C" NOT NULL,
	port          BIGINT NOT NULL DEFAULT 623 CHECK (port BETWEEN 1 AND 65535),
	"user"        TEXT COLLATE "C" NOT NULL,
	password_file TEXT COLLATE "C" NOT NULL
);
`,
	// 7: web_users; not part of a boot answer.
	`
CREATE TABLE web_users (
	name     TEXT COLLATE "C" PRIMARY KEY,
	role     TEXT COLLATE "C" NOT NULL CHECK (role IN ('read','operate')),
	hash     TEXT COLLATE "C" NOT NULL,
	added_at BIGINT NOT NULL
);
`,
	// 8: profiles.uefi_chain (the profiles update trigger covers it).
	`
ALTER TABLE profiles ADD COLUMN uefi_chain TEXT COLLATE "C" NOT NULL DEFAULT '';
`,
	// 9: profiles.uefi_boot, pxe or http (likewise).
	`
ALTER TABLE profiles ADD COLUMN uefi_boot TEXT COLLATE "C" NOT NULL DEFAULT '';
`,
	// 10: per-architecture kernel and initrd (ARM64).
	`
ALTER TABLE profiles ADD COLUMN kernel_arm64 TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE profiles ADD COLUMN initrd_arm64 TEXT COLLATE "C" NOT NULL DEFAULT '';
`,
	// 11: web_tokens (see schema.go); not part of a boot answer.
	`
CREATE TABLE web_tokens (
	id         TEXT COLLATE "C" PRIMARY KEY,
	web_user   TEXT COLLATE "C" NOT NULL REFERENCES web_users(name) ON DELETE CASCADE,
	hash       TEXT COLLATE "C" NOT NULL UNIQUE,
	comment    TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX web_tokens_user ON web_tokens(web_user);
`,
	// 12: boot_servers (servers.go).
	serversMigrationPg,
}
