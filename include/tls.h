/* tls.h — OpenSSL contexts for the server side (and, later, upstream clients).
 *
 * Server contexts offer ALPN "h2" and "http/1.1" and pick h2 when the client
 * offers it, HTTP/1.1 otherwise (a client without ALPN gets HTTP/1.1 too:
 * refusing it is a classic example-code mistake). TLS 1.2 minimum. */
#ifndef STENO_TLS_H
#define STENO_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Load cert (chain) and key; NULL with a message in err on failure. The
 * caller owns the returned context (SSL_CTX_free). */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* Describe the last OpenSSL error into buf (for logs). */
const char *tls_last_error(char *buf, size_t len);

#endif
