/*
 * A classic-BPF assembler with forward labels, for seccomp programs: jumps name a label instead of
 * a hand-counted offset, and finish() resolves them (refusing a backward, unplaced or too-far one).
 * Used by the ordinary filter (seccomp_filter.c) and by the one filter with a listener per command
 * (listener_filter.c). Header-only (static inline): pure computation on the caller's buffer, no
 * allocation and no system call, so it is safe in a vfork child, and each program links only what
 * it uses.
 */
#ifndef NONO_BPF_ASM_H
#define NONO_BPF_ASM_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "seccomp_filter.h" /* NONO_SECCOMP_MAX_INSNS */

#define MAX_LABELS 128
#define NEXT (-1)  /* jump target: the next instruction */
#define SKIP1 (-2) /* jump target: the one after it (used only by if_eq) */

struct bpf_asm {
  struct sock_filter *out;
  unsigned n, cap;
  /* For each instruction: the label its jt / jf (or, for BPF_JA, its k) refers to, plus one;
   * 0 when the field holds a literal offset. Resolved by finish(). */
  uint8_t jt_ref[NONO_SECCOMP_MAX_INSNS], jf_ref[NONO_SECCOMP_MAX_INSNS];
  int16_t label_at[MAX_LABELS]; /* instruction index, -1 until placed */
  unsigned labels;
  int err;
};

static inline int new_label(struct bpf_asm *a) {
  if (a->labels >= MAX_LABELS) {
    a->err = E2BIG;
    return 0;
  }
  a->label_at[a->labels] = -1;
  return (int)a->labels++;
}

static inline void place(struct bpf_asm *a, int label) { a->label_at[label] = (int16_t)a->n; }

static inline uint8_t target(int t, uint8_t *literal) {
  *literal = t == SKIP1 ? 1 : 0;
  return t >= 0 ? (uint8_t)(t + 1) : 0;
}

static inline void put(struct bpf_asm *a, uint16_t code, uint32_t k, int jt, int jf) {
  if (a->n >= a->cap || a->n >= NONO_SECCOMP_MAX_INSNS) {
    a->err = E2BIG;
    return;
  }
  struct sock_filter *f = &a->out[a->n];
  f->code = code;
  f->k = k;
  a->jt_ref[a->n] = target(jt, &f->jt);
  a->jf_ref[a->n] = target(jf, &f->jf);
  a->n++;
}

static inline void load_nr(struct bpf_asm *a) { put(a, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), NEXT, NEXT); }
static inline void load_arch(struct bpf_asm *a) { put(a, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), NEXT, NEXT); }
/* The low 32 bits of argument i (see the top of the file). */
static inline void load_arg(struct bpf_asm *a, int i) {
  put(a, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i), NEXT, NEXT);
}
static inline void and_k(struct bpf_asm *a, uint32_t k) { put(a, BPF_ALU | BPF_AND | BPF_K, k, NEXT, NEXT); }
static inline void ret(struct bpf_asm *a, uint32_t action) { put(a, BPF_RET | BPF_K, action, NEXT, NEXT); }
/* Unconditional jump: a 32-bit offset, so it reaches any label. */
static inline void jump(struct bpf_asm *a, int label) {
  put(a, BPF_JMP | BPF_JA, 0, NEXT, NEXT);
  if (!a->err) a->jt_ref[a->n - 1] = (uint8_t)(label + 1);
}
/* Conditional jumps compare A with k; their offsets are 8 bits, so keep their labels near (the
 * blocks below are a few instructions each; finish() refuses a program where one is not). */
static inline void jeq(struct bpf_asm *a, uint32_t k, int jt, int jf) { put(a, BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf); }
static inline void jgt(struct bpf_asm *a, uint32_t k, int jt, int jf) { put(a, BPF_JMP | BPF_JGT | BPF_K, k, jt, jf); }
static inline void jge(struct bpf_asm *a, uint32_t k, int jt, int jf) { put(a, BPF_JMP | BPF_JGE | BPF_K, k, jt, jf); }
static inline void jset(struct bpf_asm *a, uint32_t k, int jt, int jf) { put(a, BPF_JMP | BPF_JSET | BPF_K, k, jt, jf); }
/* The next instruction runs only when A == k. */
static inline void if_eq(struct bpf_asm *a, uint32_t k) { jeq(a, k, NEXT, SKIP1); }

/* Turns label references into offsets. Classic BPF jumps only forward, within the program. */
static inline int finish(struct bpf_asm *a) {
  if (a->err) return -a->err;
  if (a->n == 0 || BPF_CLASS(a->out[a->n - 1].code) != BPF_RET) return -EINVAL;
  for (unsigned i = 0; i < a->n; i++) {
    struct sock_filter *f = &a->out[i];
    int is_ja = f->code == (BPF_JMP | BPF_JA);
    uint8_t refs[2] = {a->jt_ref[i], a->jf_ref[i]};
    for (int w = 0; w < 2; w++) {
      if (!refs[w]) continue;
      int at = a->label_at[refs[w] - 1];
      if (at < 0 || (unsigned)at <= i || (unsigned)at >= a->n) return -EINVAL; /* unplaced, backwards, past the end */
      unsigned off = (unsigned)at - i - 1;
      if (is_ja) f->k = off;
      else if (off > 255) return -E2BIG;
      else if (w == 0) f->jt = (uint8_t)off;
      else f->jf = (uint8_t)off;
    }
    /* A literal offset must stay inside the program too. */
    if (!is_ja && BPF_CLASS(f->code) == BPF_JMP && (i + 1 + f->jt >= a->n || i + 1 + f->jf >= a->n)) return -EINVAL;
  }
  return (int)a->n;
}

#endif
