; virtio-hostile: bad descriptor chains and bad requests against virtio-blk
; and virtio-rng over virtio-mmio, one case per run, chosen on the kernel
; command line with "vh=KC" (K = target slot, C = case; "vhneg" = negative
; control: skip the corruption, so the guest must report FAIL).
; Run with: --disk RW.img --disk RO.img,readonly --rng
;   slot 0 = virtio-blk read-write (pin 5), sector 0 starts "VSLDISK0"
;   slot 1 = virtio-blk read-only  (pin 6), sector 0 starts "VSLDISK1"
;   slot 2 = virtio-rng            (pin 7)
; Bad-ring cases (K = 0 or 2, C = a..n): the target and the other device
; (rng for blk, blk for rng) each serve a good request; then a request
; whose ring the case corrupts must put the target into DEVICE_NEEDS_RESET
; with a configuration-change interrupt and must not complete; the other
; device must still serve a request meanwhile; after a reset the target
; must serve a request again.
;   a loop          last descriptor's next points back to the data descriptor
;   b long          chain through all 8 descriptors and on (longer than the queue)
;   c ind_long      indirect table of 300 chained entries (more than a request may have)
;   d oor           data buffer at 0x7fff00000000 (outside RAM)
;   e wrap64        data buffer at 2^64 - 4096, 8 KiB long (wraps into RAM)
;   f wrap32        data buffer at 0x1000, len 0xfffff000 (end wraps to 0 in 32 bits)
;   g avail         avail idx advanced by 9 on an 8-entry queue
;   h head          avail ring entry 200 on an 8-entry queue
;   i nested        indirect descriptor inside an indirect table
;   j ind_oor       indirect table outside RAM
;   k ind_len       indirect table of 20 bytes (not a multiple of 16)
;   l ind_loop      loop inside an indirect table
;   m next_oob      next index 9 on an 8-entry queue
;   n order         a device-readable descriptor after a device-writable one
; Request-error cases:
;   1R  write to the read-only disk: VIRTIO_BLK_S_IOERR, no NEEDS_RESET, data intact
;   0S  sector past the end, across the end, 2^55 (x512 wraps 2^64), 2^64-1,
;       and a 100-byte read: each VIRTIO_BLK_S_IOERR, the device carries on
;   0H  write request whose header is device-writable: IOERR
;   0W  write request whose data is device-writable: data not read into the disk
;       (the test checks the image), not written either
;   0D  read request whose data buffer is device-readable: device must not write it
;   0T  whole chain device-readable (no status byte): nothing written
;   0U  unknown request type: VIRTIO_BLK_S_UNSUPP
;   2X  rng request with a device-readable buffer: not written, used len 0
;   0Q/2Q bad queue sizes / unaligned or out-of-RAM rings at QueueReady:
;       QueueReady stays 0 and DEVICE_NEEDS_RESET is set, then a reset cures it
;   0F  flood: 40 bad rings (reset after each) and 40 out-of-range reads
%include "bzhdr.inc"
%include "util.inc"
%define VEC 0x35
%define MMIO 0xd0000000
%define RINGS 0x400000
%define D_AV 0x1000
%define D_US 0x2000
%define D_HDR 0x3000
%define D_ST 0x3800
%define D_DATA 0x4000
%define D_IT 0x5000
%define D_IT2 0x8000
%define QN 8
%define FLOOD 40
%define F_NEXT 1
%define F_WRITE 2
%define F_IND 4

; DESCR idx, offset from r14, len, flags, next
%macro DESCR 5
    lea rax, [r14 + (%2)]
    mov [r14 + (%1) * 16], rax
    mov dword [r14 + (%1) * 16 + 8], %3
    mov word [r14 + (%1) * 16 + 12], %4
    mov word [r14 + (%1) * 16 + 14], %5
%endmacro

; FAILIF cc, msg
%macro FAILIF 2
    lea rbx, [rel %2]
    j%1 fail
