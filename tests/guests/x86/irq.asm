; irq: the in-kernel PIT's IRQ 0 delivered through the in-kernel IOAPIC
; (pin 0: vessel keeps KVM's default GSI n -> pin n routing) and the LAPIC to an IDT handler (vector 0x30).
; The 8259 PICs are masked, so only the IOAPIC path can deliver it.
%include "bzhdr.inc"
%define VEC 0x30
    ; IDT gate for VEC -> handler
    lea rdi, [rel idt]
    add rdi, VEC * 16
    lea rax, [rel handler]
    mov word [rdi], ax
    mov word [rdi + 2], 0x10        ; __BOOT_CS
    mov word [rdi + 4], 0x8e00      ; present, DPL0, 64-bit interrupt gate
    shr rax, 16
    mov word [rdi + 6], ax
    shr rax, 16
    mov dword [rdi + 8], eax
    lea rax, [rel idt]
    mov [rel idtr + 2], rax
    lidt [rel idtr]
    ; mask both 8259s
    mov al, 0xff
    out 0x21, al
    out 0xa1, al
    ; LAPIC: software enable, TPR 0
    mov rdi, 0xfee00000
    mov dword [rdi + 0xf0], 0x1ff
    mov dword [rdi + 0x80], 0
    ; IOAPIC pin 0 (KVM's default GSI routing: GSI n -> pin n) -> VEC,
    ; fixed, edge, physical dest APIC 0, unmasked
    mov rdi, 0xfec00000
    mov dword [rdi], 0x11
    mov dword [rdi + 0x10], 0
    mov dword [rdi], 0x10
    mov dword [rdi + 0x10], VEC
    ; PIT channel 0, mode 2, count 1193 (~1 ms)
    mov al, 0x34
    out 0x43, al
    mov al, 1193 & 0xff
    out 0x40, al
    mov al, 1193 >> 8
    out 0x40, al
    sti
.w: hlt
    cmp dword [rel ticks], 3
    jb .w
    cli
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
handler:
    push rax
    push rdi
    inc dword [rel ticks]
    mov rdi, 0xfee00000
    mov dword [rdi + 0xb0], 0       ; EOI
    pop rdi
    pop rax
    iretq
m_pass: db "PASS irq: 3 PIT interrupts via IOAPIC pin 0 -> LAPIC -> IDT vector 0x30", 10, 0
    align 8
ticks: dd 0
    align 8
idtr: dw (VEC + 1) * 16 - 1
    dq 0
    align 16
idt: times (VEC + 1) * 16 db 0
    align 16
payload_end:
