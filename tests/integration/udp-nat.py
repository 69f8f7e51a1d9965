#!/usr/bin/python3
"""UDP through the NAT path (test-ports.sh).

udp-nat.py echo ADDR PORT N ANSWER: receives N datagrams on ADDR:PORT, prints a line for each
(source address, source port, TTL or hop limit, length) and, if ANSWER is 1, sends it back.
udp-nat.py send ADDR PORT N GAP SPORT ANSWERS [SIZE]: sends N datagrams ("tk0", "tk1", ...,
padded to SIZE bytes) from port SPORT to ADDR:PORT, GAP seconds apart; if ANSWERS is 1, each
after the answer to the one before (or 2 s), and prints how many answers came back from
ADDR:PORT, and on a second line "ttl" and each TTL (hop limit) they arrived with.
"""
import socket
import sys
import time

IP_RECVTTL, IP_TTL = 12, 2
IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT = 51, 52


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def ttl_socket(addr):
    """A UDP socket for addr's family that tells each datagram's TTL (ttl_of)."""
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    if s.family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    return s


def ttl_of(s, anc):
    want = ((socket.IPPROTO_IPV6, IPV6_HOPLIMIT) if s.family == socket.AF_INET6
            else (socket.IPPROTO_IP, IP_TTL))
    ttl = [d[0] for lvl, t, d in anc if (lvl, t) == want]
    return ttl[0] if ttl else -1


def echo(addr, port, n, answer):
    s = ttl_socket(addr)
    s.bind((addr, port))
    s.settimeout(30)
    for _ in range(n):
        data, anc, _, src = s.recvmsg(65536, 64)
        if answer:
            s.sendto(data, src)
        print(src[0], src[1], ttl_of(s, anc), len(data), flush=True)


def send(addr, port, n, gap, sport, answers, size):
    s = ttl_socket(addr)
    s.bind(("::" if s.family == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(2)
    peer = (socket.inet_pton(s.family, addr), port)
    answered, ttls = 0, set()
    for i in range(n):
        data = (b"tk%d" % i).ljust(size, b".")
        s.sendto(data, (addr, port))
        if answers:
            try:
                got, anc, _, src = s.recvmsg(65536, 64)
            except socket.timeout:
                got = None
            if got == data and (socket.inet_pton(s.family, src[0]), src[1]) == peer:
                answered += 1
                ttls.add(ttl_of(s, anc))
        time.sleep(gap)
    if answers:
        print(answered)
        print("ttl", *sorted(ttls))


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "echo":
        echo(a[2], int(a[3]), int(a[4]), a[5] == "1")
    else:
        send(a[2], int(a[3]), int(a[4]), float(a[5]), int(a[6]), a[7] == "1",
             int(a[8]) if len(a) > 8 else 0)
