#define G_LOG_DOMAIN "MsTlsPolicy"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-error.h"
#include "ms-tls-policy.h"

struct _MsTlsPolicy {
	GObject parent_instance;
	MsAccount *account;
	GTlsDatabase *database; /* from ca-file, NULL for the system CAs */
	gboolean loaded;
};

G_DEFINE_TYPE(MsTlsPolicy, ms_tls_policy, G_TYPE_OBJECT)

/* what accept-certificate refused, kept on the connection so that the error of the failed
 * handshake can say why and show the fingerprint to pin */
#define MS_TLS_POLICY_REJECTED_CERT   "ms-tls-policy-rejected-cert"
#define MS_TLS_POLICY_REJECTED_ERRORS "ms-tls-policy-rejected-errors"
#define MS_TLS_POLICY_PIN_MISMATCH    "ms-tls-policy-pin-mismatch"

static gchar *
ms_tls_policy_server_name(MsTlsPolicy *self)
{
	return g_strdup_printf("%s:%u",
			       ms_account_get_host(self->account),
			       ms_account_get_port(self->account));
}

gchar *
ms_tls_policy_certificate_sha256(GTlsCertificate *cert)
{
	g_autoptr(GByteArray) der = NULL;

	g_return_val_if_fail(G_IS_TLS_CERTIFICATE(cert), NULL);

	g_object_get(cert, "certificate", &der, NULL);
	if (der == NULL)
		return NULL;
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, der->data, der->len);
}

static gboolean
ms_tls_policy_matches_pin(MsTlsPolicy *self, GTlsCertificate *cert)
{
	const gchar *pin = ms_account_get_tls_fingerprint(self->account);
	g_autofree gchar *sha256 = NULL;

	if (cert == NULL)
		return FALSE;
	sha256 = ms_tls_policy_certificate_sha256(cert);
	return sha256 != NULL && g_ascii_strcasecmp(sha256, pin) == 0;
}

static gchar *
ms_tls_policy_flags_to_string(GTlsCertificateFlags errors)
{
	const struct {
		GTlsCertificateFlags flag;
		const gchar *name;
	} names[] = {
	    {G_TLS_CERTIFICATE_UNKNOWN_CA, "unknown-ca"},
	    {G_TLS_CERTIFICATE_BAD_IDENTITY, "bad-identity"},
	    {G_TLS_CERTIFICATE_NOT_ACTIVATED, "not-activated"},
	    {G_TLS_CERTIFICATE_EXPIRED, "expired"},
	    {G_TLS_CERTIFICATE_REVOKED, "revoked"},
	    {G_TLS_CERTIFICATE_INSECURE, "insecure"},
	    {G_TLS_CERTIFICATE_GENERIC_ERROR, "generic-error"},
	};
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if ((errors & names[i].flag) == 0)
			continue;
		if (str->len > 0)
			g_string_append_c(str, ',');
		g_string_append(str, names[i].name);
	}
	if (str->len == 0)
		g_string_append(str, "none");
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static gboolean
ms_tls_policy_accept_certificate_cb(GTlsConnection *conn,
				    GTlsCertificate *cert,
				    GTlsCertificateFlags errors,
				    gpointer user_data)
{
	MsTlsPolicy *self = MS_TLS_POLICY(user_data);
	g_autofree gchar *flags = ms_tls_policy_flags_to_string(errors);
	g_autofree gchar *server = ms_tls_policy_server_name(self);

	/* a pin names the one certificate to trust, whatever its issuer, names or dates say,
	 * and nothing else: the database was unset so that every certificate comes here */
	if (ms_account_get_tls_fingerprint(self->account) != NULL) {
		if (ms_tls_policy_matches_pin(self, cert)) {
			g_debug("certificate of %s matches tls-fingerprint (errors: %s)",
				server,
				flags);
			return TRUE;
		}
		g_object_set_data(G_OBJECT(conn), MS_TLS_POLICY_PIN_MISMATCH, GINT_TO_POINTER(1));
	} else if (!ms_account_get_tls_verify(self->account)) {
		g_warning("accepting the certificate of %s despite its errors (%s) because "
			  "account '%s' sets tls-verify=false: anyone on the network path can "
			  "read and change this connection",
			  server,
			  flags,
			  ms_account_get_name(self->account));
		return TRUE;
	}
	g_object_set_data_full(G_OBJECT(conn),
			       MS_TLS_POLICY_REJECTED_CERT,
			       g_object_ref(cert),
			       g_object_unref);
	g_object_set_data(G_OBJECT(conn), MS_TLS_POLICY_REJECTED_ERRORS, GUINT_TO_POINTER(errors));
	g_debug("refusing the certificate of %s (errors: %s)", server, flags);
	return FALSE;
}

void
ms_tls_policy_apply(MsTlsPolicy *self, GTlsClientConnection *conn)
{
	g_autoptr(GSocketConnectable) identity = NULL;

	g_return_if_fail(MS_IS_TLS_POLICY(self));
	g_return_if_fail(G_IS_TLS_CLIENT_CONNECTION(conn));

	/* glib-networking resumes TLS sessions per server, across connections: a session that
	 * one account's pin or tls-verify=false accepted could then be resumed by another
	 * account without a certificate check. Newer glib-networking can turn resumption off
	 * (the property is glib-networking's, not GIO's); 2.74 cannot, so
	 * ms_tls_policy_check_peer() checks the certificate again after every handshake. */
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(conn), "session-resumption-enabled") !=
	    NULL)
		g_object_set(conn, "session-resumption-enabled", FALSE, NULL);

	/* without a database every certificate gets UNKNOWN_CA, so a pinned one always goes
	 * through accept-certificate, even when a trusted CA signed it */
	if (ms_account_get_tls_fingerprint(self->account) != NULL)
		g_tls_connection_set_database(G_TLS_CONNECTION(conn), NULL);
	else if (self->database != NULL)
		g_tls_connection_set_database(G_TLS_CONNECTION(conn), self->database);

	identity = g_network_address_new(ms_account_get_host(self->account),
					 ms_account_get_port(self->account));
	g_tls_client_connection_set_server_identity(conn, identity);

	/* many SMTP servers drop TCP after 221 without a TLS close_notify */
	g_tls_connection_set_require_close_notify(G_TLS_CONNECTION(conn), FALSE);

	g_signal_connect_object(conn,
				"accept-certificate",
				G_CALLBACK(ms_tls_policy_accept_certificate_cb),
				self,
				0);
}

GIOStream *
ms_tls_policy_new_connection(MsTlsPolicy *self, GIOStream *base, GError **error)
{
	g_autoptr(GSocketConnectable) identity = NULL;
	GTlsBackend *backend = g_tls_backend_get_default();
	GObject *conn;

	g_return_val_if_fail(MS_IS_TLS_POLICY(self), NULL);
	g_return_val_if_fail(G_IS_IO_STREAM(base), NULL);

	identity = g_network_address_new(ms_account_get_host(self->account),
					 ms_account_get_port(self->account));
	/* the database is given at construction: glib-networking builds a connection's trust
	 * list when it is initialised, from the system CAs unless it has a database already,
	 * so setting it only afterwards parsed the whole system bundle for every connection
	 * (and kept it in memory while the connection lived) */
	if (ms_account_get_tls_fingerprint(self->account) != NULL || self->database != NULL) {
		GTlsDatabase *database =
		    ms_account_get_tls_fingerprint(self->account) != NULL ? NULL : self->database;
		conn = g_initable_new(g_tls_backend_get_client_connection_type(backend),
				      NULL,
				      error,
				      "base-io-stream",
				      base,
				      "server-identity",
				      identity,
				      "database",
				      database,
				      NULL);
	} else {
		conn = G_OBJECT(g_tls_client_connection_new(base, identity, error));
	}
	if (conn == NULL)
		return NULL;
	ms_tls_policy_apply(self, G_TLS_CLIENT_CONNECTION(conn));
	return G_IO_STREAM(conn);
}

