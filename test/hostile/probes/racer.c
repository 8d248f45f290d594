/*
 * Symlink racer for the hostile suite: `racer DIR TARGET` keeps swapping DIR
 * (a directory the runner creates and then chmods or writes into) with a
 * symlink to TARGET, atomically (renameat2 RENAME_EXCHANGE), until killed.
 * Directories it swaps out are moved aside, so the runner always meets either
 * its fresh directory or the symlink.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: racer DIR TARGET\n");
    return 2;
  }
  const char *dir = argv[1], *target = argv[2];
  char link[4096], aside[4096];
  snprintf(link, sizeof link, "%s.racer-link", dir);
  for (unsigned long i = 0;; i++) {
    struct stat st;
    if (lstat(link, &st) == 0 && S_ISDIR(st.st_mode)) {
      snprintf(aside, sizeof aside, "%s.racer-aside-%lu", dir, i);
      rename(link, aside);
    }
    symlink(target, link);
    renameat2(AT_FDCWD, link, AT_FDCWD, dir, RENAME_EXCHANGE);
  }
}
