/* Test helpers for the x86-64 switch: fill callee-saved registers with known
 * values, switch, and report which ones came back changed. */
/* The switch under test: weft_switch itself, or a shim for the Boost.Context backend. */
#ifndef WEFT_TEST_SWITCH
#define WEFT_TEST_SWITCH weft_switch
#endif
    .text
    .globl weft_test_switch_check
    .type weft_test_switch_check, @function
/* uint64_t weft_test_switch_check(void** save, void* to, void* arg) */
weft_test_switch_check:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    movabsq $0x1111111111111111, %rbx
    movabsq $0x2222222222222222, %rbp
    movabsq $0x3333333333333333, %r12
    movabsq $0x4444444444444444, %r13
    movabsq $0x5555555555555555, %r14
    movabsq $0x6666666666666666, %r15
    call WEFT_TEST_SWITCH
    xorl %eax, %eax
    movabsq $0x1111111111111111, %rcx
    cmpq %rcx, %rbx
    je 1f
    orl $1, %eax
1:  movabsq $0x2222222222222222, %rcx
    cmpq %rcx, %rbp
    je 1f
    orl $2, %eax
1:  movabsq $0x3333333333333333, %rcx
    cmpq %rcx, %r12
    je 1f
    orl $4, %eax
1:  movabsq $0x4444444444444444, %rcx
    cmpq %rcx, %r13
    je 1f
    orl $8, %eax
1:  movabsq $0x5555555555555555, %rcx
    cmpq %rcx, %r14
    je 1f
    orl $16, %eax
1:  movabsq $0x6666666666666666, %rcx
    cmpq %rcx, %r15
    je 1f
    orl $32, %eax
1:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size weft_test_switch_check, .-weft_test_switch_check

/* Context entry: forever scribble over every callee-saved register, then
 * switch back. arg points at { void* self_sp; void* back_sp; }. */
    .globl weft_test_scribbler
    .type weft_test_scribbler, @function
weft_test_scribbler:
    pushq %rdi
1:  movabsq $0xdeadbeef00000001, %rbx
    movabsq $0xdeadbeef00000002, %rbp
    movabsq $0xdeadbeef00000003, %r12
    movabsq $0xdeadbeef00000004, %r13
    movabsq $0xdeadbeef00000005, %r14
    movabsq $0xdeadbeef00000006, %r15
    movq (%rsp), %rax
    movq %rax, %rdi
    movq 8(%rax), %rsi
    xorl %edx, %edx
    call WEFT_TEST_SWITCH
    jmp 1b
    .size weft_test_scribbler, .-weft_test_scribbler

/* uintptr_t weft_test_sp_at_call(void): the caller's stack pointer just before its call. */
    .globl weft_test_sp_at_call
    .type weft_test_sp_at_call, @function
weft_test_sp_at_call:
    leaq 8(%rsp), %rax
    ret
    .size weft_test_sp_at_call, .-weft_test_sp_at_call

    .section .note.GNU-stack,"",@progbits
