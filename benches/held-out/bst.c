/* Binary search tree in a static node array: insert LCG keys, then lookups.
 * A held-out program (benches/held-out/README.md). */
#include "sys.h"

#ifndef REPS
#define REPS 12
#endif

#define NNODES 50000
#define NIL 0xffffffffu

struct node { unsigned key; unsigned left, right; unsigned count; };
static struct node nodes[NNODES];
static unsigned nused, root;
static unsigned long lcg;

static unsigned next_rand(void) {
  lcg = lcg * 6364136223846793005UL + 1442695040888963407UL;
  return (unsigned)(lcg >> 33);
}

static void insert(unsigned key) {
  if (root == NIL) {
    nodes[0].key = key; nodes[0].left = nodes[0].right = NIL; nodes[0].count = 1;
    root = 0; nused = 1; return;
  }
  unsigned cur = root;
  for (;;) {
    struct node *n = &nodes[cur];
    if (key == n->key) { n->count++; return; }
    unsigned *link = key < n->key ? &n->left : &n->right;
    if (*link == NIL) {
      unsigned id = nused++;
      nodes[id].key = key; nodes[id].left = nodes[id].right = NIL; nodes[id].count = 1;
      *link = id; return;
    }
    cur = *link;
  }
}

static unsigned lookup(unsigned key, unsigned *depth) {
  unsigned cur = root, d = 0;
  while (cur != NIL) {
    struct node *n = &nodes[cur];
    if (key == n->key) { *depth += d; return n->count; }
    cur = key < n->key ? n->left : n->right;
    d++;
  }
  *depth += d;
  return 0;
}

int main(void) {
  unsigned long sum = 0;
  for (int rep = 0; rep < REPS; rep++) {
    root = NIL; nused = 0;
    lcg = 12345 + rep;
    for (int i = 0; i < NNODES; i++) insert(next_rand() % 1000000u);
    unsigned found = 0, depth = 0;
    for (int i = 0; i < 200000; i++) {
      unsigned k = next_rand() % 1000000u;
      found += lookup(k, &depth);
    }
    sum = sum * 31 + found * 7919u + depth + nused;
  }
  show("nodes", nused);
  show_hex("bst_sum", sum);
  return 0;
}
