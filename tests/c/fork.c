/* fork with clone(SIGCHLD), then wait4: the parent prints only after the
 * child has ended, so the output order is fixed. */
#include "sys.h"

static long shared_value = 10;

int main(void) {
  print("before fork\n");
  long pid = sys_fork();
  if (pid < 0) {
    show("fork failed", pid);
    return 2;
  }
  if (pid == 0) {
    shared_value += 5; /* the parent's copy must not change */
    print("child running\n");
    show("child sees", shared_value);
    sys_exit(3);
  }
  int status = -1;
  long waited = sys_wait4(-1, &status);
  show("waited for the child", waited == pid);
  show("exit status", (status >> 8) & 0xff);
  show("parent sees", shared_value);
  show("second wait", sys_wait4(-1, &status)); /* -ECHILD */
  /* Two children, waited for in turn. */
  for (int i = 0; i < 2; i++) {
    long c = sys_fork();
    if (c == 0) {
      show("child", i);
      sys_exit(10 + i);
    }
    sys_wait4(c, &status);
    show("child exited", (status >> 8) & 0xff);
  }
  return 0;
}
