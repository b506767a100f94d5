uint64_t f(uint64_t n) {
  uint64_t* args;
  var_start(args);
  return var_arg(args + 1);
}
uint64_t main() { return f(1); }
