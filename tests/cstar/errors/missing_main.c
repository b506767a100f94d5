uint64_t helper() { return 0; }
