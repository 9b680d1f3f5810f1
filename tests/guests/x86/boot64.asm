; boot64: entered by vessel's bzImage loader at startup_64; verifies the
; boot-protocol state (RSI = zero page with "HdrS", long mode, paging,
; __BOOT_CS/__BOOT_DS, cmdline pointer) and reports on COM1 + debug exit.
%include "bzhdr.inc"
%define COM1 0x3f8
%define DEBUG_EXIT 0x501
    lea rbx, [rel m_rsi]
    cmp rsi, 0x7000
    jne fail
    lea rbx, [rel m_hdrs]
    cmp dword [rsi + 0x202], 'HdrS'
    jne fail
    lea rbx, [rel m_cs]
    mov ax, cs
    cmp ax, 0x10
    jne fail
    lea rbx, [rel m_ds]
    mov ax, ds
    cmp ax, 0x18
    jne fail
    lea rbx, [rel m_pg]
    mov rax, cr0
    bt rax, 31
    jnc fail
    mov rax, cr4
    bt rax, 5
    jnc fail
    lea rbx, [rel m_cmd]
    mov eax, [rsi + 0x228]      ; cmd_line_ptr
    test eax, eax
    jz fail
    cmp byte [rax], 'c'         ; default cmdline "console=ttyS0"
    jne fail
    lea rbx, [rel m_e820]
    cmp byte [rsi + 0x1e8], 3
    jb fail
    lea rbx, [rel m_pass]
    call puts
    xor al, al
    mov dx, DEBUG_EXIT
    out dx, al
    hlt
fail:
    push rbx
    lea rbx, [rel m_fail]
    call puts
    pop rbx
    call puts
    mov al, 1
    mov dx, DEBUG_EXIT
    out dx, al
    hlt
puts:                           ; rbx = NUL-terminated string
    mov dx, COM1
.l: mov al, [rbx]
    test al, al
    jz .d
    out dx, al
    inc rbx
    jmp .l
.d: ret
m_pass: db "PASS boot64: zero page, long mode, paging, segments", 10, 0
m_fail: db "FAIL boot64: ", 0
m_rsi:  db "RSI is not the zero page", 10, 0
m_hdrs: db "no HdrS in zero page", 10, 0
m_cs:   db "CS != __BOOT_CS", 10, 0
m_ds:   db "DS != __BOOT_DS", 10, 0
m_pg:   db "paging/PAE off", 10, 0
m_cmd:  db "cmd_line_ptr bad", 10, 0
m_e820: db "e820 map too short", 10, 0
    align 16
payload_end:
