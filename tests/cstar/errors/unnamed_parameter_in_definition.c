uint64_t f(uint64_t, uint64_t b) { return b; }
uint64_t g(uint64_t a, uint64_t);
uint64_t main() { return f(1, 2) + g(3, 4); }
uint64_t g(uint64_t a, uint64_t b) { return a + b + __LINE__; }
uint64_t h = __func__;
