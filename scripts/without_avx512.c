/* A preloaded library (LD_PRELOAD) that hides AVX-512 and AMX from the process it is loaded
 * into, so that a machine with them runs the code paths of an AVX2-only CPU (an AMD EPYC
 * Zen 2 or 3, an Intel Haswell to Comet Lake): the CPUID instruction is made to fault
 * (Linux's ARCH_SET_CPUID, on CPUs with CPUID faulting: `cpuid_fault` in /proc/cpuinfo), and
 * the fault handler answers it with the AVX-512, AMX and AVX-VNNI bits cleared. Rust's
 * `is_x86_feature_detected!`, which every run-time kernel choice of nodefusion, gemm and pulp
 * goes through, then reports none of them. The setting is kept by threads and forks and
 * dropped by exec, where the preload sets it again. A handler the program installs for
 * SIGSEGV (rustc and LLVM do) is kept aside and called for every fault that is not a CPUID.
 * Used by scripts/without_avx512.sh. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* CPUID leaf 7, sub-leaf 0, EBX: AVX512F, DQ, IFMA, PF, ER, CD, BW, VL. */
#define LEAF7_EBX_AVX512 ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | \
                          (1u << 28) | (1u << 30) | (1u << 31))
/* ECX: AVX512_VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ. */
#define LEAF7_ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
/* EDX: AVX512_4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512_FP16, AMX-TILE, AMX-INT8. */
#define LEAF7_EDX_AVX512_AMX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | \
                              (1u << 24) | (1u << 25))
/* Sub-leaf 1, EAX: AVX-VNNI, AVX512_BF16. */
#define LEAF7_1_EAX_VNNI_BF16 ((1u << 4) | (1u << 5))

/* What the program asked for SIGSEGV; the default until it asks. */
static struct sigaction program_action;

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void cpuid_faulting(int on) {
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1);
}

static void answer_cpuid(int signal_number, siginfo_t *info, void *context) {
    ucontext_t *user = context;
    greg_t *registers = user->uc_mcontext.gregs;
    const unsigned char *instruction = (const unsigned char *)registers[REG_RIP];
    if (signal_number != SIGSEGV || instruction[0] != 0x0f || instruction[1] != 0xa2) {
        /* A real fault: the program's handler, else the default action once the
         * instruction runs again. */
        if (program_action.sa_flags & SA_SIGINFO) {
            program_action.sa_sigaction(signal_number, info, context);
        } else if (program_action.sa_handler != SIG_DFL && program_action.sa_handler != SIG_IGN) {
            program_action.sa_handler(signal_number);
        } else {
            struct sigaction fallback;
            memset(&fallback, 0, sizeof fallback);
            fallback.sa_handler = SIG_DFL;
            real_sigaction(SIGSEGV, &fallback, NULL);
        }
        return;
    }
    unsigned leaf = (unsigned)registers[REG_RAX];
    unsigned subleaf = (unsigned)registers[REG_RCX];
    unsigned eax, ebx, ecx, edx;
    cpuid_faulting(0);
    __cpuid_count(leaf, subleaf, eax, ebx, ecx, edx);
    cpuid_faulting(1);
    if (leaf == 7 && subleaf == 0) {
        ebx &= ~LEAF7_EBX_AVX512;
        ecx &= ~LEAF7_ECX_AVX512;
        edx &= ~LEAF7_EDX_AVX512_AMX;
    } else if (leaf == 7 && subleaf == 1) {
        eax &= ~LEAF7_1_EAX_VNNI_BF16;
    }
    registers[REG_RAX] = eax;
    registers[REG_RBX] = ebx;
    registers[REG_RCX] = ecx;
    registers[REG_RDX] = edx;
    registers[REG_RIP] += 2;
}

/* The program's own SIGSEGV handler is kept aside rather than installed. */
int sigaction(int signal_number, const struct sigaction *action, struct sigaction *old) {
    if (!real_sigaction) {
        real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    }
    if (signal_number != SIGSEGV) {
        return real_sigaction(signal_number, action, old);
    }
    if (old) {
        *old = program_action;
    }
    if (action) {
        program_action = *action;
    }
    return 0;
}

__attribute__((constructor)) static void hide_avx512(void) {
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = answer_cpuid;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    real_sigaction(SIGSEGV, &action, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "without_avx512: this CPU or kernel has no CPUID faulting\n");
        exit(2);
    }
}
