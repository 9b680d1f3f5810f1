; smp: vCPU 0 checks its CPUID (hypervisor bit, "KVMKVMKVM" leaf, APIC id
; 0), copies a real-mode trampoline to 0x10000 and starts vCPU 1 with
; INIT + SIPI (vector 0x10) through the LAPIC ICR. The AP stores a flag and
; its CPUID APIC id; vCPU 0 waits for them, at most 10 s of PIT time. Run
; with --smp 2.
%include "bzhdr.inc"
%include "util.inc"
%define TRAMP 0x10000
    lea rbx, [rel m_hv]
    mov eax, 1
    cpuid
    bt ecx, 31
    jnc fail
    shr ebx, 24
    lea rbx, [rel m_id0]
    jnz fail
    mov eax, 0x40000000
    cpuid
    lea rax, [rel m_sig]
    cmp ebx, 'KVMK'
    jne .sigbad
    cmp ecx, 'VMKV'
    jne .sigbad
    cmp edx, 'M'
    je .sigok
.sigbad: mov rbx, rax
    jmp fail
.sigok:
    lea rsi, [rel tramp]
    mov rdi, TRAMP
    mov rcx, tramp_end - tramp
    cld
    rep movsb
    mov dword [TRAMP + 0x100], 0
    mov rdi, 0xfee00000
    mov dword [rdi + 0xf0], 0x1ff           ; LAPIC on
    mov dword [rdi + 0x310], 1 << 24        ; destination APIC id 1
    mov dword [rdi + 0x300], 0x4500         ; INIT, assert
    mov dword [rdi + 0x310], 1 << 24
    mov dword [rdi + 0x300], 0x4600 | (TRAMP >> 12) ; SIPI
    call deadline_start         ; PIT time: as long nested as on hardware
.w: cmp dword [TRAMP + 0x100], 0xa5a5
    je .up
    pause
    call deadline_passed
    jz .w
    lea rbx, [rel m_noap]
    jmp fail
.up: lea rbx, [rel m_apid]
    cmp dword [TRAMP + 0x104], 1
    jne fail
    lea rbx, [rel m_pass]
    call puts
    xor al, al
    mov dx, 0x501
    out dx, al
    hlt
fail:
    push rbx
    lea rbx, [rel m_fail]
    call puts
    pop rbx
    call puts
    mov al, 1
    mov dx, 0x501
    out dx, al
    hlt
    UTIL_FUNCS
tramp:                          ; runs on the AP in real mode at 1000:0000
bits 16
    mov ax, cs
    mov ds, ax
    mov eax, 1
    cpuid
    shr ebx, 24
    mov [0x104], ebx
    mov dword [0x100], 0xa5a5
    cli
.h: hlt
    jmp .h
bits 64
tramp_end:
m_pass: db "PASS smp: vCPU 1 started by INIT/SIPI, APIC ids 0/1, KVM CPUID leaves", 10, 0
m_fail: db "FAIL smp: ", 0
m_hv:   db "no hypervisor bit", 10, 0
m_id0:  db "BSP APIC id != 0", 10, 0
m_sig:  db "no KVMKVMKVM signature at 0x40000000", 10, 0
m_noap: db "AP did not start", 10, 0
m_apid: db "AP APIC id != 1", 10, 0
    align 16
payload_end:
