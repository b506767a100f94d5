#include "sys.h"

int main(int argc, char **argv) {
  print("hello, world\n");
  show("argc", argc);
  for (int i = 1; i < argc; i++) {
    print("arg: ");
    print(argv[i]);
    print("\n");
  }
  return argv[argc] == 0 ? 0 : 1;
}
