#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    int fd = open("/definitely/not/here", O_RDONLY);
    printf("fd=%d errno=%d %s\n", fd, errno, strerror(errno));
    errno = 0;
    if (close(99) < 0) perror("close");
    fprintf(stderr, "to stderr: %s\n", strerror(EINVAL));
    return 3;
}
