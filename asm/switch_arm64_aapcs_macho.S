/* weft context switch for arm64, AAPCS64 (Apple variant), Mach-O (macOS).
 *
 * void* weft_switch(void** save_sp, void* to_sp, void* arg)
 * void* weft_make_context(void* stack_top, void (*entry)(void*))
 * (see switch_x86_64_sysv_elf.S for the contract)
 *
 * Same contract, frame layout and behaviour as switch_aarch64_aapcs_elf.S;
 * Mach-O spelling: C symbols carry a leading underscore, no
 * .type/.size/.note.GNU-stack, Apple relocation operators (@PAGE/@PAGEOFF).
 * x18 is the platform register on Apple platforms and is never touched.
 *
 * Frame, from the saved stack pointer up (176 bytes, 16-aligned):
 *   0: x19 x20  16: x21 x22  32: x23 x24  48: x25 x26  64: x27 x28
 *   80: x29 x30  96: d8 d9  112: d10 d11  128: d12 d13  144: d14 d15
 *   160: FPCR  168: unused
 * FPCR is per fiber; it is written only when it differs, since a write can
 * serialise the pipeline.
 *
 * CFI differs from the ELF file in two places, both description-only (no
 * instruction, layout or behaviour change): d8-d15 get .cfi_offset entries,
 * and every saved register is .cfi_restore'd once it has been reloaded and
 * before `add sp` frees its slot, so an asynchronous unwinder at the final
 * `mov x0, x2` / `ret` reads the live x30 instead of a slot below sp.
 *
 * Unwind info: this CFI is not expressible as compact unwind, so the
 * assembler emits UNWIND_ARM64_MODE_DWARF entries for weft_switch and
 * weft_trampoline and the unwinder reads __eh_frame; scripts/check-macho.sh
 * verifies that.
 */
    .text
    .globl _weft_switch
    .p2align 4
_weft_switch:
    .cfi_startproc
    sub sp, sp, #176
    .cfi_def_cfa_offset 176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs x9, fpcr
    str x9, [sp, #160]

    mov x10, sp
    str x10, [x0]
    mov sp, x1

    ldr x11, [sp, #160]
    cmp x11, x9
    b.eq 1f
    msr fpcr, x11
1:  ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    .irp r,19,20,21,22,23,24,25,26,27,28,29,30
    .cfi_restore x\r
    .endr
    .irp r,8,9,10,11,12,13,14,15
    .cfi_restore d\r
    .endr
    add sp, sp, #176
    .cfi_def_cfa_offset 0
    mov x0, x2
    ret
    .cfi_endproc

    .globl _weft_make_context
    .p2align 4
_weft_make_context:
    .cfi_startproc
    and x9, x0, #~15
    sub x9, x9, #192            /* frame + 16 bytes of headroom above it */
    mov x10, #176
1:  subs x10, x10, #8           /* zero the frame: registers start defined */
    str xzr, [x9, x10]
    b.ne 1b
    str x1, [x9, #0]            /* x19 = entry */
    adrp x11, _weft_trampoline@PAGE
    add x11, x11, _weft_trampoline@PAGEOFF
    str x11, [x9, #88]          /* x30 = trampoline; x29 = 0 ends frame-pointer walks */
    mrs x12, fpcr               /* a new fiber starts with its creator's FP environment */
    str x12, [x9, #160]
    mov x0, x9
    ret
    .cfi_endproc

    .globl _weft_trampoline
    .p2align 4
    .cfi_startproc
    .cfi_undefined x30          /* outermost frame of every fiber: unwinders stop here */
    nop                         /* an unwinder looks up address-1: keep it inside this CFI */
_weft_trampoline:
    blr x19                     /* x0 already holds the arg returned by _weft_switch */
    brk #0x3e8                  /* entry functions never return */
    .cfi_endproc

    .subsections_via_symbols
