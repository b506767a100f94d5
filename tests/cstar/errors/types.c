void v;
uint64_t f(void x) { return 0; }
uint64_t main() { return sizeof(int) + (void) 1; }
