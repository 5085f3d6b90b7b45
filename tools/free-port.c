/* free-port — print N free TCP ports on 127.0.0.1 (for tests' servers).
 * The kernel picks them; the sockets are closed before printing, so there is
 * a small race, acceptable for tests (they retry on EADDRINUSE). */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    int fds[64];
    if (n < 1 || n > 64)
        return 2;
    for (int i = 0; i < n; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &len) < 0) {
            perror("free-port");
            return 1;
        }
        printf("%d\n", ntohs(a.sin_port));
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}