%endmacro

    mov r15, rsi                    ; zero page
    SET_GATE VEC, h0
    SET_GATE VEC + 1, h1
    SET_GATE VEC + 2, h2
    LOAD_IDT
    APIC_ON
    IOAPIC_ROUTE 5, VEC | 0x8000    ; fixed, level, active high
    IOAPIC_ROUTE 6, (VEC + 1) | 0x8000
    IOAPIC_ROUTE 7, (VEC + 2) | 0x8000
    ; the case from the command line
    mov esi, [r15 + 0x228]
    lea rdi, [rel s_vh]
    call find
    FAILIF z, f_nocase
    movzx eax, byte [rsi]
    sub eax, '0'
    cmp eax, 2
    FAILIF a, f_nocase
    mov [rel tgt], eax
    mov ecx, 2                      ; the other device: rng, or blk 0 for rng
    cmp eax, 2
    jne .o
    xor ecx, ecx
.o: mov [rel oth], ecx
    movzx eax, byte [rsi + 1]
    mov [rel cas], eax
    mov esi, [r15 + 0x228]
    lea rdi, [rel s_neg]
    call find
    setnz byte [rel neg]
    ; the three devices
    mov r12, MMIO
    lea rbx, [rel f_devs]
    cmp dword [r12 + 8], 2
    jne fail
    cmp dword [r12 + 0x1008], 2
    jne fail
    cmp dword [r12 + 0x2008], 4
    jne fail
    sti
    mov eax, [rel cas]
    cmp eax, 'a'
    jb .special
    cmp eax, 'n'
    ja .special
    sub eax, 'a'
    lea rdx, [rel corrupt_tab]
    movsxd rax, dword [rdx + rax * 4]
    add rax, rdx
    mov [rel corrupt], rax
    call run_nr
    jmp pass
.special:
    lea rdx, [rel special_tab]
.sl: movzx ecx, byte [rdx]
    test ecx, ecx
    FAILIF z, f_nocase
    cmp ecx, eax
    je .sf
    add rdx, 8
    jmp .sl
.sf: movsxd rax, dword [rdx + 4]
    lea rcx, [rel special_tab]
    add rax, rcx
    call rax
pass:
    cli
    lea rbx, [rel m_pass]
    call puts
    mov eax, [rel count]
    test eax, eax
    jz .nc
    call putdec
.nc: lea rbx, [rel m_nl]
    call puts
    EXIT 0

fail:
    cli
    call puts
    lea rbx, [rel m_nl]
    call puts
    EXIT 1

; sel: edi = slot -> r13 = slot, r12 = its mmio base, r14 = its ring area
sel:
    mov r13d, edi
    mov r12d, edi
    shl r12d, 12
    add r12d, MMIO                  ; zero-extends into r12
    mov r14d, edi
    shl r14, 16
    add r14, RINGS
    ret

; dev_begin: reset, ACKNOWLEDGE|DRIVER, VERSION_1 + INDIRECT_DESC, FEATURES_OK
dev_begin:
    mov dword [r12 + 0x70], 0
    cmp dword [r12 + 0x70], 0
    FAILIF ne, f_reset
    lea rax, [rel isr_seen]
    mov dword [rax + r13 * 4], 0
    mov dword [r12 + 0x70], 1
    mov dword [r12 + 0x70], 3
    mov dword [r12 + 0x14], 1
    test dword [r12 + 0x10], 1      ; VIRTIO_F_VERSION_1
    FAILIF z, f_feat
    mov dword [r12 + 0x14], 0
    test dword [r12 + 0x10], 1 << 28 ; VIRTIO_F_INDIRECT_DESC
    FAILIF z, f_feat
    mov dword [r12 + 0x24], 1
    mov dword [r12 + 0x20], 1
    mov dword [r12 + 0x24], 0
    mov dword [r12 + 0x20], 1 << 28
    mov dword [r12 + 0x70], 0x0b
    test dword [r12 + 0x70], 8
    FAILIF z, f_featok
    ret

; queue_cfg: eax = num, rsi = desc, rdi = avail, rdx = used; QueueReady = 1;
; returns eax = QueueReady read back
queue_cfg:
    mov dword [r12 + 0x30], 0
    cmp dword [r12 + 0x34], QN
    FAILIF b, f_qmax
    mov [r12 + 0x38], eax
    mov [r12 + 0x80], esi
    shr rsi, 32
    mov [r12 + 0x84], esi
    mov [r12 + 0x90], edi
    shr rdi, 32
    mov [r12 + 0x94], edi
    mov [r12 + 0xa0], edx
    shr rdx, 32
    mov [r12 + 0xa4], edx
    mov dword [r12 + 0x44], 1
    mov eax, [r12 + 0x44]
    ret

; dev_init: a working device with an empty 8-entry queue, DRIVER_OK
dev_init:
    call dev_begin
    xor eax, eax
    cld
    mov rdi, r14
    mov ecx, 32
    rep stosq
    lea rdi, [r14 + D_AV]
    mov ecx, 8
    rep stosq
    lea rdi, [r14 + D_US]
    mov ecx, 16
    rep stosq
    mov eax, QN
    mov rsi, r14
    lea rdi, [r14 + D_AV]
    lea rdx, [r14 + D_US]
    call queue_cfg
    cmp eax, 1
    FAILIF ne, f_ready
    mov dword [r12 + 0x70], 0x0f
    ret

; submit: eax = head -> avail ring, idx += 1 + avail_extra; notify.
; Returns ecx = the used idx that completes it.
submit:
    movzx r11d, word [r14 + D_US + 2]
    inc r11d
    lea rsi, [r14 + D_AV]
    movzx ecx, word [rsi + 2]
    mov edx, ecx
    and edx, QN - 1
    mov [rsi + 4 + rdx * 2], ax
    inc ecx
    add ecx, [rel avail_extra]
    mov dword [rel avail_extra], 0
    mov [rsi + 2], cx
    mov dword [r12 + 0x50], 0
    mov ecx, r11d
    ret

; wait_used: until used idx == cx
wait_used:
    call deadline_start
.w: cmp word [r14 + D_US + 2], cx
    je .ok
    pause
    call deadline_passed
    jz .w
    lea rbx, [rel f_timeout]
    jmp fail
.ok: ret

; used_len: eax = len of the latest used element
used_len:
    movzx eax, word [r14 + D_US + 2]
    dec eax
    and eax, QN - 1
    mov eax, [r14 + D_US + 8 + rax * 8]
    ret

; wait_nr: until DEVICE_NEEDS_RESET and a configuration-change interrupt;
; fails at once when the device completes the request instead (used idx
; moves away from cx): it took the ring for a good one.
wait_nr:
    call deadline_start
.w: test dword [r12 + 0x70], 0x40
    jnz .g
    cmp word [r14 + D_US + 2], cx
    jne .nr
    pause
    call deadline_passed
    jz .w
.nr: lea rbx, [rel f_nr]
    jmp fail
.g: call deadline_start
    lea rax, [rel isr_seen]
.c: test dword [rax + r13 * 4], 2
    jnz .ok
    pause
    call deadline_passed
    jz .c
    lea rbx, [rel f_cfgirq]
    jmp fail
.ok: ret

; no_nr: the device must not be in DEVICE_NEEDS_RESET
no_nr:
    test dword [r12 + 0x70], 0x40
    FAILIF nz, f_unexp_nr
    ret

; fill: DATA (1 KiB) = rax repeated
fill:
    lea rdi, [r14 + D_DATA]
    mov ecx, 128
    cld
    rep stosq
    ret

; data_intact: DATA still holds the fill pattern 0x5a... (first and last qword
; of the first 512 bytes)
data_intact:
    mov rax, 0x5a5a5a5a5a5a5a5a
    cmp [r14 + D_DATA], rax
    FAILIF ne, f_wrote_ro
    cmp [r14 + D_DATA + 504], rax
    FAILIF ne, f_wrote_ro
    ret

