#!/usr/bin/python3
"""Crafted Ethernet/IPv6 frames for test-spoof.sh.

  spoof-frame.py build SRC_MAC DST_MAC SRC6 DST6 KIND [ARGS...]   prints the frame in hex
      KIND udp PAYLOAD                    UDP 40000 -> 40001
      KIND ns TARGET [slla MAC] [nonce]   neighbour solicitation
      KIND na TARGET [tlla MAC] [nonce]   overriding neighbour advertisement (nonce goes first)
      KIND mld2 GROUP                      MLDv2 report (hop-by-hop router alert, hop limit 1)
      DST6 (and GROUP) "sn:ADDR" is ADDR's solicited-node multicast group.
      DST_MAC "-" derives the multicast MAC (33:33:...) from DST6.
  spoof-frame.py send IFACE HEX            sends the frame as is (AF_PACKET)
  spoof-frame.py sniff IFACE HEX SECONDS   exit 0 once that frame arrives, 1 if it does not
                                           (HEX "ipv6": any IPv6 frame)

The receiving side compares whole frames, so a row can show that the very frame it crafted
either arrived or did not.
"""
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def ip6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def solicited(addr):
    """"sn:ADDR" is ADDR's solicited-node multicast group, anything else itself."""
    if not addr.startswith("sn:"):
        return addr
    low = ip6(addr[3:])[13:]
    return socket.inet_ntop(socket.AF_INET6, ip6("ff02::1:ff00:0")[:13] + low)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def l4(src, dst, proto, body, csum_at):
    pseudo = src + dst + struct.pack("!IxxxB", len(body), proto)
    c = csum(pseudo + body)
    return body[:csum_at] + struct.pack("!H", c) + body[csum_at + 2:]


def build(argv):
    smac, dmac, src, dst, kind = argv[:5]
    args = argv[5:]
    dst = solicited(dst)
    s6, d6 = ip6(src), ip6(dst)
    if dmac == "-":
        dmac = "33:33:" + ":".join("%02x" % b for b in d6[12:])
    hlim, ext, nh = 64, b"", 17
    if kind == "udp":
        payload = args[0].encode()
        body = l4(s6, d6, 17, struct.pack("!HHHH", 40000, 40001, 8 + len(payload), 0) + payload, 6)
    elif kind in ("ns", "na"):
        hlim, nh = 255, 58
        opts = b""
        rest = args[1:]
        if "nonce" in rest and kind == "na":
            opts += bytes([14, 1]) + b"\x11" * 6
        if "slla" in rest:
            opts += bytes([1, 1]) + mac(rest[rest.index("slla") + 1])
        if "tlla" in rest:
            opts += bytes([2, 1]) + mac(rest[rest.index("tlla") + 1])
        if "nonce" in rest and kind == "ns":
            opts += bytes([14, 1]) + b"\x22" * 6
        head = struct.pack("!BBHI", 135, 0, 0, 0) if kind == "ns" else \
            struct.pack("!BBHI", 136, 0, 0, 0x20000000)
        body = l4(s6, d6, 58, head + ip6(args[0]) + opts, 2)
    elif kind == "mld2":
        hlim, nh = 1, 0
        # hop-by-hop: next header ICMPv6, router alert (MLD), padding
        ext = bytes([58, 0, 5, 2, 0, 0, 1, 0])
        record = struct.pack("!BBH", 4, 0, 0) + ip6(solicited(args[0]))  # CHANGE_TO_EXCLUDE, no sources
        body = l4(s6, d6, 58, struct.pack("!BBHHH", 143, 0, 0, 0, 1) + record, 2)
    else:
        sys.exit("unknown kind " + kind)
    ip = struct.pack("!IHBB", 6 << 28, len(ext) + len(body), nh, hlim) + s6 + d6
    frame = mac(dmac) + mac(smac) + struct.pack("!H", 0x86DD) + ip + ext + body
    print(frame.hex())


def send(iface, hexframe):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.send(bytes.fromhex(hexframe))


def sniff(iface, hexframe, seconds):
    """hexframe "ipv6" waits for any IPv6 frame instead of a given one."""
    want = b"" if hexframe == "ipv6" else bytes.fromhex(hexframe)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("ready", flush=True)
    end = time.monotonic() + float(seconds)
    while (left := end - time.monotonic()) > 0:
        if not select.select([s], [], [], left)[0]:
            break
        data, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if data[:len(want)] == want if want else data[12:14] == b"\x86\xdd":
            print(data.hex(), flush=True)
            sys.exit(0)
    sys.exit(1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "build":
        build(sys.argv[2:])
    elif cmd == "send":
        send(sys.argv[2], sys.argv[3])
    elif cmd == "sniff":
        sniff(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
