#!/usr/bin/env python3
"""Write seed inputs (valid rings, see fuzz_virtq.h) for the virtqueue fuzzers
into fuzz/corpus/NAME/. Run from the repository root."""
import os
import struct

RAM = 0x40000000


def header(exp=3, feat=3):
    # desc at RAM+0x1000, avail at RAM+0x2000, used at RAM+0x3000; no mmio ops
    return bytes([exp, feat]) + struct.pack('<HHH', 0x100, 0x1000, 0xC00) + bytes([0])


def ram_img():
    return bytearray(0x6000)


def desc(ram, q, i, addr, ln, flags, nxt):
    struct.pack_into('<QIHH', ram, 0x1000 + 0x100 * q + 16 * i, RAM + addr, ln, flags, nxt)


def avail(ram, q, heads):
    off = 0x2000 + 0x100 * q
    struct.pack_into('<HH', ram, off, 0, len(heads))
    for k, h in enumerate(heads):
        struct.pack_into('<H', ram, off + 4 + 2 * k, h)


def write(name, tag, ram, feat=3):
    d = os.path.join('fuzz', 'corpus', name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, tag), 'wb') as f:
        f.write(header(feat=feat) + bytes(ram))


NEXT, WRITE, INDIRECT = 1, 2, 4

# virtio-blk: read, write, flush, get-id, discard, indirect read
for tag, typ, dflags, dlen in [('read', 0, WRITE, 512), ('write', 1, 0, 1024), ('getid', 8, WRITE, 20),
                               ('discard', 11, 0, 16), ('zeroes', 13, 0, 16)]:
    ram = ram_img()
    struct.pack_into('<IIQ', ram, 0x4000, typ, 0, 2)
    if typ in (11, 13):
        struct.pack_into('<QII', ram, 0x4100, 4, 8, 0)
    desc(ram, 0, 0, 0x4000, 16, NEXT, 1)
    desc(ram, 0, 1, 0x4100, dlen, dflags | NEXT, 2)
    desc(ram, 0, 2, 0x4800, 1, WRITE, 0)
    avail(ram, 0, [0])
    write('fuzz_virtq_blk', tag, ram)
ram = ram_img()
struct.pack_into('<IIQ', ram, 0x4000, 4, 0, 0)
desc(ram, 0, 0, 0x4000, 16, NEXT, 1)
desc(ram, 0, 1, 0x4800, 1, WRITE, 0)
avail(ram, 0, [0])
write('fuzz_virtq_blk', 'flush', ram)
ram = ram_img()
struct.pack_into('<IIQ', ram, 0x4000, 0, 0, 1)
struct.pack_into('<QIHHQIHHQIHH', ram, 0x5000, RAM + 0x4000, 16, NEXT, 1, RAM + 0x4100, 512, WRITE | NEXT, 2,
                 RAM + 0x4800, 1, WRITE, 0)
desc(ram, 0, 0, 0x5000, 48, INDIRECT, 0)
avail(ram, 0, [0])
write('fuzz_virtq_blk', 'indirect', ram)

# virtio-rng
ram = ram_img()
desc(ram, 0, 0, 0x4000, 64, WRITE | NEXT, 1)
desc(ram, 0, 1, 0x4100, 32, WRITE, 0)
avail(ram, 0, [0])
write('fuzz_virtq_rng', 'two', ram)

# virtio-net and virtio-console: one receive buffer (q0), one transmit (q1)
for name, rxlen in [('fuzz_virtq_net', 1526), ('fuzz_virtq_console', 64)]:
    ram = ram_img()
    desc(ram, 0, 0, 0x5000, rxlen, WRITE, 0)
    avail(ram, 0, [0])
    for i in range(72):
        ram[0x4000 + i] = i
    desc(ram, 1, 0, 0x4000, 12, NEXT, 1)
    desc(ram, 1, 1, 0x400c, 60, 0, 0)
    avail(ram, 1, [0])
    write(name, 'rxtx', ram)

# Hostile rings for every device, so each run starts from the error paths
# too (loop, outside RAM, wrapping length, indirect nesting/loop/length/
# outside RAM/too long, avail idx jump, head and next out of range, order).
def desc_raw(ram, q, i, addr, ln, flags, nxt, base=0x1000):
    struct.pack_into('<QIHH', ram, base + 0x100 * q + 16 * i, addr & (2**64 - 1), ln, flags, nxt)


def hostile(name, q, data_flags):
    seeds = {}
    D = data_flags
    r = ram_img(); desc(r, q, 0, 0x4000, 64, D | NEXT, 1); desc(r, q, 1, 0x4100, 64, D | NEXT, 0)
    avail(r, q, [0]); seeds['loop'] = r
    r = ram_img(); desc_raw(r, q, 0, 0x7fff00000000, 64, D, 0); avail(r, q, [0]); seeds['oor'] = r
    r = ram_img(); desc_raw(r, q, 0, -0x1000, 0x2000, D, 0); avail(r, q, [0]); seeds['wrap64'] = r
    r = ram_img(); desc(r, q, 0, 0x3000, 0xfffff000, D, 0); avail(r, q, [0]); seeds['wrap32'] = r
    r = ram_img(); desc(r, q, 0, 0x5000, 32, INDIRECT, 0)
    struct.pack_into('<QIHH', r, 0x5000, RAM + 0x5400, 16, INDIRECT, 0)
    struct.pack_into('<QIHH', r, 0x5400, RAM + 0x4000, 64, D, 0)
    avail(r, q, [0]); seeds['nested'] = r
    r = ram_img(); desc(r, q, 0, 0x5000, 32, INDIRECT, 0)
    struct.pack_into('<QIHHQIHH', r, 0x5000, RAM + 0x4000, 8, D | NEXT, 1, RAM + 0x4100, 8, D | NEXT, 0)
    avail(r, q, [0]); seeds['ind_loop'] = r
    r = ram_img(); desc(r, q, 0, 0x5000, 20, INDIRECT, 0); avail(r, q, [0]); seeds['ind_len'] = r
    r = ram_img(); desc_raw(r, q, 0, 0x7fff00000000, 16, INDIRECT, 0); avail(r, q, [0]); seeds['ind_oor'] = r
    r = bytearray(0x7000); desc(r, q, 0, 0x5800, 300 * 16, INDIRECT, 0)
    for i in range(300):
        struct.pack_into('<QIHH', r, 0x5800 + 16 * i, RAM + 0x4000, 1, D | (NEXT if i < 299 else 0), i + 1)
    avail(r, q, [0]); seeds['ind_long'] = r
    r = ram_img(); desc(r, q, 0, 0x4000, 64, D, 0); avail(r, q, [0])
    struct.pack_into('<H', r, 0x2000 + 0x100 * q + 2, 9); seeds['avail_jump'] = r
    r = ram_img(); desc(r, q, 0, 0x4000, 64, D, 0); avail(r, q, [200]); seeds['head'] = r
    r = ram_img(); desc(r, q, 0, 0x4000, 64, D | NEXT, 9); avail(r, q, [0]); seeds['next'] = r
    r = ram_img(); desc(r, q, 0, 0x4000, 64, WRITE | NEXT, 1); desc(r, q, 1, 0x4100, 16, 0, 0)
    avail(r, q, [0]); seeds['order'] = r
    for tag, ram in seeds.items():
        write(name, 'hostile-q%d-%s' % (q, tag), ram)


hostile('fuzz_virtq_blk', 0, WRITE)
hostile('fuzz_virtq_rng', 0, WRITE)
for name in ('fuzz_virtq_net', 'fuzz_virtq_console'):
    hostile(name, 1, 0)        # transmit: device-readable buffers
    hostile(name, 0, WRITE)    # receive

# virtio-balloon: inflate (q0) PFNs inside and outside RAM and of its own
# rings, deflate (q1), a stats buffer (q2), a free page report (q3)
ram = ram_img()
pfns = [(RAM + 0x4000) >> 12, (RAM + 0x5000) >> 12, (RAM + 0x1000) >> 12, 0, 0xffffffff, (RAM >> 12) - 1]
struct.pack_into('<%dI' % len(pfns), ram, 0x4800, *pfns)
desc(ram, 0, 0, 0x4800, 4 * len(pfns), 0, 0)
avail(ram, 0, [0])
desc(ram, 1, 0, 0x4800, 8, 0, 0)
avail(ram, 1, [0])
struct.pack_into('<HQHQHQ', ram, 0x4c00, 4, 1 << 20, 5, 1 << 27, 99, 7)
desc(ram, 2, 0, 0x4c00, 30, 0, 0)
avail(ram, 2, [0])
desc(ram, 3, 0, 0x4000, 0x1000, WRITE | NEXT, 1)
desc(ram, 3, 1, 0x5100, 0x1200, WRITE, 0)
avail(ram, 3, [0])
write('fuzz_virtq_balloon', 'all-queues', ram)
hostile('fuzz_virtq_balloon', 0, 0)        # inflate: device-readable PFN lists
hostile('fuzz_virtq_balloon', 3, WRITE)    # reports: device-writable ranges
