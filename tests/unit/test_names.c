/*
 * test_names.c: lib/core/names.c: the one escaper of untrusted text (cki_esc,
 * ck_text_escape) and the one-line names built on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "testutil.h"

struct escrow {
	const char *in;
	size_t len;
	const char *want;
};

#define ROW(s, w)                                                              \
	{                                                                      \
		s, sizeof(s) - 1, w                                            \
	}

static const struct escrow escrows[] = {
    ROW("device.example.test", "device.example.test"),
    ROW("", ""),
    /* C0 controls, LF and TAB included; DEL. */
    ROW("a\x1b]0;T\x07z", "a\\x1b]0;T\\x07z"),
    ROW("l1\r\nFAKE: ONLINE", "l1\\x0d\\x0aFAKE: ONLINE"),
    ROW("t\tu\x7f", "t\\x09u\\x7f"),
    ROW("nul\0cut", "nul\\x00cut"),
    /* Valid UTF-8 stays; C1 controls in UTF-8 and raw do not. */
    ROW("M\xc3\xbcller \xe6\x97\xa5\xf0\x9f\x94\x92",
        "M\xc3\xbcller \xe6\x97\xa5\xf0\x9f\x94\x92"),
    ROW("\xc2\x9b"
        "31m",
        "\\xc2\\x9b31m"),
    ROW("\xc2\x80|\xc2\x9f|\xc2\xa0", "\\xc2\\x80|\\xc2\\x9f|\xc2\xa0"),
    ROW("raw\x9b", "raw\\x9b"),
    /* Bidi overrides and isolates; other format characters stay. */
    ROW("a\xe2\x80\xae"
        "b\xe2\x81\xa6"
        "c\xe2\x80\x8e",
        "a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6c\xe2\x80\x8e"),
    /* Invalid UTF-8: lone continuation, overlong, surrogate, > U+10FFFF,
     * truncated sequence, non-UTF-8 file name byte. */
    ROW("\x80", "\\x80"),
    ROW("\xc0\xaf", "\\xc0\\xaf"),
    ROW("\xed\xa0\x80", "\\xed\\xa0\\x80"),
    ROW("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),
    ROW("\xe6\x97", "\\xe6\\x97"),
    ROW("name\xff.pem", "name\\xff.pem"),
    /* A backslash stays, so escaping twice changes nothing. */
    ROW("C:\\x1b", "C:\\x1b"),
};

static void
test_escape_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escrows) / sizeof(escrows[0]); i++) {
		const struct escrow *r = &escrows[i];
		char *e = cki_esc_dup(r->in, r->len), *twice;

		assert_non_null(e);
		assert_string_equal(e, r->want);
		assert_int_equal(
		    cki_esc(NULL, 0, r->in, r->len), strlen(r->want));
		twice = cki_esc_dup(e, strlen(e));
		assert_string_equal(twice, e);
		free(twice);
		free(e);
	}
}

/* A short buffer gets whole characters and whole escapes only, and the
 * return value still says what the whole result needs. */
static void
test_escape_bounded(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(cki_esc(out, sizeof(out), "abc\x1b\x1b", 5), 11);
	assert_string_equal(out, "abc\\x1b");
	assert_int_equal(cki_esc(out, 6, "ab\xe6\x97\xa5z", 6), 6);
	assert_string_equal(out, "ab\xe6\x97\xa5");
	assert_int_equal(cki_esc(out, 5, "ab\xe6\x97\xa5z", 6), 6);
	assert_string_equal(out, "ab");
	assert_int_equal(cki_esc(out, 1, "x", 1), 1);
	assert_string_equal(out, "");
}

static void
test_public_escape(void **state)
{
	char *e;

	(void)state;
	e = ck_text_escape("evil\x1b[2J\nFAKE");
	assert_string_equal(e, "evil\\x1b[2J\\x0aFAKE");
	ck_free(e);
	e = ck_text_escape(NULL);
	assert_string_equal(e, "");
	ck_free(e);
}

