/* seatgatectl status: the helper's view (seats, grants, version), logind's
 * view of each seat, and the kernel's table, side by side, so a mismatch
 * between them shows. */
#include <stdio.h>

#include "json.h"
#include "libvirt-probe.h"
#include "logind-info.h"
#include "qmp-probe.h"
#include "seatgatectl.h"
#include "sg-build-config.h"
#include "sg-config.h"
#include "sg-wire.h"
#include "table-info.h"

typedef struct
{
  char *config_path;
  gboolean config_exists;
  char *helper_owner; /* NULL: not on the bus */
  char *helper_version;
  GError *helper_error;
  GVariant *seats;           /* a(saq): the helper's, or the config's without it */
  const char *seats_from;    /* "helper", "config" or "default" */
  GVariant *grants;          /* a(suaq); empty without the helper */
  GPtrArray *sessions;       /* SgLogindSession* or NULL, one per seat */
  GPtrArray *session_errors; /* char* or NULL, one per seat */
  SgctlTableInfo *table;
  GError *table_error;
  /* VM bindings are the config's: the helper does not publish them. */
  SgConfig *config; /* NULL: the file does not load (config_error) */
  GError *config_error;
  GPtrArray *vm_probes;      /* SgctlQmpProbe* or NULL (no QMP binding), one per seat */
  GPtrArray *libvirt_probes; /* SgctlLibvirtProbe* or NULL (no libvirt binding), one per seat */
} Status;

static void
status_clear (Status *s)
{
  g_free (s->config_path);
  g_free (s->helper_owner);
  g_free (s->helper_version);
  g_clear_error (&s->helper_error);
  g_clear_pointer (&s->seats, g_variant_unref);
  g_clear_pointer (&s->grants, g_variant_unref);
  g_clear_pointer (&s->sessions, g_ptr_array_unref);
  g_clear_pointer (&s->session_errors, g_ptr_array_unref);
  g_clear_pointer (&s->table, sgctl_table_info_free);
  g_clear_error (&s->table_error);
  g_clear_pointer (&s->config, sg_config_free);
  g_clear_error (&s->config_error);
  g_clear_pointer (&s->vm_probes, g_ptr_array_unref);
  g_clear_pointer (&s->libvirt_probes, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Status, status_clear)

/* The uid granted on @seat, or -1. */
static gint64
granted_uid (GVariant *grants, const char *seat)
{
  GVariantIter iter;
  const char *name;
  guint32 uid;

  g_variant_iter_init (&iter, grants);
  while (g_variant_iter_next (&iter, "(&su@aq)", &name, &uid, NULL))
    if (g_str_equal (name, seat))
      return uid;
  return -1;
}

static const SgSeatConfig *
seat_config_named (const SgConfig *config, const char *name)
{
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = config->seats->pdata[i];
      if (g_str_equal (seat->name, name))
        return seat;
    }
  return NULL;
}

static void
gather (Status *s, const char *config_path)
{
  g_autoptr (GDBusConnection) bus = sgctl_system_bus (&s->helper_error);
  g_autoptr (SgGate1) proxy = NULL;

  s->config_path = g_strdup (config_path);
  s->config_exists = g_file_test (config_path, G_FILE_TEST_EXISTS);

  if (bus != NULL)
    proxy = sgctl_gate_proxy (bus, FALSE, &s->helper_error);
  if (proxy != NULL)
    {
      s->helper_owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));
      g_autoptr (GVariant) version = sgctl_gate_get_property (bus, "Version", NULL);
      s->seats = sgctl_gate_get_property (bus, "Seats", NULL);
      s->grants = sgctl_gate_get_property (bus, "Grants", NULL);
      if (version != NULL)
        s->helper_version = g_variant_dup_string (version, NULL);
      s->seats_from = "helper";
    }
  s->config = sg_config_load_file (config_path, &s->config_error);
  gboolean loaded = s->config != NULL;
  if (!loaded && g_error_matches (s->config_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_clear_error (&s->config_error);
      s->config = sg_config_new_default ();
    }
  if (s->seats == NULL)
    {
      g_autoptr (SgConfig) fallback = s->config == NULL ? sg_config_new_default () : NULL;
      s->seats_from = loaded ? "config" : "default";
      s->seats = g_variant_ref_sink (sg_wire_seats (s->config != NULL ? s->config : fallback));
    }
  if (s->grants == NULL)
    s->grants = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(suaq)"), NULL, 0));

  s->sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) sg_logind_session_free);
  s->session_errors = g_ptr_array_new_with_free_func (g_free);
  s->vm_probes = g_ptr_array_new_with_free_func ((GDestroyNotify) sgctl_qmp_probe_free);
  s->libvirt_probes = g_ptr_array_new_with_free_func ((GDestroyNotify) sgctl_libvirt_probe_free);
  GVariantIter iter;
  const char *seat;
  g_variant_iter_init (&iter, s->seats);
  while (g_variant_iter_next (&iter, "(&s@aq)", &seat, NULL))
    {
      g_autoptr (GError) error = NULL;
      SgLogindSession *session = NULL;
      if (bus == NULL)
        g_ptr_array_add (s->session_errors, g_strdup ("no system bus"));
      else if (!sgctl_logind_active_session (bus, seat, &session, &error))
        g_ptr_array_add (s->session_errors, g_strdup (error->message));
      else
        g_ptr_array_add (s->session_errors, NULL);
      g_ptr_array_add (s->sessions, session);
      const SgSeatConfig *seat_config
          = s->config != NULL ? seat_config_named (s->config, seat) : NULL;
      g_ptr_array_add (s->vm_probes, seat_config != NULL && seat_config->qmp_socket != NULL
                                         ? sgctl_qmp_probe (seat_config->qmp_socket, FALSE)
                                         : NULL);
      g_ptr_array_add (s->libvirt_probes,
                       seat_config != NULL && seat_config->libvirt_domain != NULL
                           ? sgctl_libvirt_probe (sg_seat_config_libvirt_uri (seat_config),
                                                  seat_config->libvirt_domain)
                           : NULL);
    }

  s->table = sgctl_table_info_read (&s->table_error);
}

static void
json_session (SgctlJson *json, const SgLogindSession *session, const char *error)
{
  if (session == NULL)
    {
      sgctl_json_null (json);
      return;
    }
  g_autofree char *user = sgctl_user_name (session->uid);
  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "id", session->id);
  sgctl_json_member_int (json, "uid", session->uid);
  sgctl_json_member_string (json, "user", user);
  sgctl_json_member_bool (json, "remote", session->remote);
  sgctl_json_member_string (json, "class", session->session_class);
  sgctl_json_member_string (json, "type", session->type);
  sgctl_json_member_string (json, "state", session->state);
  sgctl_json_member_bool (json, "active", session->active);
  sgctl_json_end_object (json);
}

/* null without a binding; the file and sockets as qmp-probe.h sees them. */
/* The domain as a read-only libvirt connection sees it. */
static void
json_libvirt_binding (SgctlJson *json, const SgctlLibvirtProbe *probe)
{
  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "libvirt_domain", probe->domain);
  sgctl_json_member_string (json, "libvirt_uri", probe->uri);
  sgctl_json_member_string (json, "state", sgctl_libvirt_state_to_string (probe->state));
  sgctl_json_member_bool (json, "running", probe->state == SGCTL_LIBVIRT_RUNNING);
  sgctl_json_member_string (json, "domain_state", probe->domain_state);
  if (probe->error != NULL)
    sgctl_json_member_string (json, "error", probe->error);
  sgctl_json_end_object (json);
}

static void
json_vm_binding (SgctlJson *json, const Status *s, const SgctlQmpProbe *probe,
                 const SgctlLibvirtProbe *libvirt)
{
  sgctl_json_key (json, "vm_binding");
  if (libvirt != NULL)
    {
      json_libvirt_binding (json, libvirt);
      return;
    }
  if (probe == NULL)
    {
      sgctl_json_null (json);
      if (s->config == NULL)
        sgctl_json_member_string (json, "vm_binding_error", s->config_error->message);
      return;
    }
  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "qmp_socket", probe->path);
  sgctl_json_member_string (json, "state", sgctl_qmp_probe_state (probe));
  sgctl_json_member_bool (json, "listening", sgctl_qmp_probe_listening (probe));
  sgctl_json_member_bool (json, "peer_connected",
                          sgctl_qmp_probe_listening (probe) && probe->sockets.connected > 0);
  sgctl_json_member_int (json, "waiting", probe->sockets.waiting);
  if (probe->file_error != NULL)
    sgctl_json_member_string (json, "error", probe->file_error);
  else if (probe->sockets_error != NULL)
    sgctl_json_member_string (json, "error", probe->sockets_error);
  sgctl_json_end_object (json);
}

