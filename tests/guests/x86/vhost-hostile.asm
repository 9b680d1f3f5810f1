; vhost-hostile: a guest driving virtio-net by hand over virtio-mmio (slot 0
; at 0xd0000000; run with --transport mmio --no-acpi -m 64M --net
; tap,ifname=..,vhost=on) that hands the kernel's vhost-net transmit
; descriptors pointing outside its RAM, one case per boot, chosen with
; "vhc=C" on the command line:
;   n  negative control: one good 60-byte frame in RAM; it must be consumed
;      (used idx 1) and the device must stay healthy (no NEEDS_RESET)
;   e  the frame's buffer at 0x4000000, the first byte past 64 MiB of RAM
;   h  the frame's buffer at 0x7fff00000000 (where a host process's own
;      mappings live: a VMM that took guest addresses as its own would read
;      there)
;   r  the descriptor table itself stays in RAM, but a 2-entry chain's
;      second buffer is at 0x7fff00001000 (a partly good request)
; For e, h and r the request must never be consumed (used idx stays 0), the
; device must report DEVICE_NEEDS_RESET (vessel sets it when vhost-net
; signals the queue's error eventfd), and after a reset a good frame must
; go through again. The host side (tests/integration/kvm-vhost.sh) checks
; the tap's packet counters: only good frames leave.
%include "bzhdr.inc"
%include "util.inc"
%define MMIO 0xd0000000
%define RXQ_DESC 0x400000
%define RXQ_AVAIL 0x401000
%define RXQ_USED 0x402000
%define TXQ_DESC 0x403000
%define TXQ_AVAIL 0x404000
%define TXQ_USED 0x405000
%define FRAME 0x406000
%define FRAME_LEN (12 + 60)
%define QN 8
    mov r15, rsi                    ; zero page
    mov r12, MMIO
    lea rbx, [rel f_nodev]
    cmp dword [r12], 0x74726976     ; "virt"
    jne fail
    cmp dword [r12 + 8], 1          ; network device
    jne fail
    call dev_init
    mov esi, [r15 + 0x228]          ; cmd_line_ptr
    lea rdi, [rel want_n]
    call strstr
    test eax, eax
    jnz case_good
    mov rcx, 0x4000000
    mov esi, [r15 + 0x228]
    lea rdi, [rel want_e]
    call strstr
    test eax, eax
    jnz case_bad
    mov rcx, 0x7fff00000000
    mov esi, [r15 + 0x228]
    lea rdi, [rel want_h]
    call strstr
    test eax, eax
    jnz case_bad
    mov esi, [r15 + 0x228]
    lea rdi, [rel want_r]
    call strstr
    test eax, eax
    jnz case_chain
    lea rbx, [rel f_case]
    jmp fail

case_good:
    call send_good
    lea rbx, [rel f_nr_good]
    test dword [r12 + 0x70], 0x40
    jnz fail
    lea rbx, [rel m_pass_n]
    call puts
    EXIT 0

; rcx = the buffer's guest address
case_bad:
    mov rax, TXQ_DESC
    mov [rax], rcx
    mov dword [rax + 8], FRAME_LEN
    mov word [rax + 12], 0
    call submit_tx
    call expect_refused
    jmp after_bad

case_chain:
    mov rax, TXQ_DESC
    mov qword [rax], FRAME
    mov dword [rax + 8], 12
    mov word [rax + 12], 1          ; NEXT
    mov word [rax + 14], 1
    mov rcx, 0x7fff00001000
    mov [rax + 16], rcx
    mov dword [rax + 24], 60
    mov word [rax + 28], 0
    call submit_tx
    call expect_refused
after_bad:
    call dev_init                   ; a reset cures it
    call send_good
    lea rbx, [rel m_pass_bad]
    call puts
    EXIT 0

; The request must not complete; NEEDS_RESET must come.
expect_refused:
    call deadline_start
.w: test dword [r12 + 0x70], 0x40   ; DEVICE_NEEDS_RESET
    jnz .got
    pause
    call deadline_passed
    jz .w
    lea rbx, [rel f_nr]
    jmp fail
.got:
    mov rax, TXQ_USED
    lea rbx, [rel f_used]
    cmp word [rax + 2], 0
    jne fail
    ret

; one good broadcast frame (ethertype 0x88b5) from RAM, consumed in time
send_good:
    mov rdi, FRAME
    mov ecx, FRAME_LEN
    xor eax, eax
    cld
    rep stosb
    mov rdi, FRAME + 12
    mov eax, 0xffffffff
    stosd
    mov ax, 0xffff
    stosw
    mov rax, 0x563412005452         ; 52:54:00:12:34:56
    stosd
    shr rax, 32
    stosw
    mov ax, 0xb588
    stosw
    mov rax, TXQ_DESC
    mov qword [rax], FRAME
    mov dword [rax + 8], FRAME_LEN
    mov word [rax + 12], 0
    call submit_tx
    call deadline_start
.w: mov rax, TXQ_USED
    cmp word [rax + 2], cx
    je .ok
    pause
    call deadline_passed
    jz .w
    lea rbx, [rel f_good]
    jmp fail
.ok: ret

; descriptor 0 of the transmit queue -> its avail ring, notify queue 1;
; ecx = the new avail idx
submit_tx:
    mov rax, TXQ_AVAIL
    movzx ecx, word [rax + 2]
    mov edx, ecx
    and edx, QN - 1
    mov word [rax + 4 + rdx * 2], 0
    inc ecx
    mfence
    mov word [rax + 2], cx
    mfence
    mov dword [r12 + 0x50], 1       ; QueueNotify: the transmit queue
    ret

; reset, negotiate VERSION_1 alone, both queues (8 entries), DRIVER_OK
dev_init:
    VIRTIO_MMIO_NEGOTIATE RXQ_DESC, FRAME + 0x1000
    mov esi, 0
    mov edi, RXQ_DESC
    call queue_init
    mov esi, 1
    mov edi, TXQ_DESC
    call queue_init
    mov dword [r12 + 0x70], 0x0f    ; DRIVER_OK
    ret

; esi = queue, edi = its descriptor table (avail +0x1000, used +0x2000)
queue_init:
    mov [r12 + 0x30], esi
    lea rbx, [rel f_qmax]
    cmp dword [r12 + 0x34], QN
    jb fail
    mov dword [r12 + 0x38], QN
    mov [r12 + 0x80], edi
    mov dword [r12 + 0x84], 0
    lea eax, [edi + 0x1000]
    mov [r12 + 0x90], eax
    mov dword [r12 + 0x94], 0
    lea eax, [edi + 0x2000]
    mov [r12 + 0xa0], eax
    mov dword [r12 + 0xa4], 0
    mov dword [r12 + 0x44], 1       ; QueueReady
    lea rbx, [rel f_ready]
    cmp dword [r12 + 0x44], 1
    jne fail
    ret

fail:
    call puts
    EXIT 1

UTIL_FUNCS
want_n: db "vhc=n", 0
want_e: db "vhc=e", 0
want_h: db "vhc=h", 0
want_r: db "vhc=r", 0
m_pass_n: db "PASS vhost-hostile: a good frame was consumed, the device is healthy", 10, 0
m_pass_bad: db "PASS vhost-hostile: the buffer outside RAM was refused (NEEDS_RESET, not consumed); after a reset a good frame went through", 10, 0
f_nodev: db "FAIL vhost-hostile: no virtio-net device at 0xd0000000", 10, 0
f_case: db "FAIL vhost-hostile: no vhc=n|e|h|r on the command line", 10, 0
f_reset: db "FAIL vhost-hostile: status not 0 after reset", 10, 0
f_feat: db "FAIL vhost-hostile: VIRTIO_F_VERSION_1 not offered", 10, 0
f_featok: db "FAIL vhost-hostile: FEATURES_OK not accepted", 10, 0
f_qmax: db "FAIL vhost-hostile: QueueNumMax below 8", 10, 0
f_ready: db "FAIL vhost-hostile: queue not ready", 10, 0
f_good: db "FAIL vhost-hostile: a good frame was not consumed", 10, 0
f_nr_good: db "FAIL vhost-hostile: NEEDS_RESET after a good frame", 10, 0
f_nr: db "FAIL vhost-hostile: a buffer outside RAM did not set DEVICE_NEEDS_RESET", 10, 0
f_used: db "FAIL vhost-hostile: a request with a buffer outside RAM was completed", 10, 0
    align 16
payload_end:
