/* A tiny TCP service for nixenv's service tests and benchmark.
 *
 *   listener PORT [DELAY_MS] [fork] [daemon] [ignore-term] [crash]
 *
 * Waits DELAY_MS, then listens on 127.0.0.1:PORT and accepts (and closes) connections
 * forever. `fork`: also forks a child that ignores SIGTERM and sleeps (a grandchild of the
 * supervisor). `daemon`: the child double-forks and setsid()s away from the process group.
 * `ignore-term`: the listener itself ignores SIGTERM. `crash`: exit 3 right after listening.
 * Prints one line when listening (the tests read it from the service log). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int has(int argc, char **argv, const char *word) {
  for (int i = 2; i < argc; i++) if (!strcmp(argv[i], word)) return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: listener PORT [DELAY_MS] [fork] [daemon] [ignore-term] [crash]\n"); return 100; }
  int port = atoi(argv[1]);
  int delay = argc > 2 ? atoi(argv[2]) : 0;
  if (has(argc, argv, "fork")) {
    pid_t pid = fork();
    if (pid == 0) {
      if (has(argc, argv, "daemon")) { if (fork() > 0) _exit(0); setsid(); }
      signal(SIGTERM, SIG_IGN);
      for (;;) pause();
    }
  }
  if (has(argc, argv, "ignore-term")) signal(SIGTERM, SIG_IGN);
  if (delay > 0) { struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L }; nanosleep(&ts, NULL); }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0) { perror("listener: bind"); return 111; }
  printf("listening on %d\n", port);
  fflush(stdout);
  if (has(argc, argv, "crash")) return 3;
  for (;;) { int c = accept(fd, NULL, NULL); if (c >= 0) close(c); }
}
