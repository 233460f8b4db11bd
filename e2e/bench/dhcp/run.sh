#!/bin/bash
# DHCP benchmark: perfdhcp (Debian's kea-admin) against node-switch, dnsmasq,
# ISC dhcpd and Kea (memfile), all with the same 10,000 reservations and the
# same boot file, in one invocation so every server sees the same machine at
# the same moment. Not a test: it prints numbers.
#
#   sudo e2e/bench/dhcp/run.sh            # from the repository root
#
# Env: RUNS=3 (rounds; medians are reported), SECS=10 (seconds per run),
#      MAXRATE=20000 (offered DORA/s in the throughput run), NODES=10000,
#      SERVERS="node-switch dnsmasq dhcpd kea", PROFILE=1 (also write a Go CPU
#      profile of node-switch under load and print its top functions),
#      OUT=/tmp/node-switch-bench-dhcp (logs, configs, results, profile),
#      NS_BIN=path (a node-switch binary to test instead of building this
#      checkout), NS_OLD_BIN=path (another build, e.g. of main, benchmarked
#      as server "node-switch-old" in the same rounds, with its own copy of
#      the inventory: before/after numbers from one run), LOGLOAD=N (logbook
#      entries per second written into each node-switch inventory by a
#      sqlite3 shell during the whole run, as SSH commands, hook output and
#      reboot results would; 0 = none).
#
#   sudo NS_OLD_BIN=/tmp/ns-main SERVERS="node-switch node-switch-old" PROFILE=0 e2e/bench/dhcp/run.sh
#
# Server node-switch-pg is node-switch on a PostgreSQL inventory (Debian's
# postgresql, started here as user nobody on a unix socket under $OUT/pg,
# filled with migrate-db from the same import): the in-memory snapshot
# should make its CPU per exchange the same as on SQLite.
#
#   sudo SERVERS="node-switch node-switch-pg" PROFILE=0 e2e/bench/dhcp/run.sh
#
# Every server gets its fastest reasonable setup: dnsmasq --no-ping (it would
# otherwise ping each reserved address before offering it, as node-switch
# does not), Kea with multi-threading (2 threads), ISC dhcpd as packaged.
#
# Each server runs in its own network namespace, joined by a veth to a client
# namespace where perfdhcp runs as a relay agent (giaddr = its own address,
# source port 67), so servers answer by unicast to giaddr exactly as they
# would behind a router. Nothing leaves the namespaces.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, port 67)" >&2; exit 1; }

RUNS=${RUNS:-3}
SECS=${SECS:-10}
MAXRATE=${MAXRATE:-20000}
NODES=${NODES:-10000}
SERVERS=${SERVERS:-"node-switch dnsmasq dhcpd kea"}
PROFILE=${PROFILE:-1}
OUT=${OUT:-/tmp/node-switch-bench-dhcp}
NS_OLD_BIN=${NS_OLD_BIN:-}
LOGLOAD=${LOGLOAD:-0}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PKGS="kea-admin kea-dhcp4-server isc-dhcp-server dnsmasq-base iproute2"
[ "$LOGLOAD" = 0 ] || PKGS="$PKGS sqlite3"
if [[ " $SERVERS " == *" node-switch-old "* ]] && [ ! -x "$NS_OLD_BIN" ]; then
	echo "server node-switch-old needs NS_OLD_BIN=path of that build" >&2; exit 1
fi

missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
# Debian starts the packaged servers on install; they must not hold port 67
# or answer anything outside our namespaces.
for s in isc-dhcp-server kea-dhcp4-server; do systemctl stop "$s" 2>/dev/null || true; done

rm -rf "$OUT"; mkdir -p "$OUT"
TAG=nsb$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for s in $SERVERS; do
		ip netns del "$TAG-s-$s" 2>/dev/null || true
		ip netns del "$TAG-c-$s" 2>/dev/null || true
	done
}
trap cleanup EXIT INT TERM

# Pin the server under test and perfdhcp to different CPUs so they do not
# take turns on one (perfdhcp needs a whole CPU to offer these rates).
SRVCPU=(); CLICPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	SRVCPU=(taskset -c 1); CLICPU=(taskset -c 0)
fi

log() { echo "[$(date +%T)] $*" >&2; }

# --- the shared reservations --------------------------------------------
# node i: MAC 02:b0:00:00:hi:lo, address 10.80.(1+i/250).(1+i%250); one
# subnet 10.80.0.0/16 with router 10.80.0.1; servers at 10.80.0.1, perfdhcp
# (the relay) at 10.80.0.2.
SRV=10.80.0.1
CLI=10.80.0.2
BOOT=bench/pxelinux.0
gen() {
	local i
	for ((i = 0; i < NODES; i++)); do
		printf '%s 02:b0:00:00:%02x:%02x 10.80.%d.%d\n' "$(printf 'n%05d' $i)" $((i >> 8)) $((i & 255)) $((1 + i / 250)) $((1 + i % 250))
	done
}
gen > "$OUT/reservations.txt"
awk '{print $2}' "$OUT/reservations.txt" > "$OUT/macs.txt"

# ISC dhcpd.conf in the source system's shape; node-switch imports the same file.
{
	echo 'default-lease-time 3600; max-lease-time 3600; authoritative;'
	echo "subnet 10.80.0.0 netmask 255.255.0.0 { option routers $SRV; }"
	echo 'group {'
	echo "filename \"$BOOT\";"
	awk '{printf "host %s {hardware ethernet %s;\nfixed-address %s; }\n", $1, $2, $3}' "$OUT/reservations.txt"
	echo '}'
} > "$OUT/dhcpd.conf"
# dnsmasq: static range = reservations only.
awk '{print $2 "," $3}' "$OUT/reservations.txt" > "$OUT/dnsmasq.hosts"
# Kea: reservations only (no pool), memfile.
{
	cat <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "veth0" ], "dhcp-socket-type": "udp" },
  "lease-database": { "type": "memfile", "name": "$OUT/kea/leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": 3600,
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 },
  "next-server": "$SRV",
  "boot-file-name": "$BOOT",
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": "stdout" } ] } ],
  "subnet4": [ {
    "id": 1, "subnet": "10.80.0.0/16",
    "option-data": [ { "name": "routers", "data": "$SRV" } ],
    "reservations-global": false, "reservations-in-subnet": true, "reservations-out-of-pool": true,
    "reservations": [
EOF
	awk '{printf "%s      { \"hw-address\": \"%s\", \"ip-address\": \"%s\" }", (NR>1?",\n":""), $2, $3}' "$OUT/reservations.txt"
	printf '\n    ] } ] } }\n'
} > "$OUT/kea.json"
mkdir -p "$OUT/kea"

if [ -z "${NS_BIN:-}" ]; then
	log "building node-switch"
	(cd "$ROOT" && go build -o "$OUT/node-switch" ./cmd/node-switch)
	NS_BIN=$OUT/node-switch
fi
# Each node-switch build gets its own inventory, made by itself (an older
# build refuses a newer schema).
declare -A NSBIN=([node-switch]=$NS_BIN [node-switch-old]=$NS_OLD_BIN [node-switch-pg]=$NS_BIN)
declare -A NSDB=([node-switch]=$OUT/node-switch.db [node-switch-old]=$OUT/node-switch-old.db [node-switch-pg]=$OUT/node-switch-pg.db)
for s in $SERVERS; do
	case $s in node-switch*) ;; *) continue ;; esac
	"${NSBIN[$s]}" --db "$OUT/$s.db" import dhcpd "$OUT/dhcpd.conf" >"$OUT/$s.import.log" 2>&1 ||
		{ cat "$OUT/$s.import.log" >&2; exit 1; }
done
if [[ " $SERVERS " == *" node-switch-pg "* ]]; then
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$PGBIN/postgres" ] || { apt-get install -y --no-install-recommends postgresql; PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); }
	mkdir -p "$OUT/pg"; chown nobody:nogroup "$OUT/pg"
	setpriv --reuid nobody --regid nogroup --clear-groups "$PGBIN/initdb" -D "$OUT/pg/data" -U postgres --auth=trust --locale=C >"$OUT/pg.initdb.log" 2>&1
	setpriv --reuid nobody --regid nogroup --clear-groups "$PGBIN/postgres" -D "$OUT/pg/data" -k "$OUT/pg" -c listen_addresses= >"$OUT/pg.log" 2>&1 &
	PIDS+=("$!")
	for _ in $(seq 100); do [ -S "$OUT/pg/.s.PGSQL.5432" ] && break; sleep 0.1; done
	sleep 0.5
	"$PGBIN/psql" -h "$OUT/pg" -U postgres -qc 'CREATE DATABASE bench' postgres
	NSDB[node-switch-pg]="postgres://postgres@/bench?host=$OUT/pg"
	"$NS_BIN" migrate-db --from "$OUT/node-switch-pg.db" --to "${NSDB[node-switch-pg]}" >"$OUT/node-switch-pg.migrate.log" 2>&1 ||
		{ cat "$OUT/node-switch-pg.migrate.log" >&2; exit 1; }
fi

# --- namespaces and servers -----------------------------------------------
net_up() { # $1 server name
	local s=$TAG-s-$1 c=$TAG-c-$1
	ip netns add "$s"; ip netns add "$c"
	ip -n "$s" link set lo up; ip -n "$c" link set lo up
	ip -n "$s" link add veth0 type veth peer name veth0 netns "$c"
	ip -n "$s" addr add $SRV/16 dev veth0; ip -n "$s" link set veth0 up
	ip -n "$c" addr add $CLI/16 dev veth0; ip -n "$c" link set veth0 up
}

start_server() { # $1 name [extra args for node-switch]
	local name=$1; shift
	local s=$TAG-s-$name
	case $name in
	node-switch*)
		ip netns exec "$s" "${SRVCPU[@]}" "${NSBIN[$name]}" --db "${NSDB[$name]}" serve --interface veth0 \
			--tftp-listen= --http-listen= --ssh-listen= "$@" >"$OUT/$name.log" 2>&1 &
		;;
	dnsmasq)
		ip netns exec "$s" "${SRVCPU[@]}" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=veth0 \
			--bind-interfaces --dhcp-range=10.80.0.0,static,255.255.0.0,1h --dhcp-hostsfile="$OUT/dnsmasq.hosts" \
			--dhcp-ignore=tag:!known --dhcp-boot="$BOOT" --dhcp-lease-max=100000 --no-ping \
			--dhcp-leasefile="$OUT/dnsmasq.leases" --pid-file="$OUT/dnsmasq.pid" >"$OUT/$name.log" 2>&1 &
		;;
	dhcpd)
		: >"$OUT/dhcpd.leases"
		ip netns exec "$s" "${SRVCPU[@]}" dhcpd -4 -f -q -cf "$OUT/dhcpd.conf" -lf "$OUT/dhcpd.leases" -pf "$OUT/dhcpd.pid" \
			veth0 >"$OUT/$name.log" 2>&1 &
		;;
	kea)
		rm -f "$OUT/kea/"*
		KEA_PIDFILE_DIR=$OUT/kea KEA_LOCKFILE_DIR=$OUT/kea ip netns exec "$s" "${SRVCPU[@]}" kea-dhcp4 -c "$OUT/kea.json" \
			>"$OUT/$name.log" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
}

# exec_pid PID: "ip netns exec" and taskset exec the server in place, so
# PID is the server once they are done; wait for that.
exec_pid() {
	local i
	for i in $(seq 50); do
		case $(cat "/proc/$1/comm" 2>/dev/null) in ip | taskset) sleep 0.1 ;; *) break ;; esac
	done
	echo "$1"
}

stop_server() { # pid
	kill "$1" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
}

# cpu_ticks PID: user + system CPU the process (all its threads) has used,
# in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# perfdhcp run: prints "rate drops_pct cpu_us" (4-way exchanges/s, % of
# exchanges not completed, server CPU microseconds per completed exchange).
# perfdhcp on its one CPU runs out before the faster servers do, so DORA/s
# alone cannot rank them; the server's CPU per exchange is what sets how many
# nodes it can serve per second of CPU, and is the figure ratios are taken of.
perf() { # $1 server, $2 rate, $3 seconds, $4 log
	local pid=${SPID[$1]:-0} t0 t1
	t0=$(cpu_ticks "$pid")
	ip netns exec "$TAG-c-$1" "${CLICPU[@]}" perfdhcp -4 -r "$2" -p "$3" -R "$NODES" -M "$OUT/macs.txt" -l "$CLI" "$SRV" >"$4" 2>&1 || true
	t1=$(cpu_ticks "$pid")
	awk -v ticks=$((t1 - t0)) -v hz="$CLK_TCK" '
		/^Rate:/ { rate = $2 }
		/sent packets:/ { gsub(",", ""); sent[++n] = $3 }
		/received packets:/ { gsub(",", ""); recv[++k] = $3 }
		/drops:/ { gsub(",", ""); for (i = 1; i <= NF; i++) if ($i == "drops:") drops[++m] = $(i+1) }
		END {
			# drops of DISCOVER-OFFER + REQUEST-ACK over DISCOVERs sent;
			# completed exchanges = ACKs received
			d = drops[1] + drops[2]; s = sent[1]
			printf "%s %.2f %.1f\n", (rate == "" ? 0 : rate), (s > 0 ? 100 * d / s : 100),
				(recv[2] > 0 ? ticks * 1000000 / hz / recv[2] : 0)
		}' "$4"
}

ready() { # $1 server: wait until it completes exchanges
	local i rate
	for i in $(seq 30); do
		read -r rate _ < <(perf "$1" 50 1 "$OUT/$1.ready.log")
		awk -v r="$rate" 'BEGIN { exit !(r > 0) }' && return 0
		sleep 0.5
	done
	log "$1 does not answer; see $OUT/$1.log and $OUT/$1.ready.log"; return 1
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $SERVERS; do net_up "$s"; done
declare -A SPID
for s in $SERVERS; do start_server "$s"; SPID[$s]=$(exec_pid "$SERVER_PID"); done
for s in $SERVERS; do ready "$s"; done
log "servers ready: $SERVERS"

# The logbook load: one sqlite3 shell per inventory, fed LOGLOAD inserts a
# second (a commit that changes no answer).
if [ "$LOGLOAD" != 0 ]; then
	gap=$(awk -v n="$LOGLOAD" 'BEGIN { print 1 / n }')
	for s in $SERVERS; do
		case $s in node-switch*) ;; *) continue ;; esac
		while sleep "$gap"; do
			echo "INSERT INTO events (time, actor, channel, action, result) VALUES (strftime('%s'), 'bench', 'cli', 'note', 'logbook load');"
		done | sqlite3 -cmd '.timeout 30000' "$OUT/$s.db" &
		PIDS+=("$!")
	done
	log "logbook load: $LOGLOAD entries/s into each node-switch inventory"
fi

# Rounds interleave the servers so a noisy moment hits all of them alike.
declare -A RATE DROP LOW CPU
for ((r = 1; r <= RUNS; r++)); do
	for s in $SERVERS; do
		read -r rate drop cpu < <(perf "$s" "$MAXRATE" "$SECS" "$OUT/$s.max.$r.log")
		read -r _ low _ < <(perf "$s" 1000 "$SECS" "$OUT/$s.1000.$r.log")
		RATE[$s]+="$rate "; DROP[$s]+="$drop "; LOW[$s]+="$low "; CPU[$s]+="$cpu "
		log "round $r $s: $rate DORA/s offered $MAXRATE (drops $drop%, $cpu CPU µs per exchange), drops at 1000/s: $low%"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

ns_rate=$(echo "${RATE[node-switch]:-0}" | median)
ns_cpu=$(echo "${CPU[node-switch]:-0}" | median)
{
	echo "DHCP benchmark $(date -u +%F) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
	echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every server alike only roughly)"
	echo "perfdhcp -4 -r RATE -p $SECS -R $NODES -M macs.txt -l $CLI $SRV  (relay mode), $NODES reservations, medians of $RUNS runs"
	[ "$LOGLOAD" = 0 ] || echo "logbook load: $LOGLOAD entries/s into each node-switch inventory throughout"
	echo "CPU µs/exch: the server's CPU time per completed exchange at the max rate; capacity = 10^6 / it (DORA/s per CPU)."
	echo "DORA/s is capped by perfdhcp itself on its one CPU when a server has CPU to spare."
	printf '%-16s %10s %12s %12s %12s %12s %10s %10s\n' server "DORA/s" "drops@max %" "drops@1000%" "CPU µs/exch" "capacity/s" "rate ratio" "capacity ratio"
	for s in $SERVERS; do
		m=$(echo "${RATE[$s]}" | median)
		c=$(echo "${CPU[$s]}" | median)
		ratio=$(awk -v a="$ns_rate" -v b="$m" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
		cratio=$(awk -v a="$ns_cpu" -v b="$c" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }')
		printf '%-16s %10.0f %12s %12s %12s %12s %10s %10s\n' "$s" "$m" "$(echo "${DROP[$s]}" | median)" "$(echo "${LOW[$s]}" | median)" \
			"$c" "$(awk -v c="$c" 'BEGIN { if (c > 0) printf "%.0f", 1000000 / c; else print "-" }')" "$ratio" "$cratio"
	done
} | tee "$OUT/results.txt"

if [ "$PROFILE" = 1 ] && [[ " $SERVERS " == *" node-switch "* ]]; then
	log "profiling node-switch under perfdhcp load"
	stop_server "${SPID[node-switch]}"
	start_server node-switch --dhcp-cpuprofile "$OUT/node-switch.cpu.pprof"
	SPID[node-switch]=$(exec_pid "$SERVER_PID")
	ready node-switch
	perf node-switch "$MAXRATE" "$SECS" "$OUT/node-switch.profile.log" >/dev/null
	stop_server "$SERVER_PID"
	(cd "$ROOT" && go tool pprof -top -nodecount=25 "$NS_BIN" "$OUT/node-switch.cpu.pprof" 2>/dev/null) |
		tee "$OUT/profile-top.txt" | head -35
fi
log "logs, configs and results in $OUT"
