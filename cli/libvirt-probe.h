/* A seat's VM binding through libvirt (LibvirtDomain=, LibvirtURI=) as a
 * read-only libvirt connection shows it, for status and doctor. Never
 * changes the domain and never sees its password: the connection is opened
 * with virConnectOpenReadOnly and the XML read without
 * VIR_DOMAIN_XML_SECURE (which a read-only connection is refused anyway). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How long status and doctor wait for libvirt: a daemon that is stopped
 * (SIGSTOP, stuck) accepts the connection and never answers. */
#define SGCTL_LIBVIRT_TIMEOUT_S 5

typedef enum
{
  SGCTL_LIBVIRT_NOT_BUILT,   /* this seatgatectl was built without libvirt */
  SGCTL_LIBVIRT_UNREACHABLE, /* no connection to the URI: error says why */
  SGCTL_LIBVIRT_UNANSWERED,  /* libvirt did not answer in SGCTL_LIBVIRT_TIMEOUT_S */
  SGCTL_LIBVIRT_NO_DOMAIN,   /* libvirt at the URI knows no such domain */
  SGCTL_LIBVIRT_FAILED,      /* another libvirt error: error says which */
  SGCTL_LIBVIRT_NOT_RUNNING, /* defined, not running: domain_state says how */
  SGCTL_LIBVIRT_RUNNING,     /* running (or paused: QEMU serves SPICE) */
} SgctlLibvirtState;

typedef struct
{
  char *uri;
  char *domain;
  SgctlLibvirtState state;
  char *error;        /* libvirt's message (UNREACHABLE, FAILED, xml_error) */
  char *domain_state; /* "running", "shut off", "paused", … (NOT_RUNNING, RUNNING) */

  /* The domain's XML, the live one while it runs, else its definition.
   * Only when state is NOT_RUNNING or RUNNING. */
  gboolean xml_read;
  guint n_spice; /* <graphics type='spice'> elements */
  /* Of the first one: */
  gboolean password; /* passwdValidTo= or connected= shown: a passwd is set */
  gboolean autoport; /* autoport='yes' */
  gint port;         /* port=, or -1 */
  gint tls_port;     /* tlsPort=, or -1 */
  GPtrArray *listen; /* char*: listen= and every <listen address=…>, once each */
} SgctlLibvirtProbe;

void sgctl_libvirt_probe_free (SgctlLibvirtProbe *probe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlLibvirtProbe, sgctl_libvirt_probe_free)

/* Asks libvirt at @uri about @domain, waiting SGCTL_LIBVIRT_TIMEOUT_S at
 * most. */
SgctlLibvirtProbe *sgctl_libvirt_probe (const char *uri, const char *domain);

/* One word for status --json: "not-built", "unreachable", "unanswered",
 * "no-domain", "failed", "not-running", "running". */
const char *sgctl_libvirt_state_to_string (SgctlLibvirtState state);

/* @address (a listen address) is a loopback IP address: 127.0.0.0/8, ::1. */
gboolean sgctl_libvirt_address_is_loopback (const char *address);

G_END_DECLS