static gchar *
ms_tls_policy_certificate_names(GTlsCertificate *cert)
{
	g_autoptr(GPtrArray) dns_names = NULL;
	g_autoptr(GPtrArray) ip_addresses = NULL;
	g_autoptr(GString) str = g_string_new(NULL);

	g_object_get(cert, "dns-names", &dns_names, "ip-addresses", &ip_addresses, NULL);
	for (guint i = 0; dns_names != NULL && i < dns_names->len; i++) {
		GBytes *name = g_ptr_array_index(dns_names, i);
		gsize len = 0;
		const gchar *data = g_bytes_get_data(name, &len);

		if (str->len > 0)
			g_string_append(str, ", ");
		g_string_append_len(str, data, len);
	}
	for (guint i = 0; ip_addresses != NULL && i < ip_addresses->len; i++) {
		g_autofree gchar *ip = g_inet_address_to_string(g_ptr_array_index(ip_addresses, i));

		if (str->len > 0)
			g_string_append(str, ", ");
		g_string_append(str, ip);
	}
	if (str->len == 0)
		return NULL;
	/* the names come from the peer: keep the message printable */
	for (gsize i = 0; i < str->len; i++) {
		if (!g_ascii_isprint(str->str[i]))
			str->str[i] = '?';
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static gchar *
ms_tls_policy_certificate_date(GTlsCertificate *cert, const gchar *property)
{
	g_autoptr(GDateTime) date = NULL;

	g_object_get(cert, property, &date, NULL);
	if (date == NULL)
		return g_strdup("?");
	return g_date_time_format(date, "%Y-%m-%d");
}

static GError *
ms_tls_policy_certificate_error(MsTlsPolicy *self,
				GTlsCertificate *cert,
				GTlsCertificateFlags errors,
				gboolean pin_mismatch)
{
	const gchar *host = ms_account_get_host(self->account);
	g_autofree gchar *server = ms_tls_policy_server_name(self);
	g_autofree gchar *sha256 = NULL;
	g_autoptr(GPtrArray) reasons = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *reason = NULL;

	if (cert != NULL)
		sha256 = ms_tls_policy_certificate_sha256(cert);
	if (sha256 == NULL)
		sha256 = g_strdup("unknown");

	if (pin_mismatch) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TLS,
				   _("the certificate of %s has the SHA-256 fingerprint %s, which "
				     "does not match tls-fingerprint=%s: if the server's "
				     "certificate was renewed, check the new one and update "
				     "tls-fingerprint"),
				   server,
				   sha256,
				   ms_account_get_tls_fingerprint(self->account));
	}

	if (errors & G_TLS_CERTIFICATE_BAD_IDENTITY) {
		g_autofree gchar *names =
		    cert != NULL ? ms_tls_policy_certificate_names(cert) : NULL;

		if (names != NULL) {
			g_ptr_array_add(reasons,
					g_strdup_printf(_("the certificate of %s is for another "
							  "host name (%s): check host="),
							host,
							names));
		} else {
			g_ptr_array_add(reasons,
					g_strdup_printf(_("the certificate of %s is for another "
							  "host name: check host="),
							host));
		}
	}
	if (errors & G_TLS_CERTIFICATE_EXPIRED) {
		g_autofree gchar *date =
		    cert != NULL ? ms_tls_policy_certificate_date(cert, "not-valid-after")
				 : g_strdup("?");
		g_ptr_array_add(reasons,
				g_strdup_printf(_("the certificate of %s expired on %s: the "
						  "server's administrator must renew it"),
						host,
						date));
	}
	if (errors & G_TLS_CERTIFICATE_NOT_ACTIVATED) {
		g_autofree gchar *date =
		    cert != NULL ? ms_tls_policy_certificate_date(cert, "not-valid-before")
				 : g_strdup("?");
		g_ptr_array_add(reasons,
				g_strdup_printf(_("the certificate of %s is not valid before %s: "
						  "check this computer's clock"),
						host,
						date));
	}
	if (errors & G_TLS_CERTIFICATE_REVOKED) {
		g_ptr_array_add(reasons,
				g_strdup_printf(_("the certificate of %s has been revoked"), host));
	}
	if (errors & G_TLS_CERTIFICATE_INSECURE) {
		g_ptr_array_add(reasons,
				g_strdup_printf(_("the certificate of %s uses an insecure "
						  "algorithm"),
						host));
	}
	if (errors & G_TLS_CERTIFICATE_UNKNOWN_CA) {
		const gchar *ca_file = ms_account_get_ca_file(self->account);

		if (ca_file != NULL) {
			g_ptr_array_add(reasons,
					g_strdup_printf(_("the certificate of %s is not signed by "
							  "the CA in ca-file=%s: fix ca-file=, or "
							  "pin this certificate with "
							  "tls-fingerprint=%s"),
							host,
							ca_file,
							sha256));
		} else {
			g_ptr_array_add(
			    reasons,
			    g_strdup_printf(_("the certificate of %s is not signed by a "
					      "trusted CA: set ca-file= to the CA that "
					      "signed it, or pin this certificate with "
					      "tls-fingerprint=%s"),
					    host,
					    sha256));
		}
	}
	if (reasons->len == 0) {
		g_ptr_array_add(reasons,
				g_strdup_printf(_("the certificate of %s is not acceptable "
						  "(SHA-256 fingerprint %s)"),
						host,
						sha256));
	}
	g_ptr_array_add(reasons, NULL);
	reason = g_strjoinv("; ", (gchar **)reasons->pdata);
	return g_error_new(MS_ERROR,
			   MS_ERROR_TLS,
			   _("TLS handshake with %s failed: %s"),
			   server,
			   reason);
}

gboolean
ms_tls_policy_check_peer(MsTlsPolicy *self, GTlsConnection *conn, GError **error)
{
	GTlsCertificate *cert;
	GTlsDatabase *database;
	GTlsCertificateFlags errors;
	g_autoptr(GSocketConnectable) identity = NULL;
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(MS_IS_TLS_POLICY(self), FALSE);
	g_return_val_if_fail(G_IS_TLS_CONNECTION(conn), FALSE);

	/* accept-certificate decides during a full handshake, but glib-networking also resumes
	 * sessions that another account's pin or tls-verify=false accepted, and then nothing
	 * is checked: so the certificate is checked here again, with this account's rules,
	 * after every handshake */
	cert = g_tls_connection_get_peer_certificate(conn);
	if (ms_account_get_tls_fingerprint(self->account) != NULL) {
		if (ms_tls_policy_matches_pin(self, cert))
			return TRUE;
		g_propagate_error(error, ms_tls_policy_certificate_error(self, cert, 0, TRUE));
		return FALSE;
	}
	if (!ms_account_get_tls_verify(self->account))
		return TRUE;
	if (cert == NULL) {
		g_propagate_error(error,
				  ms_tls_policy_certificate_error(self,
								  NULL,
								  G_TLS_CERTIFICATE_GENERIC_ERROR,
								  FALSE));
		return FALSE;
	}
	database = self->database != NULL
		       ? self->database
		       : g_tls_backend_get_default_database(g_tls_backend_get_default());
	identity = g_network_address_new(ms_account_get_host(self->account),
					 ms_account_get_port(self->account));
	errors = g_tls_database_verify_chain(database,
					     cert,
					     G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
					     identity,
					     NULL,
					     G_TLS_DATABASE_VERIFY_NONE,
					     NULL,
					     &error_local);
	if (self->database == NULL)
		g_object_unref(database);
	if (error_local != NULL)
		errors |= G_TLS_CERTIFICATE_GENERIC_ERROR;
	if (errors != 0) {
		g_propagate_error(error,
				  ms_tls_policy_certificate_error(self, cert, errors, FALSE));
		return FALSE;
	}
	return TRUE;
}

/* GLib's messages end in a period, which reads badly before our advice */
static gchar *
ms_tls_policy_error_text(const GError *error)
{
	gchar *text = g_strdup(error->message);
	gsize len = strlen(text);

	while (len > 0 && (text[len - 1] == '.' || g_ascii_isspace(text[len - 1])))
		text[--len] = '\0';
	return text;
}

GError *
ms_tls_policy_convert_error(MsTlsPolicy *self, GTlsConnection *conn, const GError *error)
{
	g_autofree gchar *server = NULL;
	g_autofree gchar *text = NULL;

	g_return_val_if_fail(MS_IS_TLS_POLICY(self), NULL);
	g_return_val_if_fail(error != NULL, NULL);

	if (error->domain != G_TLS_ERROR)
		return g_error_copy(error);

	server = ms_tls_policy_server_name(self);
	text = ms_tls_policy_error_text(error);
	if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)) {
		GTlsCertificate *cert = NULL;
		GTlsCertificateFlags errors = 0;
		gboolean pin_mismatch = FALSE;

		if (conn != NULL) {
			cert = g_object_get_data(G_OBJECT(conn), MS_TLS_POLICY_REJECTED_CERT);
			errors = GPOINTER_TO_UINT(
			    g_object_get_data(G_OBJECT(conn), MS_TLS_POLICY_REJECTED_ERRORS));
			pin_mismatch =
			    g_object_get_data(G_OBJECT(conn), MS_TLS_POLICY_PIN_MISMATCH) != NULL;
			if (cert == NULL)
				cert = g_tls_connection_get_peer_certificate(conn);
			if (errors == 0)
				errors = g_tls_connection_get_peer_certificate_errors(conn);
		}
		return ms_tls_policy_certificate_error(self, cert, errors, pin_mismatch);
	}
	if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_UNAVAILABLE)) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TLS,
				   _("TLS is not available: install glib-networking (%s)"),
				   text);
	}
	if (ms_account_get_security(self->account) == MS_SECURITY_TLS &&
	    (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_NOT_TLS) ||
	     g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_MISC))) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TLS,
				   _("TLS handshake with %s failed: %s: the server may not speak "
				     "TLS on connect: try security=starttls"),
				   server,
				   text);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_TLS,
			   _("TLS handshake with %s failed: %s"),
			   server,
			   text);
}

