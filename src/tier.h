/* hakmem: the tier vtable and the stack that walks a plan.
 *
 * A cache tier holds free blocks per thread and class (the magazine tier
 * also shares them through a depot). It never owns memory: everything it
 * holds came from the tier below and goes back there. The stack (stack.c)
 * is the only code that knows the order of the tiers; a tier never calls
 * another tier.
 *
 * Contract every tier keeps (tests/unit/tier_contract.c checks it):
 *   pop        a block, or NULL (miss). Switched off: always NULL.
 *   push       true if the tier took b; false (refused) if it is full or
 *              switched off. A refused block is still the caller's.
 *   pop_batch  moves up to n blocks to out; returns how many.
 *   push_batch takes a prefix of in (up to n) and returns its length.
 *   refill     how many blocks the tier wants from below after a miss
 *              (0 = it is off: pass the request through). A tier may adapt
 *              this number, and its cap; the stack calls it once per miss.
 *   spill      how many blocks to give below when a push was refused
 *              (0 = off: pass the block through).
 *   push_chain takes a prefix (up to n) of the chain *head..tail, blocks
 *              linked through their first word (tail's link unused), and
 *              returns its length; *head is then the first block left.
 *              tail may be NULL (not known): the chain then ends with a
 *              NULL link, and a tier that needs the tail walks to it. An
 *              array tier also takes an open chain (tail NULL, the n-th
 *              link going on to more blocks): *head is then the block
 *              after the ones it took, the n-th's link if it took all
 *              (the stack spills a list tier's list uncut, stack.c). A
 *              list tier is never given one: it would keep the blocks
 *              past the n-th.
 *   pop_chain  (list tiers and the SuperSlab tier; NULL in the array
 *              tiers, fast and magazine) detaches up to n
 *              blocks as such a chain and returns how many. The SuperSlab
 *              tier's may leave the tail unknown (NULL), as above, and
 *              so does a list tier's that gives its whole list.
 *              The chain operations let a batch move between a tier and
 *              the slabs' free lists without being copied to an array and
 *              linked again. Not under valgrind: their links are plain.
 *   flush      gives every block to `below` (never refuses), leaving the
 *              tier empty.
 *   cached     blocks the tier holds for t (all classes).
 *   stats      per-class counters.
 * No operation allocates memory through malloc, blocks, or takes a lock
 * other than a tier's own short one (the magazine depot).
 */
#ifndef HAK_TIER_H
#define HAK_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hak_plan.h"

struct hak_thread;

struct hak_tier_stats {
    uint64_t hits, misses, refills, spills;
};

typedef void (*hak_sink_fn)(struct hak_thread *t, unsigned cls, void **in, size_t n);

struct hak_tier_ops {
    const char *name;
    void *(*pop)(struct hak_thread *t, unsigned cls);
    bool (*push)(struct hak_thread *t, unsigned cls, void *b);
    size_t (*pop_batch)(struct hak_thread *t, unsigned cls, void **out, size_t n);
    size_t (*push_batch)(struct hak_thread *t, unsigned cls, void **in, size_t n);
    size_t (*push_chain)(struct hak_thread *t, unsigned cls, void **head, void *tail, size_t n);
    size_t (*pop_chain)(struct hak_thread *t, unsigned cls, size_t n, void **head, void **tail);
    /* The block the next pop of cls would return from what the tier
     * holds for t, NULL if it holds none (a pop may still find one it
     * shares between threads, in the magazine depot), without taking it
     * or changing anything (the idle sweep, stack.c). Cache tiers only:
     * NULL in the SuperSlab tier. */
    void *(*peek)(const struct hak_thread *t, unsigned cls);
    size_t (*refill)(struct hak_thread *t, unsigned cls);
    size_t (*spill)(struct hak_thread *t, unsigned cls);
    void (*flush)(struct hak_thread *t, hak_sink_fn below);
    uint64_t (*cached)(const struct hak_thread *t);
    void (*stats)(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out);
    /* Sets t's per-thread state (caps from the knobs) when t starts. */
    void (*thread_init)(struct hak_thread *t);
    /* A tier that adapts its caps has this (NULL elsewhere): cls went
     * idle, the stack gave every block of it below, and it has stayed idle
     * since; the tier goes back to the caps thread_init set. */
    void (*idle)(struct hak_thread *t, unsigned cls);
    /* Tiers with process-wide state (the magazine depot) also have these;
     * NULL elsewhere. shared_cached: blocks held outside any thread.
     * trim: gives shared blocks to below. fork: takes (FORK_PREPARE) and
     * releases its locks around fork(). */
    uint64_t (*shared_cached)(void);
    void (*trim)(struct hak_thread *t, hak_sink_fn below);
    void (*fork)(int phase);
};

enum hak_fork_phase { HAK_FORK_PREPARE, HAK_FORK_PARENT, HAK_FORK_CHILD };

/* A cache tier holds at most HAK_TIER_BYTES of one class per thread (and
 * never fewer than HAK_TIER_MIN_BLOCKS blocks), so caps tuned for 16-byte
 * blocks do not pin megabytes of 32 KiB ones. Half a slab: a thread that
 * cycles through every class of 1 KiB or less holds well under a megabyte
 * in each tier, and a refill or spill still moves 32 or more blocks of
 * those classes. The floor is for the classes above 4 KiB, of which a
 * slab holds 2 to 12: with 2 blocks cached, every other free went down to
 * a slab, which emptied and was taken again all the time, each time on
 * fresh pages (2000 live blocks of 8 B-16 KB replaced at random, 20M
 * times: 2633 slabs taken against 877, peak RSS 15 MiB against 13). The
 * caps of classes up to 4 KiB are as they were. */
#define HAK_TIER_BYTES ((size_t)32 << 10)
#define HAK_TIER_MIN_BLOCKS 8
static inline uint32_t _hak_tier_cap(uint32_t knob, size_t class_size)
{
    size_t budget = HAK_TIER_BYTES / class_size;
    if (budget < HAK_TIER_MIN_BLOCKS)
        budget = HAK_TIER_MIN_BLOCKS;
    return knob < budget ? knob : (uint32_t)budget;
}

/* For the push_chain of a tier that holds arrays: copies the first put
 * blocks (put <= n) of the n-block chain *head..tail to out, and leaves
 * *head on the block after them. When all n go, that is NULL for a chain
 * whose tail is given (its link is unused, and not read), and the n-th
 * block's link for one whose tail is not (NULL): NULL if the chain ends
 * there, the block after it if the chain is open. */
static inline void _hak_chain_to_array(void **head, void *tail, size_t n, void **out, size_t put)
{
    void *b = *head;
    for (size_t i = 0; i < put; i++) {
        out[i] = b;
        if (i + 1 < n || tail == NULL)
            b = *(void **)b;
    }
    *head = put < n || tail == NULL ? b : NULL;
}

/* Largest batch the stack moves through an array (on its stack) in one
 * step, and largest spill: a refill into a list tier, as a chain, is
 * bounded by the tier's cap alone (stack.c). */
#define HAK_BATCH_MAX 128

/* The plan's tiers, top first, ending with the SuperSlab tier. */
extern const struct hak_tier_ops *const _hak_plan_ops[];
extern const unsigned _hak_plan_depth;          /* number of cache tiers */
extern const struct hak_tier_ops _hak_superslab_ops;
#define HAK_TIER_OPS_DECL(name, NAME) extern const struct hak_tier_ops _hak_##name##_ops;
HAK_PLAN_CACHE_TIERS(HAK_TIER_OPS_DECL)
#undef HAK_TIER_OPS_DECL

#endif /* HAK_TIER_H */
