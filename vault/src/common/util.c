/*
 * util.c - file and encoding helpers shared by the library's modules.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/internal.h"

vault_error vlt_read_file(const char *path, size_t max_len, uint8_t **out,
                          size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    /* O_NONBLOCK: a FIFO without a writer would block the open before
     * fstat could refuse it.  Regular files ignore the flag. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return vlt_fail(VAULT_E_NOT_FOUND, "%s: %s", path, strerror(e));
        return vlt_fail_errno(e, "%s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vlt_fail_errno(e, "%s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vlt_fail(VAULT_E_INVALID, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return vlt_fail(VAULT_E_INVALID, "%s: too large (%lld bytes)", path,
                        (long long)st.st_size);
    }
    size_t cap = (size_t)st.st_size + 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", path);
    }
    size_t used = 0;
    for (;;) {
        if (used == cap) {
            /* The file grew while we read it: stop at the limit. */
            if (cap > max_len) {
                free(buf);
                close(fd);
                return vlt_fail(VAULT_E_INVALID, "%s: too large", path);
            }
            size_t ncap = cap * 2 > max_len + 1 ? max_len + 1 : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                free(buf);
                close(fd);
                return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", path);
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return vlt_fail_errno(e, "%s", path);
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    if (used > max_len) {
        free(buf);
        return vlt_fail(VAULT_E_INVALID, "%s: too large", path);
    }
    *out = buf;
    *out_len = used;
    return VAULT_OK;
}

int vlt_write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int vlt_pread_all(int fd, void *buf, size_t len, uint64_t at)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1; /* an error, or the file ends first */
        p += n;
        len -= (size_t)n;
        at += (uint64_t)n;
    }
    return 0;
}

/* fsync of the directory holding path, so a rename into it is durable. */
static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        memcpy(dir, ".", 2);
    } else if (slash == path) {
        memcpy(dir, "/", 2);
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int vlt_temp_path(char *out, size_t cap, const char *dir, size_t dir_len)
{
    uint8_t rnd[8];
    char rnd_hex[17];
    randombytes_buf(rnd, sizeof rnd);
    vlt_hex_encode(rnd, sizeof rnd, rnd_hex);
    int n = snprintf(out, cap, "%.*s.tmp-%s", (int)dir_len, dir, rnd_hex);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

vault_error vlt_write_file_atomic(const char *path, const uint8_t *data,
                                  size_t len, unsigned mode, int exclusive)
{
    char tmp[PATH_MAX];
    /* The temporary lives beside the target: rename is atomic only within
     * one file system, and a crash leaves a ".tmp-" file that readers skip
     * because it is not a 64-hex name. */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    if (vlt_temp_path(tmp, sizeof tmp, path, dir_len) != 0)
        return vlt_fail(VAULT_E_INVALID, "%s: path too long", path);

    /* Errors name path: the temporary is ours, the caller knows path. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return vlt_fail_errno(errno, "%s: cannot create", path);
    if (fchmod(fd, mode) != 0 || vlt_write_all(fd, data, len) != 0 ||
        fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return vlt_fail_errno(e, "%s: cannot write", path);
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return vlt_fail_errno(e, "%s: cannot write", path);
    }
    if (exclusive) {
        /* link() fails if path exists, so even a racing writer never sees
         * its file replaced. */
        if (link(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            if (e == EEXIST)
                return vlt_fail(VAULT_E_EXISTS, "%s: already exists", path);
            return vlt_fail_errno(e, "%s: cannot create", path);
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vlt_fail_errno(e, "%s: cannot rename into place", path);
    }
    if (fsync_parent(path) != 0)
        return vlt_fail_errno(errno, "%s: cannot sync directory", path);
    return VAULT_OK;
}

void vlt_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

vault_error vlt_hex_decode(const char *in, size_t in_len, uint8_t *out,
                           size_t len)
{
    if (in_len != 2 * len)
        return vlt_fail(VAULT_E_INVALID, "hex: wrong length");
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return vlt_fail(VAULT_E_INVALID, "hex: not lower-case hex");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return VAULT_OK;
}

vault_error vault_global_init(void)
{
    if (sodium_init() < 0)
        return vlt_fail(VAULT_E_RNG, "libsodium failed to initialise");
    return VAULT_OK;
}

static int64_t pinned_clock;

int64_t vlt_now(void)
{
    return pinned_clock ? pinned_clock : (int64_t)time(NULL);
}

void vlt_clock_pin(int64_t seconds)
{
    pinned_clock = seconds;
}
