/*
 * options.c - the defaults of the options structs (vault.h).
 *
 * Every options struct means its defaults when zero-filled, so each
 * init is a memset; the functions exist so a caller's code says "the
 * defaults" and keeps saying it when fields are added.
 */
#include <string.h>

#include "common/internal.h"

void vault_add_options_init(vault_add_options *options)
{
    memset(options, 0, sizeof *options);
}

void vault_extract_options_init(vault_extract_options *options)
{
    memset(options, 0, sizeof *options);
}

void vault_check_options_init(vault_check_options *options)
{
    memset(options, 0, sizeof *options);
}

void vault_forget_options_init(vault_forget_options *options)
{
    memset(options, 0, sizeof *options);
}

void vault_prune_options_init(vault_prune_options *options)
{
    memset(options, 0, sizeof *options);
}

void vault_unlock_options_init(vault_unlock_options *options)
{
    memset(options, 0, sizeof *options);
}
