/*
 * s3_proto.c - the S3 backend's pure parts (s3_proto.h): nothing here
 * talks to a server, so all of it is tested on hostile input.
 *
 * The ListObjectsV2 parser is a small, strict scanner rather than an XML
 * library: S3 answers are flat, generated XML, the scanner needs only
 * <Key>, <Size>, <IsTruncated> and <NextContinuationToken>, and text
 * content is entity-escaped, so searching for "<Key>" cannot be fooled
 * by a key's text.  It allocates nothing; everything it reads is bounded
 * by the body (which http.c already bounded).  libxml2 would add a
 * dependency (and its own attack surface) for no gain here.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "backend/s3_proto.h"
#include "common/internal.h"

#define S3_KEY_MAX 1024

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int vlt_s3_encode(const char *in, int keep_slash, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            if (n + 1 >= size)
                return -1;
            out[n++] = (char)*p;
        } else {
            if (n + 3 >= size)
                return -1;
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n >= size)
        return -1;
    out[n] = '\0';
    return (int)n;
}

/* Appends "name=encoded(value)" (with '&' before all but the first). */
static int append_param(char *out, size_t size, size_t *n, const char *name,
                        const char *value)
{
    int w = snprintf(out + *n, size - *n, "%s%s=", *n && out[*n - 1] != '?'
                                                       ? "&" : "",
                     name);
    if (w < 0 || (size_t)w >= size - *n)
        return -1;
    *n += (size_t)w;
    int e = vlt_s3_encode(value, 0, out + *n, size - *n);
    if (e < 0)
        return -1;
    *n += (size_t)e;
    return 0;
}

int vlt_s3_list_path(const char *bucket, const char *prefix, const char *token,
                     unsigned max_keys, char *out, size_t size)
{
    int w = snprintf(out, size, "%s?", bucket);
    if (w < 0 || (size_t)w >= size)
        return -1;
    size_t n = (size_t)w;
    char keys[16];
    snprintf(keys, sizeof keys, "%u", max_keys);
    /* Sorted by name: SigV4 signs the query as written. */
    if ((token && *token &&
         append_param(out, size, &n, "continuation-token", token) != 0) ||
        append_param(out, size, &n, "list-type", "2") != 0 ||
        (max_keys && append_param(out, size, &n, "max-keys", keys) != 0) ||
        append_param(out, size, &n, "prefix", prefix) != 0)
        return -1;
    return (int)n;
}

/* ---- the location -------------------------------------------------------- */

