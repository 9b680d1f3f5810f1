; cpuhp-hostile: a guest that misuses vessel's CPU hotplug registers (run
; with --smp 2,maxcpus=4): it starts vCPU 1 (INIT/SIPI; the AP then spins,
; counting), then tries to eject vCPU 0, ejects an absent vCPU, writes
; every width at every offset with a selector past the end, builds the
; selector byte by byte, and ejects vCPU 1 while it runs. Each gets what
; the registers define (vCPU 0 and absent ones: refused, flags unchanged;
; vCPU 1: gone, flags 0). It prints PASS and stays up (hlt, interrupts
; off) for the host to check vessel over QMP.
%include "bzhdr.inc"
%include "util.inc"
%define TRAMP 0x10000
%define HP 0xcfe00100
    lea rsi, [rel tramp]
    mov rdi, TRAMP
    mov rcx, tramp_end - tramp
    cld
    rep movsb
    mov dword [TRAMP + 0x100], 0
    mov rdi, LAPIC
    mov dword [rdi + 0xf0], 0x1ff
    mov dword [rdi + 0x310], 1 << 24
    mov dword [rdi + 0x300], 0x4500         ; INIT
    mov dword [rdi + 0x310], 1 << 24
    mov dword [rdi + 0x300], 0x4600 | (TRAMP >> 12) ; SIPI
    call deadline_start
.w: cmp dword [TRAMP + 0x100], 0xa5a5
    je .up
    pause
    call deadline_passed
    jz .w
    lea rbx, [rel m_noap]
    jmp fail
.up:
    mov rdi, HP
    ; vCPU 0, the boot CPU: an eject is refused, it stays present
    mov dword [rdi], 0
    mov byte [rdi + 4], 0x0e                ; eject + clear both events
    movzx eax, byte [rdi + 4]
    lea rbx, [rel m_bsp]
    cmp eax, 1
    jne fail
    ; vCPU 2 is absent: flags 0, an eject changes nothing
    mov dword [rdi], 2
    mov byte [rdi + 4], 0xff
    movzx eax, byte [rdi + 4]
    lea rbx, [rel m_absent]
    test eax, eax
    jnz fail
    ; a selector past maxcpus, then every width at every offset
    mov dword [rdi], 0xffffffff
    movzx eax, byte [rdi + 4]
    lea rbx, [rel m_past]
    test eax, eax
    jnz fail
    xor ecx, ecx
.g: mov byte [rdi + rcx], 0xff
    mov word [rdi + rcx], 0xffff
    mov eax, [rdi + rcx]
    inc ecx
    cmp ecx, 8
    jb .g
    mov qword [rdi], -1
    mov rax, [rdi]
    mov dword [rdi + 4], 0xffffffff          ; selector 0xffffffff: ignored
    ; the selector byte by byte: 0xff00, then 0x0000, then 1
    mov dword [rdi], 0xff00
    mov byte [rdi + 1], 0
    mov byte [rdi], 1
    mov eax, [rdi]
    lea rbx, [rel m_sel]
    cmp eax, 1
    jne fail
    movzx eax, byte [rdi + 4]
    cmp eax, 1                              ; vCPU 1: present
    jne fail
    ; vCPU 1 counts on: eject it while it runs
    mov eax, [TRAMP + 0x108]
    lea rbx, [rel m_spin]
    call deadline_start
.s: cmp eax, [TRAMP + 0x108]
    jne .spins
    pause
    call deadline_passed
    jz .s
    jmp fail
.spins:
    mov byte [rdi + 4], 8
    movzx eax, byte [rdi + 4]
    lea rbx, [rel m_ej]
    test eax, eax
    jnz fail
    mov byte [rdi + 4], 8                   ; again: not present, ignored
    lea rbx, [rel m_pass]
    call puts
    cli
.h: hlt
    jmp .h
fail:
    push rbx
    lea rbx, [rel m_fail]
    call puts
    pop rbx
    call puts
    mov al, 1
    mov dx, DEBUG_EXIT
    out dx, al
    hlt
    UTIL_FUNCS
tramp:                          ; vCPU 1, real mode at 1000:0000: a flag, then count forever
bits 16
    mov ax, cs
    mov ds, ax
    mov dword [0x108], 0
    mov dword [0x100], 0xa5a5
.c: inc dword [0x108]
    jmp .c
bits 64
tramp_end:
m_pass:   db "PASS cpuhp-hostile: vCPU 0 and absent vCPUs not ejected, garbage ignored, running vCPU 1 ejected", 10, 0
m_fail:   db "FAIL cpuhp-hostile: ", 0
m_noap:   db "AP did not start", 10, 0
m_bsp:    db "vCPU 0 ejected or its flags changed", 10, 0
m_absent: db "absent vCPU 2 reads flags", 10, 0
m_past:   db "a selector past maxcpus reads flags", 10, 0
m_sel:    db "byte-wise selector or vCPU 1 not present", 10, 0
m_spin:   db "vCPU 1 not counting", 10, 0
m_ej:     db "vCPU 1 still present after its eject", 10, 0
    align 16
payload_end:
