#!/bin/bash
# TFTP/HTTP boot storm (issue 7, benchmarks 2 and 3): N clients at once each
# fetch pxelinux.0 + ldlinux.c32 + a 10 MiB kernel + a 40 MiB initrd with
# blksize 1468, from node-switch, tftpd-hpa and dnsmasq's TFTP in turn, and
# (HTTP mode) the same with kernel + initrd over node-switch's HTTP endpoint.
# All servers see the same machine at the same moment: one invocation runs
# every competitor, ROUNDS times each, interleaved.
#
# Network: a server namespace and a client namespace (10.88.0.0/24, MTU
# 1500) joined by a wire with a one-way delay of DELAY and a loss of LOSS,
# each direction. What makes the wire (WIRE):
#   auto   netem where the kernel has sch_netem, else wanem (the default)
#   netem  one veth, tc netem delay + loss on both ends
#   wanem  server eth0 <-veth-> w0 [relay] w1 <-veth-> client eth0, the relay
#          being e2e/bench/wanem (a userspace L2 wire emulator, delay and loss
#          per frame) in a third namespace. It uses the machine's CPU, which
#          the servers then lack: 0.6 to 1.6 CPU-s per 100,000 frames (the
#          receiving veth's softirq included), 0.6-0.7 of a CPU in a full-size
#          node-switch N=50 run, and it falls behind (frames leave later
#          than DELAY) above ~100,000 frames/s on 2 CPUs. It runs at nice
#          RELAY_NICE (-10: a wire does not wait for the hosts' CPU; this
#          halves its lateness). Each run line gives relay_cpu_s and
#          relay_late_us (mean lateness after DELAY: tens of µs in TFTP
#          storms, milliseconds in HTTP ones, whose TCP bursts queue up in
#          the relay, so the HTTP rows also measure the relay).
#   nft    one veth, loss only: an nftables numgen rule (or iptables'
#          statistic match) drops on each end's ingress; no delay
#   none   one veth, no delay, no loss
# Segmentation and checksum offloads are off on every veth end (ethtool;
# without it, gso_max_segs 1), so frames on the wire are MTU-sized and the
# loss applies per frame. The header line says exactly which conditions
# applied and by what; each run line how many frames the wire dropped
# (dropped_pkts) and, with the relay, how many it failed to forward
# (wire_notfwd, should be 0). Nothing leaves the namespaces.
#
# Clients: each has CLIENT_TIMEOUT seconds (a curl --max-time per file for
# what is left of that deadline) and counts the bytes it actually received
# (curl's size_download), so a slow competitor yields a throughput over a
# bounded time: aggregate_MBps = bytes received by all clients, finished or
# cut off, / wall time (first client start to last client end); a client not
# done by its deadline counts as failed; p50/p99 are over finished clients.
#
# node-switch's goroutines: when serve has --debug-listen, it is started
# with --debug-listen $DEBUG_LISTEN and /debug/vars is sampled every second
# from inside the server namespace: peak_goroutines per run ("-" without).
#
# Usage (root, from the repository root):
#   e2e/bench/tftp/storm.sh [N...]          default N = 50 200 500
# Env: ROUNDS=3  SERVERS="node-switch tftpd-hpa dnsmasq http"
#      NS_FLAGS="--tftp-anticipate 4"  (extra node-switch serve flags)
#      KERNEL_MB=10 INITRD_MB=40 DELAY=0.5ms LOSS=0.1% (LOSS=0: none) WIRE=auto
#      CLIENT_TIMEOUT=300 DEBUG_LISTEN=127.0.0.1:6060 RELAY_NICE=-10
#      INSTALL=1 (apt-get missing packages)
#      NS_BIN=path (a node-switch binary to run instead of building this tree's)
# Output: one line per run and a summary table (medians; ratios node-switch ÷ competitor).
set -uo pipefail

ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"node-switch tftpd-hpa dnsmasq http"}
KERNEL_MB=${KERNEL_MB:-10}
INITRD_MB=${INITRD_MB:-40}
DELAY=${DELAY:-0.5ms}
LOSS=${LOSS:-0.1%}
WIRE=${WIRE:-auto}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-300}
DEBUG_LISTEN=${DEBUG_LISTEN:-127.0.0.1:6060}
RELAY_NICE=${RELAY_NICE:--10}
NS_FLAGS=${NS_FLAGS:-}
[ $# = 0 ] && set -- 50 200 500

[ "$(id -u)" = 0 ] || { echo "storm.sh: must run as root (network namespaces)" >&2; exit 1; }
case $WIRE in auto|netem|wanem|nft|none) ;; *) echo "storm.sh: WIRE=$WIRE: want auto, netem, wanem, nft or none" >&2; exit 1 ;; esac
[[ $CLIENT_TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "storm.sh: CLIENT_TIMEOUT=$CLIENT_TIMEOUT: want whole seconds" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
W=$(mktemp -d /tmp/ns-storm.XXXXXX)
chmod 755 "$W"   # dnsmasq drops to nobody and must read the boot root
TAG=st$$
SRV=$TAG-srv
CLI=$TAG-cli
WIR=$TAG-wire
SIP=10.88.0.1
CIP=10.88.0.2
PIDS=()
RELAY_PID=
STORM_PID=
DEBUG_FLAGS=()

cleanup() {
    local p ns sig
    [ -n "${STORM_PID:-}" ] && { pkill -P "$STORM_PID" 2>/dev/null; kill "$STORM_PID" 2>/dev/null; }
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    # Servers started inside a pipeline's subshell are not in PIDS: kill
    # whatever still runs in our own namespaces (and only there), the
    # relay included; what survives SIGTERM gets SIGKILL.
    for sig in TERM KILL; do
        for ns in "$SRV" "$CLI" "$WIR"; do
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill -s "$sig" "$p" 2>/dev/null; done
        done
        sleep 0.3
    done
    for ns in "$SRV" "$CLI" "$WIR"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() {
    local missing=() p
    for p in curl tftpd-hpa dnsmasq-base iproute2 ethtool pxelinux syslinux-common grub-efi-amd64-bin grub-common; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "${INSTALL:-1}" = 1 ]; then
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || exit 1
        else
            echo "storm.sh: missing packages: apt-get install ${missing[*]}" >&2; exit 1
        fi
    fi
}

setup() {
    need
    if [ -n "${NS_BIN:-}" ]; then
        cp "$NS_BIN" "$W/node-switch" || exit 1
    else
        (cd "$REPO" && go build -o "$W/node-switch" ./cmd/node-switch) || exit 1
    fi
    "$W/node-switch" bootroot init "$W/boot" >/dev/null || exit 1
    head -c $((KERNEL_MB << 20)) /dev/urandom > "$W/boot/vmlinuz"
    head -c $((INITRD_MB << 20)) /dev/urandom > "$W/boot/initrd.gz"
    TOTAL_BYTES=$(( $(stat -c %s "$W/boot/pxelinux.0") + $(stat -c %s "$W/boot/ldlinux.c32") + (KERNEL_MB << 20) + (INITRD_MB << 20) ))
    # Not "| grep -q": under pipefail, serve dying of SIGPIPE after grep's
    # early exit read as "no such flag" once start-up got fast.
    if [[ $("$W/node-switch" serve --help 2>/dev/null) == *--debug-listen* ]]; then
        DEBUG_FLAGS=(--debug-listen "$DEBUG_LISTEN")
    fi
    write_client
    ip netns add "$SRV"; ip netns add "$CLI"
    ip -n "$SRV" link set lo up; ip -n "$CLI" link set lo up
    if [ "$WIRE" = auto ]; then
        if ip netns exec "$SRV" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
            ip netns exec "$SRV" tc qdisc del dev lo root
            WIRE=netem
        else
            WIRE=wanem
            WHY="kernel lacks sch_netem"
        fi
    fi
    local ends
    if [ "$WIRE" = wanem ]; then
        (cd "$REPO" && go build -o "$W/wanem" ./e2e/bench/wanem) || exit 1
        ip netns add "$WIR"
        ip netns exec "$WIR" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip -n "$SRV" link add eth0 type veth peer name w0 netns "$WIR"
        ip -n "$WIR" link add w1 type veth peer name eth0 netns "$CLI"
        ends="$SRV:eth0 $WIR:w0 $WIR:w1 $CLI:eth0"
    else
        ip -n "$SRV" link add eth0 type veth peer name eth0 netns "$CLI"
        ends="$SRV:eth0 $CLI:eth0"
    fi
    offloads_off $ends
    local e
    for e in $ends; do ip -n "${e%%:*}" link set "${e#*:}" mtu 1500 up; done
    ip -n "$SRV" addr add $SIP/24 dev eth0; ip -n "$CLI" addr add $CIP/24 dev eth0
    local lossfrac; lossfrac=$(awk -v l="${LOSS%\%}" 'BEGIN { printf "%.6g", l / 100 }')
    case $WIRE in
    netem)
        for ns in "$SRV" "$CLI"; do
            ip netns exec "$ns" tc qdisc add dev eth0 root netem delay "$DELAY" loss "$LOSS" limit 100000 ||
                { echo "storm.sh: WIRE=netem: tc netem failed (no sch_netem? try WIRE=wanem)" >&2; exit 1; }
        done
        WIRE_HOW=netem
        NETEM="conditions: delay $DELAY + loss $LOSS each direction (tc netem on both veth ends); $OFFLOADS"
        ;;
    wanem)
        ip netns exec "$WIR" nice -n "$RELAY_NICE" "$W/wanem" -a w0 -b w1 -delay "$DELAY" -loss "$lossfrac" -stats "$W/wanem.stats" 2>"$W/wanem.log" &
        RELAY_PID=$!
        PIDS+=("$RELAY_PID")
        for _ in $(seq 100); do grep -q forwarding "$W/wanem.log" && break; sleep 0.1; done
        grep -q forwarding "$W/wanem.log" || { echo "storm.sh: the wanem relay did not start: $(cat "$W/wanem.log")" >&2; exit 1; }
        WIRE_HOW=wanem
        NETEM="conditions: delay $DELAY + loss $LOSS ($lossfrac) each direction per frame by the userspace relay e2e/bench/wanem in a namespace between server and client (${WHY:-WIRE=wanem}; nice $RELAY_NICE; the relay's CPU, ~0.6-1.6 CPU-s per 100k frames, comes out of the same $(nproc) CPUs and it lags above ~100k frames/s or in TCP bursts: see relay_cpu_s, relay_late_us); $OFFLOADS"
        ;;
    nft)
        drop_loss
        NETEM="conditions: loss $LOSS_DESC each direction, delay NO (WIRE=nft: nothing adds delay); $OFFLOADS"
        ;;
    none)
        NETEM="conditions: plain veth, no delay, no loss (WIRE=none); $OFFLOADS"
        ;;
    esac
    # 500 clients x several sockets each.
    ip netns exec "$CLI" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
}

# offloads_off NS:DEV...: no checksum or segmentation offload on the veth
# ends, so each frame is MTU-sized (the relay forwards frames; loss applies
# to frames). Sets OFFLOADS to what applied.
offloads_off() {
    local e ok=1
    if command -v ethtool >/dev/null; then
        for e in "$@"; do
            ip netns exec "${e%%:*}" ethtool -K "${e#*:}" tx off tso off gso off gro off >/dev/null 2>&1 || ok=0
        done
        [ $ok = 1 ] && { OFFLOADS="veth offloads off (ethtool: tx csum, TSO, GSO, GRO)"; return; }
    fi
    ok=1
    for e in "$@"; do ip -n "${e%%:*}" link set "${e#*:}" gso_max_segs 1 gso_max_size 1500 2>/dev/null || ok=0; done
    if [ $ok = 1 ]; then
        OFFLOADS="veth segmentation limited to one frame (gso_max_segs 1; no ethtool: tx checksum offload on)"
    else
        OFFLOADS="veth offloads ON (no ethtool, gso_max_segs refused): super-frames possible"
    fi
}

# drop_loss: WIRE=nft, drop LOSS (a percentage) of the packets arriving
# on eth0 in both namespaces (so each direction, as netem on both ends would)
# with nftables' numgen, or iptables' statistic match. On ingress, not
# egress: a packet dropped in OUTPUT fails the sender's sendto() with EPERM
# (curl then gives up with error 55), which a lossy wire never does. Sets LOSS_DESC to
# what applied and WIRE_HOW to the mechanism.
drop_loss() {
    local per100k ns how=""
    per100k=$(awk -v l="${LOSS%\%}" 'BEGIN { printf "%d", l * 1000 + 0.5 }')
    if [ "$per100k" -le 0 ]; then LOSS_DESC="no (LOSS=$LOSS)"; return; fi
    if ! command -v nft >/dev/null && [ "${INSTALL:-1}" = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nftables >/dev/null 2>&1
    fi
    if command -v nft >/dev/null; then
        how=nftables
        for ns in "$SRV" "$CLI"; do
            ip netns exec "$ns" nft -f - <<NFT || how=""
table inet storm {
    chain in {
        type filter hook prerouting priority -300; policy accept;
        iifname "eth0" numgen random mod 100000 < $per100k counter drop
    }
}
NFT
        done
    fi
    if [ -z "$how" ] && command -v iptables >/dev/null; then
        how=iptables
        for ns in "$SRV" "$CLI"; do
            ip netns exec "$ns" nft delete table inet storm 2>/dev/null
            ip netns exec "$ns" iptables -t raw -A PREROUTING -i eth0 -m statistic --mode random \
                --probability "$(awk -v p="$per100k" 'BEGIN { printf "%.5f", p / 100000 }')" -j DROP || how=""
        done
    fi
    if [ -z "$how" ]; then
        LOSS_DESC="NO (no nftables or iptables statistic: plain veth)"
    else
        WIRE_HOW=$how
        LOSS_DESC="yes ($LOSS, $how random drop on ingress)"
    fi
}

# relay_snapshot: the wanem relay's counters now, one line of key=value
# (SIGUSR1 makes it write its stats file, atomically, at once).
relay_snapshot() {
    rm -f "$W/wanem.stats"
    kill -USR1 "$RELAY_PID" 2>/dev/null
    for _ in $(seq 100); do [ -s "$W/wanem.stats" ] && break; sleep 0.02; done
    cat "$W/wanem.stats" 2>/dev/null
}

# relay_delta BEFORE AFTER: "lost notfwd late_us" between two snapshots:
# frames dropped by the loss, frames the relay failed to forward, and how
# late (µs, mean over both directions' sends) frames left after their delay.
relay_delta() {
    awk -v a="$1" -v b="$2" '
    function get(s, k,   n, i, f, kv) {
        n = split(s, f, " ")
        for (i = 1; i <= n; i++) { split(f[i], kv, "="); if (kv[1] == k) return kv[2] + 0 }
        return 0
    }
    function d(k) { return get(b, k) - get(a, k) }
    BEGIN {
        n = d("a2b_late_n") + d("b2a_late_n")
        late = 0
        if (n > 0) late = (d("a2b_late_sum_us") + d("b2a_late_sum_us")) / n
        printf "%.0f %.0f %.0f\n", d("lost"), d("notfwd"), late
    }'
}

# relay_cpu: CPU seconds the relay used so far.
relay_cpu() {
    awk '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$RELAY_PID/stat" 2>/dev/null || echo 0
}

# dropped_packets: what netem or the nft/iptables rules dropped so far (both
# directions; the relay's counters come from relay_delta).
dropped_packets() {
    local ns total=0 d
    for ns in "$SRV" "$CLI"; do
        case ${WIRE_HOW:-} in
        netem) d=$(ip netns exec "$ns" tc -s qdisc show dev eth0 2>/dev/null | tr -d ',' | awk '{ for (i = 1; i < NF; i++) if ($i == "(dropped") print $(i+1) }' | head -1) ;;
        nftables) d=$(ip netns exec "$ns" nft list table inet storm 2>/dev/null | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i+1) }') ;;
        iptables) d=$(ip netns exec "$ns" iptables -t raw -L PREROUTING -nvx 2>/dev/null | awk '$3 == "DROP" { print $1 }') ;;
        *) d=0 ;;
        esac
        total=$((total + ${d:-0}))
    done
    echo "$total"
}

# write_client writes the client: the four files in boot order, each with a
# curl --max-time of what is left of the client's CLIENT_TIMEOUT; it appends
# "rc elapsed_s bytes_received end_us" to the result file.
write_client() {
    cat > "$W/client.sh" <<'CLIENT'
#!/bin/bash
# $1 mode, $2 result file, $3 deadline in seconds, $4 server address, $5 error log
mode=$1 res=$2 limit=$3 sip=$4 errs=$5
t0=${EPOCHREALTIME/./}
deadline=$((t0 + limit * 1000000))
big=tftp://$sip
[ "$mode" = http ] && big=http://$sip:8080
rc=0 bytes=0
for u in "tftp://$sip/pxelinux.0" "tftp://$sip/ldlinux.c32" "$big/vmlinuz" "$big/initrd.gz"; do
    rem=$((deadline - ${EPOCHREALTIME/./}))
    if [ "$rem" -le 0 ]; then rc=28; break; fi
    printf -v max '%d.%06d' $((rem / 1000000)) $((rem % 1000000))
    # stderr too, so that an error goes to the shared log in one write.
    out=$(curl -sS --tftp-blksize 1468 --max-time "$max" -o /dev/null -w '\n%{size_download}\n' "$u" 2>&1)
    c=$?
    got=0 msg=
    while IFS= read -r l; do
        if [[ $l =~ ^[0-9]+$ ]]; then got=$l; elif [ -n "$l" ]; then msg+="$l "; fi
    done <<< "$out"
    bytes=$((bytes + got))
    [ -n "$msg" ] && printf '%s\n' "$msg" >> "$errs"
    if [ "$c" != 0 ]; then rc=$c; break; fi
done
t1=${EPOCHREALTIME/./}
printf '%d %d.%06d %d %d\n' "$rc" $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000)) "$bytes" "$t1" >> "$res"
CLIENT
    chmod 755 "$W/client.sh"
}

start_server() { # $1 = node-switch|tftpd-hpa|dnsmasq|http
    case $1 in
    node-switch|http)
        rm -f "$W/inv.db"*
        # shellcheck disable=SC2086
        ip netns exec "$SRV" "$W/node-switch" --db "$W/inv.db" serve --boot-root "$W/boot" \
            --tftp-listen "$SIP:69" --http-listen "$SIP:8080" --ssh-listen "" --log-level info \
            "${DEBUG_FLAGS[@]}" $NS_FLAGS >"$W/server.log" 2>&1 &
        ;;
    tftpd-hpa)
        ip netns exec "$SRV" /usr/sbin/in.tftpd --foreground --secure --address "$SIP:69" "$W/boot" >"$W/server.log" 2>&1 &
        ;;
    dnsmasq)
        ip netns exec "$SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=eth0 \
            --bind-interfaces --enable-tftp --tftp-root="$W/boot" --tftp-max=2000 --log-facility="$W/server.log" \
            --pid-file="$W/dnsmasq.pid" --dhcp-leasefile="$W/leases" &
        ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        ip netns exec "$CLI" curl -sf --max-time 2 -o /dev/null "tftp://$SIP/pxelinux.0" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ${#DEBUG_FLAGS[@]} -gt 0 ] && { [ "$1" = node-switch ] || [ "$1" = http ]; }; then
        # serve refused --debug-listen (or failed with it): go on without.
        echo "storm.sh: node-switch did not come up with ${DEBUG_FLAGS[*]} ($(tail -1 "$W/server.log")); without it, peak_goroutines=-" >&2
        stop_server
        DEBUG_FLAGS=()
        start_server "$1"
        return
    fi
    echo "storm.sh: $1 did not come up: $(tail -5 "$W/server.log")" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
}

# peak RSS (VmHWM) of node-switch itself (the child of "ip netns exec").
peak_rss_kib() {
    local pid
    pid=$(pgrep -P "$SERVER_PID" -x node-switch || echo "$SERVER_PID")
    awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0
}

# start_sampler FILE: node-switch's goroutine count, once a second, from
# its /debug/vars (inside the server namespace, where it listens).
start_sampler() {
    SAMPLER_PID=
    [ ${#DEBUG_FLAGS[@]} -gt 0 ] || return 0
    ip netns exec "$SRV" bash -c 'while :; do
        curl -s --max-time 1 "http://$0/debug/vars" | tr -d " " | grep -o "\"goroutines\":[0-9]*" | cut -d: -f2
        sleep 1
    done' "$DEBUG_LISTEN" > "$1" 2>/dev/null &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
}

stop_sampler() {
    [ -n "$SAMPLER_PID" ] || return 0
    kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null
}

storm() { # $1 = server/mode, $2 = N, $3 = round -> prints one result line
    local mode=$1 n=$2 res="$W/res-$1-$2-$3" i t0 rss d0 d1 s0 s1 c0 c1 dropped notfwd late gr="-" extra="" clients=()
    : > "$res"
    start_server "$mode" || { echo "$mode N=$n round=$3 FAILED-TO-START"; return; }
    SAMPLER_PID=
    if [ "$mode" = node-switch ] || [ "$mode" = http ]; then start_sampler "$W/gr-$1-$2-$3"; fi
    if [ -n "$RELAY_PID" ]; then s0=$(relay_snapshot); c0=$(relay_cpu); else d0=$(dropped_packets); fi
    t0=${EPOCHREALTIME/./}
    for i in $(seq "$n"); do
        ip netns exec "$CLI" "$W/client.sh" "$mode" "$res" "$CLIENT_TIMEOUT" "$SIP" "$W/client-errors" &
        clients+=($!)
    done
    # Every client writes its line by its deadline; the slack covers the
    # start of N processes and a curl that overstays --max-time.
    local give_up=$((t0 + (CLIENT_TIMEOUT + 120) * 1000000))
    while [ "$(wc -l < "$res")" -lt "$n" ] && [ "${EPOCHREALTIME/./}" -lt "$give_up" ]; do sleep 0.2; done
    if [ "$(wc -l < "$res")" -lt "$n" ]; then
        # Never seen: stragglers past every deadline count as failed, with
        # nothing received.
        for i in "${clients[@]}"; do pkill -P "$i" 2>/dev/null; kill "$i" 2>/dev/null; done
        echo "storm.sh: $mode N=$n: $((n - $(wc -l < "$res"))) clients gave no result; counted as failed" >&2
    fi
    if [ -n "$RELAY_PID" ]; then
        s1=$(relay_snapshot); c1=$(relay_cpu)
        read -r dropped notfwd late <<< "$(relay_delta "$s0" "$s1")"
        extra=" wire_notfwd=$notfwd relay_late_us=$late relay_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }')"
    else
        d1=$(dropped_packets)
        dropped=$((d1 - d0))
    fi
    rss=0
    [ "$mode" = node-switch ] || [ "$mode" = http ] && rss=$(peak_rss_kib)
    stop_sampler
    [ -s "$W/gr-$1-$2-$3" ] && gr=$(sort -n "$W/gr-$1-$2-$3" | tail -1)
    stop_server
    # Percentiles from sorted completion times (mawk has no asort).
    local ok failed p50 p99 wall bytes
    ok=$(awk '$1 == 0' "$res" | wc -l)
    failed=$((n - ok))
    awk '$1 == 0 {print $2}' "$res" | sort -n > "$res.sorted"
    p50=$(pct "$res.sorted" "$ok" 50)
    p99=$(pct "$res.sorted" "$ok" 99)
    bytes=$(awk '{ s += $3 } END { printf "%.0f", s }' "$res")
    # Wall time: the first client's start to the last client's end.
    wall=$(awk -v t0="$t0" 'BEGIN { m = t0 } $4 > m { m = $4 } END { printf "%.3f", (m - t0) / 1e6 }' "$res")
    awk -v ok="$ok" -v wall="$wall" -v bytes="$bytes" -v want=$((n * TOTAL_BYTES)) -v mode="$mode" -v n="$n" -v round="$3" -v rss="$rss" \
        -v p50="$p50" -v p99="$p99" -v failed="$failed" -v dropped="$dropped" -v gr="$gr" -v extra="$extra" 'BEGIN {
        if (wall <= 0) wall = 1e-9
        printf "%s N=%d round=%d aggregate_MBps=%.1f received_pct=%.1f p50_s=%s p99_s=%s failed=%d wall_s=%.1f peak_rss_MiB=%.1f peak_goroutines=%s dropped_pkts=%d%s\n",
            mode, n, round, bytes / 1048576 / wall, 100 * bytes / want, p50, p99, failed, wall, rss / 1024, gr, dropped, extra }'
}

# pct FILE COUNT P: the P-th percentile (nearest rank) of a sorted column,
# "-" when there is none.
pct() {
    local rank
    [ "$2" -gt 0 ] || { echo -; return; }
    rank=$(( ($2 * $3 + 99) / 100 ))
    [ "$rank" -lt 1 ] && rank=1
    sed -n "${rank}p" "$1" | awk '{ printf "%.2f", $1 }'
}

# median of the numeric values of KEY for MODE and N in the results file
# ("-" when there is none).
median() { # $1 mode $2 n $3 key
    local vals cnt
    vals=$(awk -v m="$1" -v n="N=$2" -v k="$3" '$1 == m && $2 == n { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k && kv[2] ~ /^[0-9.]+$/) print kv[2] } }' "$W/all" | sort -n)
    cnt=$(echo "$vals" | grep -c .)
    [ "$cnt" -gt 0 ] || { echo -; return; }
    echo "$vals" | sed -n "$(( (cnt + 1) / 2 ))p"
}

main() {
    setup
    : > "$W/all"
    echo "# storm.sh $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus; files: pxelinux.0 ldlinux.c32 ${KERNEL_MB}MiB ${INITRD_MB}MiB; $NETEM; client deadline ${CLIENT_TIMEOUT}s; node-switch flags: ${NS_FLAGS:-none}${DEBUG_FLAGS[*]:+ (+ ${DEBUG_FLAGS[*]})}"
    local n r s
    for n in "$@"; do
        for r in $(seq "$ROUNDS"); do
            for s in $SERVERS; do
                # In the background, so that a signal is handled at once
                # (bash defers traps while a foreground job runs).
                storm "$s" "$n" "$r" > "$W/line" &
                STORM_PID=$!
                wait "$STORM_PID"
                STORM_PID=
                tee -a "$W/all" < "$W/line"
            done
        done
    done
    echo "# medians over $ROUNDS rounds; MB/s = bytes received (finished or cut off) / wall; ratio = node-switch TFTP aggregate / this row's aggregate (http row: its inverse is the HTTP speed-up)"
    printf "%-12s %5s %10s %6s %8s %8s %7s %9s %10s %8s\n" server N MB/s recv% p50_s p99_s failed rss_MiB goroutines ratio
    for n in "$@"; do
        local nsagg; nsagg=$(median node-switch "$n" aggregate_MBps)
        for s in $SERVERS; do
            local agg; agg=$(median "$s" "$n" aggregate_MBps)
            printf "%-12s %5s %10s %6s %8s %8s %7s %9s %10s %8s\n" "$s" "$n" "$agg" "$(median "$s" "$n" received_pct)" \
                "$(median "$s" "$n" p50_s)" "$(median "$s" "$n" p99_s)" \
                "$(median "$s" "$n" failed)" "$(median "$s" "$n" peak_rss_MiB)" "$(median "$s" "$n" peak_goroutines)" \
                "$(awk -v a="$nsagg" -v b="$agg" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
        done
    done
    if [ -n "$RELAY_PID" ]; then
        echo "# relay (whole invocation): $(relay_snapshot)"
    fi
    if [ -s "$W/client-errors" ]; then
        echo "# client errors (first 5; numbers of 3+ digits as N; curl's TFTP timeout reads \"(28) getpeername() failed\"):"; sed -E 's/[0-9]{3,}/N/g' "$W/client-errors" | sort | uniq -c | sort -rn | head -5
    fi
}

main "$@"
