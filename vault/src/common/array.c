/*
 * array.c - growable arrays (array.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"

int vlt_array_reserve(void *array_ptr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    if (size == 0 || need > SIZE_MAX / size)
        return -1;
    size_t n = *cap + *cap / 2;
    if (n < 16)
        n = 16;
    if (n < need || n > SIZE_MAX / size)
        n = need;
    /* The array pointer is read and written through memcpy: it may be any
     * object pointer type, and T ** does not convert to void **. */
    void *old;
    memcpy(&old, array_ptr, sizeof old);
    void *grown = realloc(old, n * size);
    if (!grown)
        return -1;
    memcpy(array_ptr, &grown, sizeof grown);
    *cap = n;
    return 0;
}
