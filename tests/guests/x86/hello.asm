; hello: the benchmark guest. Prints "H" on COM1 at its entry point (64-bit
; or, under a BIOS loader, real-mode) and exits via the debug-exit port.
; With -DIDLE both entries stay halted (interrupts off) after printing,
; so the VMM's memory can be measured.
%define RM_MSG "H", 10
%include "bzhdr.inc"
    mov dx, 0x3f8
    mov al, 'H'
    out dx, al
    mov al, 10
    out dx, al
%ifdef IDLE
    cli
.h: hlt
    jmp .h
%endif
    xor al, al
    mov dx, 0x501
    out dx, al
    hlt
    align 16
payload_end:
