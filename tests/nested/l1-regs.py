#!/usr/bin/env python3
"""tests/nested/l1-regs.py MONITOR_SOCKET L1_CONSOLE_LOG

What a stuck L1 is doing, from QEMU's human monitor (-monitor unix:SOCK):
its run state, then every CPU's registers three times, 1 s apart (moving
or stuck), each RIP named as module+offset (the modules' load addresses
l1-init printed) or as an offset from the L1 kernel's _text (KASLR's, as
l1-init printed it: Debian's System.map is in its -dbg package). Used by
tests/integration/kvm-nested.sh and bench/lib/nested.sh when L1 wedges.
"""
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
def ask(cmd):
    out = b""
    s.sendall(cmd)
    end = time.time() + 3
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out += d
        if out.rstrip().endswith(b"(qemu)") and len(out) > 200:
            break
    return " ".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode("latin-1")).split())
m = re.search(rb"@@nested l1 _text ([0-9a-f]+)", open(sys.argv[2], "rb").read())
text = int(m.group(1), 16) if m else None
mods = []
m = re.search(rb"@@nested l1 modules ([^\r\n]*)", open(sys.argv[2], "rb").read())
if m:
    f = m.group(1).decode("latin-1").split()
    for i in range(0, len(f) - 2, 3):
        try:
            mods.append((f[i], int(f[i + 1], 16), int(f[i + 2])))
        except ValueError:
            pass
def name(rip):
    for mod, base, size in mods:
        if base <= rip < base + size:
            return "%s+%#x" % (mod, rip - base)
    if text is not None and 0 <= rip - text < 1 << 30:
        return "_text+%#x" % (rip - text)
    return "not L1's kernel or modules' text"
st = re.search(r"VM status: \S+", ask(b"info status\n"))
print("QEMU: %s" % (st.group(0) if st else "no status"))
for k in range(3):
    regs = ask(b"info registers -a\n")
    for cpu in re.split(r"(?=CPU#\d)", regs)[1:]:
        rip = re.search(r"RIP=([0-9a-f]+)", cpu)
        fl = re.search(r"RFL=\S+ \S+ CPL=\d", cpu)
        print("%s RIP %s (%s) %s;" % (cpu[:5], rip.group(1) if rip else "?",
                                      name(int(rip.group(1), 16)) if rip else "?", fl.group(0) if fl else ""))
        if k == 0:
            print(cpu[:600])
    time.sleep(1)
