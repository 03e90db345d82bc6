/*
 * lab.c: `certkit lab`, local endpoints that each reproduce one diagnosis
 * code of the doctor, and the files that describe them.
 *
 * ck_lab_start():
 *   1. creates the event base and binds the AIA server (certificates name
 *      its URL, so it comes first);
 *   2. makes the PKI (lab_pki.c);
 *   3. binds the DNS server, the proxies and every endpoint (lab_net.c);
 *   4. writes DIR/profile.ini, trust.pem, reference.pem, lab.json, lab.env
 *      and the client identities, each atomically;
 *   5. starts the lab thread, which runs the loop until ck_lab_stop().
 * Everything is bound before anything is written, so a script that sees
 * lab.env can connect at once (the kernel queues connections until the
 * loop accepts them).
 *
 * The lab itself is the table in lab_specs.c: one row per endpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lab_int.h"
#include "strbuf.h"

static const char *const client_file[LAB_CLIENT_COUNT] = {
    NULL,
    "paired",
    "unknown-ca",
    "expired",
    "revoked",
    "unpaired",
};

/* ---- text files (lib/core/strbuf.c builds them) ----------------------- */

/* Single-quoted for sh: ' becomes '\''. */
static void
sb_shquote(struct cki_sb *b, const char *s)
{
	cki_sb_printf(b, "'");
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			cki_sb_printf(b, "'\\''");
		else
			cki_sb_printf(b, "%c", *s);
	}
	cki_sb_printf(b, "'");
}

static char *
path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, file);
	return p;
}

/* ---- the files --------------------------------------------------------- */

static const char *
ep_proxy(const ck_lab *lab, const struct cki_lab_spec *s)
{
	return s->proxy != LAB_PX_NONE ? lab->px[s->proxy].url : NULL;
}

static ck_status
write_text(ck_lab *lab, const char *file, const char *text, size_t len,
    unsigned int mode)
{
	char *path = path_join(lab->dir, file);
	ck_status rv;

	if (path == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	rv = ck_write_file_atomic(lab->ctx, path, text, len, mode);
	free(path);
	return rv;
}

static ck_status
write_pems(ck_lab *lab, const char *file, const int *cas)
{
	char *buf = NULL;
	size_t len = 0;
	ck_status rv = CK_OK;

	for (int i = 0; cas[i] != LAB_CA_END && rv == CK_OK; i++)
		rv = cki_lab_pem_cert(
		    lab->ctx, lab->pki->ca[cas[i]].cert, &buf, &len);
	if (rv == CK_OK)
		rv = write_text(lab, file, buf, len, 0644);
	free(buf);
	return rv;
}

static ck_status
write_clients(ck_lab *lab)
{
	char *dir = path_join(lab->dir, "clients"), name[64];
	ck_status rv;

	if (dir == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	if ((rv = cki_mkdirs(lab->ctx, dir, 0700)) != CK_OK)
		goto out;
	for (int i = 1; i < LAB_CLIENT_COUNT && rv == CK_OK; i++) {
		const struct cki_lab_id *id = &lab->pki->client[i];
		char *buf = NULL;
		size_t len = 0;

		snprintf(name, sizeof(name), "clients/%s.pem", client_file[i]);
		rv = cki_lab_pem_cert(lab->ctx, id->cert, &buf, &len);
		/* The issuing CA goes along, as a device would send it. */
		if (rv == CK_OK)
			rv = cki_lab_pem_cert(lab->ctx,
			    lab->pki
			        ->ca[i == LAB_CLIENT_UNKNOWN ? LAB_CA_ROGUE
			                                     : LAB_CA_DEV]
			        .cert,
			    &buf, &len);
		if (rv == CK_OK)
			rv = write_text(lab, name, buf, len, 0644);
		free(buf);
		buf = NULL;
		len = 0;
		if (rv != CK_OK)
			break;
		snprintf(name, sizeof(name), "clients/%s.key", client_file[i]);
		rv = cki_lab_pem_key(lab->ctx, id->key, &buf, &len);
		if (rv == CK_OK)
			rv = write_text(lab, name, buf, len, 0600);
		if (buf != NULL)
			OPENSSL_cleanse(buf, len);
		free(buf);
	}
out:
	free(dir);
	return rv;
}

static ck_status
write_profile(ck_lab *lab)
{
	struct cki_sb b = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char pin[65] = "";
	ck_cert *x1;
	ck_status rv;

	if ((x1 = calloc(1, sizeof(*x1))) == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	x1->x509 = lab->pki->ca[LAB_CA_X1].cert;
	ck_cert_spki_sha256(x1, pin);
	free(x1);
	cki_sb_printf(&b,
	    "# certkit lab profile: one section per endpoint, named after the\n"
	    "# diagnosis code it reproduces. Names in the %s zone resolve\n"
	    "# through the lab's DNS server only:\n"
	    "#   certkit doctor --profile %s --trust %s \\\n"
	    "#       --reference %s --dns %s\n",
	    CKI_LAB_ZONE, lab->profile, lab->trust, lab->reference, lab->dns);
	for (size_t i = 0; i < lab->nep; i++) {
		const struct cki_lab_ep *ep = &lab->ep[i];
		const struct cki_lab_spec *s = ep->spec;

		cki_sb_printf(&b, "\n[%s]\n# %s: %s\nhost = %s\nport = %d\n",
		    s->name, s->code, s->what, ep->host, ep->port);
		/* A public name must not resolve to 127.0.0.1 (that is a
		 * sinkhole): such endpoints skip DNS. */
		if (s->direct)
			cki_sb_printf(&b, "address = 127.0.0.1\n");
		if (s->expect != NULL)
			cki_sb_printf(&b, "expect = %s\n", s->expect);
		if (s->pin_x1)
			cki_sb_printf(&b, "pin = %s\n", pin);
		if (s->client != LAB_CLIENT_NONE)
			cki_sb_printf(&b,
			    "client_cert = %s/clients/%s.pem\n"
			    "client_key = %s/clients/%s.key\n",
			    lab->dir, client_file[s->client], lab->dir,
			    client_file[s->client]);
		if (s->required_roots != NULL)
			cki_sb_printf(
			    &b, "required_roots = %s\n", s->required_roots);
		if (ep_proxy(lab, s) != NULL)
			cki_sb_printf(&b, "proxy = %s\n", ep_proxy(lab, s));
	}
	if (b.failed) {
		cki_sb_free(&b);
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	}
	rv = ck_write_file_atomic(lab->ctx, lab->profile, b.p, b.n, 0644);
	cki_sb_free(&b);
	return rv;
}

static ck_status
write_env(ck_lab *lab)
{
	static const char *const names[] = {"LAB_DIR", "LAB_DNS", "LAB_AIA",
	    "LAB_PROXY", "LAB_PROXY_AUTH", "LAB_PROFILE", "LAB_TRUST",
	    "LAB_REFERENCE", "LAB_JSON"};
	struct cki_sb b = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char authurl[128];
	const char *vals[9];
	ck_status rv;

	snprintf(authurl, sizeof(authurl), "http://%s:%s@127.0.0.1:%d",
	    CKI_LAB_PROXY_USER, CKI_LAB_PROXY_PASS, lab->px[LAB_PX_AUTH].port);
	vals[0] = lab->dir;
	vals[1] = lab->dns;
	vals[2] = lab->aia;
	vals[3] = lab->px[LAB_PX_OK].url;
	vals[4] = authurl;
	vals[5] = lab->profile;
	vals[6] = lab->trust;
	vals[7] = lab->reference;
	vals[8] = lab->json_path;
	cki_sb_printf(
	    &b, "# certkit lab: source this file (. %s)\n", lab->env_path);
	for (size_t i = 0; i < 9; i++) {
		cki_sb_printf(&b, "%s=", names[i]);
		sb_shquote(&b, vals[i]);
		cki_sb_printf(&b, "\n");
	}
	cki_sb_printf(&b, "export");
	for (size_t i = 0; i < 9; i++)
		cki_sb_printf(&b, " %s", names[i]);
	cki_sb_printf(&b, "\n");
	if (b.failed) {
		cki_sb_free(&b);
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	}
	rv = ck_write_file_atomic(lab->ctx, lab->env_path, b.p, b.n, 0644);
	cki_sb_free(&b);
	return rv;
}

static json_t *
json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static ck_status
build_json(ck_lab *lab)
{
	json_t *doc = json_object(), *eps = json_array(), *px = json_object();
	json_t *counts = json_object();
	size_t online = 0, unreachable = 0, offline = 0;
	char authurl[128];

	if (doc == NULL || eps == NULL || px == NULL || counts == NULL)
		goto nomem;
	snprintf(authurl, sizeof(authurl), "http://%s:%s@127.0.0.1:%d",
	    CKI_LAB_PROXY_USER, CKI_LAB_PROXY_PASS, lab->px[LAB_PX_AUTH].port);
	json_object_set_new(px, "ok", json_string(lab->px[LAB_PX_OK].url));
	json_object_set_new(px, "auth", json_string(lab->px[LAB_PX_AUTH].url));
	json_object_set_new(px, "auth_with_credentials", json_string(authurl));
	json_object_set_new(px, "deny", json_string(lab->px[LAB_PX_DENY].url));
	json_object_set_new(px, "dead", json_string(lab->px[LAB_PX_DEAD].url));
	for (size_t i = 0; i < lab->nep; i++) {
		const struct cki_lab_ep *ep = &lab->ep[i];
		const struct cki_lab_spec *s = ep->spec;
		json_t *e = json_object(), *ev = json_array();
		char cc[PATH_MAX], ck[PATH_MAX], addr[300];
		const char *p = s->evidence;

		if (e == NULL || ev == NULL) {
			json_decref(e);
			json_decref(ev);
			goto nomem;
		}
		while (p != NULL && *p != '\0') {
			size_t n = strcspn(p, "|");

			json_array_append_new(ev, json_stringn(p, n));
			p += n;
			if (*p == '|')
				p++;
		}
		snprintf(addr, sizeof(addr), "%s:%d", ep->host, ep->port);
		json_object_set_new(e, "name", json_string(s->name));
		json_object_set_new(e, "code", json_string(s->code));
		json_object_set_new(e, "status", json_string(s->status));
		json_object_set_new(e, "endpoint", json_string(addr));
		json_object_set_new(e, "host", json_string(ep->host));
		json_object_set_new(e, "address", json_string("127.0.0.1"));
		/* Whether the doctor must ask the lab's DNS for the host. */
		json_object_set_new(
		    e, "uses_dns", json_boolean(s->host != NULL && !s->direct));
		json_object_set_new(e, "port", json_integer(ep->port));
		json_object_set_new(e, "what", json_string(s->what));
		json_object_set_new(e, "expect", json_str_or_null(s->expect));
		json_object_set_new(
		    e, "proxy", json_str_or_null(ep_proxy(lab, s)));
		if (s->client != LAB_CLIENT_NONE) {
			snprintf(cc, sizeof(cc), "%s/clients/%s.pem", lab->dir,
			    client_file[s->client]);
			snprintf(ck, sizeof(ck), "%s/clients/%s.key", lab->dir,
			    client_file[s->client]);
			json_object_set_new(e, "client_cert", json_string(cc));
			json_object_set_new(e, "client_key", json_string(ck));
		} else {
			json_object_set_new(e, "client_cert", json_null());
			json_object_set_new(e, "client_key", json_null());
		}
		json_object_set_new(e, "evidence", ev);
		if (json_array_append_new(eps, e) != 0)
			goto nomem;
		if (strcmp(s->status, "online") == 0)
			online++;
		else if (strcmp(s->status, "offline") == 0)
			offline++;
		else
			unreachable++;
	}
	json_object_set_new(counts, "online", json_integer((json_int_t)online));
	json_object_set_new(
	    counts, "unreachable", json_integer((json_int_t)unreachable));
	json_object_set_new(
	    counts, "offline", json_integer((json_int_t)offline));
	json_object_set_new(doc, "dir", json_string(lab->dir));
	json_object_set_new(doc, "profile", json_string(lab->profile));
	json_object_set_new(doc, "trust", json_string(lab->trust));
	json_object_set_new(doc, "reference", json_string(lab->reference));
	json_object_set_new(doc, "env", json_string(lab->env_path));
	json_object_set_new(doc, "zone", json_string(CKI_LAB_ZONE));
	json_object_set_new(doc, "dns", json_string(lab->dns));
	json_object_set_new(doc, "aia", json_string(lab->aia));
	json_object_set_new(doc, "proxies", px);
	px = NULL;
	json_object_set_new(doc, "endpoints", eps);
	eps = NULL;
	json_object_set_new(doc, "expected", counts);
	counts = NULL;
	lab->json = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (lab->json == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
nomem:
	json_decref(doc);
	json_decref(eps);
	json_decref(px);
	json_decref(counts);
	return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
}

static ck_status
write_files(ck_lab *lab)
{
	static const int trust[] = {LAB_CA_X1, LAB_CA_OLD, LAB_CA_END};
	static const int reference[] = {
	    LAB_CA_X1, LAB_CA_X2, LAB_CA_G2, LAB_CA_END};
	ck_status rv;
	size_t n;

	/* The device's store: the lab's everyday root, and the expired old
	 * root without its successor (the DST Root CA X3 situation). */
	if ((rv = write_pems(lab, "trust.pem", trust)) != CK_OK ||
	    (rv = write_pems(lab, "reference.pem", reference)) != CK_OK ||
	    (rv = write_clients(lab)) != CK_OK ||
	    (rv = write_profile(lab)) != CK_OK ||
	    (rv = build_json(lab)) != CK_OK)
		return rv;
	n = strlen(lab->json);
	lab->json[n] = '\n'; /* json_dumps leaves room for the NUL only */
	rv = ck_write_file_atomic(
	    lab->ctx, lab->json_path, lab->json, n + 1, 0644);
	lab->json[n] = '\0';
	if (rv != CK_OK)
		return rv;
	/* Last: its presence tells scripts that everything is in place. */
	return write_env(lab);
}

/* ---- start / stop ------------------------------------------------------ */

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	ck_lab *lab = arg;
	char c;

	(void)what;
	while (read(fd, &c, 1) == 1)
		;
	event_base_loopbreak(lab->base);
}

static void *
lab_thread(void *arg)
{
	ck_lab *lab = arg;

	(void)event_base_loop(lab->base, 0);
	return NULL;
}

static void
lab_free(ck_lab *lab)
{
	if (lab == NULL)
		return;
	cki_lab_net_free(lab);
	if (lab->wake_ev != NULL)
		event_free(lab->wake_ev);
	if (lab->base != NULL)
		event_base_free(lab->base);
	for (int i = 0; i < 2; i++)
		if (lab->wake[i] >= 0)
			close(lab->wake[i]);
	for (int i = 0; i < LAB_CA_COUNT; i++)
		OPENSSL_free(lab->aia_der[i]);
	free(lab->ocsp_der);
	cki_lab_pki_free(lab->pki);
	free(lab->json);
	free(lab->dir);
	free(lab->profile);
	free(lab->trust);
	free(lab->reference);
	free(lab->json_path);
	free(lab->env_path);
	free(lab);
}

static ck_status
setup_endpoints(ck_lab *lab)
{
	size_t n;
	const struct cki_lab_spec *s = cki_lab_specs(&n);

	if (n > CKI_LAB_MAX_EP)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: %zu endpoints, room for %d", n, CKI_LAB_MAX_EP);
	for (size_t i = 0; i < n; i++) {
		struct cki_lab_ep *ep = &lab->ep[i];

		ep->spec = &s[i];
		ep->lab = lab;
		ep->fd = ep->filler = -1;
		snprintf(ep->host, sizeof(ep->host), "%s",
		    s[i].host != NULL ? s[i].host : "127.0.0.1");
	}
	lab->nep = n;
	return CK_OK;
}

static ck_status
resolve_aliases(ck_lab *lab)
{
	for (size_t i = 0; i < lab->nep; i++) {
		struct cki_lab_ep *ep = &lab->ep[i];
		size_t j;

		if (ep->spec->kind != LAB_K_ALIAS)
			continue;
		for (j = 0; j < lab->nep; j++)
			if (lab->ep[j].spec->kind != LAB_K_ALIAS &&
			    strcmp(lab->ep[j].spec->name, ep->spec->target) ==
			        0)
				break;
		if (j == lab->nep)
			return cki_err(lab->ctx, CK_E_INTERNAL,
			    "lab: %s points at no endpoint '%s'",
			    ep->spec->name, ep->spec->target);
		ep->port = lab->ep[j].port;
	}
	return CK_OK;
}

static ck_status
aia_blobs(ck_lab *lab)
{
	for (int i = 0; i < LAB_CA_COUNT; i++) {
		unsigned char *der = NULL;
		int n;

		if (cki_lab_ca_file(i) == NULL)
			continue;
		if ((n = i2d_X509(lab->pki->ca[i].cert, &der)) <= 0)
			return cki_err(lab->ctx, CK_E_INTERNAL,
			    "lab: cannot encode %s", cki_lab_ca_file(i));
		lab->aia_der[i] = der;
		lab->aia_len[i] = (size_t)n;
	}
	return CK_OK;
}

static ck_status
start_thread(ck_lab *lab)
{
	sigset_t all, old;
	int e;

	if (pipe(lab->wake) == -1)
		return cki_err(
		    lab->ctx, CK_E_INTERNAL, "lab: pipe: %s", strerror(errno));
	if (evutil_make_socket_nonblocking(lab->wake[0]) != 0 ||
	    evutil_make_socket_closeonexec(lab->wake[0]) != 0 ||
	    evutil_make_socket_closeonexec(lab->wake[1]) != 0)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: cannot set up the wake pipe");
	if ((lab->wake_ev = event_new(lab->base, lab->wake[0],
	         EV_READ | EV_PERSIST, wake_cb, lab)) == NULL ||
	    event_add(lab->wake_ev, NULL) != 0)
		return cki_err(
		    lab->ctx, CK_E_INTERNAL, "lab: cannot arm the wake pipe");
	/* The lab thread takes no signals: SIGINT/SIGTERM belong to the
	 * program, and a write to a reset peer gives EPIPE, not a SIGPIPE
	 * that kills the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&lab->thread, NULL, lab_thread, lab);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: cannot start the lab thread: %s", strerror(e));
	lab->running = 1;
	return CK_OK;
}

ck_status
ck_lab_start(ck_ctx *ctx, const char *dir, ck_lab **out)
{
	ck_lab *lab = NULL;
	char real[PATH_MAX];
	ck_status rv = CK_E_NOMEM;

	cki_begin(ctx);
	if (out == NULL || dir == NULL || dir[0] == '\0')
		return cki_err(ctx, CK_E_USAGE,
		    "lab: a directory for the lab's files is required");
	*out = NULL;
	if ((rv = cki_mkdirs(ctx, dir, 0700)) != CK_OK)
		return rv;
	if (realpath(dir, real) == NULL)
		return cki_err(ctx, CK_E_IO, "%s: cannot resolve the path: %s",
		    dir, strerror(errno));
	if ((lab = calloc(1, sizeof(*lab))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	lab->ctx = ctx;
	lab->wake[0] = lab->wake[1] = -1;
	lab->dns_fd = -1;
	for (int k = 0; k < LAB_PX_COUNT; k++)
		lab->px[k].dead_fd = -1;
	if ((lab->dir = strdup(real)) == NULL ||
	    (lab->profile = path_join(real, "profile.ini")) == NULL ||
	    (lab->trust = path_join(real, "trust.pem")) == NULL ||
	    (lab->reference = path_join(real, "reference.pem")) == NULL ||
	    (lab->json_path = path_join(real, "lab.json")) == NULL ||
	    (lab->env_path = path_join(real, "lab.env")) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((lab->base = event_base_new()) == NULL) {
		rv = cki_err(
		    ctx, CK_E_INTERNAL, "lab: cannot create the event loop");
		goto err;
	}
	if ((rv = setup_endpoints(lab)) != CK_OK ||
	    (rv = cki_lab_bind_aia(lab)) != CK_OK ||
	    (rv = cki_lab_pki_new(ctx, lab->aia, &lab->pki)) != CK_OK ||
	    (rv = aia_blobs(lab)) != CK_OK ||
	    (rv = cki_lab_dns_start(lab)) != CK_OK ||
	    (rv = cki_lab_net_endpoints(lab)) != CK_OK ||
	    (rv = resolve_aliases(lab)) != CK_OK ||
	    (rv = write_files(lab)) != CK_OK ||
	    (rv = start_thread(lab)) != CK_OK)
		goto err;
	/* The servers never report through ctx: the caller may free it. */
	lab->ctx = NULL;
	*out = lab;
	return CK_OK;
err:
	lab_free(lab);
	return rv;
}

void
ck_lab_stop(ck_lab *lab)
{
	if (lab == NULL)
		return;
	if (lab->running) {
		char c = 'q';
		ssize_t w;

		/* Invariant 2: one byte through the pipe; the loop breaks
		 * on its own thread, and only then do we free anything. */
		do
			w = write(lab->wake[1], &c, 1);
		while (w == -1 && errno == EINTR);
		pthread_join(lab->thread, NULL);
		lab->running = 0;
	}
	lab_free(lab);
}

const char *
ck_lab_profile(const ck_lab *lab)
{
	return lab->profile;
}

const char *
ck_lab_trust(const ck_lab *lab)
{
	return lab->trust;
}

const char *
ck_lab_reference(const ck_lab *lab)
{
	return lab->reference;
}

const char *
ck_lab_dns(const ck_lab *lab)
{
	return lab->dns;
}

const char *
ck_lab_proxy(const ck_lab *lab)
{
	return lab->px[LAB_PX_OK].url;
}

ck_status
ck_lab_describe(const ck_lab *lab, char **json)
{
	if (json == NULL)
		return CK_E_USAGE;
	*json = NULL;
	if (lab == NULL || lab->json == NULL)
		return CK_E_USAGE;
	if ((*json = strdup(lab->json)) == NULL)
		return CK_E_NOMEM;
	return CK_OK;
}
