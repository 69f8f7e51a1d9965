#!/usr/bin/python3
"""UDP through the NAT path (test-ports.sh).

udp-nat.py echo ADDR PORT N ANSWER: receives N datagrams on ADDR:PORT, prints a line for each
(source address, source port, TTL or hop limit, length) and, if ANSWER is 1, sends it back.
udp-nat.py send ADDR PORT N GAP SPORT ANSWERS [SIZE]: sends N datagrams ("tk0", "tk1", ...,
padded to SIZE bytes) from port SPORT to ADDR:PORT, GAP seconds apart; if ANSWERS is 1, each
after the answer to the one before (or 2 s), and prints how many answers came back.
"""
import socket
import sys
import time

IP_RECVTTL, IP_TTL = 12, 2
IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT = 51, 52


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def echo(addr, port, n, answer):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    if s.family == socket.AF_INET6:
        level, recv, ttl_type = socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT
    else:
        level, recv, ttl_type = socket.IPPROTO_IP, IP_RECVTTL, IP_TTL
    s.setsockopt(level, recv, 1)
    s.bind((addr, port))
    s.settimeout(30)
    for _ in range(n):
        data, anc, _, src = s.recvmsg(65536, 64)
        ttl = [d[0] for lvl, t, d in anc if lvl == level and t == ttl_type]
        if answer:
            s.sendto(data, src)
        print(src[0], src[1], ttl[0] if ttl else -1, len(data), flush=True)


def send(addr, port, n, gap, sport, answers, size):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind(("::" if s.family == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(2)
    answered = 0
    for i in range(n):
        data = (b"tk%d" % i).ljust(size, b".")
        s.sendto(data, (addr, port))
        if answers:
            try:
                answered += s.recv(65536) == data
            except socket.timeout:
                pass
        time.sleep(gap)
    if answers:
        print(answered)


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "echo":
        echo(a[2], int(a[3]), int(a[4]), a[5] == "1")
    else:
        send(a[2], int(a[3]), int(a[4]), float(a[5]), int(a[6]), a[7] == "1",
             int(a[8]) if len(a) > 8 else 0)
