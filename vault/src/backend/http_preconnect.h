/*
 * http_preconnect.h - the connections of an HTTP client opened ahead,
 * as soon as the client is made, for libcurl to use when a request
 * first needs one (http_preconnect.c says why and when).  Private to
 * http.c.
 */
#ifndef VAULT_HTTP_PRECONNECT_H
#define VAULT_HTTP_PRECONNECT_H

#include <sys/socket.h>

typedef struct http_preconnect http_preconnect;

/* Starts opening n connections to the host of base_url on a thread of
 * their own; NULL where that is not done (a proxy set in the
 * environment, VAULT_PRECONNECT=0, a URL of another form, no memory):
 * then libcurl connects as usual. */
http_preconnect *vlt_http_preconnect_start(const char *base_url, unsigned n);
/* Stops connecting and closes what was not taken; accepts NULL. */
void vlt_http_preconnect_free(http_preconnect *p);
/* For libcurl's open-socket callback: a connected socket to addr (waiting
 * for one still connecting), now the caller's, or -1 (none: open a
 * socket as usual).  p may be NULL. */
int vlt_http_preconnect_take(http_preconnect *p, const struct sockaddr *addr,
                             socklen_t addr_len);
/* For libcurl's socket-option callback: 1 if fd came from take (it is
 * connected already), once. */
int vlt_http_preconnect_was_handed(http_preconnect *p, int fd);

#endif
