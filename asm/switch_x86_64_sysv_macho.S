/* weft context switch for x86-64, System V ABI, Mach-O (macOS).
 *
 * Same contract, frame layout and behaviour as switch_x86_64_sysv_elf.S;
 * only the object-format spelling differs: C symbols carry a leading
 * underscore, there is no .type/.size/.note.GNU-stack, and alignment is
 * written with .p2align (on Mach-O, `.align N` means 2^N bytes).
 *
 * void* weft_switch(void** save_sp, void* to_sp, void* arg)
 *   Saves the callee-saved state of the running context on its own stack,
 *   stores that stack pointer in *save_sp, resumes the context whose stack
 *   pointer is to_sp, and returns `arg` there.
 * void* weft_make_context(void* stack_top, void (*entry)(void*))
 *   Builds a frame on a fresh stack so that the first weft_switch to the
 *   returned stack pointer calls entry(arg) through weft_trampoline.
 *
 * Frame, from the saved stack pointer up:
 *   0: MXCSR (4)  4: x87 control word (2)  8: unused
 *   16: r15  24: r14  32: r13  40: r12  48: rbx  56: rbp  64: return address
 * MXCSR and the x87 control word are always reloaded (see the ELF file).
 *
 * Unwind info: the assembler emits no __compact_unwind entry for CFI it
 * cannot encode (adjust_cfa_offset, remember/restore state, undefined return
 * address), so the linker derives the encodings from __eh_frame; it cannot
 * encode an undefined return address either, so weft_trampoline stays DWARF
 * and unwinders still stop there. scripts/check-macho.sh verifies that neither
 * weft_switch nor weft_trampoline gets a non-DWARF compact encoding.
 */
    .text
    .globl _weft_switch
    .p2align 4
_weft_switch:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    subq $16, %rsp
    .cfi_adjust_cfa_offset 16
    stmxcsr (%rsp)
    fnstcw 4(%rsp)

    movq %rsp, (%rdi)
    movq %rsi, %rsp
    /* From here the CFI above describes the incoming context's frame, which
     * has the same layout, so unwinding stays correct across the switch. */
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $16, %rsp
    .cfi_adjust_cfa_offset -16
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    /* jmp, not ret: the return-stack predictor holds the outgoing context's
     * return address, so a ret would mispredict on every switch. */
    popq %r8
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, r8
    movq %rdx, %rax
    jmpq *%r8
    .cfi_endproc

    .globl _weft_make_context
    .p2align 4
_weft_make_context:
    .cfi_startproc
    movq %rdi, %rax
    andq $-16, %rax
    subq $88, %rax              /* sp = 8 mod 16: after the switch pops 72 bytes, rsp is 16-aligned */
    movq $0, (%rax)
    movq $0, 8(%rax)
    stmxcsr (%rax)              /* a new fiber starts with its creator's FP environment */
    fnstcw 4(%rax)
    movq $0, 16(%rax)           /* r15 */
    movq $0, 24(%rax)           /* r14 */
    movq $0, 32(%rax)           /* r13 */
    movq %rsi, 40(%rax)         /* r12 = entry */
    movq $0, 48(%rax)           /* rbx */
    movq $0, 56(%rax)           /* rbp = 0 ends frame-pointer walks */
    leaq _weft_trampoline(%rip), %rcx
    movq %rcx, 64(%rax)
    movq $0, 72(%rax)
    ret
    .cfi_endproc

    .globl _weft_trampoline
    .p2align 4
    .cfi_startproc
    .cfi_undefined rip          /* outermost frame of every fiber: unwinders stop here */
    nop                         /* an unwinder looks up address-1: keep it inside this CFI */
_weft_trampoline:
    movq %rax, %rdi
    callq *%r12
    ud2                         /* entry functions never return */
    .cfi_endproc

    .subsections_via_symbols
