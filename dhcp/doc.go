// Package dhcp is node-switch's reservations-only DHCPv4 server for PXE.
//
// The decision is a pure function: Handle(request, inventory, settings)
// returns the reply and how to deliver it, or nothing. Everything around it
// (sockets bound to the named interfaces, the worker pool, the per-MAC rate
// limit, the batched last-seen writes) lives in Server.
//
// Rules, in the order they are applied:
//
//   - Only DHCP messages (option 53 present) from Ethernet clients are
//     considered; plain BOOTP is ignored.
//   - A MAC that has no reservation in the inventory gets no reply of any
//     kind, and neither does a masked node. This is what lets a second DHCP
//     server (the Windows head's, for WDS) share the segment.
//   - DISCOVER gets an OFFER of the node's reserved address. REQUEST gets an
//     ACK, or a NAK when the address the client asks for is not its
//     reservation; a REQUEST whose server identifier (option 54) names
//     another server is ignored, since the client chose that server. RELEASE
//     and DECLINE are logged and need no answer (nothing is leased from a
//     pool); INFORM gets an ACK with the options and no address.
//   - Delivery follows RFC 2131 §4.1: relayed (giaddr set) → unicast to
//     giaddr:67 with option 82 echoed; else a client that has an address
//     (ciaddr) and did not ask for broadcast → unicast to ciaddr:68; else
//     broadcast on the interface the request came in on. NAKs that are not
//     relayed are always broadcast.
//
// Where the options come from (the rule README.md documents):
//
//  1. The inventory's subnets table: the most specific subnet containing the
//     node's reserved address supplies the netmask, routers (option 3), DNS
//     servers (6), domain (15), lease time (51) and next-server (siaddr and
//     option 66).
//  2. When no subnet in the inventory contains the address, the serving
//     interface's own address and prefix do: netmask from the interface
//     prefix, next-server = the interface address, default lease time, no
//     router, DNS or domain.
//  3. When neither contains the address (a relayed node on a subnet nobody
//     described), the request gets no answer and a warning names the node:
//     guessing a netmask would hand out a broken configuration.
//
// The server identifier (option 54) is always the address of the interface
// the request came in on (--server-ip when it is one of that interface's
// addresses). The host name (option 12) is the node's name. The boot file
// (file field and option 67) is chosen by bootprofiles.BootFile from the
// node's cluster's profile and the client's architecture (option 93: 0 BIOS,
// 7/9 x86-64 UEFI, 11 ARM64 UEFI; absent means BIOS, other values get no boot
// file); iPXE (option 77 "iPXE" or option 175 present) may get its own file
// so it does not chainload itself forever. PXE clients (option 60
// "PXEClient...") get option 60 "PXEClient" back, option 97 is echoed when
// sent, and iPXE gets option 175.176 = 1 so it does not wait for proxyDHCP
// offers.
//
// Around the decision, Server serves only the interfaces it is given (one
// socket per interface, SO_BINDTODEVICE, port 67), so broadcasts leave
// through the interface the request came in on; a fixed number of workers
// per interface read and answer packets, several to a system call
// (recvmmsg/sendmmsg; no goroutine per packet); a token
// bucket per MAC (5/s, burst 20) drops a flood from one client before it is
// parsed; and sightings (last-seen time, firmware label "bios", "uefi",
// "arm64", "-ipxe" appended for iPXE) are kept in memory and written with
// one transaction every 5 s and at shutdown, as are the MACs that asked
// without a reservation (unknown.go: remembered, never answered, bounded by
// Config.UnknownMax). CachedInventory keeps a copy
// of the reservations that is checked against the database's WAL index on
// every request, so a committed move is in the very next answer. Replies
// are written straight to bytes (message.go); Reply parses those bytes back
// for callers that inspect fields.
package dhcp
