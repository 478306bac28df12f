/* The AArch64 switch on pages where BTI is enforced: a freestanding static
 * executable (no C runtime, whose start files have no BTI landing pads), every
 * object of it marked BTI, so the loader (qemu-user, or a BTI-capable kernel)
 * guards all its code. weft_make_context and weft_switch are called through
 * function pointers (blr: they need `bti c`), the trampoline calls the entry
 * through a register. Exits 0 when three round trips pass the right values. */
typedef void (*entry_fn)(void*);
void* weft_switch(void** save_sp, void* to_sp, void* arg);
void* weft_make_context(void* stack_top, entry_fn entry);

static void* (*volatile switch_fn)(void**, void*, void*) = weft_switch;
static void* (*volatile make_fn)(void*, entry_fn) = weft_make_context;
static void* main_sp;
static void* fiber_sp;
static char fiber_stack[65536] __attribute__((aligned(16)));

static void entry(void* arg) {
    long v = (long)arg;
    for (;;) v = (long)switch_fn(&fiber_sp, main_sp, (void*)(v + 1));
}

static void exit_with(long code) {
    register long x0 __asm__("x0") = code;
    register long x8 __asm__("x8") = 93; /* exit */
    __asm__ volatile("svc 0" : : "r"(x0), "r"(x8));
    for (;;) {
    }
}

void _start(void) {
    fiber_sp = make_fn(fiber_stack + sizeof fiber_stack, entry);
    long r = 0;
    for (int i = 0; i < 3; ++i) r = (long)switch_fn(&main_sp, fiber_sp, (void*)(r + 10));
    exit_with(r == 33 ? 0 : 1); /* 10+1, 21+1, 32+1 */
}
