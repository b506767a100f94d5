uint64_t g;
uint64_t g;
uint64_t f() { return 1; }
uint64_t f() { return 2; }
uint64_t h(uint64_t a);
uint64_t h(uint64_t a, uint64_t b) { uint64_t b; return a; }
uint64_t main() { return f(); }
