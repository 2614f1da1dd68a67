/*
 * The anchor pods' container: holds the pod's namespaces and does nothing else.
 * PID 1 of its pod (or a plain process under hostPID: false), so it reaps
 * zombies and exits 0 on SIGTERM/SIGINT, which the kubelet sends on deletion.
 *
 * Built statically by tests/support/node_images.ts: gcc -static -Os -o pause pause.c
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return EXIT_SUCCESS;
}
