/* listen.h — parse "host:port" and open listening sockets (SO_REUSEPORT).
 *
 * Accepted forms: "127.0.0.1:8080", "[::1]:8080", "localhost:8080",
 * ":8080" (all IPv4 addresses). Port 0 picks a free port; the resolved
 * address is written back so the other workers' sockets join the same port. */
#ifndef STENO_LISTEN_H
#define STENO_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "alloc.h"

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

bool listen_parse(const char *spec, struct listen_addr *out, char *err, size_t errlen) MUST_CHECK;
/* A non-blocking, close-on-exec listening socket, or -1 with err filled.
 * With reuseport, several sockets may bind the same address (one per
 * worker); the kernel spreads connections across them. */
int listen_open(struct listen_addr *addr, bool reuseport, int backlog, char *err, size_t errlen);
/* "127.0.0.1:8080" / "[::1]:8080" */
void listen_format(const struct listen_addr *addr, char *buf, size_t len);

#endif