static void
json_pairs (SgctlJson *json, GArray *pairs)
{
  sgctl_json_begin_array (json);
  for (guint i = 0; i < pairs->len; i++)
    {
      const SgctlUidPort *pair = &g_array_index (pairs, SgctlUidPort, i);
      sgctl_json_begin_object (json);
      sgctl_json_member_int (json, "uid", pair->uid);
      sgctl_json_member_int (json, "port", pair->port);
      sgctl_json_end_object (json);
    }
  sgctl_json_end_array (json);
}

static void
print_json (const Status *s)
{
  g_autoptr (SgctlJson) json = sgctl_json_new ();
  GVariantIter iter;
  const char *seat;
  GVariant *ports;
  guint32 uid;
  guint i = 0;

  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "version", SG_VERSION);

  sgctl_json_key (json, "config");
  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "path", s->config_path);
  sgctl_json_member_bool (json, "exists", s->config_exists);
  sgctl_json_end_object (json);

  sgctl_json_key (json, "helper");
  sgctl_json_begin_object (json);
  sgctl_json_member_bool (json, "running", s->helper_owner != NULL);
  sgctl_json_member_string (json, "bus_name", s->helper_owner);
  sgctl_json_member_string (json, "version", s->helper_version);
  if (s->helper_error != NULL)
    sgctl_json_member_string (json, "error", s->helper_error->message);
  sgctl_json_end_object (json);

  sgctl_json_member_string (json, "seats_from", s->seats_from);
  sgctl_json_key (json, "seats");
  sgctl_json_begin_array (json);
  g_variant_iter_init (&iter, s->seats);
  while (g_variant_iter_next (&iter, "(&s@aq)", &seat, &ports))
    {
      gint64 granted = granted_uid (s->grants, seat);
      sgctl_json_begin_object (json);
      sgctl_json_member_string (json, "seat", seat);
      sgctl_json_key (json, "ports");
      sgctl_json_ports (json, ports);
      sgctl_json_key (json, "active_session");
      json_session (json, s->sessions->pdata[i], s->session_errors->pdata[i]);
      if (s->session_errors->pdata[i] != NULL)
        sgctl_json_member_string (json, "logind_error", s->session_errors->pdata[i]);
      sgctl_json_key (json, "granted_uid");
      if (granted >= 0)
        sgctl_json_int (json, granted);
      else
        sgctl_json_null (json);
      json_vm_binding (json, s, s->vm_probes->pdata[i], s->libvirt_probes->pdata[i]);
      sgctl_json_end_object (json);
      g_variant_unref (ports);
      i++;
    }
  sgctl_json_end_array (json);

  sgctl_json_key (json, "grants");
  sgctl_json_begin_array (json);
  g_variant_iter_init (&iter, s->grants);
  while (g_variant_iter_next (&iter, "(&su@aq)", &seat, &uid, &ports))
    {
      g_autofree char *user = sgctl_user_name (uid);
      sgctl_json_begin_object (json);
      sgctl_json_member_string (json, "seat", seat);
      sgctl_json_member_int (json, "uid", uid);
      sgctl_json_member_string (json, "user", user);
      sgctl_json_key (json, "ports");
      sgctl_json_ports (json, ports);
      sgctl_json_end_object (json);
      g_variant_unref (ports);
    }
  sgctl_json_end_array (json);

  sgctl_json_key (json, "table");
  sgctl_json_begin_object (json);
  sgctl_json_member_bool (json, "readable", s->table != NULL);
  if (s->table == NULL)
    sgctl_json_member_string (json, "error", s->table_error->message);
  else
    {
      /* present/owned/persistent are inet seatgate's own; the sets are the
       * enforcing table's (inet seatgate_owned in the 5.12-6.8 layout). */
      const SgctlTableInfo *live = sgctl_table_info_enforcing (s->table);
      sgctl_json_member_string (json, "layout",
                                sgctl_layout_to_string (sgctl_table_info_layout (s->table)));
      sgctl_json_member_bool (json, "present", s->table->present);
      sgctl_json_member_bool (json, "owned", s->table->owned);
      sgctl_json_member_bool (json, "persistent", s->table->persistent);
      sgctl_json_key (json, "gated_ports");
      sgctl_json_port_array (json, live->gated);
      sgctl_json_key (json, "granted");
      json_pairs (json, live->granted);
      sgctl_json_key (json, "always");
      sgctl_json_uid_array (json, live->always);
      sgctl_json_key (json, "cut");
      json_pairs (json, live->cut);
    }
  sgctl_json_end_object (json);

  sgctl_json_end_object (json);
  sgctl_json_print (json);
}