/* OpenSSL escapes C0 in names itself (\1B); C1 controls and bidi overrides
 * in UTF-8 reach the escaper. */
static void
test_name_oneline(void **state)
{
	static const char cn[] = "a\x1b[2J\xc2\x9b"
	                         "b\xe2\x80\xae"
	                         "c";
	X509_NAME *n = X509_NAME_new();
	char *s;

	(void)state;
	assert_true(X509_NAME_add_entry_by_txt(
	    n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0));
	s = cki_name_oneline(n);
	assert_non_null(s);
	assert_string_equal(s, "CN = a\\1B[2J\\xc2\\x9bb\\xe2\\x80\\xaec");
	free(s);
	X509_NAME_free(n);
}

/* What cki_name_oneline wrote before its fast path: OpenSSL's text of the
 * name through the escaper. */
static char *
name_reference(const X509_NAME *n)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem;
	char *out = NULL;

	assert_non_null(bio);
	if (X509_NAME_print_ex(bio, n, 0,
	        (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) |
	            ASN1_STRFLGS_UTF8_CONVERT) >= 0) {
		BIO_get_mem_ptr(bio, &mem);
		out = cki_esc_dup(mem->data, mem->length);
	}
	BIO_free(bio);
	return out;
}

/* cki_name_oneline and its fast path agree with OpenSSL's text; `plain`:
 * the fast path must take this name. */
static void
check_name(const X509_NAME *n, bool plain, const char *what)
{
	char *want = name_reference(n), *got = cki_name_oneline(n),
	     *fast = cki_name_oneline_plain(n);

	assert_non_null(want);
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: got '%s', want '%s'", what, got ? got : "(null)",
		    want);
	if (fast != NULL && strcmp(fast, want) != 0)
		fail_msg("%s: fast path '%s', want '%s'", what, fast, want);
	if (plain && fast == NULL)
		fail_msg("%s: not on the fast path", what);
	free(want);
	free(got);
	free(fast);
}

/* A name "O = Example, <field> = <value>" with the value's type given. */
static X509_NAME *
name_with(const char *field, int type, const char *v, size_t len, int set)
{
	X509_NAME *n = X509_NAME_new();

	assert_non_null(n);
	assert_true(X509_NAME_add_entry_by_txt(
	    n, "O", MBSTRING_ASC, (const unsigned char *)"Example", -1, -1, 0));
	if (!X509_NAME_add_entry_by_txt(
	        n, field, type, (const unsigned char *)v, (int)len, -1, set))
		fail_msg("cannot add %s of type %d, %zu bytes, 0x%02x", field,
		    type, len, len > 0 ? (unsigned char)v[0] : 0);
	return n;
}

/* Every byte at the start, inside, at the end and alone, in each string
 * type; multi-valued RDNs, unknown attributes, empty values and names. The
 * fast path must write OpenSSL's text or step aside, and must take the
 * names of ordinary certificates. */
static void
test_name_oneline_plain(void **state)
{
	static const int types[] = {V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING,
	    V_ASN1_IA5STRING, V_ASN1_T61STRING, V_ASN1_BMPSTRING};
	static const char *const ordinary[] = {"certkit Test Issuing CA",
	    "device.example.test", "nvr-01.site_2.example", "*.example.test",
	    "Jane O'Neil (ops) #3", "a"};
	char v[8], what[64];
	X509_NAME *n;

	(void)state;
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		for (unsigned c = 0; c < 256; c++)
			for (int at = 0; at < 4; at++) {
				const char *pat[] = {"?ab", "a?b", "ab?", "?"};
				size_t len = strlen(pat[at]);

				memcpy(v, pat[at], len);
				*(char *)memchr(v, '?', len) = (char)c;
				if (types[t] == V_ASN1_BMPSTRING) {
					if (at < 3)
						continue;
					/* Two bytes a character: U+00XX. */
					v[0] = '\0';
					v[1] = (char)c;
					len = 2;
				}
				n = name_with("CN", types[t], v, len, 0);
				snprintf(what, sizeof(what),
				    "type %d byte 0x%02x at %d", types[t], c,
				    at);
				check_name(n, false, what);
				X509_NAME_free(n);
			}
	for (size_t i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		n = name_with("CN", V_ASN1_UTF8STRING, ordinary[i],
		    strlen(ordinary[i]), 0);
		check_name(n, true, ordinary[i]);
		X509_NAME_free(n);
		n = name_with("CN", V_ASN1_PRINTABLESTRING, ordinary[i],
		    strlen(ordinary[i]), 0);
		check_name(n, strchr(ordinary[i], '#') == NULL, ordinary[i]);
		X509_NAME_free(n);
	}
	n = name_with("CN", V_ASN1_UTF8STRING, "host", 4, -1); /* O + CN */
	check_name(n, false, "multi-valued RDN");
	X509_NAME_free(n);
	n = name_with("1.2.3.4.5", V_ASN1_UTF8STRING, "x", 1, 0);
	check_name(n, false, "unknown attribute");
	X509_NAME_free(n);
	n = name_with("CN", V_ASN1_UTF8STRING, "", 0, 0);
	check_name(n, false, "empty value");
	X509_NAME_free(n);
	n = X509_NAME_new();
	check_name(n, false, "empty name");
	X509_NAME_free(n);
}

/* The one common-name getter: the first CN as UTF-8; an absent CN and an
 * empty one are both "no common name" (NULL). trust.c's getter said NULL
 * for an empty CN while ck_cert_common_name said "", so a PKCS#12 report
 * named the friendly name "" that the writer had replaced by "certkit". */
static void
test_common_name(void **state)
{
	static const struct {
		const char *cn1, *cn2; /* NULL: no such entry */
		const char *want;
	} rows[] = {
	    {"nvr-01.example.test", NULL, "nvr-01.example.test"},
	    {"first", "second", "first"},
	    {"", NULL, NULL},
	    {NULL, NULL, NULL},
	    {"caf\xc3\xa9", NULL, "caf\xc3\xa9"},
	};

	(void)state;
	/* V_ASN1_UTF8STRING, not MBSTRING_UTF8: OpenSSL's string table
	 * refuses an empty CN when it builds one, but reads one. */
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		X509 *x = X509_new();
		X509_NAME *n = X509_get_subject_name(x);
		ck_cert *c;
		char *got, *got2;

		assert_true(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
		    (const unsigned char *)"Example", -1, -1, 0));
		if (rows[i].cn1 != NULL)
			assert_true(X509_NAME_add_entry_by_txt(n, "CN",
			    V_ASN1_UTF8STRING,
			    (const unsigned char *)rows[i].cn1, -1, -1, 0));
		if (rows[i].cn2 != NULL)
			assert_true(X509_NAME_add_entry_by_txt(n, "CN",
			    V_ASN1_UTF8STRING,
			    (const unsigned char *)rows[i].cn2, -1, -1, 0));
		assert_non_null(c = cki_cert_wrap(x));
		got = ck_cert_common_name(c);
		got2 = cki_x509_common_name(x);
		if (rows[i].want == NULL) {
			if (got != NULL || got2 != NULL)
				fail_msg("row %zu: got '%s' / '%s', want NULL",
				    i, got ? got : "(null)",
				    got2 ? got2 : "(null)");
		} else {
			assert_non_null(got);
			assert_non_null(got2);
			assert_string_equal(got, rows[i].want);
			assert_string_equal(got2, rows[i].want);
		}
		free(got);
		free(got2);
		ck_cert_free(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_table),
	    cmocka_unit_test(test_escape_bounded),
	    cmocka_unit_test(test_public_escape),
	    cmocka_unit_test(test_name_oneline),
	    cmocka_unit_test(test_name_oneline_plain),
	    cmocka_unit_test(test_common_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