; blk_build: eax = type, rdx = sector, r9w = flags added to the data
; descriptor (F_WRITE for a read), r10d = data length
blk_build:
    mov [r14 + D_HDR], eax
    mov dword [r14 + D_HDR + 4], 0
    mov [r14 + D_HDR + 8], rdx
    mov byte [r14 + D_ST], 0xff
    DESCR 0, D_HDR, 16, F_NEXT, 1
    DESCR 1, D_DATA, r10d, F_NEXT, 2
    or [r14 + 16 + 12], r9w
    DESCR 2, D_ST, 1, F_WRITE, 0
    ret

; blk_req: build, submit, wait; returns al = status byte
blk_req:
    call blk_build
    xor eax, eax
    call submit
    call wait_used
    movzx eax, byte [r14 + D_ST]
    ret

; blk_read_ok: sector 0 reads back with this disk's signature
blk_read_ok:
    xor eax, eax
    call fill
    xor eax, eax
    xor edx, edx
    mov r9d, F_WRITE
    mov r10d, 512
    call blk_req
    test al, al
    FAILIF nz, f_blkstatus
    call used_len
    cmp eax, 513
    FAILIF ne, f_usedlen
    lea rax, [rel sigs]
    mov rax, [rax + r13 * 8]
    cmp [r14 + D_DATA], rax
    FAILIF ne, f_blkdata
    ret

; rng_build / rng_ok: 64 bytes of entropy
rng_build:
    xor eax, eax
    call fill
    DESCR 0, D_DATA, 64, F_WRITE, 0
    ret
rng_ok:
    call rng_build
    xor eax, eax
    call submit
    call wait_used
    call used_len
    cmp eax, 64
    FAILIF ne, f_usedlen
    mov rax, [r14 + D_DATA]
    or rax, [r14 + D_DATA + 8]
    or rax, [r14 + D_DATA + 56]
    FAILIF z, f_zero
    ret

; good_req / build_good: by device kind (slots 0, 1 blk; 2 rng)
good_req:
    cmp r13d, 2
    je rng_ok
    jmp blk_read_ok
build_good:
    cmp r13d, 2
    je rng_build
    xor eax, eax
    xor edx, edx
    mov r9d, F_WRITE
    mov r10d, 512
    jmp blk_build

; data_idx / last_idx: rax = index of the data / last descriptor
data_idx:
    xor eax, eax
    cmp r13d, 2
    je .r
    inc eax
.r: ret
last_idx:
    xor eax, eax
    cmp r13d, 2
    je .r
    mov eax, 2
.r: ret

; other_ok: the other device serves a request; back to the target
other_ok:
    mov edi, [rel oth]
    call sel
    call good_req
    mov edi, [rel tgt]
    jmp sel

; run_nr: the bad-ring case in `corrupt` against slot `tgt`
run_nr:
    mov edi, [rel oth]
    call sel
    call dev_init
    call good_req
    mov edi, [rel tgt]
    call sel
    call dev_init
    call good_req
    call build_good
    mov dword [rel head], 0
    cmp byte [rel neg], 0
    jne .s
    call [rel corrupt]
.s: mov eax, [rel head]
    call submit
    mov ecx, 1                      ; used idx after the one good request
    call wait_nr
    cmp word [r14 + D_US + 2], 1    ; only the good request completed
    FAILIF ne, f_used
    call other_ok
    call dev_init
    call good_req
    jmp other_ok

