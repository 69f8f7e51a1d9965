#!/usr/bin/env python3
"""link-group.py IFNAME GROUP: puts link IFNAME into device group GROUP (0 to 2^32 - 1; iproute2
takes no group above 2^31 - 1).  link-group.py --count GROUP: prints how many links are in it."""
import socket
import struct
import sys

RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_GROUP = 3, 27
IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change


def attr(kind, data):
    rta = struct.pack("=HH", 4 + len(data), kind) + data
    return rta + b"\0" * (-len(rta) % 4)


def request(sock, kind, flags, body):
    sock.send(struct.pack("=IHHII", 16 + len(body), kind, flags, 1, 0) + body)


def links_in(sock, group):
    request(sock, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, IFINFO.pack(0, 0, 0, 0, 0))
    count = 0
    while True:
        data = sock.recv(1 << 20)
        off = 0
        while off < len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if kind == NLMSG_DONE:
                return count
            if kind == NLMSG_ERROR:
                sys.exit("link dump failed")
            pos = off + 16 + IFINFO.size
            while pos < off + length:
                alen, akind = struct.unpack_from("=HH", data, pos)
                if akind == IFLA_GROUP and struct.unpack_from("=I", data, pos + 4)[0] == group:
                    count += 1
                pos += (alen + 3) & ~3
            off += (length + 3) & ~3


def main():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    if sys.argv[1] == "--count":
        print(links_in(sock, int(sys.argv[2])))
        return
    body = IFINFO.pack(0, 0, 0, 0, 0) + attr(IFLA_IFNAME, sys.argv[1].encode() + b"\0")
    request(sock, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body + attr(IFLA_GROUP, struct.pack("=I", int(sys.argv[2]))))
    data = sock.recv(4096)
    if struct.unpack_from("=H", data, 4)[0] == NLMSG_ERROR and struct.unpack_from("=i", data, 16)[0] != 0:
        sys.exit(f"cannot set the group of {sys.argv[1]}: errno {-struct.unpack_from('=i', data, 16)[0]}")


if __name__ == "__main__":
    main()
