; ports: writes garbage to every I/O port except COM1, the debug-exit port
; and the i8042 command port, reads them all back, then pokes unmapped MMIO
; (below 4 GiB, in the PCI hole). Passes if vessel survives to see the exit.
%include "bzhdr.inc"
    xor edx, edx
.wr: cmp dx, 0x3f8
    je .nx
    cmp dx, 0x501
    je .nx
    cmp dx, 0x64
    je .nx
    cmp dx, 0xcf8               ; avoid the PCI config address register
    je .nx
    mov al, 0xa5
    out dx, al
    in al, dx
.nx: add dx, 0x13               ; ~3500 ports, keeps it to a few thousand insns
    jnc .wr
    mov rdi, 0xd0000000         ; unmapped MMIO (PCI hole)
    mov dword [rdi], 0xdeadbeef
    mov eax, [rdi]
    cmp eax, 0xffffffff         ; vessel returns all-ones for unmapped reads
    jne .bad
    lea rbx, [rel m_pass]
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
.bad: mov al, 1
    mov dx, 0x501
    out dx, al
    hlt
m_pass: db "PASS ports: garbage I/O and unmapped MMIO survived", 10, 0
    align 16
payload_end:
