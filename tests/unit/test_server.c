/* test_server.c: the event loop of certkit serve (lib/server/server.c,
 * cki_srv_base_new): what became ready at CKI_SRV_PRIO_KNOWN while
 * callbacks at CKI_SRV_PRIO_NEW run goes before the next of them, and
 * socket changes wait for the poll (epoll's changelist). No timing: the
 * order of callbacks on sockets already readable. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "server_int.h"
#include "testutil.h"

#define NNEW 3

struct order {
	char seen[16];
	int wake_fd; /* written by the first NEW callback */
};

static void
note(struct order *o, char c)
{
	size_t n = strlen(o->seen);

	if (n + 1 < sizeof(o->seen))
		o->seen[n] = c;
}

static void
on_new(evutil_socket_t fd, short what, void *arg)
{
	struct order *o = arg;
	char b;

	(void)what;
	assert_int_equal(read(fd, &b, 1), 1);
	if (o->seen[0] == '\0')
		assert_int_equal(write(o->wake_fd, "k", 1), 1);
	note(o, 'N');
}

static void
on_known(evutil_socket_t fd, short what, void *arg)
{
	char b;

	(void)what;
	assert_int_equal(read(fd, &b, 1), 1);
	note(arg, 'K');
}

/* Three handshakes ready at once; the first makes an approved client's
 * socket readable. Without the bound all three ran first ("NNNK"). */
static void
test_known_before_next_new(void **state)
{
	struct event_base *base = cki_srv_base_new();
	struct order o = {{0}, -1};
	struct event *ev[NNEW + 1];
	int sp[NNEW + 1][2];

	(void)state;
	assert_non_null(base);
	for (int i = 0; i <= NNEW; i++)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
	o.wake_fd = sp[NNEW][1];
	for (int i = 0; i < NNEW; i++) {
		ev[i] = event_new(base, sp[i][0], EV_READ, on_new, &o);
		assert_non_null(ev[i]);
		assert_int_equal(
		    event_priority_set(ev[i], CKI_SRV_PRIO_NEW), 0);
		assert_int_equal(event_add(ev[i], NULL), 0);
		assert_int_equal(write(sp[i][1], "n", 1), 1);
	}
	ev[NNEW] = event_new(base, sp[NNEW][0], EV_READ, on_known, &o);
	assert_non_null(ev[NNEW]);
	assert_int_equal(event_priority_set(ev[NNEW], CKI_SRV_PRIO_KNOWN), 0);
	assert_int_equal(event_add(ev[NNEW], NULL), 0);
	/* Bounded: each pass polls without waiting. */
	for (int i = 0; i < 50 && strlen(o.seen) < NNEW + 1; i++)
		assert_true(event_base_loop(base, EVLOOP_NONBLOCK) >= 0);
	assert_string_equal(o.seen, "NKNN");
	for (int i = 0; i <= NNEW; i++) {
		event_free(ev[i]);
		close(sp[i][0]);
		close(sp[i][1]);
	}
	event_base_free(base);
}

/* evhttp stops and restarts reading around each answer: with the
 * changelist those cancel out before the poll instead of costing two
 * epoll_ctl calls each. */
static void
test_changelist(void **state)
{
	struct event_base *base = cki_srv_base_new();
	const char *m;

	(void)state;
	assert_non_null(base);
	m = event_base_get_method(base);
	if (strncmp(m, "epoll", 5) == 0)
		assert_non_null(strstr(m, "changelist"));
	assert_int_equal(event_base_get_npriorities(base), CKI_SRV_PRIOS);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_before_next_new),
	    cmocka_unit_test(test_changelist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
