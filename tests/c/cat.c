/* Reads the file named by argv[1] byte by byte and prints it, then counts. */
#include "sys.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    print("usage: cat FILE\n");
    return 2;
  }
  int fd = sys_openat(AT_FDCWD, argv[1], 0);
  if (fd < 0) {
    show("open failed", fd);
    return 1;
  }
  long bytes = 0, lines = 0;
  char c;
  while (sys_read(fd, &c, 1) == 1) {
    sys_write(1, &c, 1);
    bytes++;
    if (c == '\n') lines++;
  }
  show("bytes", bytes);
  show("lines", lines);
  show("close", sys_close(fd));
  show("close again", sys_close(fd)); /* -EBADF */
  show("missing", sys_openat(AT_FDCWD, "/nonexistent/file", 0)); /* -ENOENT */
  return 0;
}
