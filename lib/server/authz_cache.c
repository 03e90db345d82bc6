/*
 * authz_cache.c: the in-memory tables of the decision engine (authz.c): a
 * hash map keyed by SHA-256 digests in hex, for the clients (by SPKI), the
 * presence not yet written (by SPKI) and the verification cache (by
 * certificate SHA-256); and copies of registry rows.
 *
 * Invariants:
 *  1. The hash of a key is its first 16 hex digits (a digest is uniform);
 *     a key that is not hex still works, only less evenly spread.
 *  2. The bucket array doubles when the map holds as many entries as it has
 *     buckets, so a lookup walks about one node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz_priv.h"

struct cki_hnode {
	struct cki_hnode *next;
	char key[65];
	void *val;
};

static uint64_t
hkey(const char *key)
{
	uint64_t h = 0;
	size_t i;

	for (i = 0; i < 16 && key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];
		unsigned v =
		    c >= 'a' ? (unsigned)(c - 'a' + 10) : (unsigned)(c - '0');

		h = (h << 4) ^ (v & 0xfu) ^ (h >> 60);
	}
	return h;
}

static struct cki_hnode **
slot(const struct cki_hmap *m, const char *key)
{
	struct cki_hnode **p = &m->b[hkey(key) & (m->nb - 1)];

	while (*p != NULL && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

void *
cki_hmap_get(const struct cki_hmap *m, const char *key)
{
	struct cki_hnode **p;

	if (m->nb == 0)
		return NULL;
	p = slot(m, key);
	return *p != NULL ? (*p)->val : NULL;
}

static int
grow(struct cki_hmap *m)
{
	size_t nb = m->nb != 0 ? m->nb * 2 : 64, i;
	struct cki_hnode **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -1;
	for (i = 0; i < m->nb; i++) {
		struct cki_hnode *n = m->b[i], *next;

		for (; n != NULL; n = next) {
			size_t j = hkey(n->key) & (nb - 1);

			next = n->next;
			n->next = b[j];
			b[j] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int
cki_hmap_put(struct cki_hmap *m, const char *key, void *val, void **old)
{
	struct cki_hnode **p, *n;

	*old = NULL;
	if (m->n >= m->nb && grow(m) != 0)
		return -1;
	p = slot(m, key);
	if (*p != NULL) {
		*old = (*p)->val;
		(*p)->val = val;
		return 0;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	snprintf(n->key, sizeof(n->key), "%s", key);
	n->val = val;
	*p = n;
	m->n++;
	return 0;
}

void *
cki_hmap_del(struct cki_hmap *m, const char *key)
{
	struct cki_hnode **p, *n;
	void *val;

	if (m->nb == 0)
		return NULL;
	p = slot(m, key);
	if ((n = *p) == NULL)
		return NULL;
	*p = n->next;
	val = n->val;
	free(n);
	m->n--;
	return val;
}

void
cki_hmap_each(const struct cki_hmap *m,
    void (*fn)(void *arg, const char *key, void *val), void *arg)
{
	size_t i;
	struct cki_hnode *n;

	for (i = 0; i < m->nb; i++)
		for (n = m->b[i]; n != NULL; n = n->next)
			fn(arg, n->key, n->val);
}

void
cki_hmap_clear(struct cki_hmap *m, void (*freefn)(void *val))
{
	size_t i;
	struct cki_hnode *n, *next;

	for (i = 0; i < m->nb; i++) {
		for (n = m->b[i]; n != NULL; n = next) {
			next = n->next;
			if (freefn != NULL)
				freefn(n->val);
			free(n);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

int
cki_client_set_str(char **field, const char *s)
{
	char *d = NULL;

	if (s != NULL && (d = strdup(s)) == NULL)
		return -1;
	free(*field);
	*field = d;
	return 0;
}

struct cki_client *
cki_client_dup(const struct cki_client *c)
{
	struct cki_client *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	*d = *c;
	d->name = d->subject = d->sans = d->policy = d->reason = NULL;
	d->agent_version = d->facts = NULL;
	if (cki_client_set_str(&d->name, c->name) != 0 ||
	    cki_client_set_str(&d->subject, c->subject) != 0 ||
	    cki_client_set_str(&d->sans, c->sans) != 0 ||
	    cki_client_set_str(&d->policy, c->policy) != 0 ||
	    cki_client_set_str(&d->reason, c->reason) != 0 ||
	    cki_client_set_str(&d->agent_version, c->agent_version) != 0 ||
	    cki_client_set_str(&d->facts, c->facts) != 0) {
		cki_client_free(d);
		return NULL;
	}
	return d;
}

void
cki_client_free(void *p)
{
	struct cki_client *c = p;

	if (c == NULL)
		return;
	cki_client_clear(c);
	free(c);
}

void
cki_seen_keep(const struct cki_seen_ent *e, struct cki_client *c)
{
	if (e == NULL || e->time < c->last_seen)
		return;
	c->last_seen = e->time;
	if (e->agent_version != NULL)
		(void)cki_client_set_str(&c->agent_version, e->agent_version);
	if (e->facts != NULL)
		(void)cki_client_set_str(&c->facts, e->facts);
}
