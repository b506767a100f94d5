// A store through a read-only mapping (docs/spec/vmshm.md, level 1): this
// process creates block 3 read/write, writes 42, opens it a second time
// read-only (a second mapping), reads 42 through it, and then stores
// through it: the kernel kills this process, and only it, with a message
// naming the rule.
//   sim -u programs/vmshm/readonly.c      (exit code 139: SIGSEGV)

uint64_t main() {
  uint64_t* base;
  uint64_t* size;
  uint64_t* p;

  base = malloc(8);
  size = malloc(8);
  *size = 4096;
  if (is_error(vm_open(3, base, size, 1, 3)))
    return 1;
  p = (uint64_t*) *base;
  *p = 42;
  if (is_error(vm_open(3, base, size, 1, 1)))
    return 2;
  p = (uint64_t*) *base;
  print("readonly: read ");
  print_unsigned(*p);
  println();
  *p = 1;
  return 3;
}
