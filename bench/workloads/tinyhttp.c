/*
 * tinyhttp: the lightweight workload of the cplauncher benchmarks (P1 light variant, P3).
 * Listens on 0.0.0.0:PORT (argv[1], default 8080) and answers every connection with
 * "200 OK" and a two-byte body, one connection at a time. It exists so that 50 workloads
 * start in a millisecond each on a 2-core machine and the figures show the launcher, not
 * the workload's runtime. SIGTERM ends it (default action).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons((unsigned short)port);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
  if (listen(fd, 64) < 0) { perror("listen"); return 1; }
  printf("tinyhttp listening on 0.0.0.0:%d\n", port);
  fflush(stdout);
  static const char reply[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
      "Connection: close\r\n\r\nok\n";
  char buf[4096];
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) continue;
    /* One read is enough for the probes' small GET requests. */
    if (read(c, buf, sizeof buf) > 0) {
      ssize_t ignored = write(c, reply, sizeof reply - 1);
      (void)ignored;
    }
    close(c);
  }
}
