; ticker: the hot-spare replication test's bare guest (kvm-replicate.sh).
; Forever: add one to a counter kept in guest RAM, print it on COM1 as
; "t XXXXXXXX\n" (8 hex digits), then spin until SPIN TSC cycles have
; passed (about 1.6 ms at 2.6 GHz). A wait on the clock, not a count of
; loop turns: where /dev/kvm emulates the guest's code (kvm_pvm, about 1-2
; million instructions/s) 4M turns took seconds a tick. A TSC that goes
; back (a standby's) ends the wait. Its whole state is the
; counter in RAM, the registers and the UART: a standby that goes on from
; an epoch prints the numbers that follow the last one the primary let
; out, none repeated, none skipped.
%ifndef SPIN
%define SPIN 0x400000
%endif
%include "bzhdr.inc"
%include "util.inc"
.tick:
    lea rbx, [rel line]
    inc qword [rel count]
    mov rax, [rel count]
    lea rdi, [rel digits + 7]
    lea rsi, [rel hexchars]
    mov ecx, 8
.hex: mov edx, eax
    and edx, 15
    movzx edx, byte [rsi + rdx]
    mov [rdi], dl
    dec rdi
    shr rax, 4
    dec ecx
    jnz .hex
    call puts
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r8, rax
.spin: rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, r8
    cmp rax, SPIN
    jb .spin
    jmp .tick
    UTIL_FUNCS
    align 8
count: dq 0
hexchars: db "0123456789abcdef"
line: db "t "
digits: db "00000000", 10, 0
    align 16
payload_end:
