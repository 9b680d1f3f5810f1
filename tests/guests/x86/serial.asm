; serial: the 8250 on COM1 with its interrupt: IRQ 4 -> IOAPIC pin 4 (edge,
; as the MP table's ISA entry says) -> LAPIC -> IDT vector 0x34; 8259s
; masked, so only that path can deliver it. The handler loops on IIR as
; Linux's 8250 driver does.
;  1. receive: the byte the test pipes into vessel's stdin ('k') reaches
;     the guest as a received-data interrupt (IIR 0x04). The FIFO stays off
;     until then: switching it on clears it, as on a real 16550, and the
;     byte may have arrived before the guest started;
;  2. transmit: a line sent one byte per THRE interrupt (enabling THRI
;     with the THR empty raises the first one);
;  3. loopback (MCR bit 4) with the FIFO on: a byte written to THR comes
;     back as a received-data interrupt (IIR 0xc4: FIFO bits, RDI).
; Each wait is bounded, then FAIL.
%include "bzhdr.inc"
%include "util.inc"
%define VEC 0x34
    SET_GATE VEC, handler
    LOAD_IDT
    APIC_ON
    IOAPIC_ROUTE 4, VEC             ; fixed, edge, active high, unmasked
    mov dx, COM1 + 3
    mov al, 3                       ; 8N1
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x0b                    ; DTR RTS OUT2
    out dx, al
    ; 1. receive from the host
    mov dx, COM1 + 1
    mov al, 1                       ; IER: RDI
    out dx, al
    sti
    ; wait by the TSC (~2-6 s at 1-3 GHz), not by a spin count: the byte
    ; may come from a client that connects after vessel started
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov rsi, 6000000000
    add rsi, rax
.w1: cmp dword [rel rx_count], 1
    jae .g1
    pause
    rdtsc
    shl rdx, 32
    or rax, rdx
    cmp rax, rsi
    jb .w1
    lea rbx, [rel f_norx]
    jmp fail
.g1: lea rbx, [rel f_rxval]
    cmp byte [rel rx_buf], 'k'
    jne fail
    lea rbx, [rel f_iir]
    cmp byte [rel rx_iir], 0x04
    jne fail
    ; 2. interrupt-driven transmit
    mov dx, COM1 + 1
    mov al, 3                       ; RDI | THRI
    out dx, al
    call deadline_start
.w2: cmp byte [rel tx_done], 1
    je .g2
    pause
    call deadline_passed
    jz .w2
    lea rbx, [rel f_nothre]
    jmp fail
.g2: ; 3. loopback, FIFO on (trigger 1)
    mov dx, COM1 + 2
    mov al, 1
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x1b                    ; LOOP | OUT2 | RTS | DTR
    out dx, al
    mov dx, COM1
    mov al, 0x5a
    out dx, al
    call deadline_start
.w3: cmp dword [rel rx_count], 2
    jae .g3
    pause
    call deadline_passed
    jz .w3
    lea rbx, [rel f_noloop]
    jmp fail
.g3: lea rbx, [rel f_loopval]
    cmp byte [rel rx_buf + 1], 0x5a
    jne fail
    lea rbx, [rel f_iir2]
    cmp byte [rel rx_iir + 1], 0xc4
    jne fail
    cli
    mov dx, COM1 + 4
    mov al, 0x0b
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    lea rbx, [rel f_count]
    cmp dword [rel irqs], 3
    jb fail
    lea rbx, [rel m_pass]
    call puts
    EXIT 0
fail:
    cli
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x0b
    out dx, al
    call puts
    EXIT 1

handler:
    push rax
    push rbx
    push rcx
    push rdx
    inc dword [rel irqs]
.next:
    mov dx, COM1 + 2
    in al, dx
    test al, 1
    jnz .done
    mov bl, al                      ; the IIR value, kept for RX
    and al, 0x0f
    cmp al, 0x04
    je .rx
    cmp al, 0x0c
    je .rx
    cmp al, 0x02
    je .tx
    mov dx, COM1 + 5                ; line or modem status: read to clear
    in al, dx
    mov dx, COM1 + 6
    in al, dx
    jmp .next
.rx: mov dx, COM1
    in al, dx
    mov ecx, [rel rx_count]
    cmp ecx, 16
    jae .next
    lea rdx, [rel rx_iir]
    mov [rdx + rcx], bl
    lea rbx, [rel rx_buf]
    mov [rbx + rcx], al
    inc dword [rel rx_count]
    jmp .next
.tx: mov ecx, [rel tx_idx]
    lea rbx, [rel tx_msg]
    mov al, [rbx + rcx]
    test al, al
    jz .txe
    mov dx, COM1
    out dx, al
    inc dword [rel tx_idx]
    jmp .next
.txe: mov dx, COM1 + 1
    mov al, 1                       ; THRI off, RDI stays on
    out dx, al
    mov byte [rel tx_done], 1
    jmp .next
.done:
    LAPIC_EOI
    pop rdx
    pop rcx
    pop rbx
    pop rax
    iretq

UTIL_FUNCS
tx_msg: db "serial: this line was sent by THRE interrupts", 10, 0
m_pass: db "PASS serial: RX from the host, THRE-driven TX and loopback RX, all via IRQ 4 -> IOAPIC -> IDT", 10, 0
f_norx: db "FAIL serial: no RX interrupt (no input on the serial port?)", 10, 0
f_rxval: db "FAIL serial: received byte is not 'k'", 10, 0
f_iir: db "FAIL serial: IIR for the received byte was not 0x04", 10, 0
f_iir2: db "FAIL serial: IIR for the loopback byte was not 0xc4 (FIFO, received data)", 10, 0
f_nothre: db "FAIL serial: THRE interrupts did not send the line", 10, 0
f_noloop: db "FAIL serial: no loopback RX interrupt", 10, 0
f_loopval: db "FAIL serial: loopback byte is not 0x5a", 10, 0
f_count: db "FAIL serial: fewer than 3 interrupts", 10, 0
    align 4
irqs: dd 0
rx_count: dd 0
tx_idx: dd 0
tx_done: db 0
rx_iir: times 16 db 0
rx_buf: times 16 db 0
IDT_DATA VEC + 1
    align 16
payload_end:
