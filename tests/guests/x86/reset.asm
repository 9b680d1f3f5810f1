; reset: prints a line then pulses the i8042 reset line (port 0x64, 0xfe);
; vessel must stop the VM cleanly (exit 0) without the line after it.
%include "bzhdr.inc"
    lea rbx, [rel m]
    mov dx, 0x3f8
.l: mov al, [rbx]
    test al, al
    jz .d
    out dx, al
    inc rbx
    jmp .l
.d: mov al, 0xfe
    out 0x64, al
    mov al, 'X'                 ; must never be printed
    mov dx, 0x3f8
    out dx, al
    mov al, 3
    mov dx, 0x501
    out dx, al
    hlt
m: db "reset: pulsing i8042", 10, 0
    align 16
payload_end:
