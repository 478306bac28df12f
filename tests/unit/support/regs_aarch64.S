/* Test helpers for the AArch64 switch: fill callee-saved registers (x19-x29,
 * d8-d15) with known values, switch, and report which ones came back changed. */
/* The switch under test: weft_switch itself, or a shim for the Boost.Context backend. */
#ifndef WEFT_TEST_SWITCH
#define WEFT_TEST_SWITCH weft_switch
#endif
    .text
    .globl weft_test_switch_check
    .type weft_test_switch_check, %function
/* uint64_t weft_test_switch_check(void** save, void* to, void* arg) */
weft_test_switch_check:
    stp x29, x30, [sp, #-160]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    .irp r,19,20,21,22,23,24,25,26,27,28
    mov x\r, #(0x1100 + \r)
    .endr
    .irp r,8,9,10,11,12,13,14,15
    mov x9, #(0x2200 + \r)
    fmov d\r, x9
    .endr
    bl WEFT_TEST_SWITCH
    mov x9, #0
    .irp r,19,20,21,22,23,24,25,26,27,28
    mov x10, #(0x1100 + \r)
    cmp x\r, x10
    b.eq 1f
    orr x9, x9, #(1 << (\r - 19))
1:
    .endr
    mov x10, sp
    cmp x29, x10
    b.eq 1f
    orr x9, x9, #(1 << 10)
1:
    .irp r,8,9,10,11,12,13,14,15
    mov x11, #(0x2200 + \r)
    fmov x10, d\r
    cmp x10, x11
    b.eq 1f
    orr x9, x9, #(1 << (\r + 3))
1:
    .endr
    mov x0, x9
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldp x29, x30, [sp], #160
    ret
    .size weft_test_switch_check, .-weft_test_switch_check

/* Context entry: forever scribble over every callee-saved register, then
 * switch back. x0 points at { void* self_sp; void* back_sp; }. */
    .globl weft_test_scribbler
    .type weft_test_scribbler, %function
weft_test_scribbler:
    sub sp, sp, #16
    str x0, [sp]
1:
    .irp r,19,20,21,22,23,24,25,26,27,28,29
    mov x\r, #(0xde00 + \r)
    .endr
    .irp r,8,9,10,11,12,13,14,15
    mov x9, #(0xbe00 + \r)
    fmov d\r, x9
    .endr
    ldr x9, [sp]
    mov x0, x9
    ldr x1, [x9, #8]
    mov x2, #0
    bl WEFT_TEST_SWITCH
    b 1b
    .size weft_test_scribbler, .-weft_test_scribbler

/* uintptr_t weft_test_sp_at_call(void): the caller's stack pointer at the call. */
    .globl weft_test_sp_at_call
    .type weft_test_sp_at_call, %function
weft_test_sp_at_call:
    mov x0, sp
    ret
    .size weft_test_sp_at_call, .-weft_test_sp_at_call

    .section .note.GNU-stack,"",%progbits
