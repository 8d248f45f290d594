/*
 * An LD_PRELOAD probe for the hostile suite. Its constructor runs in every
 * process that loads it and appends one line to $HOSTILE_MARKS/so-<pid>:
 *   uid=<uid> mnt=<mount ns> pidns=<pid ns> cg=<memory/pids cgroups> exe=<binary>
 * followed by whatever it could read of the files listed (':'-separated) in
 * $HOSTILE_READ. It also leaves a detached `sleep $HOSTILE_SLEEP` behind, to
 * show whether everything it starts dies with the job.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void copy_file(FILE *out, const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) return;
  for (ssize_t i = 0; i < n; i++) if (buf[i] == '\0') buf[i] = '\n';
  fprintf(out, "read %s:\n", path);
  fwrite(buf, 1, (size_t)n, out);
  fputc('\n', out);
}

static void cgroups(char *out, size_t size) {
  out[0] = '\0';
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    if (!strstr(line, ":memory:") && !strstr(line, ":pids:") && strncmp(line, "0::", 3) != 0) continue;
    line[strcspn(line, "\n")] = '\0';
    strncat(out, line, size - strlen(out) - 2);
    strncat(out, ";", size - strlen(out) - 1);
  }
  fclose(f);
}

__attribute__((constructor)) static void hostile_probe(void) {
  const char *dir = getenv("HOSTILE_MARKS");
  if (!dir || getenv("HOSTILE_IN_SLEEP")) return;
  char path[4096], mnt[128] = "", pidns[128] = "", exe[1024] = "", cg[2048];
  snprintf(path, sizeof path, "%s/so-%d", dir, (int)getpid());
  ssize_t n;
  if ((n = readlink("/proc/self/ns/mnt", mnt, sizeof mnt - 1)) > 0) mnt[n] = '\0';
  if ((n = readlink("/proc/self/ns/pid", pidns, sizeof pidns - 1)) > 0) pidns[n] = '\0';
  if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) exe[n] = '\0';
  cgroups(cg, sizeof cg);
  FILE *out = fopen(path, "a");
  if (out) {
    fprintf(out, "uid=%d mnt=%s pidns=%s cg=%s exe=%s\n", (int)getuid(), mnt, pidns, cg, exe);
    const char *list = getenv("HOSTILE_READ");
    if (list) {
      char *copy = strdup(list), *save = NULL;
      for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) copy_file(out, p);
      free(copy);
    }
    fclose(out);
  }
  const char *mark = getenv("HOSTILE_SLEEP");
  if (mark && fork() == 0) {
    setsid();
    unsetenv("LD_PRELOAD");
    setenv("HOSTILE_IN_SLEEP", "1", 1);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
    execl("/bin/sleep", "sleep", mark, (char *)NULL);
    _exit(127);
  }
}
