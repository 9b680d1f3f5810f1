; emufail: executes cmpxchg16b, which this host's emulated KVM cannot run
; ("emulation failure"); vessel must report one line naming the RIP and
; instruction bytes. On real VT-x/AMD-V it runs and the guest prints
; "cmpxchg16b ran natively" and exits 0.
%include "bzhdr.inc"
    lea rdi, [rel buf]
    xor eax, eax
    xor edx, edx
    xor ebx, ebx
    xor ecx, ecx
    cmpxchg16b [rdi]
    lea rbx, [rel m]
    mov dx, 0x3f8
.l: mov al, [rbx]
    test al, al
    jz .d
    out dx, al
    inc rbx
    jmp .l
.d: xor al, al
    mov dx, 0x501
    out dx, al
    hlt
m: db "cmpxchg16b ran natively", 10, 0
    align 16
buf: dq 0, 0
payload_end:
