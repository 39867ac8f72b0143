// The CPU's spin-wait hint, for SpinningPool's waiting loops. Swift has no
// way to emit `pause` (clang's _mm_pause is a builtin that Swift imports as
// an undefined external function), so this header-only module inlines it.
// x86: `pause` lets the SMT sibling (or the host's, under a hypervisor) use
// the core while a thread spins; arm64: `yield`, the same hint.
#ifndef LIMRANK_SPIN_HINT_H
#define LIMRANK_SPIN_HINT_H

static inline void limrank_spin_hint(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
