/* Dijkstra on a 200x200 grid with random weights, binary heap in arrays.
 * A held-out program (benches/held-out/README.md). */
#include "sys.h"

#ifndef REPS
#define REPS 90
#endif

#define W 200
#define H 200
#define NV (W * H)
#define INF 0x7fffffff

static unsigned char wt[NV];
static int dist[NV];
static int heap[NV];      /* vertex ids */
static int pos[NV];       /* position in heap or -1 */
static int hn;

static unsigned long rs;
static unsigned rnd(void) { rs = rs * 2862933555777941757UL + 3037000493UL; return (unsigned)(rs >> 32); }

static void sift_up(int i) {
  int v = heap[i], d = dist[v];
  while (i > 0) {
    int p = (i - 1) >> 1;
    int pv = heap[p];
    if (dist[pv] <= d) break;
    heap[i] = pv; pos[pv] = i; i = p;
  }
  heap[i] = v; pos[v] = i;
}

static void sift_down(int i) {
  int v = heap[i], d = dist[v];
  for (;;) {
    int c = 2 * i + 1;
    if (c >= hn) break;
    if (c + 1 < hn && dist[heap[c + 1]] < dist[heap[c]]) c++;
    if (dist[heap[c]] >= d) break;
    heap[i] = heap[c]; pos[heap[i]] = i; i = c;
  }
  heap[i] = v; pos[v] = i;
}

static void relax(int v, int nd) {
  if (nd < dist[v]) {
    dist[v] = nd;
    if (pos[v] < 0) { heap[hn] = v; pos[v] = hn; hn++; }
    sift_up(pos[v]);
  }
}

static void run(int src) {
  for (int i = 0; i < NV; i++) { dist[i] = INF; pos[i] = -1; }
  hn = 0;
  dist[src] = 0; heap[0] = src; pos[src] = 0; hn = 1;
  while (hn) {
    int u = heap[0];
    hn--; pos[u] = -2;
    if (hn) { heap[0] = heap[hn]; pos[heap[0]] = 0; sift_down(0); }
    int x = u % W, y = u / W, du = dist[u];
    if (x > 0 && pos[u - 1] != -2) relax(u - 1, du + wt[u - 1]);
    if (x < W - 1 && pos[u + 1] != -2) relax(u + 1, du + wt[u + 1]);
    if (y > 0 && pos[u - W] != -2) relax(u - W, du + wt[u - W]);
    if (y < H - 1 && pos[u + W] != -2) relax(u + W, du + wt[u + W]);
  }
}

int main(void) {
  unsigned long sum = 0;
  for (int rep = 0; rep < REPS; rep++) {
    rs = 777 + rep;
    for (int i = 0; i < NV; i++) wt[i] = 1 + rnd() % 99;
    int src = rnd() % NV;
    run(src);
    unsigned long s = 0;
    int mx = 0;
    for (int i = 0; i < NV; i++) { s += (unsigned long)dist[i] * (i + 1); if (dist[i] > mx) mx = dist[i]; }
    sum = sum * 1000003 + s + mx;
    if (rep == 0) show("maxdist0", mx);
  }
  show_hex("dijkstra_sum", sum);
  return 0;
}
