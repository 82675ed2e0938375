#include "libvirt-probe.h"

#include <gio/gio.h>
#include <stdlib.h>

#include "sg-build-config.h"

#if SG_HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif

void
sgctl_libvirt_probe_free (SgctlLibvirtProbe *probe)
{
  if (probe == NULL)
    return;
  g_free (probe->uri);
  g_free (probe->domain);
  g_free (probe->error);
  g_free (probe->domain_state);
  if (probe->listen != NULL)
    g_ptr_array_unref (probe->listen);
  g_free (probe);
}

static SgctlLibvirtProbe *
probe_new (const char *uri, const char *domain, SgctlLibvirtState state)
{
  SgctlLibvirtProbe *probe = g_new0 (SgctlLibvirtProbe, 1);

  probe->uri = g_strdup (uri);
  probe->domain = g_strdup (domain);
  probe->state = state;
  probe->port = -1;
  probe->tls_port = -1;
  probe->listen = g_ptr_array_new_with_free_func (g_free);
  return probe;
}

const char *
sgctl_libvirt_state_to_string (SgctlLibvirtState state)
{
  switch (state)
    {
    case SGCTL_LIBVIRT_NOT_BUILT:
      return "not-built";
    case SGCTL_LIBVIRT_UNREACHABLE:
      return "unreachable";
    case SGCTL_LIBVIRT_UNANSWERED:
      return "unanswered";
    case SGCTL_LIBVIRT_NO_DOMAIN:
      return "no-domain";
    case SGCTL_LIBVIRT_FAILED:
      return "failed";
    case SGCTL_LIBVIRT_NOT_RUNNING:
      return "not-running";
    case SGCTL_LIBVIRT_RUNNING:
    default:
      return "running";
    }
}

gboolean
sgctl_libvirt_address_is_loopback (const char *address)
{
  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (address);

  /* A host name may resolve to anything: not loopback. */
  return inet != NULL && g_inet_address_get_is_loopback (inet);
}

#if SG_HAVE_LIBVIRT

/* ---- the domain's XML ---- */

typedef struct
{
  SgctlLibvirtProbe *probe;
  guint depth;         /* 1: <domain>, 2: <devices>, 3: <graphics> */
  gboolean in_devices; /* depth >= 2 is <devices> */
  gboolean in_spice;   /* inside the first <graphics type='spice'> */
} XmlState;

static const char *
attribute (const char **names, const char **values, const char *name)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (g_str_equal (names[i], name))
      return values[i];
  return NULL;
}

static void
add_listen (SgctlLibvirtProbe *probe, const char *address)
{
  if (address == NULL || *address == '\0')
    return;
  for (guint i = 0; i < probe->listen->len; i++)
    if (g_str_equal (probe->listen->pdata[i], address))
      return;
  g_ptr_array_add (probe->listen, g_strdup (address));
}

static gint
port_attribute (const char *text)
{
  guint64 port = 0;

  if (text == NULL || !g_ascii_string_to_unsigned (text, 10, 0, 65535, &port, NULL))
    return -1;
  /* libvirt writes -1 for "none" and 0 for "not yet known". */
  return port > 0 ? (gint) port : -1;
}

static void
on_start (GMarkupParseContext *context, const char *element, const char **names,
          const char **values, gpointer data, GError **error)
{
  XmlState *s = data;

  s->depth++;
  if (s->depth == 2)
    s->in_devices = g_str_equal (element, "devices");
  else if (s->depth == 3 && s->in_devices && g_str_equal (element, "graphics"))
    {
      const char *type = attribute (names, values, "type");
      if (g_strcmp0 (type, "spice") != 0)
        return;
      if (s->probe->n_spice++ > 0)
        return;
      s->in_spice = TRUE;
      /* virDomainGraphicsAuthDefFormatAttr (libvirt's
       * src/conf/domain_conf.c) writes passwdValidTo= and connected= only
       * when a passwd is set, and passwd= itself only with
       * VIR_DOMAIN_XML_SECURE, which this reader never asks for; libvirt
       * 9.0 does so too (tests/libvirt/test_ctl_libvirt.py). */
      s->probe->password = attribute (names, values, "passwdValidTo") != NULL
                           || attribute (names, values, "connected") != NULL
                           || attribute (names, values, "passwd") != NULL;
      s->probe->autoport = g_strcmp0 (attribute (names, values, "autoport"), "yes") == 0;
      s->probe->port = port_attribute (attribute (names, values, "port"));
      s->probe->tls_port = port_attribute (attribute (names, values, "tlsPort"));
      add_listen (s->probe, attribute (names, values, "listen"));
    }
  else if (s->depth == 4 && s->in_spice && g_str_equal (element, "listen"))
    add_listen (s->probe, attribute (names, values, "address"));
}

static void
on_end (GMarkupParseContext *context, const char *element, gpointer data, GError **error)
{
  XmlState *s = data;

  if (s->depth == 3)
    s->in_spice = FALSE;
  else if (s->depth == 2)
    s->in_devices = FALSE;
  s->depth--;
}

static gboolean
read_xml (SgctlLibvirtProbe *probe, const char *xml, GError **error)
{
  static const GMarkupParser parser = { on_start, on_end, NULL, NULL, NULL };
  XmlState state = { .probe = probe };
  g_autoptr (GMarkupParseContext) context = g_markup_parse_context_new (&parser, 0, &state, NULL);

  return g_markup_parse_context_parse (context, xml, -1, error)
         && g_markup_parse_context_end_parse (context, error);
}

