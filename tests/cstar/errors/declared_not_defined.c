uint64_t later(uint64_t x);
uint64_t main() { return later(1); }