static int bucket_valid(const char *b, size_t n)
{
    /* S3's rules for new buckets: 3-63 of [a-z0-9.-], starting and ending
     * with a letter or digit. */
    if (n < 3 || n > S3_BUCKET_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-'))
            return 0;
    }
    return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

vault_error vlt_s3_parse_location(const char *url, s3_location *out)
{
    memset(out, 0, sizeof *out);
    const char *rest;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return vlt_fail(VAULT_E_INVALID,
                        "s3:%.200s: want s3:http[s]://host[:port]/bucket"
                        "[/prefix]",
                        url);
    size_t scheme_len = (size_t)(rest - url);
    size_t host_len = strcspn(rest, "/");
    if (host_len == 0)
        return vlt_fail(VAULT_E_INVALID, "s3:%.200s: no host", url);
    if (memchr(rest, '@', host_len))
        return vlt_fail(VAULT_E_INVALID,
                        "s3: credentials do not belong in the location; "
                        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    for (size_t i = 0; i < host_len; i++)
        if (!isalnum((unsigned char)rest[i]) && !strchr(".-:[]", rest[i]))
            return vlt_fail(VAULT_E_INVALID,
                            "s3:%.200s: invalid character in the host", url);
    if (strpbrk(url, "?#"))
        return vlt_fail(VAULT_E_INVALID,
                        "s3:%.200s: a location has no query or fragment", url);
    if (scheme_len + host_len + 2 > sizeof out->base_url)
        return vlt_fail(VAULT_E_INVALID, "s3:%.200s: host too long", url);
    memcpy(out->base_url, url, scheme_len + host_len);
    out->base_url[scheme_len + host_len] = '/';

    const char *path = rest + host_len;
    while (*path == '/')
        path++;
    size_t bucket_len = strcspn(path, "/");
    if (!bucket_valid(path, bucket_len))
        return vlt_fail(VAULT_E_INVALID,
                        "s3:%.200s: want a bucket name of 3 to 63 lower-case "
                        "letters, digits, '.' and '-' after the host",
                        url);
    memcpy(out->bucket, path, bucket_len);

    /* The prefix: segments joined by '/', each ending in '/'. */
    size_t n = 0;
    const char *p = path + bucket_len;
    while (*p) {
        while (*p == '/')
            p++;
        size_t seg = strcspn(p, "/");
        if (seg == 0)
            break;
        if ((seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.'))
            return vlt_fail(VAULT_E_INVALID,
                            "s3:%.200s: \".\" and \"..\" are not prefix "
                            "folders",
                            url);
        for (size_t i = 0; i < seg; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return vlt_fail(VAULT_E_INVALID,
                                "s3: control character in the prefix");
        /* Room for the longest key after it ("data/xx/<64 hex>"). */
        if (n + seg + 1 + 80 >= sizeof out->prefix)
            return vlt_fail(VAULT_E_INVALID, "s3:%.200s: prefix too long", url);
        memcpy(out->prefix + n, p, seg);
        n += seg;
        out->prefix[n++] = '/';
        p += seg;
    }
    out->prefix[n] = '\0';
    return VAULT_OK;
}

/* ---- the XML answers ----------------------------------------------------- */

typedef struct span {
    const char *p;
    size_t n;
} span;

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t k = strlen(needle);
    while ((size_t)(end - p) >= k) {
        const char *hit = memchr(p, needle[0], (size_t)(end - p) - k + 1);
        if (!hit)
            return NULL;
        if (memcmp(hit, needle, k) == 0)
            return hit;
        p = hit + 1;
    }
    return NULL;
}

/* The text of the first <tag>...</tag> in [p, end) into *text; the count
 * of such elements (0, 1, or 2 meaning "more than one") is returned.
 * Text holding '<' (a nested element) does not count as text. */
static int element(const char *p, const char *end, const char *tag, span *text)
{
    char open[48], close[48];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    int count = 0;
    while (count < 2) {
        const char *o = find(p, end, open);
        if (!o)
            break;
        const char *start = o + strlen(open);
        const char *c = find(start, end, close);
        if (!c || memchr(start, '<', (size_t)(c - start)))
            return -1;
        if (count == 0) {
            text->p = start;
            text->n = (size_t)(c - start);
        }
        count++;
        p = c + strlen(close);
    }
    return count;
}

/* Decodes XML text (the five predefined entities and &#NN;/&#xNN; below
 * 128) into out; -1 if it does not fit or holds anything else. */
static int xml_text(span t, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < t.n;) {
        char c = t.p[i];
        if (c == '&') {
            const char *semi = memchr(t.p + i, ';', t.n - i);
            if (!semi)
                return -1;
            size_t len = (size_t)(semi - (t.p + i)) + 1;
            static const struct {
                const char *name;
                char c;
            } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
                        {"&quot;", '"'}, {"&apos;", '\''}};
            int found = 0;
            for (size_t e = 0; e < VAULT_ARRAY_SIZE(ents); e++)
                if (len == strlen(ents[e].name) &&
                    memcmp(t.p + i, ents[e].name, len) == 0) {
                    c = ents[e].c;
                    found = 1;
                }
            if (!found) {
                unsigned long v = 0;
                size_t j = i + 2;
                int base = 10;
                if (t.p[i + 1] != '#')
                    return -1;
                if (j < i + len && (t.p[j] == 'x' || t.p[j] == 'X')) {
                    base = 16;
                    j++;
                }
                if (j + 1 >= i + len || i + len - j > 8)
                    return -1;
                for (; j < i + len - 1; j++) {
                    int d = isdigit((unsigned char)t.p[j])
                                ? t.p[j] - '0'
                                : (base == 16 && isxdigit((unsigned char)t.p[j]))
                                      ? (tolower((unsigned char)t.p[j]) - 'a' + 10)
                                      : -1;
                    if (d < 0)
                        return -1;
                    v = v * (unsigned long)base + (unsigned long)d;
                }
                if (v == 0 || v >= 128)
                    return -1;
                c = (char)v;
            }
            i += len;
        } else if (c == '\0') {
            return -1;
        } else {
            i++;
        }
        if (n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return (int)n;
}

static int parse_size(span t, uint64_t *out)
{
    if (t.n == 0 || t.n > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.p[i] < '0' || t.p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(t.p[i] - '0');
    }
    /* 19 digits cannot overflow 64 bits; keep sizes in off_t's range. */
    if (v > INT64_MAX)
        return -1;
    *out = v;
    return 0;
}

vault_error vlt_s3_parse_list(const uint8_t *body, size_t len, s3_key_fn fn,
                              void *ctx, int *stopped, s3_page *page)
{
    memset(page, 0, sizeof *page);
    *stopped = 0;
    const char *p = (const char *)body, *end = p + len;
    if (!body || !find(p, end, "<ListBucketResult"))
        return vlt_fail(VAULT_E_CORRUPT,
                        "s3 listing: the answer is not a ListBucketResult");
    if (memchr(p, '\0', len))
        return vlt_fail(VAULT_E_CORRUPT, "s3 listing: NUL byte in the answer");
    const char *close = find(p, end, "</ListBucketResult>");
    if (!close)
        return vlt_fail(VAULT_E_CORRUPT, "s3 listing: the answer is cut short");
    end = close;

    span t;
    int n = element(p, end, "IsTruncated", &t);
    if (n != 1 || !((t.n == 4 && memcmp(t.p, "true", 4) == 0) ||
                    (t.n == 5 && memcmp(t.p, "false", 5) == 0)))
        return vlt_fail(VAULT_E_CORRUPT,
                        "s3 listing: want one <IsTruncated> true or false");
    page->truncated = t.n == 4;
    if (page->truncated) {
        n = element(p, end, "NextContinuationToken", &t);
        if (n != 1 || t.n == 0 ||
            xml_text(t, page->next_token, sizeof page->next_token) <= 0)
            return vlt_fail(VAULT_E_CORRUPT,
                            "s3 listing: a truncated page without a usable "
                            "<NextContinuationToken>");
    }

    char key[S3_KEY_MAX + 1];
    const char *at = p;
    for (;;) {
        const char *o = find(at, end, "<Contents>");
        if (!o)
            break;
        const char *c = find(o, end, "</Contents>");
        if (!c)
            return vlt_fail(VAULT_E_CORRUPT,
                            "s3 listing: <Contents> without its end");
        span k, s;
        uint64_t size;
        if (element(o + 10, c, "Key", &k) != 1 ||
            element(o + 10, c, "Size", &s) != 1)
            return vlt_fail(VAULT_E_CORRUPT,
                            "s3 listing: entry %u lacks one <Key> and one "
                            "<Size>",
                            page->keys + 1);
        if (xml_text(k, key, sizeof key) < 0)
            return vlt_fail(VAULT_E_CORRUPT,
                            "s3 listing: entry %u has an unreadable or "
                            "over-long key",
                            page->keys + 1);
        if (parse_size(s, &size) != 0)
            return vlt_fail(VAULT_E_CORRUPT,
                            "s3 listing: %.200s: size \"%.*s\" is not a "
                            "number",
                            key, (int)(s.n > 40 ? 40 : s.n), s.p);
        page->keys++;
        at = c + 11;
        int r = fn(ctx, key, size);
        if (r) {
            *stopped = r;
            return VAULT_OK;
        }
    }
    return VAULT_OK;
}

void vlt_s3_error_code(const uint8_t *body, size_t len, char *code,
                       size_t size)
{
    code[0] = '\0';
    if (!body || size == 0)
        return;
    span t;
    const char *p = (const char *)body;
    if (element(p, p + len, "Code", &t) < 1)
        return;
    size_t n = 0;
    for (size_t i = 0; i < t.n && n + 1 < size; i++)
        if (isalnum((unsigned char)t.p[i]) || t.p[i] == '.' || t.p[i] == '-' ||
            t.p[i] == '_')
            code[n++] = t.p[i];
    code[n] = '\0';
}

/* ---- the shared credentials file ----------------------------------------- */

static void trim(const char **p, const char **e)
{
    while (*p < *e && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

static vault_error set_value(const char *key, const char *v, size_t n,
                             char *out, size_t size)
{
    if (n >= size)
        return vlt_fail(VAULT_E_INVALID,
                        "AWS credentials file: %s is too long", key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return vlt_fail(VAULT_E_INVALID,
                            "AWS credentials file: control character in %s",
                            key);
    memcpy(out, v, n);
    out[n] = '\0';
    return VAULT_OK;
}

vault_error vlt_s3_parse_credentials(const char *text, size_t len,
                                     const char *profile, s3_credentials *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + len;
    int in_profile = 0, seen_profile = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *a = p, *b = le;
        p = nl ? nl + 1 : end;
        trim(&a, &b);
        if (a == b || *a == '#' || *a == ';')
            continue;
        if (*a == '[') {
            if (b[-1] != ']') {
                /* A broken header: what follows belongs to no profile
                 * rather than to the one before. */
                in_profile = 0;
                continue;
            }
            const char *na = a + 1, *nb = b - 1;
            trim(&na, &nb);
            in_profile = (size_t)(nb - na) == strlen(profile) &&
                         memcmp(na, profile, (size_t)(nb - na)) == 0;
            seen_profile |= in_profile;
            continue;
        }
        if (!in_profile)
            continue;
        const char *eq = memchr(a, '=', (size_t)(b - a));
        if (!eq)
            continue;
        const char *ka = a, *kb = eq, *va = eq + 1, *vb = b;
        trim(&ka, &kb);
        trim(&va, &vb);
        static const char *const names[] = {
            "aws_access_key_id", "aws_secret_access_key", "aws_session_token"};
        char *dest[] = {out->access_key, out->secret_key, out->session_token};
        size_t sizes[] = {sizeof out->access_key, sizeof out->secret_key,
                          sizeof out->session_token};
        for (size_t i = 0; i < 3; i++)
            if ((size_t)(kb - ka) == strlen(names[i]) &&
                memcmp(ka, names[i], (size_t)(kb - ka)) == 0) {
                vault_error rc = set_value(names[i], va, (size_t)(vb - va),
                                           dest[i], sizes[i]);
                if (rc != VAULT_OK)
                    return rc;
            }
    }
    if (!seen_profile)
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "AWS credentials file: no profile [%.100s]", profile);
    if (!out->access_key[0] || !out->secret_key[0])
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "AWS credentials file: profile [%.100s] lacks "
                        "aws_access_key_id or aws_secret_access_key",
                        profile);
    return VAULT_OK;
}