; ---- corruptions (r14 = target's ring area) ----
c_loop:                             ; last -> data (all device-writable)
    call data_idx
    mov ecx, eax
    call last_idx
    shl eax, 4
    or word [r14 + rax + 12], F_NEXT
    mov [r14 + rax + 14], cx
    ret
c_long:
    call last_idx
    mov edx, eax
.l: mov ecx, edx
    shl ecx, 4
    cmp edx, eax
    je .n
    lea rdi, [r14 + D_DATA]
    mov [r14 + rcx], rdi
    mov dword [r14 + rcx + 8], 1
    mov word [r14 + rcx + 12], F_WRITE
.n: or word [r14 + rcx + 12], F_NEXT
    lea edi, [edx + 1]
    cmp edi, QN
    jb .s
    call data_idx                   ; desc 7 -> back to the data descriptor
    mov edi, eax
    call last_idx
.s: mov [r14 + rcx + 14], di
    inc edx
    cmp edx, QN
    jb .l
    ret
c_ind_long:
    DESCR 0, D_IT, 300 * 16, F_IND, 0
    xor ecx, ecx
    lea rdi, [r14 + D_IT]
    lea rdx, [r14 + D_DATA]
.l: mov [rdi], rdx
    mov dword [rdi + 8], 1
    mov word [rdi + 12], F_WRITE | F_NEXT
    inc ecx
    mov [rdi + 14], cx
    add rdi, 16
    cmp ecx, 300
    jb .l
    mov word [rdi - 16 + 12], F_WRITE
    ret
c_oor:
    call data_idx
    shl eax, 4
    mov rcx, 0x7fff00000000
    mov [r14 + rax], rcx
    ret
c_wrap64:
    call data_idx
    shl eax, 4
    mov rcx, 0xfffffffffffff000
    mov [r14 + rax], rcx
    mov dword [r14 + rax + 8], 0x2000
    ret
c_wrap32:
    call data_idx
    shl eax, 4
    mov qword [r14 + rax], 0x1000
    mov dword [r14 + rax + 8], 0xfffff000
    ret
c_avail:
    mov dword [rel avail_extra], QN
    ret
c_head:
    mov dword [rel head], 200
    ret
c_nested:
    DESCR 0, D_IT, 32, F_IND, 0
    lea rax, [r14 + D_IT2]
    mov [r14 + D_IT], rax
    mov dword [r14 + D_IT + 8], 16
    mov word [r14 + D_IT + 12], F_IND
    lea rax, [r14 + D_DATA]
    mov [r14 + D_IT2], rax
    mov dword [r14 + D_IT2 + 8], 64
    mov word [r14 + D_IT2 + 12], F_WRITE
    ret
c_ind_oor:
    mov rax, 0x7fff00000000
    mov [r14], rax
    mov dword [r14 + 8], 16
    mov word [r14 + 12], F_IND
    ret
c_ind_len:
    DESCR 0, D_IT, 20, F_IND, 0
    lea rax, [r14 + D_DATA]
    mov [r14 + D_IT], rax
    mov dword [r14 + D_IT + 8], 64
    mov word [r14 + D_IT + 12], F_WRITE
    ret
c_ind_loop:
    DESCR 0, D_IT, 32, F_IND, 0
    lea rax, [r14 + D_DATA]
    mov [r14 + D_IT], rax
    mov [r14 + D_IT + 16], rax
    mov dword [r14 + D_IT + 8], 8
    mov dword [r14 + D_IT + 24], 8
    mov dword [r14 + D_IT + 12], (F_WRITE | F_NEXT) | (1 << 16)
    mov dword [r14 + D_IT + 28], (F_WRITE | F_NEXT) | (0 << 16)
    ret
c_next_oob:
    call last_idx
    shl eax, 4
    or word [r14 + rax + 12], F_NEXT
    mov word [r14 + rax + 14], QN + 1
    ret
c_order:
    call last_idx
    shl eax, 4
    or word [r14 + rax + 12], F_NEXT
    mov word [r14 + rax + 14], 3
    DESCR 3, D_HDR, 16, 0, 0
    ret

; ---- request errors (slot tgt) ----
; start: other device and target up; target serves a good request
es_start:
    mov edi, [rel oth]
    call sel
    call dev_init
    mov edi, [rel tgt]
    call sel
    call dev_init
    jmp good_req
; finish: no NEEDS_RESET, target still serves, the other device too
es_finish:
    call no_nr
    call good_req
    jmp other_ok

case_R:                             ; write to a read-only disk
    call es_start
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    mov eax, 1                      ; VIRTIO_BLK_T_OUT
    xor edx, edx
    xor r9d, r9d
    mov r10d, 512
    call blk_req
    cmp al, 1                       ; VIRTIO_BLK_S_IOERR
    FAILIF ne, f_rowrite
    jmp es_finish

; bad_sector: rdx = sector, r10d = data length: a read must give IOERR
bad_read:
    cmp byte [rel neg], 0
    je .b
    xor edx, edx
    mov r10d, 512
.b: xor eax, eax
    mov r9d, F_WRITE
    call blk_req
    cmp al, 1
    FAILIF ne, f_range
    ret
bad_write:
    cmp byte [rel neg], 0
    je .b
    mov edx, 1
.b: mov eax, 1
    xor r9d, r9d
    mov r10d, 512
    call blk_req
    cmp al, 1
    FAILIF ne, f_range
    ret
case_S:                             ; sectors outside the disk
    call es_start
    mov eax, [r12 + 0x100]          ; capacity (sectors), low dword
    mov [rel capacity], eax
    mov edx, eax
    mov r10d, 512
    call bad_read                   ; at the end
    mov edx, [rel capacity]
    dec edx
    mov r10d, 1024
    call bad_read                   ; across the end
    xor edx, edx
    mov r10d, 100
    call bad_read                   ; not a sector multiple
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    mov rdx, 1 << 55
    call bad_write                  ; sector * 512 wraps to 0
    mov rdx, -1
    call bad_write
    jmp es_finish

case_H:                             ; header in a device-writable buffer
    call es_start
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    mov eax, 1
    mov edx, 1
    xor r9d, r9d
    mov r10d, 512
    call blk_build
    cmp byte [rel neg], 0
    jne .s
    or word [r14 + 12], F_WRITE
    or word [r14 + 16 + 12], F_WRITE
.s: xor eax, eax
    call submit
    call wait_used
    cmp byte [r14 + D_ST], 1
    FAILIF ne, f_hdr
    jmp es_finish

case_W:                             ; write request with device-writable data
    call es_start
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    mov eax, 1
    mov edx, 1                      ; sector 1 (the test checks the image)
    mov r9d, F_WRITE
    cmp byte [rel neg], 0
    je .b
    xor r9d, r9d
.b: mov r10d, 512
    call blk_req
    cmp al, 1
    ja .bad                         ; OK or IOERR, nothing else
    call data_intact
    jmp es_finish
.bad: lea rbx, [rel f_blkstatus]
    jmp fail

case_D:                             ; read into a device-readable buffer
    call es_start
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    xor eax, eax
    xor edx, edx
    xor r9d, r9d
    cmp byte [rel neg], 0
    je .b
    mov r9d, F_WRITE
.b: mov r10d, 512
    call blk_req
    call data_intact
    cmp byte [r14 + D_ST], 1
    FAILIF a, f_blkstatus
    jmp es_finish

case_T:                             ; no device-writable status byte
    call es_start
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    xor eax, eax
    xor edx, edx
    xor r9d, r9d
    mov r10d, 512
    call blk_build
    cmp byte [rel neg], 0
    jne .s
    mov word [r14 + 32 + 12], 0     ; status descriptor device-readable
.s: xor eax, eax
    call submit
    call wait_used
    cmp byte [r14 + D_ST], 0xff
    FAILIF ne, f_wrote_ro
    call data_intact
    call used_len
    test eax, eax
    FAILIF nz, f_usedlen
    jmp es_finish

case_U:                             ; unknown request type
    call es_start
    mov eax, 0x55
    cmp byte [rel neg], 0
    je .b
    xor eax, eax
.b: xor edx, edx
    mov r9d, F_WRITE
    mov r10d, 512
    call blk_req
    cmp al, 2                       ; VIRTIO_BLK_S_UNSUPP
    FAILIF ne, f_unsupp
    jmp es_finish

case_X:                             ; rng into a device-readable buffer
    call es_start
    mov rax, 0x5a5a5a5a5a5a5a5a
    call fill
    DESCR 0, D_DATA, 512, 0, 0
    cmp byte [rel neg], 0
    je .b
    mov word [r14 + 12], F_WRITE
.b: xor eax, eax
    call submit
    call wait_used
    call data_intact
    call used_len
    test eax, eax
    FAILIF nz, f_usedlen
    jmp es_finish

case_Q:                             ; bad queue configurations at QueueReady
    mov edi, [rel oth]
    call sel
    call dev_init
    mov edi, [rel tgt]
    call sel
    lea rbp, [rel qcfg_tab]
.l: mov eax, [rbp]
    cmp eax, -1
    je .done
    call dev_begin
    mov eax, [rbp]
    mov rsi, [rbp + 8]
    mov rdi, [rbp + 16]
    mov rdx, [rbp + 24]
    cmp byte [rel neg], 0
    je .b
    mov eax, QN
    mov rsi, r14
    lea rdi, [r14 + D_AV]
    lea rdx, [r14 + D_US]
    jmp .c
.b: cmp rsi, 0x10000            ; small values are offsets into the ring area
    jae .b1
    add rsi, r14
.b1: cmp rdi, 0x10000
    jae .b2
    add rdi, r14
.b2: cmp rdx, 0x10000
    jae .c
    add rdx, r14
.c: call queue_cfg
    test eax, eax
    FAILIF nz, f_qready
    test dword [r12 + 0x70], 0x40
    FAILIF z, f_qnr
    inc dword [rel count]
    call other_ok
    add rbp, 32
    jmp .l
.done:
    call dev_init
    call good_req
    jmp other_ok

case_F:                             ; many errors: vessel's log stays short
    mov edi, [rel oth]
    call sel
    call dev_init
    mov edi, [rel tgt]
    call sel
    mov ebp, FLOOD
.l: call dev_init
    call build_good
    call c_loop
    xor eax, eax
    call submit
    xor ecx, ecx                    ; nothing completed since dev_init
    call wait_nr
    inc dword [rel count]
    dec ebp
    jnz .l
    call dev_init
    mov ebp, FLOOD
.r: mov eax, [r12 + 0x100]
    mov edx, eax
    mov r10d, 512
    call bad_read
    inc dword [rel count]
    dec ebp
    jnz .r
    jmp es_finish

; find: rsi = string, rdi = word; ZF clear and rsi just past the first
; occurrence, or ZF set
find:
.o: mov rcx, rsi
    mov rdx, rdi
.i: mov al, [rdx]
    test al, al
    jz .f
    cmp al, [rcx]
    jne .a
    inc rcx
    inc rdx
    jmp .i
.a: cmp byte [rsi], 0
    je .n
    inc rsi
    jmp .o
.f: mov rsi, rcx
    or al, 1
    ret
.n: xor eax, eax
    ret

; putdec: eax in decimal on COM1
putdec:
    lea rdi, [rel numbuf + 15]
    mov byte [rdi], 0
    mov ecx, 10
.d: xor edx, edx
    div ecx
    add dl, '0'
    dec rdi
    mov [rdi], dl
    test eax, eax
    jnz .d
    mov rbx, rdi
    jmp puts

%macro HANDLER 1
h%1:
    push rax
    push rbx
    mov rax, MMIO + (%1) * 0x1000
    mov ebx, [rax + 0x60]
    mov [rax + 0x64], ebx
    or [rel isr_seen + (%1) * 4], ebx
    inc dword [rel irqs + (%1) * 4]
    LAPIC_EOI
    pop rbx
    pop rax
    iretq
%endmacro
HANDLER 0
HANDLER 1
HANDLER 2

UTIL_FUNCS
    align 4
corrupt_tab:
    dd c_loop - corrupt_tab, c_long - corrupt_tab, c_ind_long - corrupt_tab, c_oor - corrupt_tab
    dd c_wrap64 - corrupt_tab, c_wrap32 - corrupt_tab, c_avail - corrupt_tab, c_head - corrupt_tab
    dd c_nested - corrupt_tab, c_ind_oor - corrupt_tab, c_ind_len - corrupt_tab, c_ind_loop - corrupt_tab
    dd c_next_oob - corrupt_tab, c_order - corrupt_tab
special_tab:
    dd 'R', case_R - special_tab, 'S', case_S - special_tab, 'H', case_H - special_tab
    dd 'W', case_W - special_tab, 'D', case_D - special_tab, 'T', case_T - special_tab
    dd 'U', case_U - special_tab, 'X', case_X - special_tab, 'Q', case_Q - special_tab
    dd 'F', case_F - special_tab, 0, 0
    align 8
; num, desc, avail, used (values below 0x10000 are offsets into the ring area)
qcfg_tab:
    dq 0, 0, D_AV, D_US             ; size 0
    dq 3, 0, D_AV, D_US             ; not a power of two
    dq 512, 0, D_AV, D_US           ; above QueueNumMax
    dq 0x10000, 0, D_AV, D_US       ; does not fit the register's 16 bits
    dq QN, 8, D_AV, D_US            ; descriptor table not 16-aligned
    dq QN, 0, D_AV + 1, D_US        ; avail ring not 2-aligned
    dq QN, 0, D_AV, D_US + 2        ; used ring not 4-aligned
    dq QN, 0x7fff00000000, D_AV, D_US   ; descriptor table outside RAM
    dq QN, 0, D_AV, 0x1ffffe0       ; used ring across the end of RAM (32 MiB)
    dq -1
sigs: db "VSLDISK0VSLDISK1"
s_vh: db "vh=", 0
s_neg: db "vhneg", 0
m_pass: db "PASS virtio-hostile ", 0
m_nl: db 10, 0
f_nocase: db "FAIL virtio-hostile: no case vh=KC on the command line", 0
f_devs: db "FAIL virtio-hostile: want --disk RW --disk RO,readonly --rng", 0
f_reset: db "FAIL virtio-hostile: status not 0 after reset", 0
f_feat: db "FAIL virtio-hostile: VERSION_1 or INDIRECT_DESC not offered", 0
f_featok: db "FAIL virtio-hostile: FEATURES_OK not accepted", 0
f_qmax: db "FAIL virtio-hostile: QueueNumMax below 8", 0
f_ready: db "FAIL virtio-hostile: good queue not ready", 0
f_timeout: db "FAIL virtio-hostile: request not completed", 0
f_usedlen: db "FAIL virtio-hostile: wrong used length", 0
f_blkstatus: db "FAIL virtio-hostile: bad blk status", 0
f_blkdata: db "FAIL virtio-hostile: sector 0 lacks the disk signature", 0
f_zero: db "FAIL virtio-hostile: rng buffer still zero", 0
f_nr: db "FAIL virtio-hostile: bad ring did not set DEVICE_NEEDS_RESET", 0
f_cfgirq: db "FAIL virtio-hostile: no configuration-change interrupt", 0
f_used: db "FAIL virtio-hostile: bad request completed", 0
f_unexp_nr: db "FAIL virtio-hostile: DEVICE_NEEDS_RESET after a request error", 0
f_wrote_ro: db "FAIL virtio-hostile: device wrote into a device-readable buffer", 0
f_rowrite: db "FAIL virtio-hostile: write to a read-only disk not refused with IOERR", 0
f_range: db "FAIL virtio-hostile: bad sector/length not refused with IOERR", 0
f_hdr: db "FAIL virtio-hostile: device-writable header not refused with IOERR", 0
f_unsupp: db "FAIL virtio-hostile: unknown request type not refused with UNSUPP", 0
f_qready: db "FAIL virtio-hostile: bad queue configuration accepted (QueueReady 1)", 0
f_qnr: db "FAIL virtio-hostile: bad queue configuration without DEVICE_NEEDS_RESET", 0
    align 4
tgt: dd 0
oth: dd 0
cas: dd 0
corrupt: dq 0
head: dd 0
avail_extra: dd 0
count: dd 0
capacity: dd 0
neg: db 0
    align 4
irqs: dd 0, 0, 0
isr_seen: dd 0, 0, 0
numbuf: times 16 db 0
IDT_DATA VEC + 3
    align 16
payload_end:
