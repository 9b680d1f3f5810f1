; hostile: garbage everywhere vessel listens. Run with devices attached
; (e.g. --rng --console --disk IMG). Interrupts stay off.
;  1. every I/O port 0..0xffff: a pseudo-random byte, word or dword write
;     and a read of the same width -- except the i8042 command port 0x64,
;     the reset control port 0xcf9 and the debug-exit port 0x501, which end
;     the VM by design;
;  2. every virtio-mmio slot found at 0xd0000000 + i*0x1000: four rounds of
;     pseudo-random 1/2/4/8-byte writes to every byte offset of the 4 KiB
;     slot (so QueueReady, QueueNotify, Status, ring addresses, config
;     space all get garbage), each followed by a read;
;  3. the rest of the 3-4 GiB hole (0xc0000000..0xfebfffff, every 64 KiB):
;     dword writes and reads (the in-kernel IOAPIC/LAPIC pages and the ACPI
;     sleep registers are left alone).
; Then it resets the UART and the first virtio device and checks that they
; still answer: vessel must be alive to print PASS and take the exit.
%include "bzhdr.inc"
%include "util.inc"
%define MMIO 0xd0000000
%define ACPI_REGS 0xcfe00000         ; VKVM_ACPI_REGS_BASE
    cli
    mov r14, 0x9e3779b97f4a7c15     ; xorshift64 state
    ; 1. ports
    xor edx, edx
.p: cmp dx, 0x64
    je .pn
    cmp dx, 0xcf9                   ; reset control (the ACPI reset register)
    je .pn
    cmp dx, DEBUG_EXIT
    je .pn
    call rnd
    mov ecx, eax
    shr ecx, 13
    and ecx, 3
    cmp ecx, 1
    je .pw
    cmp ecx, 2
    je .pd
    out dx, al
    in al, dx
    jmp .pn
.pw: out dx, ax
    in ax, dx
    jmp .pn
.pd: out dx, eax
    in eax, dx
.pn: inc dx
    jnz .p
    ; 2. virtio-mmio slots
    mov r12, MMIO
    xor r9d, r9d                    ; slots seen
.slot: cmp dword [r12], 0x74726976
    jne .slots_done
    inc r9d
    mov r10d, 4                     ; rounds
.round: xor r11d, r11d              ; offset
.off: call rnd
    lea rdi, [r12 + r11]
    mov ecx, eax
    shr ecx, 17
    and ecx, 3
    cmp ecx, 1
    je .o2
    cmp ecx, 2
    je .o4
    cmp ecx, 3
    je .o8
    mov [rdi], al
    mov al, [rdi]
    jmp .on
.o2: mov [rdi], ax
    mov ax, [rdi]
    jmp .on
.o4: mov [rdi], eax
    mov eax, [rdi]
    jmp .on
.o8: mov [rdi], rax
    mov rax, [rdi]
.on: inc r11d
    cmp r11d, 0x1000 - 8
    jb .off
    dec r10d
    jnz .round
    add r12, 0x1000
    jmp .slot
.slots_done:
    ; 3. the hole
    mov rdi, 0xc0000000
.h: mov rax, ACPI_REGS           ; ACPI sleep control: it ends
    cmp rdi, rax                    ; the VM by design, like port 0x64
    je .hn
    call rnd
    mov [rdi], eax
    mov eax, [rdi]
.hn: add rdi, 0x10000
    mov rax, 0xfec00000
    cmp rdi, rax
    jb .h
    ; still alive? the UART answers after a reset of its registers
    mov dx, COM1 + 3
    mov al, 0x80                    ; DLAB: a sane divisor
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 3
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al                      ; IER 0
    mov dx, COM1 + 4
    mov al, 0x0b                    ; no loopback
    out dx, al
    mov dx, COM1 + 2
    mov al, 7                       ; FIFO on, cleared
    out dx, al
    mov dx, COM1 + 7
    mov al, 0x3c
    out dx, al
    in al, dx
    lea rbx, [rel f_uart]
    cmp al, 0x3c
    jne fail
    lea rbx, [rel f_noslot]
    test r9d, r9d
    jz fail
    mov r12, MMIO                   ; and the first virtio device resets
    mov dword [r12 + 0x70], 0
    lea rbx, [rel f_virtio]
    cmp dword [r12 + 0x70], 0
    jne fail
    cmp dword [r12], 0x74726976
    jne fail
    lea rbx, [rel m_nl]             ; end whatever garbage line was printed
    call puts
    lea rbx, [rel m_pass]
    call puts
    EXIT 0
fail:
    call puts
    EXIT 1

; rnd: rax = next xorshift64 value (r14 state)
rnd:
    mov rax, r14
    mov rcx, rax
    shl rcx, 13
    xor rax, rcx
    mov rcx, rax
    shr rcx, 7
    xor rax, rcx
    mov rcx, rax
    shl rcx, 17
    xor rax, rcx
    mov r14, rax
    ret

UTIL_FUNCS
m_nl: db 10, 0
m_pass: db "PASS hostile: garbage to every port, every virtio-mmio register and the MMIO hole; vessel survived", 10, 0
f_uart: db "FAIL hostile: UART scratch register lost", 10, 0
f_noslot: db "FAIL hostile: no virtio-mmio slot at 0xd0000000 (run with devices)", 10, 0
f_virtio: db "FAIL hostile: virtio device does not reset", 10, 0
    align 16
payload_end:
