; virtio: a virtio-rng request end to end over virtio-mmio (run with --rng:
; slot 0 at 0xd0000000, interrupt on IOAPIC pin 5, level-triggered as the
; MP table says). Checks that the kernel command line announces the device,
; the mmio identity registers, feature negotiation (VERSION_1), then fills
; a split ring by hand: two requests of 64 bytes, each completed in the
; used ring with len 64, non-zero data and a used-buffer interrupt acked
; through InterruptStatus/InterruptACK. Then a descriptor pointing outside
; guest RAM must put the device into DEVICE_NEEDS_RESET with a
; configuration-change interrupt, and after a reset the device must serve
; a request again.
%include "bzhdr.inc"
%include "util.inc"
%define VEC 0x35
%define MMIO 0xd0000000
%define DESC 0x400000
%define AVAIL 0x401000
%define USED 0x402000
%define BUF 0x403000
    mov r15, rsi                    ; zero page
    SET_GATE VEC, handler
    LOAD_IDT
    APIC_ON
    IOAPIC_ROUTE 5, VEC | 0x8000    ; fixed, level, active high
    mov esi, [r15 + 0x228]          ; cmd_line_ptr
    lea rdi, [rel want_cmd]
    call strstr
    lea rbx, [rel f_cmd]
    test eax, eax
    jz fail
    mov r12, MMIO
    lea rbx, [rel f_nodev]
    cmp dword [r12], 0x74726976     ; "virt"
    jne fail
    lea rbx, [rel f_ident]
    cmp dword [r12 + 4], 2          ; version 2 (modern)
    jne fail
    cmp dword [r12 + 8], 4          ; entropy device
    jne fail
    sti
    call dev_init
    call request
    call request
    ; a descriptor outside RAM
    mov rax, DESC
    mov rcx, 0x7fff00000000
    mov [rax], rcx
    mov r13d, [rel irqs]
    call submit
    call deadline_start
.wb: test dword [r12 + 0x70], 0x40  ; DEVICE_NEEDS_RESET
    jnz .gb
    pause
    call deadline_passed
    jz .wb
    lea rbx, [rel f_nr]
    jmp fail
.gb: call deadline_start
.wc: test dword [rel isr_seen], 2   ; configuration change
    jnz .gc
    pause
    call deadline_passed
    jz .wc
    lea rbx, [rel f_cfgirq]
    jmp fail
.gc: lea rbx, [rel f_used]
    mov rax, USED
    cmp word [rax + 2], 2           ; the bad request was not completed
    jne fail
    ; reset, then the device works again
    call dev_init
    call request
    cli
    lea rbx, [rel m_pass]
    call puts
    EXIT 0

; dev_init: reset, negotiate VERSION_1, set up queue 0 (8 entries), DRIVER_OK
dev_init:
    VIRTIO_MMIO_NEGOTIATE DESC, BUF + 0x1000
    mov dword [r12 + 0x30], 0       ; queue 0
    lea rbx, [rel f_qmax]
    cmp dword [r12 + 0x34], 8
    jb fail
    mov dword [r12 + 0x38], 8
    mov dword [r12 + 0x80], DESC
    mov dword [r12 + 0x84], 0
    mov dword [r12 + 0x90], AVAIL
    mov dword [r12 + 0x94], 0
    mov dword [r12 + 0xa0], USED
    mov dword [r12 + 0xa4], 0
    mov dword [r12 + 0x44], 1       ; QueueReady
    lea rbx, [rel f_ready]
    cmp dword [r12 + 0x44], 1
    jne fail
    mov dword [r12 + 0x70], 0x0f    ; DRIVER_OK
    ret

; submit: descriptor 0 -> avail ring, notify queue 0
submit:
    mov rax, AVAIL
    movzx ecx, word [rax + 2]
    mov edx, ecx
    and edx, 7
    mov word [rax + 4 + rdx * 2], 0
    inc ecx
    mov word [rax + 2], cx
    mov dword [r12 + 0x50], 0       ; QueueNotify
    ret

; request: 64 bytes of entropy into BUF, checked
request:
    mov rdi, BUF
    mov ecx, 8
    xor eax, eax
    rep stosq
    mov rax, DESC
    mov qword [rax], BUF
    mov dword [rax + 8], 64
    mov word [rax + 12], 2          ; VIRTQ_DESC_F_WRITE
    mov word [rax + 14], 0
    mov r13d, [rel irqs]
    call submit                     ; ecx = new avail idx
    call deadline_start
.w: mov rax, USED
    cmp word [rax + 2], cx
    jne .n
    cmp dword [rel irqs], r13d
    ja .ok
.n: pause
    call deadline_passed
    jz .w
    lea rbx, [rel f_timeout]
    jmp fail
.ok: lea rbx, [rel f_isr]
    test dword [rel isr_seen], 1
    jz fail
    dec ecx
    and ecx, 7
    mov rax, USED
    lea rbx, [rel f_elem]
    cmp dword [rax + 4 + rcx * 8], 0     ; id: descriptor 0
    jne fail
    cmp dword [rax + 8 + rcx * 8], 64    ; len written
    jne fail
    mov rax, BUF
    mov rdx, [rax]
    or rdx, [rax + 8]
    or rdx, [rax + 16]
    or rdx, [rax + 24]
    or rdx, [rax + 32]
    or rdx, [rax + 40]
    or rdx, [rax + 48]
    or rdx, [rax + 56]
    lea rbx, [rel f_zero]
    test rdx, rdx
    jz fail
    inc dword [rel done]
    ret

fail:
    cli
    call puts
    EXIT 1

handler:
    push rax
    push rbx
    mov rax, MMIO
    mov ebx, [rax + 0x60]           ; InterruptStatus
    mov [rax + 0x64], ebx           ; InterruptACK: the line drops
    or [rel isr_seen], ebx
    inc dword [rel irqs]
    LAPIC_EOI
    pop rbx
    pop rax
    iretq

UTIL_FUNCS
want_cmd: db "virtio_mmio.device=512@0xd0000000:5", 0
m_pass: db "PASS virtio: rng requests over virtio-mmio with interrupts on IOAPIC pin 5; bad descriptor -> NEEDS_RESET; works again after reset", 10, 0
f_cmd: db "FAIL virtio: command line lacks virtio_mmio.device=512@0xd0000000:5", 10, 0
f_nodev: db "FAIL virtio: no virtio-mmio device at 0xd0000000", 10, 0
f_ident: db "FAIL virtio: not a version 2 entropy device", 10, 0
f_reset: db "FAIL virtio: status not 0 after reset", 10, 0
f_feat: db "FAIL virtio: VIRTIO_F_VERSION_1 not offered", 10, 0
f_featok: db "FAIL virtio: FEATURES_OK not accepted", 10, 0
f_qmax: db "FAIL virtio: QueueNumMax below 8", 10, 0
f_ready: db "FAIL virtio: queue not ready", 10, 0
f_timeout: db "FAIL virtio: request not completed with an interrupt", 10, 0
f_isr: db "FAIL virtio: interrupt without the used-buffer ISR bit", 10, 0
f_elem: db "FAIL virtio: wrong used element", 10, 0
f_zero: db "FAIL virtio: buffer still zero", 10, 0
f_nr: db "FAIL virtio: bad descriptor did not set DEVICE_NEEDS_RESET", 10, 0
f_cfgirq: db "FAIL virtio: no configuration-change interrupt", 10, 0
f_used: db "FAIL virtio: bad request completed", 10, 0
    align 4
irqs: dd 0
isr_seen: dd 0
done: dd 0
IDT_DATA VEC + 1
    align 16
payload_end:
