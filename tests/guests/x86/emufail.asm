; emufail: executes cmpxchg16b, which this host's emulated KVM cannot run
; ("emulation failure"); vessel must report one line naming the RIP and
; instruction bytes. On real VT-x/AMD-V it runs and the guest prints
; "cmpxchg16b ran natively" and exits 0. It runs at a high virtual address
; (PML4[511] aliases the boot identity map, as a kernel runs above its
; physical address), so the VMM must find the bytes through the guest's
; page tables, not at RIP taken as a physical address.
%include "bzhdr.inc"
    mov rax, cr3
    and rax, ~0xfff
    mov rbx, [rax]              ; PML4[0]: the first 512 GiB, identity
    mov [rax + 511 * 8], rbx    ; PML4[511]: the same at 0xffffff8000000000
    mov rax, cr3
    mov cr3, rax
    lea rax, [rel high]
    mov rbx, 0xffffff8000000000
    add rax, rbx
    jmp rax
high:
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
