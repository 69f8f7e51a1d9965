#!/usr/bin/env python3
"""mute-fuse.py MOUNTPOINT: a FUSE filesystem with one file, "file", that answers lookups, opens
and closes but never a statfs or an ioctl, as a hostile tenant's daemon would.  Mounts itself on
MOUNTPOINT (root only), prints "ready" and serves until killed."""
import os
import struct
import subprocess
import sys

HDR_IN = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid extlen pad
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")  # ino size blocks a/m/ctime, nsecs, mode nlink ...
LOOKUP, GETATTR, OPEN, RELEASE, STATFS, FLUSH, INIT, IOCTL, DESTROY = 1, 3, 14, 18, 17, 25, 26, 39, 38
ENOENT, ENOSYS = 2, 38


def attr(ino, mode):
    return ATTR.pack(ino, 12, 1, 0, 0, 0, 0, 0, 0, mode, 1, 0, 0, 0, 4096, 0)


def reply(fd, unique, error=0, payload=b""):
    os.write(fd, struct.pack("<IiQ", 16 + len(payload), -error, unique) + payload)


def main():
    mnt = sys.argv[1]
    fd = os.open("/dev/fuse", os.O_RDWR)
    subprocess.run(["mount", "-t", "fuse", "-o",
                    f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other", "mute", mnt],
                   pass_fds=[fd], check=True)
    print("ready", flush=True)
    while True:
        try:
            req = os.read(fd, 1 << 20)
        except OSError:
            return
        _, op, unique, node, *_ = HDR_IN.unpack_from(req)
        body = req[HDR_IN.size:]
        if op == INIT:
            major, minor, readahead = struct.unpack_from("<III", body)
            reply(fd, unique, payload=struct.pack("<IIIIHHIIHHI", 7, 31, readahead, 0, 16, 12,
                                                  4096, 1, 1, 0, 0) + bytes(28))
        elif op == LOOKUP:
            if body.rstrip(b"\0") == b"file":
                reply(fd, unique, payload=struct.pack("<QQQQII", 2, 0, 1, 1, 0, 0) +
                      attr(2, 0o100644))
            else:
                reply(fd, unique, ENOENT)
        elif op == GETATTR:
            mode = 0o40755 if node == 1 else 0o100644
            reply(fd, unique, payload=struct.pack("<QII", 1, 0, 0) + attr(node, mode))
        elif op == OPEN:
            reply(fd, unique, payload=struct.pack("<QII", 0, 0, 0))
        elif op in (RELEASE, FLUSH):
            reply(fd, unique)
        elif op in (STATFS, IOCTL):
            pass  # never answered: whoever asks waits
        elif op == DESTROY:
            return
        else:
            reply(fd, unique, ENOSYS)


main()
