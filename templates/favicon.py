#!/usr/bin/env python3
"""Draws the default favicon, templates/favicon.ico: the wire's red square with a white W, at
16 and 32 pixels, as 32-bit BMP images in one ICO file. Standard library only; run it again
after changing the drawing and commit the result.

    python3 templates/favicon.py templates/favicon.ico
"""
import math
import struct
import sys

RED = (0xB3, 0x00, 0x1B)
WHITE = (0xFF, 0xFF, 0xFF)
# The W, as a polyline in a 32-unit square.
W = [(5, 9), (10.5, 24), (16, 13), (21.5, 24), (27, 9)]


def segment_distance(px, py, a, b):
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def coverage(inside, x, y, samples=4):
    """The share of pixel (x, y) that `inside` covers, from samples x samples points."""
    hits = 0
    for i in range(samples):
        for j in range(samples):
            hits += inside(x + (i + 0.5) / samples, y + (j + 0.5) / samples)
    return hits / (samples * samples)


def image(size):
    scale = 32 / size
    radius = 6

    def in_square(x, y):
        x, y = x * scale, y * scale
        cx = min(max(x, radius), 32 - radius)
        cy = min(max(y, radius), 32 - radius)
        return math.hypot(x - cx, y - cy) <= radius

    def in_w(x, y):
        x, y = x * scale, y * scale
        return any(segment_distance(x, y, a, b) <= 1.7 for a, b in zip(W, W[1:]))

    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            square, w = coverage(in_square, x, y), coverage(in_w, x, y)
            r, g, b = (round(c * (1 - w) + d * w) for c, d in zip(RED, WHITE))
            row.append((b, g, r, round(255 * square)))
        rows.append(row)
    # BMP rows go bottom-up; the height counts the colour image and its mask.
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    pixels = b"".join(bytes(p) for row in reversed(rows) for px in row for p in [px])
    mask_row = ((size + 31) // 32) * 4
    mask = bytes(mask_row * size)  # all opaque; the alpha channel decides
    return header + pixels + mask


def ico(sizes):
    images = [image(s) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in zip(sizes, images):
        out += struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(images)


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "favicon.ico", "wb") as f:
        f.write(ico([16, 32]))
