#!/usr/bin/env python3
"""Write seed inputs for fuzz_virt_mmio and fuzz_sbi (record formats in the
comments at the top of those files) into fuzz/corpus/NAME/. Run from the
repository root. fuzz_virt_loader's seeds are files (see seed_baremetal.S)."""
import os
import struct

SYSCON, RTC, CLINT, PLIC, UART, ANY = range(6)
READ, WRITE, IRQ = 0, 1, 2


def mmio(kind, region, off, val=0, size=4, level=0):
    op = kind | level << 2 | {1: 0, 2: 1, 4: 2, 8: 3}[size] << 4
    return bytes([op, region]) + off.to_bytes(3, 'little') + struct.pack('<I', val & 0xffffffff)


def plic_seq():
    s = mmio(WRITE, PLIC, 4 * 10, 7)                 # priority of the UART source
    s += mmio(WRITE, PLIC, 0x2000 + 0x80 * 1, 1 << 10)  # enable it for hart 0 S-mode
    s += mmio(WRITE, PLIC, 0x200000 + 0x1000 * 1, 0)     # threshold 0
    s += mmio(IRQ, ANY, 0, 10, level=1)                 # line high
    s += mmio(READ, PLIC, 0x1000)                       # pending
    s += mmio(READ, PLIC, 0x200004 + 0x1000 * 1)        # claim
    s += mmio(IRQ, ANY, 0, 10, level=0)
    s += mmio(WRITE, PLIC, 0x200004 + 0x1000 * 1, 10)   # complete
    return s


def clint_seq():
    s = mmio(WRITE, CLINT, 4, 1)                        # msip hart 1
    s += mmio(READ, CLINT, 4)
    s += mmio(WRITE, CLINT, 0x4000, 0x1000, size=8)     # mtimecmp hart 0
    s += mmio(WRITE, CLINT, 0x400c, 0, size=4)          # mtimecmp hart 1, high half
    s += mmio(READ, CLINT, 0x4008, size=8)
    s += mmio(READ, CLINT, 0xbff8, size=8)              # mtime
    s += mmio(READ, CLINT, 0xbffc, size=4)
    return s


def uart_seq():
    s = mmio(WRITE, UART, 1, 0x0f, size=1)              # IER: all
    s += mmio(WRITE, UART, 0, ord('x'), size=1)         # THR
    s += mmio(READ, UART, 2, size=1)                    # IIR
    s += mmio(READ, UART, 5, size=1)                    # LSR
    s += mmio(WRITE, PLIC, 4 * 10, 1)
    s += mmio(WRITE, PLIC, 0x2000, 1 << 10)
    s += mmio(WRITE, UART, 0, ord('y'), size=1)
    s += mmio(READ, PLIC, 0x200004)
    return s


def rtc_syscon_seq():
    s = mmio(READ, RTC, 0)
    s += mmio(READ, RTC, 4)
    s += mmio(WRITE, RTC, 8, 123)
    s += mmio(WRITE, RTC, 0x10, 1)
    s += mmio(READ, RTC, 0x10)
    s += mmio(WRITE, SYSCON, 0, 0x3333 | 7 << 16)
    s += mmio(WRITE, SYSCON, 0, 0x5555)
    return s


EIDS = [0x00, 0x01, 0x02, 0x08, 0x10, 0x54494D45, 0x735049, 0x52464E43, 0x48534D, 0x53525354, 0x4442434E]
RAM = 0x80000000


def sbi(hart, eid, fid, a0=0, a1=0, a2=0, near_ram=0):
    # near_ram: bit i adds RAM to a_i
    return bytes([hart, EIDS.index(eid), fid, near_ram]) + struct.pack('<6Q', a0, a1, a2, 0, 0, 0)


def sbi_seqs():
    HSM, DBCN, BASE, IPI, RFENCE, SRST, TIME = 0x48534D, 0x4442434E, 0x10, 0x735049, 0x52464E43, 0x53525354, 0x54494D45
    boot = bytes([1])                                    # 2 harts
    yield 'base', boot + b''.join(sbi(0, BASE, f, EIDS[f % len(EIDS)]) for f in range(7))
    yield 'hsm', boot + sbi(0, HSM, 2, 1) + sbi(0, HSM, 0, 1, RAM + 0x200000, 0x1234) + sbi(0, HSM, 2, 1) \
        + sbi(1, HSM, 1) + sbi(0, HSM, 3, 0) + sbi(0, HSM, 3, 0x80000000)
    yield 'dbcn', boot + sbi(0, DBCN, 0, 16, 0x1000, 0, near_ram=2) + sbi(0, DBCN, 1, 16, 0x2000, 0, near_ram=2) \
        + sbi(0, DBCN, 2, ord('a')) + sbi(0, DBCN, 0, 1 << 40, 0, 0, near_ram=2)
    yield 'ipi-rfence', bytes([3]) + sbi(0, IPI, 0, 0b101, 0) + sbi(0, IPI, 0, 1, 0xffffffffffffffff) \
        + sbi(0, RFENCE, 0, 3, 0) + sbi(0, RFENCE, 1, 1, 2) + sbi(0, TIME, 0, 1000)
    yield 'legacy-srst', boot + sbi(0, 0x00, 0, 5000) + sbi(0, 0x01, 0, ord('z')) + sbi(0, 0x02, 0) \
        + sbi(0, SRST, 0, 0, 1) + sbi(0, 0x08, 0)


def write(name, seeds):
    d = os.path.join('fuzz', 'corpus', name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds:
        with open(os.path.join(d, k), 'wb') as f:
            f.write(v)


write('fuzz_virt_mmio', [('plic', plic_seq()), ('clint', clint_seq()), ('uart', uart_seq()),
                         ('rtc-syscon', rtc_syscon_seq())])
write('fuzz_sbi', sbi_seqs())
