#!/usr/bin/env python3
"""Frames HJ 212 data segments as packets: "##" + length + data + CRC + CR LF.

Reads one data segment per line on stdin (e.g. "QN=...;ST=31;...;CP=&&...&&") and writes the
packet. For writing test cases with quirks that `ecowarn-hj212 encode` would normalize away.
  --lower    print the CRC in lowercase hex
  --legacy   use CRC-16/MODBUS with its bytes swapped (old loggers)
  --no-crlf  omit the trailing CR LF
"""
import sys


def crc_hj212(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ byte
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= 0xA001
    return reg


def crc_legacy(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= 0xA001
    return ((reg & 0xFF) << 8) | (reg >> 8)


def main():
    args = set(sys.argv[1:])
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        data = line.rstrip(b"\r\n")
        crc = (crc_legacy if "--legacy" in args else crc_hj212)(data)
        text = "%04x" % crc if "--lower" in args else "%04X" % crc
        out.write(b"##%04d" % len(data) + data + text.encode())
        if "--no-crlf" not in args:
            out.write(b"\r\n")


if __name__ == "__main__":
    main()
