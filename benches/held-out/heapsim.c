/* Discrete-event simulation with a binary-heap priority queue: customers
 * arrive at a bank of servers, events ordered by time. A held-out program. */
#include "sys.h"

#ifndef REPS
#define REPS 90
#endif

#define MAXEV 65536
#define NSERV 8
#define NCUST 200000

struct event { unsigned long time; unsigned kind; unsigned id; };
static struct event heap[MAXEV];
static int hn;
static unsigned long lcg;

static unsigned next_rand(void) {
  lcg = lcg * 6364136223846793005UL + 1442695040888963407UL;
  return (unsigned)(lcg >> 33);
}

static int less(const struct event *x, const struct event *y) {
  if (x->time != y->time) return x->time < y->time;
  return x->id < y->id;
}

static void push(unsigned long time, unsigned kind, unsigned id) {
  int i = hn++;
  struct event e = {time, kind, id};
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!less(&e, &heap[p])) break;
    heap[i] = heap[p];
    i = p;
  }
  heap[i] = e;
}

static struct event pop(void) {
  struct event top = heap[0];
  struct event last = heap[--hn];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1;
    if (l >= hn) break;
    int c = l;
    if (l + 1 < hn && less(&heap[l + 1], &heap[l])) c = l + 1;
    if (!less(&heap[c], &last)) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = last;
  return top;
}

/* queue of waiting customers (ring buffer of arrival times) */
static unsigned long waitq[MAXEV];
static int qh, qt;
static int busy;
static unsigned long served, total_wait, max_wait, maxq, maxheap;

#define ARRIVE 0
#define DEPART 1

static void run(unsigned seed) {
  lcg = seed;
  hn = 0; qh = qt = 0; busy = 0;
  unsigned long t = 0;
  /* pre-schedule all arrivals in bursts so the heap grows large */
  for (unsigned c = 0; c < NCUST / 4; c++) {
    t += next_rand() % 40;
    push(t, ARRIVE, c);
  }
  unsigned next_id = NCUST / 4;
  while (hn > 0) {
    if ((unsigned long)hn > maxheap) maxheap = hn;
    struct event e = pop();
    if (e.kind == ARRIVE) {
      if (next_id < NCUST && (next_rand() & 3) == 0) {
        push(e.time + 1 + next_rand() % 5000, ARRIVE, next_id++);
      }
      if (busy < NSERV) {
        busy++;
        push(e.time + 20 + next_rand() % 280, DEPART, e.id);
      } else {
        waitq[qt] = e.time; qt = (qt + 1) & (MAXEV - 1);
        unsigned long ql = (qt - qh) & (MAXEV - 1);
        if (ql > maxq) maxq = ql;
      }
    } else {
      served++;
      if (qh != qt) {
        unsigned long w = e.time - waitq[qh];
        qh = (qh + 1) & (MAXEV - 1);
        total_wait += w;
        if (w > max_wait) max_wait = w;
        push(e.time + 20 + next_rand() % 280, DEPART, e.id ^ 0x80000000u);
      } else {
        busy--;
      }
    }
  }
}

int main(void) {
  unsigned long sum = 0;
  for (int rep = 0; rep < REPS; rep++) {
    run(1000 + rep * 7);
    sum = sum * 1000003 + served + total_wait;
  }
  show("served", served);
  show("max_wait", max_wait);
  show("maxq", maxq);
  show("maxheap", maxheap);
  show_hex("sim_sum", sum);
  return 0;
}