static char *
pairs_string (GArray *pairs)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < pairs->len; i++)
    {
      const SgctlUidPort *pair = &g_array_index (pairs, SgctlUidPort, i);
      g_autofree char *label = sgctl_user_label (pair->uid);
      g_string_append_printf (out, "%s%s on %u", i > 0 ? ", " : "", label, pair->port);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
print_table (const SgctlTableInfo *table, const GError *error)
{
  if (table == NULL)
    {
      printf ("Table:   unknown (%s)\n", error->message);
      return;
    }
  /* In the 5.12-6.8 layout the owned table enforces and inet seatgate is
   * only the backstop: describe the layout, and show the live sets. */
  g_autofree char *what = sgctl_table_info_describe (table);
  printf ("Table:   %s\n", what);
  table = sgctl_table_info_enforcing (table);
  if (!table->present)
    return;
  g_autoptr (GArray) gated = g_array_ref (table->gated);
  g_autoptr (GString) ports = g_string_new (NULL);
  for (guint i = 0; i < gated->len; i++)
    g_string_append_printf (ports, "%s%u", i > 0 ? ", " : "", g_array_index (gated, guint16, i));
  g_autofree char *granted = pairs_string (table->granted);
  printf ("         gated ports: %s; granted: %s\n", ports->len > 0 ? ports->str : "none",
          table->granted->len > 0 ? granted : "nobody");
  if (table->cut->len > 0)
    {
      g_autofree char *cut = pairs_string (table->cut);
      printf ("         cut off: %s\n", cut);
    }
}

/* One line: the socket, whether QEMU serves it, whether a client (the
 * helper, while it runs) holds QEMU's one QMP connection. */
/* One line: the domain at its URI, running or not, or why that is not
 * known. */
static void
print_libvirt_binding (const SgctlLibvirtProbe *probe)
{
  g_autofree char *what = g_strdup_printf ("libvirt domain %s at %s", probe->domain, probe->uri);

  switch (probe->state)
    {
    case SGCTL_LIBVIRT_RUNNING:
      printf ("  VM binding:     %s: running\n", what);
      break;
    case SGCTL_LIBVIRT_NOT_RUNNING:
      printf ("  VM binding:     %s: not running (%s)\n", what, probe->domain_state);
      break;
    case SGCTL_LIBVIRT_NO_DOMAIN:
      printf ("  VM binding:     %s: no such domain (%s)\n", what, probe->error);
      break;
    case SGCTL_LIBVIRT_UNREACHABLE:
      printf ("  VM binding:     %s: libvirt unreachable (%s)\n", what, probe->error);
      break;
    case SGCTL_LIBVIRT_UNANSWERED:
      printf ("  VM binding:     %s: libvirt does not answer (%s)\n", what, probe->error);
      break;
    case SGCTL_LIBVIRT_NOT_BUILT:
    case SGCTL_LIBVIRT_FAILED:
    default:
      printf ("  VM binding:     %s: unknown (%s)\n", what, probe->error);
      break;
    }
}

static void
print_vm_binding (const Status *s, const SgctlQmpProbe *probe, const SgctlLibvirtProbe *libvirt)
{
  if (libvirt != NULL)
    print_libvirt_binding (libvirt);
  else if (probe == NULL && s->config == NULL)
    printf ("  VM binding:     unknown (%s)\n", s->config_error->message);
  else if (probe == NULL)
    printf ("  VM binding:     none (the firewall alone)\n");
  else if (probe->file == SGCTL_QMP_FILE_MISSING)
    printf ("  VM binding:     %s: missing (the VM is not running)\n", probe->path);
  else if (probe->file == SGCTL_QMP_FILE_NOT_SOCKET)
    printf ("  VM binding:     %s: not a socket (%s)\n", probe->path, probe->file_error);
  else if (probe->file == SGCTL_QMP_FILE_UNREADABLE)
    printf ("  VM binding:     %s: unknown (%s)\n", probe->path, probe->file_error);
  else if (!probe->sockets_read)
    printf ("  VM binding:     %s: unknown (%s)\n", probe->path, probe->sockets_error);
  else if (probe->sockets.listening == 0)
    printf ("  VM binding:     %s: nobody listens (a file left over)\n", probe->path);
  else
    {
      g_autofree char *waiting = probe->sockets.waiting > 0
                                     ? g_strdup_printf (", %u waiting", probe->sockets.waiting)
                                     : g_strdup ("");
      printf ("  VM binding:     %s: QEMU listening, %s%s\n", probe->path,
              probe->sockets.connected > 0 ? "a client connected" : "no client connected", waiting);
    }
}

static void
print_human (const Status *s)
{
  GVariantIter iter;
  const char *seat;
  GVariant *ports;
  guint i = 0;

  if (s->helper_owner != NULL)
    printf ("Helper:  running, version %s (%s)\n", s->helper_version ? s->helper_version : "?",
            s->helper_owner);
  else
    printf ("Helper:  NOT RUNNING: %s\n", s->helper_error ? s->helper_error->message : "?");
  printf ("Config:  %s%s\n", s->config_path,
          s->config_exists ? "" : " (missing: the helper gates seat0's port 5930)");
  print_table (s->table, s->table_error);

  g_variant_iter_init (&iter, s->seats);
  while (g_variant_iter_next (&iter, "(&s@aq)", &seat, &ports))
    {
      g_autofree char *ports_text = sgctl_ports_string (ports);
      const SgLogindSession *session = s->sessions->pdata[i];
      const char *session_error = s->session_errors->pdata[i];
      gint64 granted = granted_uid (s->grants, seat);

      printf ("Seat %s: port%s %s%s\n", seat, g_variant_n_children (ports) == 1 ? "" : "s",
              ports_text, g_str_equal (s->seats_from, "helper") ? "" : " (from the config file)");
      if (session_error != NULL)
        printf ("  active session: unknown (%s)\n", session_error);
      else if (session == NULL)
        printf ("  active session: none\n");
      else
        {
          g_autofree char *user = sgctl_user_label (session->uid);
          printf ("  active session: %s of %s, %s, %s, %s\n", session->id, user,
                  session->remote ? "remote" : "local", session->type ? session->type : "?",
                  session->state ? session->state : "?");
        }
      if (granted >= 0)
        {
          g_autofree char *user = sgctl_user_label ((guint32) granted);
          printf ("  granted to:     %s\n", user);
        }
      else
        printf ("  granted to:     nobody\n");
      print_vm_binding (s, s->vm_probes->pdata[i], s->libvirt_probes->pdata[i]);
      g_variant_unref (ports);
      i++;
    }
}

int
sgctl_cmd_status (int argc, char **argv)
{
  gboolean json = FALSE;
  g_autofree char *config_path = NULL;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the status as JSON", NULL },
          { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
            "The helper's config file (default " SG_CONFIG_FILE ")", "FILE" },
          { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "status", NULL,
      "Shows the config file, each seat's ports, its active session, who holds its\n"
      "grant and its VM binding (QMPSocket= from the config file: whether QEMU\n"
      "listens on the socket, whether a client, the helper while it runs, holds\n"
      "QEMU's one QMP connection, and how many wait behind it; read from\n"
      "/proc/net/unix, never connected to; or LibvirtDomain=: whether libvirt at\n"
      "LibvirtURI= runs the domain, asked read-only), the nftables table (root\n"
      "only), and the helper's version.",
      entries);
  g_auto (Status) status = { 0 };

  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  if (argc > 1)
    {
      g_printerr ("seatgatectl status: no arguments expected (see --help)\n");
      return SGCTL_EXIT_USAGE;
    }
  gather (&status, config_path != NULL ? config_path : SG_CONFIG_FILE);
  if (json)
    print_json (&status);
  else
    print_human (&status);
  return status.helper_owner != NULL ? SGCTL_EXIT_OK : SGCTL_EXIT_NO_HELPER;
}
