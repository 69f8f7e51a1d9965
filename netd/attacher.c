/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Putting the fast path's program on a new port's tcx ingress waits for an RCU grace period with
 * RTNL held (tcx_entry_sync() in tcx_prog_attach(): the kernel does so even for a device's first
 * program): 12 to 16 ms on a 2-CPU VM whose grace periods are slow, where the whole rest of an
 * attach takes under 1 ms (other VMs measured 30 to 66 µs).  The port does not need the program to be right, only to be fast:
 * without it, its frames take the bridge and its rules, which allow what the program would
 * forward and more.  So an attach replies without it, and this thread puts it on the port once
 * netd has served no request for ATTACHER_IDLE_MS (TK_NETD_ATTACH_IDLE_MS): a burst of attaches is not slowed by them, and
 * the fast path follows at some 60 ports a second after it.
 *
 * The thread attaches under the state lock, deciding from the state then (firewall.c), so what
 * happened to the port meanwhile (a detach, a shaped tenant, another program's qdisc, a
 * rebuild's new program) decides, as it would have for a synchronous attach.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "netd.h"
#include "server.h"

#define ATTACHER_IDLE_MS 20
/*
 * Between two attaches: a handler counts as busy only once it holds the state lock, which a
 * thread that unlocks and locks again at once can take back before a waiter not yet running
 * gets it (a mutex is not fair); this pause hands it over.
 */
#define ATTACHER_GAP_MS 2

struct attacher {
	struct manager *m;
	pthread_t thread;
	pthread_mutex_t lock; /* over what follows */
	pthread_cond_t cond;
	int64_t *ring; /* endpoint ids in the order queued; 0: cancelled */
	size_t head, n, size;
	size_t live;	       /* not cancelled */
	unsigned requests;     /* being served */
	uint64_t last_request; /* when the last one ended, CLOCK_MONOTONIC ns */
	uint64_t last_attach;  /* when the thread's last attach ended, the same */
	uint64_t idle_ns;      /* ATTACHER_IDLE_MS, or TK_NETD_ATTACH_IDLE_MS */
	bool stopping;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Waits, a->lock held, until netd has been idle a->idle_ns and the thread's last attach
 * ATTACHER_GAP_MS ago; false when stopping.
 */
static bool wait_idle(struct attacher *a)
{
	for (;;) {
		uint64_t due = a->last_request + a->idle_ns, now = now_ns();
		uint64_t gap = a->last_attach + ATTACHER_GAP_MS * 1000000ull;
		struct timespec until;

		if (a->stopping || a->live == 0)
			return false;
		if (gap > due)
			due = gap;
		if (a->requests == 0 && now >= due)
			return true;
		if (a->requests > 0)
			due = now + a->idle_ns;
		until.tv_sec = (time_t)(due / 1000000000u);
		until.tv_nsec = (long)(due % 1000000000u);
		pthread_cond_timedwait(&a->cond, &a->lock, &until);
	}
}

/* Takes the first endpoint not cancelled off the ring; 0: none. */
static int64_t pop(struct attacher *a)
{
	while (a->n > 0) {
		int64_t id = a->ring[a->head];

		a->head = (a->head + 1) % a->size;
		a->n--;
		if (id != 0) {
			a->live--;
			return id;
		}
	}
	return 0;
}

static void *attacher_main(void *userdata)
{
	struct attacher *a = userdata;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		int64_t id;

		while (a->live == 0 && !a->stopping)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->stopping)
			break;
		if (!wait_idle(a))
			continue;
		pthread_mutex_unlock(&a->lock);
		/* The order every handler takes them in: the state lock, then a->lock. */
		tk_server_state_lock();
		pthread_mutex_lock(&a->lock);
		if (!(id = pop(a)) || a->stopping) {
			pthread_mutex_unlock(&a->lock);
			tk_server_state_unlock();
			pthread_mutex_lock(&a->lock);
			continue;
		}
		pthread_mutex_unlock(&a->lock);
		firewall_fast_path_attach_now(a->m, id);
		tk_server_state_unlock();
		pthread_mutex_lock(&a->lock);
		a->last_attach = now_ns();
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int attacher_start(struct manager *m, tk_err *err)
{
	struct attacher *a = calloc(1, sizeof(*a));
	pthread_condattr_t attr;
	sigset_t all, old;
	const char *s;
	long idle_ms;
	int q;

	if (!a)
		return tk_err_set(err, -ENOMEM, "out of memory");
	a->m = m;
	/* Tests lengthen it, so that a client they keep busy never leaves netd idle that long. */
	idle_ms = (s = getenv("TK_NETD_ATTACH_IDLE_MS")) ? strtol(s, NULL, 10) : 0;
	a->idle_ns = (uint64_t)(idle_ms > 0 && idle_ms <= 600000 ? idle_ms : ATTACHER_IDLE_MS) *
		     1000000u;
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &attr);
	pthread_condattr_destroy(&attr);
	/* Signals are the main loop's (signalfd): the thread starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	q = pthread_create(&a->thread, NULL, attacher_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (q != 0) {
		pthread_cond_destroy(&a->cond);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return tk_err_set(err, -q, "cannot start the fast path's attacher: %s",
				  strerror(q));
	}
	m->attacher = a;
	return 0;
}

/* Grows the ring, keeping its order. */
static int grow(struct attacher *a)
{
	size_t size = a->size ? a->size * 2 : 64;
	int64_t *ring = reallocarray(NULL, size, sizeof(*ring));

	if (!ring)
		return -ENOMEM;
	assert(a->n <= a->size);
	for (size_t i = 0; i < a->n; i++)
		ring[i] = a->ring[(a->head + i) % a->size];
	free(a->ring);
	a->ring = ring;
	a->head = 0;
	a->size = size;
	return 0;
}

bool attacher_queue(struct manager *m, int64_t endpoint_id)
{
	struct attacher *a = m->attacher;
	bool queued = false;

	if (!a)
		return false;
	pthread_mutex_lock(&a->lock);
	if (a->n < a->size || grow(a) == 0) {
		a->ring[(a->head + a->n++) % a->size] = endpoint_id;
		a->live++;
		queued = true;
		pthread_cond_broadcast(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	return queued;
}

void attacher_cancel(struct manager *m, int64_t endpoint_id)
{
	struct attacher *a = m->attacher;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; a->live > 0 && i < a->n; i++) {
		int64_t *id = &a->ring[(a->head + i) % a->size];

		if (*id != 0 && (endpoint_id == 0 || *id == endpoint_id)) {
			*id = 0;
			a->live--;
		}
	}
	pthread_mutex_unlock(&a->lock);
}

size_t attacher_pending(struct manager *m)
{
	struct attacher *a = m->attacher;
	size_t n;

	if (!a)
		return 0;
	pthread_mutex_lock(&a->lock);
	n = a->live;
	pthread_mutex_unlock(&a->lock);
	return n;
}

void attacher_request(struct manager *m, bool begins)
{
	struct attacher *a = m->attacher;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	if (begins) {
		a->requests++;
	} else {
		a->requests--;
		a->last_request = now_ns();
		if (a->requests == 0 && a->live > 0)
			pthread_cond_broadcast(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
}

void attacher_stop(struct manager *m)
{
	struct attacher *a = m->attacher;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	if (a->live > 0)
		log_debug("%zu port(s) never got the fast path: the next start puts it on them",
			  a->live);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a->ring);
	free(a);
	m->attacher = NULL;
}
