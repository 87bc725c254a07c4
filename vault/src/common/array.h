/*
 * array.h - growable arrays: the one place that grows a malloc'ed array of
 * elements and checks the multiplication for overflow.  Private.
 *
 * Usage, for an array `items` of `n` used and `cap` allocated elements:
 *
 *     if (VLT_ARRAY_GROW(&items, &cap, n + 1) != 0)
 *         return vlt_fail(VAULT_E_NOMEM, "what: out of memory");
 *     items[n++] = x;
 *
 * On failure the array, its contents and cap are left as they were, so the
 * caller frees them as usual; the caller words the error (its messages
 * name the module).
 */
#ifndef VAULT_ARRAY_H
#define VAULT_ARRAY_H

#include <stddef.h>

/* Makes room for at least need elements of size bytes in the array whose
 * address is array_ptr (a T ** passed as void *), of capacity *cap
 * elements.  Grows by half again (at least to need, at least 16), so that
 * n appends cost O(n) copying.  Returns 0, or -1 (out of memory, or need *
 * size overflows) leaving everything unchanged. */
int vlt_array_reserve(void *array_ptr, size_t *cap, size_t need, size_t size);

/* vlt_array_reserve with the element size taken from the array's type. */
#define VLT_ARRAY_GROW(array_ptr, cap, need)                                  \
    vlt_array_reserve((array_ptr), (cap), (need), sizeof **(array_ptr))

#endif
