#!/usr/bin/env python3
"""Print SECONDS seconds of a deterministic 44.1 kHz 16-bit stereo WAV (two
sweeping tones, a chord and LCG noise) for the lame workload.
Usage: gen-wav.py [SECONDS]"""
import math
import struct
import sys

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
rate = 44100
n = int(secs * rate)
s = 12345
frames = bytearray()
for i in range(n):
    t = i / rate
    s = (s * 1103515245 + 12345) % 2147483648
    noise = (s / 2147483648.0 - 0.5) * 0.05
    f1 = 220.0 + 880.0 * (i % (rate * 4)) / (rate * 4)
    left = 0.45 * math.sin(2 * math.pi * f1 * t) + 0.2 * math.sin(2 * math.pi * 330.0 * t) + noise
    right = 0.35 * math.sin(2 * math.pi * (f1 * 1.5) * t) + 0.25 * math.sin(2 * math.pi * 440.0 * t) - noise
    frames += struct.pack('<hh', int(max(-1.0, min(1.0, left)) * 32000), int(max(-1.0, min(1.0, right)) * 32000))
hdr = struct.pack('<4sI4s4sIHHIIHH4sI', b'RIFF', 36 + len(frames), b'WAVE', b'fmt ', 16, 1, 2,
                  rate, rate * 4, 4, 16, b'data', len(frames))
sys.stdout.buffer.write(hdr + frames)