/* ---- libvirt ---- */

static void
ignore_error (void *data, virErrorPtr error)
{
}

static const char *
state_words (int state)
{
  switch (state)
    {
    case VIR_DOMAIN_RUNNING:
      return "running";
    case VIR_DOMAIN_BLOCKED:
      return "idle";
    case VIR_DOMAIN_PAUSED:
      return "paused";
    case VIR_DOMAIN_SHUTDOWN:
      return "in shutdown";
    case VIR_DOMAIN_SHUTOFF:
      return "shut off";
    case VIR_DOMAIN_CRASHED:
      return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
      return "pmsuspended";
    default:
      return "no state";
    }
}

static char *
last_error (void)
{
  const char *message = virGetLastErrorMessage ();
  return g_strdup (message != NULL ? message : "unknown libvirt error");
}

static void
ask (SgctlLibvirtProbe *probe)
{
  virConnectPtr conn = NULL;
  virDomainPtr dom = NULL;
  char *xml = NULL;
  int state = VIR_DOMAIN_NOSTATE;
  g_autoptr (GError) error = NULL;

  /* libvirt prints every failed call's error to stderr unless a handler is
   * set: the messages are ours to print. */
  virSetErrorFunc (NULL, ignore_error);
  if (virInitialize () < 0)
    {
      probe->state = SGCTL_LIBVIRT_FAILED;
      probe->error = last_error ();
      return;
    }
  conn = virConnectOpenReadOnly (probe->uri);
  if (conn == NULL)
    {
      probe->state = SGCTL_LIBVIRT_UNREACHABLE;
      probe->error = last_error ();
      return;
    }
  dom = virDomainLookupByName (conn, probe->domain);
  if (dom == NULL)
    {
      virErrorPtr last = virGetLastError ();
      probe->state = last != NULL && last->code == VIR_ERR_NO_DOMAIN ? SGCTL_LIBVIRT_NO_DOMAIN
                                                                     : SGCTL_LIBVIRT_FAILED;
      probe->error = last_error ();
      goto out;
    }
  int active = virDomainIsActive (dom);
  if (active < 0 || virDomainGetState (dom, &state, NULL, 0) < 0)
    {
      probe->state = SGCTL_LIBVIRT_FAILED;
      probe->error = last_error ();
      goto out;
    }
  probe->state = active ? SGCTL_LIBVIRT_RUNNING : SGCTL_LIBVIRT_NOT_RUNNING;
  probe->domain_state = g_strdup (state_words (state));
  /* Never VIR_DOMAIN_XML_SECURE: the password stays in libvirt. */
  xml = virDomainGetXMLDesc (dom, 0);
  if (xml == NULL)
    probe->error = last_error ();
  else if (!read_xml (probe, xml, &error))
    probe->error = g_strdup_printf ("its XML could not be read: %s", error->message);
  else
    probe->xml_read = TRUE;
out:
  free (xml);
  if (dom != NULL)
    virDomainFree (dom);
  virConnectClose (conn);
}

/* ---- bounded wait ---- */

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
  SgctlLibvirtProbe *probe; /* the worker's until done */
} Job;

static void
job_clear (Job *job)
{
  sgctl_libvirt_probe_free (job->probe);
  g_mutex_clear (&job->lock);
  g_cond_clear (&job->cond);
}

static void
job_unref (Job *job)
{
  g_atomic_rc_box_release_full (job, (GDestroyNotify) job_clear);
}

static gpointer
run_job (gpointer data)
{
  Job *job = data;

  ask (job->probe);
  g_mutex_lock (&job->lock);
  job->done = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  job_unref (job);
  return NULL;
}

SgctlLibvirtProbe *
sgctl_libvirt_probe (const char *uri, const char *domain)
{
  Job *job = g_atomic_rc_box_new0 (Job);
  SgctlLibvirtProbe *probe = NULL;
  gint64 deadline = g_get_monotonic_time () + SGCTL_LIBVIRT_TIMEOUT_S * G_TIME_SPAN_SECOND;

  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  job->probe = probe_new (uri, domain, SGCTL_LIBVIRT_FAILED);
  g_thread_unref (g_thread_new ("sgctl-libvirt", run_job, g_atomic_rc_box_acquire (job)));

  g_mutex_lock (&job->lock);
  while (!job->done)
    if (!g_cond_wait_until (&job->cond, &job->lock, deadline))
      break;
  if (job->done)
    probe = g_steal_pointer (&job->probe);
  g_mutex_unlock (&job->lock);
  /* Not answered: the worker keeps waiting on libvirt and frees its own
   * result if it ever gets one; the command goes on without it. */
  if (probe == NULL)
    {
      probe = probe_new (uri, domain, SGCTL_LIBVIRT_UNANSWERED);
      probe->error
          = g_strdup_printf ("libvirt did not answer within %d seconds", SGCTL_LIBVIRT_TIMEOUT_S);
    }
  job_unref (job);
  return probe;
}

#else /* !SG_HAVE_LIBVIRT */

SgctlLibvirtProbe *
sgctl_libvirt_probe (const char *uri, const char *domain)
{
  SgctlLibvirtProbe *probe = probe_new (uri, domain, SGCTL_LIBVIRT_NOT_BUILT);

  probe->error = g_strdup ("this seatgatectl was built without libvirt");
  return probe;
}

#endif
