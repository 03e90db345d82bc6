/*
 * registry_row.c: a registry row and its words (registry_int.h): freeing
 * rows, the names of states, actions and presence, and the status labels
 * the field articles use. Shared by the registry's logic (registry.c) and
 * its backends, which store these words.
 *
 * Presence is derived, never stored: a client never seen is
 * never_connected; one seen within 2x the heartbeat interval is online
 * (requesting_pairing while pending), else offline.
 */
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

static const char *const state_names[] = {
    "pending", "approved", "rejected", "suspended", "revoked"};
static const char *const presence_names[] = {
    "never_connected", "online", "offline", "requesting_pairing"};
static const char *const action_names[] = {"approve", "reject", "suspend",
    "resume", "revoke", "remove", "replace-key", "discard"};

void
cki_client_clear(struct cki_client *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->subject);
	free(c->sans);
	free(c->policy);
	free(c->reason);
	free(c->agent_version);
	free(c->facts);
	memset(c, 0, sizeof(*c));
}

void
cki_ereq_clear(struct cki_ereq *q)
{
	if (q == NULL)
		return;
	free(q->csr);
	free(q->names);
	memset(q, 0, sizeof(*q));
}

void
cki_cert_row_clear(struct cki_cert_row *c)
{
	if (c == NULL)
		return;
	free(c->der);
	memset(c, 0, sizeof(*c));
}

void
cki_audit_clear(struct cki_audit *a)
{
	if (a == NULL)
		return;
	free(a->who);
	free(a->action);
	free(a->why);
	free(a->from_state);
	free(a->to_state);
	memset(a, 0, sizeof(*a));
}

const char *
cki_reg_state_name(enum cki_reg_state s)
{
	return (unsigned)s < 5 ? state_names[s] : "?";
}

int
cki_reg_state_parse(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (s != NULL && strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

const char *
cki_presence_name(enum cki_presence p)
{
	return (unsigned)p < 4 ? presence_names[p] : "?";
}

const char *
cki_reg_action_name(enum cki_reg_action a)
{
	return (unsigned)a < 8 ? action_names[a] : "?";
}

/* Never seen: never_connected. Pending and seen within 2x the heartbeat:
 * requesting_pairing. Otherwise online or offline by that same window. */
enum cki_presence
cki_client_presence(const struct cki_client *c, int64_t now, long heartbeat)
{
	bool recent;

	if (c->last_seen <= 0)
		return CKI_PRES_NEVER_CONNECTED;
	recent = now - c->last_seen <= 2 * (int64_t)heartbeat;
	if (c->state == CKI_REG_PENDING && recent)
		return CKI_PRES_REQUESTING_PAIRING;
	return recent ? CKI_PRES_ONLINE : CKI_PRES_OFFLINE;
}

const char *
cki_client_status_label(const struct cki_client *c, int64_t now, long heartbeat)
{
	enum cki_presence p = cki_client_presence(c, now, heartbeat);

	switch (c->state) {
	case CKI_REG_PENDING:
		if (c->conflict_of[0] != '\0')
			return "Conflict";
		return p == CKI_PRES_REQUESTING_PAIRING ? "Requesting Pairing"
		                                        : "Pending";
	case CKI_REG_REJECTED: return "Rejected";
	case CKI_REG_SUSPENDED: return "Suspended";
	case CKI_REG_REVOKED: return "Revoked";
	case CKI_REG_APPROVED: break;
	}
	if (p == CKI_PRES_NEVER_CONNECTED)
		return "Never Connected";
	return p == CKI_PRES_ONLINE ? "Online" : "Offline";
}
