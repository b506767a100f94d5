uint64_t g(...) { return 0; }
uint64_t main() { return g(); }