gboolean
ms_tls_policy_check_starttls(MsTlsPolicy *self,
			     gboolean offered,
			     gboolean *use_starttls,
			     GError **error)
{
	g_autofree gchar *server = NULL;

	g_return_val_if_fail(MS_IS_TLS_POLICY(self), FALSE);
	g_return_val_if_fail(use_starttls != NULL, FALSE);

	*use_starttls = FALSE;
	switch (ms_account_get_security(self->account)) {
	case MS_SECURITY_STARTTLS:
		if (!offered) {
			server = ms_tls_policy_server_name(self);
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_TLS_REQUIRED,
				    _("the server %s does not offer STARTTLS; set security=tls if "
				      "it expects TLS on connect, or security=none to send in "
				      "clear"),
				    server);
			return FALSE;
		}
		*use_starttls = TRUE;
		return TRUE;
	case MS_SECURITY_STARTTLS_OPPORTUNISTIC:
		*use_starttls = offered;
		return TRUE;
	case MS_SECURITY_TLS:
	case MS_SECURITY_NONE:
	case MS_SECURITY_AUTO:
	default:
		return TRUE;
	}
}

gboolean
ms_tls_policy_check_auth(MsTlsPolicy *self, gboolean is_tls, GError **error)
{
	g_autofree gchar *server = NULL;

	g_return_val_if_fail(MS_IS_TLS_POLICY(self), FALSE);

	if (is_tls || ms_account_get_allow_plaintext_auth(self->account))
		return TRUE;
	server = ms_tls_policy_server_name(self);
	if (ms_account_get_security(self->account) == MS_SECURITY_STARTTLS_OPPORTUNISTIC) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_TLS_REQUIRED,
			    _("refusing to send the password without TLS: %s does not offer "
			      "STARTTLS; set security=tls if it expects TLS on connect"),
			    server);
		return FALSE;
	}
	g_set_error(error,
		    MS_ERROR,
		    MS_ERROR_TLS_REQUIRED,
		    _("refusing to send the password without TLS to %s: set security=starttls "
		      "or security=tls (allow-plaintext-auth=true permits it, for test "
		      "servers only)"),
		    server);
	return FALSE;
}

gboolean
ms_tls_policy_load(MsTlsPolicy *self, GError **error)
{
	const gchar *ca_file;
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(MS_IS_TLS_POLICY(self), FALSE);

	if (self->loaded)
		return TRUE;
	ca_file = ms_account_get_ca_file(self->account);
	if (ca_file != NULL) {
		/* a relative path yields a database that silently trusts nothing */
		path = g_canonicalize_filename(ca_file, NULL);
		self->database = g_tls_file_database_new(path, &error_local);
		if (self->database == NULL) {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_TLS,
				    _("cannot load ca-file=%s of account '%s': %s"),
				    path,
				    ms_account_get_name(self->account),
				    error_local->message);
			return FALSE;
		}
	}
	self->loaded = TRUE;
	return TRUE;
}

MsAccount *
ms_tls_policy_get_account(MsTlsPolicy *self)
{
	g_return_val_if_fail(MS_IS_TLS_POLICY(self), NULL);
	return self->account;
}

MsSecurity
ms_tls_policy_get_security(MsTlsPolicy *self)
{
	g_return_val_if_fail(MS_IS_TLS_POLICY(self), MS_SECURITY_STARTTLS);
	return ms_account_get_security(self->account);
}

GTlsDatabase *
ms_tls_policy_get_database(MsTlsPolicy *self)
{
	g_return_val_if_fail(MS_IS_TLS_POLICY(self), NULL);
	return self->database;
}

static void
ms_tls_policy_dispose(GObject *object)
{
	MsTlsPolicy *self = MS_TLS_POLICY(object);

	g_clear_object(&self->database);
	g_clear_object(&self->account);
	G_OBJECT_CLASS(ms_tls_policy_parent_class)->dispose(object);
}

static void
ms_tls_policy_class_init(MsTlsPolicyClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_tls_policy_dispose;
}

static void
ms_tls_policy_init(MsTlsPolicy *self)
{
}

MsTlsPolicy *
ms_tls_policy_new(MsAccount *account)
{
	MsTlsPolicy *self;

	g_return_val_if_fail(MS_IS_ACCOUNT(account), NULL);

	self = g_object_new(MS_TYPE_TLS_POLICY, NULL);
	self->account = g_object_ref(account);
	return self;
}
