#!/bin/bash
# Regenerates the real firmware DHCP requests in this folder (seeds for the
# dhcp package's fuzz target): QEMU's NIC firmware PXE-boots into an empty
# network namespace while tcpdump records what it broadcasts; no server
# answers, so every firmware sends its DISCOVERs and gives up. Run as root:
#   testdata/packets/capture.sh
# Needs: qemu-system-x86 ipxe-qemu ovmf tcpdump iproute2 python3.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "must be root" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
ns=nscap$$
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$ns" link set br0 up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" link set tap0 master br0
ip -n "$ns" link set tap0 up

# $1 name, $2 seconds, rest: qemu args
run() {
	local name=$1 secs=$2; shift 2
	ip netns exec "$ns" tcpdump -i br0 -n -U -w "$work/$name.pcap" 'udp port 67' >/dev/null 2>&1 &
	local tp=$!; pids+=($tp)
	sleep 1
	ip netns exec "$ns" timeout "$secs" qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -vga none \
		-monitor none -serial null -no-reboot -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
		-uuid 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 "$@" </dev/null >/dev/null 2>&1 || true
	sleep 1
	kill "$tp"; wait "$tp" 2>/dev/null || true
	# Keep the first DHCP payload of each message type, stripped of
	# Ethernet/IP/UDP headers.
	python3 - "$work/$name.pcap" "$here" "$name" <<'EOF'
import struct, sys
pcap, out, name = sys.argv[1:]
data = open(pcap, 'rb').read()
off, seen = 24, set()
while off + 16 <= len(data):
    incl = struct.unpack('<I', data[off+8:off+12])[0]
    frame = data[off+16:off+16+incl]
    off += 16 + incl
    if len(frame) < 42 or frame[12:14] != b'\x08\x00':
        continue
    ihl = (frame[14] & 0x0f) * 4
    payload = frame[14+ihl+8:]
    opts = payload[240:]
    i, mtype = 0, None
    while i + 1 < len(opts):
        if opts[i] == 0: i += 1; continue
        if opts[i] == 255: break
        if opts[i] == 53: mtype = opts[i+2]
        i += 2 + opts[i+1]
    if mtype is None or mtype in seen:
        continue
    seen.add(mtype)
    open(f"{out}/{name}-type{mtype}.bin", 'wb').write(payload)
    print(f"{name}: message type {mtype}, {len(payload)} bytes")
EOF
}

# SeaBIOS + iPXE option ROM (BIOS, arch 0, user class iPXE, option 175).
run bios-ipxe 25 -device e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom,bootindex=1
# OVMF native PXE (arch 7, no option 77, broadcast flag).
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
run uefi-native 60 -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,file="$work/vars.fd" \
	-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57,romfile=,bootindex=1
# OVMF + iPXE EFI driver from QEMU's e1000 ROM (arch 7, user class iPXE).
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
run uefi-ipxe 60 -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,file="$work/vars.fd" \
	-device e1000,netdev=n0,mac=52:54:00:12:34:58,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom,bootindex=1
