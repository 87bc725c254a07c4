/*
 * backend.c - what every storage backend shares: kind names, the object
 * name rule, and the checks each operation makes before touching storage.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/array.h"
#include "common/internal.h"

static const char *const kind_names[BACKEND_KIND_COUNT] = {
    [BACKEND_CONFIG] = "config",       [BACKEND_KEYS] = "keys",
    [BACKEND_DATA] = "data",           [BACKEND_INDEX] = "index",
    [BACKEND_SNAPSHOTS] = "snapshots", [BACKEND_LOCKS] = "locks",
};

const char *vlt_backend_kind_name(backend_kind kind)
{
    /* Compare as unsigned: an out-of-range enum value may be negative. */
    if ((unsigned)kind >= BACKEND_KIND_COUNT)
        return NULL;
    return kind_names[kind];
}

int vlt_backend_name_valid(const char *name)
{
    if (!name)
        return 0;
    /* Stops at the first non-hex character, NUL included, so it never
     * reads past the end of a short string. */
    size_t i = 0;
    while (i < VAULT_NAME_HEX && ((name[i] >= '0' && name[i] <= '9') ||
                                  (name[i] >= 'a' && name[i] <= 'f')))
        i++;
    return i == VAULT_NAME_HEX && name[i] == '\0';
}

vault_error vlt_backend_check(backend_kind kind, const char *name)
{
    const char *kname = vlt_backend_kind_name(kind);
    if (!kname)
        return vlt_fail(VAULT_E_INVALID, "backend: unknown object kind %d",
                        (int)kind);
    if (!name)
        return vlt_fail(VAULT_E_INVALID, "%s: no object name", kname);
    if (kind == BACKEND_CONFIG) {
        if (name[0] != '\0')
            return vlt_fail(VAULT_E_INVALID,
                            "config: the config object has no name "
                            "(got \"%.70s\")",
                            name);
        return VAULT_OK;
    }
    if (!vlt_backend_name_valid(name))
        /* Cut: the name may be long or hostile, and is only a hint. */
        return vlt_fail(VAULT_E_INVALID,
                        "%s/%.70s: invalid object name (want %d "
                        "lower-case hex digits)",
                        kname, name, VAULT_NAME_HEX);
    return VAULT_OK;
}

void vlt_backend_label(backend_kind kind, const char *name,
                       char buf[BACKEND_LABEL_MAX])
{
    assert(vlt_backend_check(kind, name) == VAULT_OK);
    int n;
    if (kind == BACKEND_CONFIG)
        n = snprintf(buf, BACKEND_LABEL_MAX, "config");
    else if (kind == BACKEND_DATA)
        n = snprintf(buf, BACKEND_LABEL_MAX, "data/%.2s/%s", name, name);
    else
        n = snprintf(buf, BACKEND_LABEL_MAX, "%s/%s", kind_names[kind], name);
    assert(n > 0 && n < BACKEND_LABEL_MAX);
    (void)n;
}

vault_error vlt_backend_check_range(const char *label, uint64_t size,
                                    uint64_t offset, size_t len, size_t max_len,
                                    size_t *n)
{
    *n = 0;
    /* Written so that nothing overflows: offset <= size first. */
    if (offset > size || (uint64_t)len > size - offset)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: range %" PRIu64 "+%zu past the end of the "
                        "object (%" PRIu64 " bytes)",
                        label, offset, len, size);
    uint64_t want = len ? (uint64_t)len : size - offset;
    if (want > max_len)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: %" PRIu64 " bytes to load, more than the "
                        "limit of %zu",
                        label, want, max_len);
    *n = (size_t)want;
    return VAULT_OK;
}

int vlt_name_list_add(name_list *l, const char *name)
{
    if (VLT_ARRAY_GROW(&l->names, &l->cap, l->n + 1) != 0)
        return 1;
    memcpy(l->names[l->n++], name, 65);
    return 0;
}

static int collect(void *ctx, const char *name, uint64_t size)
{
    (void)size;
    return vlt_name_list_add(ctx, name);
}

vault_error vlt_backend_list_names(backend *be, backend_kind kind,
                                   name_list *out)
{
    int stopped = 0;
    memset(out, 0, sizeof *out);
    vault_error rc = backend_list(be, kind, collect, out, &stopped);
    if (rc == VAULT_OK && stopped)
        rc = vlt_fail(VAULT_E_NOMEM, "listing: out of memory");
    /* Never NULL on success: callers qsort it, and qsort(NULL, 0, ...)
     * is undefined (UBSan stops there on an empty folder). */
    if (rc == VAULT_OK && !out->names) {
        out->names = malloc(sizeof *out->names);
        if (!out->names)
            rc = vlt_fail(VAULT_E_NOMEM, "listing: out of memory");
        else
            out->cap = 1;
    }
    if (rc != VAULT_OK) {
        free(out->names);
        memset(out, 0, sizeof *out);
    }
    return rc;
}
