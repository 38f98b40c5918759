/* hakmem: the intrusive singly linked list of free blocks that the
 * ultra-sll and tls-list tiers keep per thread and class. The two tiers
 * hold blocks the same way; they differ in how many they move to and from
 * the tier below (fixed halves, or a batch that adapts).
 *
 * Invariant: head links n free blocks of one class through their first
 * word, the last link NULL; n <= cap; cap = 0 makes every pop miss and
 * every push refuse. n is written by the owning thread only; the
 * statistics read it from other threads, hence the relaxed accesses. The
 * batch operations, which run under valgrind when a list tier is switched
 * on there, reach the links through track.h so memcheck keeps free blocks
 * inaccessible.
 */
#ifndef HAK_TIERS_SLL_H
#define HAK_TIERS_SLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"
#include "../diag.h"
#include "../track.h"

struct hak_sll {
    void *head;
    uint32_t n, cap;
};
_Static_assert(sizeof(struct hak_sll) == 16, "a class's list head is 16 bytes");

HAK_INLINE void *_hak_sll_pop(struct hak_sll *l, unsigned cls)
{
    void *b = l->head;
    if (hak_likely(b != NULL)) {
        HAK_DEBUG(_hak_debug_check_link("malloc", cls, *(void **)b));
        l->head = *(void **)b;
        HAK_RELAXED_SET(l->n, l->n - 1);
    }
    (void)cls;
    return b;
}

HAK_INLINE bool _hak_sll_push(struct hak_sll *l, void *b)
{
    if (hak_likely(l->n < l->cap)) {
        *(void **)b = l->head;
        l->head = b;
        HAK_RELAXED_SET(l->n, l->n + 1);
        return true;
    }
    return false;
}

/* The batch operations test for valgrind once per batch, not per block:
 * each body is instantiated with track a constant (as in superslab.c). */

HAK_INLINE size_t sll_pop_batch(struct hak_sll *l, unsigned cls, void **out, size_t n,
                                bool track)
{
    size_t k = 0;
    void *b = l->head;
    for (; k < n && b != NULL; k++) {
        out[k] = b;
        b = _hak_link_get_if(track, b);
        HAK_DEBUG(_hak_debug_check_link("malloc", cls, b));
    }
    (void)cls;
    l->head = b;
    HAK_RELAXED_SET(l->n, l->n - (uint32_t)k);
    return k;
}

/* Detaches up to n blocks, newest first. */
static inline size_t _hak_sll_pop_batch(struct hak_sll *l, unsigned cls, void **out, size_t n)
{
    return HAK_TRACK_ON ? sll_pop_batch(l, cls, out, n, true)
                        : sll_pop_batch(l, cls, out, n, false);
}

HAK_INLINE size_t sll_push_batch(struct hak_sll *l, void **in, size_t n, bool track)
{
    size_t room = l->cap - l->n;
    if (n > room)
        n = room;
    void *head = l->head;
    for (size_t k = 0; k < n; k++) {
        _hak_link_set_if(track, in[k], head);
        head = in[k];
    }
    l->head = head;
    HAK_RELAXED_ADD(l->n, (uint32_t)n);
    return n;
}

/* Takes as many of in[0..n) as there is room for; returns how many. */
static inline size_t _hak_sll_push_batch(struct hak_sll *l, void **in, size_t n)
{
    return HAK_TRACK_ON ? sll_push_batch(l, in, n, true) : sll_push_batch(l, in, n, false);
}

/* The chain operations (tier.h): plain links, never under valgrind. */

/* Walks n - 1 links from b: the n-th block of the chain b starts. */
static inline void *_hak_chain_nth(void *b, size_t n)
{
    while (--n > 0)
        b = *(void **)b;
    return b;
}

/* Takes as much of the chain *head..tail (n blocks) as there is room for:
 * all of it in one splice, or a prefix found by walking. A chain whose
 * tail is not known (NULL: it ends with a NULL link) is walked only if
 * the list is not empty or it does not all fit: into an empty list it
 * goes as it is. */
static inline size_t _hak_sll_push_chain(struct hak_sll *l, void **head, void *tail, size_t n)
{
    size_t room = l->cap - l->n;
    void *first = *head;
    if (n > room) {
        n = room;
        if (n == 0)
            return 0;
        tail = _hak_chain_nth(first, n);
        *head = *(void **)tail;
    } else {
        *head = NULL;
        if (tail == NULL && l->head != NULL)
            tail = _hak_chain_nth(first, n);
    }
    if (tail != NULL)
        *(void **)tail = l->head;
    l->head = first;
    HAK_RELAXED_ADD(l->n, (uint32_t)n);
    return n;
}

/* The block the next pop returns, NULL if none. */
static inline void *_hak_sll_peek(const struct hak_sll *l) { return l->head; }

/* Detaches up to n blocks, newest first, as a chain. The whole list goes
 * unwalked, its tail unknown (NULL): the slabs it goes to walk it anyway,
 * to find each block's slab (the idle sweep, bench/rounds). */
static inline size_t _hak_sll_pop_chain(struct hak_sll *l, size_t n, void **head, void **tail)
{
    if (n >= l->n) {
        n = l->n;
        *head = l->head;
        *tail = NULL;
        l->head = NULL;
        HAK_RELAXED_SET(l->n, 0);
        return n;
    }
    if (n == 0)
        return 0;
    void *last = _hak_chain_nth(l->head, n);
    *head = l->head;
    *tail = last;
    l->head = *(void **)last;
    HAK_RELAXED_SET(l->n, l->n - (uint32_t)n);
    return n;
}

#endif /* HAK_TIERS_SLL_H */
