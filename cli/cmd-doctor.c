/* seatgatectl doctor: looks at every part seatgate depends on and reports
 * each thing that is wrong with how to fix it. Reads only. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "kernel-probe.h"
#include "libvirt-probe.h"
#include "logind-info.h"
#include "proc-net.h"
#include "qmp-probe.h"
#include "seatgatectl.h"
#include "sg-arrays.h"
#include "sg-build-config.h"
#include "sg-config.h"
#include "sg-error.h"
#include "sg-ports.h"
#include "table-info.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
/* PolkitImplicitAuthorization: 0 no, 1-4 authentication of some kind, 5 yes */
#define IMPLICIT_AUTHORIZED 5

/* The ports VM consoles use by convention (SPICE and VNC: 5900 + display). */
#define CONSOLE_PORT_FIRST 5900
#define CONSOLE_PORT_LAST 5999

typedef enum
{
  SEVERITY_PROBLEM,
  SEVERITY_WARNING,
} Severity;

typedef struct
{
  char *id;
  Severity severity;
  char *message;
  char *fix;
} Finding;

static void
finding_free (Finding *f)
{
  g_free (f->id);
  g_free (f->message);
  g_free (f->fix);
  g_free (f);
}

typedef struct
{
  GPtrArray *findings;
  GDBusConnection *bus; /* NULL if the system bus cannot be reached */
  char *config_path;
  SgConfig *config; /* the file's, or the default */
  GArray *ports;    /* guint16: every gated port, ascending */
  GPtrArray *seats; /* char*: every configured seat */
  gboolean helper_running;
} Doctor;

G_GNUC_PRINTF (5, 6)
static void
add (Doctor *d, Severity severity, const char *id, const char *fix, const char *format, ...)
{
  Finding *f = g_new0 (Finding, 1);
  va_list args;

  va_start (args, format);
  f->message = g_strdup_vprintf (format, args);
  va_end (args);
  f->id = g_strdup (id);
  f->severity = severity;
  f->fix = g_strdup (fix);
  g_ptr_array_add (d->findings, f);
}

/* ---- config ---- */

static void
check_config (Doctor *d)
{
  g_autoptr (GError) error = NULL;

  d->config = sg_config_load_file (d->config_path, &error);
  if (d->config == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    add (d, SEVERITY_WARNING, "config-missing",
         "Install it (seatgate ships one), or keep the default on purpose.",
         "%s does not exist: seatgate-helper gates seat0's port 5930 only.", d->config_path);
  else if (d->config == NULL)
    {
      g_autofree char *fix = g_strdup_printf (
          "Correct the line it names, check it with \"seatgatectl check-config %s\", then "
          "\"systemctl restart seatgate\".",
          d->config_path);
      add (d, SEVERITY_PROBLEM, "config-invalid", fix,
           "The config is broken, so seatgate-helper will not start: %s", error->message);
    }
  if (d->config == NULL)
    d->config = sg_config_new_default ();
}

/* Seats and ports: the running helper's, else the config's. */
static void
collect_seats (Doctor *d, GVariant *helper_seats)
{
  d->seats = g_ptr_array_new_with_free_func (g_free);
  if (helper_seats == NULL)
    {
      d->ports = sg_config_all_ports (d->config);
      for (guint i = 0; i < d->config->seats->len; i++)
        g_ptr_array_add (d->seats, g_strdup (((SgSeatConfig *) d->config->seats->pdata[i])->name));
      return;
    }
  GVariantIter iter;
  const char *seat;
  GVariant *ports;
  d->ports = g_array_new (FALSE, FALSE, sizeof (guint16));
  g_variant_iter_init (&iter, helper_seats);
  while (g_variant_iter_next (&iter, "(&s@aq)", &seat, &ports))
    {
      gsize n = 0;
      const guint16 *p = g_variant_get_fixed_array (ports, &n, sizeof (guint16));
      g_array_append_vals (d->ports, p, (guint) n);
      g_ptr_array_add (d->seats, g_strdup (seat));
      g_variant_unref (ports);
    }
}

/* ---- helper ---- */

static void
check_helper (Doctor *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgGate1) proxy = NULL;
  g_autoptr (GVariant) seats = NULL;

  d->bus = sgctl_system_bus (&error);
  if (d->bus == NULL)
    {
      add (d, SEVERITY_PROBLEM, "system-bus-unreachable",
           "Start D-Bus (systemctl status dbus); seatgate needs the system bus.", "%s",
           error->message);
      collect_seats (d, NULL);
      return;
    }
  proxy = sgctl_gate_proxy (d->bus, FALSE, &error);
  if (proxy == NULL)
    {
      g_autoptr (GArray) pids = sgctl_processes_named ("seatgate-helper");
      if (pids->len > 0)
        add (d, SEVERITY_PROBLEM, "helper-not-on-bus",
             "Check that io.github.seatgate.Gate1.conf is installed in the D-Bus system policy "
             "directory (/usr/share/dbus-1/system.d) and that D-Bus reloaded it; \"journalctl -u "
             "seatgate -b\" shows the helper's own messages.",
             "seatgate-helper runs (pid %d) but does not own %s on the system bus: nobody can "
             "be granted.",
             g_array_index (pids, int, 0), SGCTL_BUS_NAME);
      else
        add (d, SEVERITY_PROBLEM, "helper-not-running",
             "systemctl enable --now seatgate; \"journalctl -u seatgate -b\" tells why it stopped.",
             "seatgate-helper is not running: nobody can be granted the VM console.");
      collect_seats (d, NULL);
      return;
    }
  d->helper_running = TRUE;
  g_autoptr (GVariant) version = sgctl_gate_get_property (d->bus, "Version", NULL);
  if (version != NULL && !g_str_equal (g_variant_get_string (version, NULL), SG_VERSION))
    add (d, SEVERITY_WARNING, "version-mismatch",
         "Restart seatgate after an upgrade: systemctl restart seatgate.",
         "seatgate-helper is version %s, seatgatectl is %s.", g_variant_get_string (version, NULL),
         SG_VERSION);
  seats = sgctl_gate_get_property (d->bus, "Seats", NULL);
  collect_seats (d, seats);
}

/* ---- table and kernel ---- */

/* What is true of each layout (helper/nft-gate.h): while the helper runs,
 * an owned table (Linux >= 5.12: the persistent one, or seatgate_owned in
 * front of the plain backstop) cannot be changed by anyone else, so nothing
 * opens the ports; a plain table alone can be, until the helper restores it.
 * Once the helper is gone, what is left (the orphaned persistent table or
 * the backstop) still refuses everyone without a grant, but nobody guards
 * it: the kernel drops the owner flag of an orphan, so `nft flush ruleset`
 * removes either. */

static void
check_gated_ports (Doctor *d, const SgctlTableInfo *table, const char *name)
{
  for (guint i = 0; i < d->ports->len; i++)
    {
      guint16 port = g_array_index (d->ports, guint16, i);
      if (!sg_ports_contains (sg_array_ports (table->gated), table->gated->len, port))
        add (d, SEVERITY_PROBLEM, "port-not-in-table",
             "systemctl restart seatgate (the helper rebuilds the table from its config).",
             "Port %u is configured but not gated by the table inet %s.", port, name);
    }
}

static char *
pairs_text (GArray *pairs)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < pairs->len; i++)
    {
      const SgctlUidPort *pair = &g_array_index (pairs, SgctlUidPort, i);
      g_string_append_printf (out, "%suid %u on %u", i > 0 ? ", " : "", pair->uid, pair->port);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The helper is not running: say what the table left behind does. */
static void
check_unguarded_table (Doctor *d, const SgctlTableInfo *table)
{
  if (table->granted->len > 0)
    {
      g_autofree char *pairs = pairs_text (table->granted);
      add (d, SEVERITY_PROBLEM, "stale-grants",
           "systemctl start seatgate (its start replaces the table with a deny-only one), or "
           "seatgate-helper --reset.",
           "seatgate-helper is not running, yet the table inet %s it left still lets in: %s "
           "(it ended without revoking, e.g. killed).",
           SG_TABLE, pairs);
    }
  add (d, SEVERITY_WARNING, "table-unguarded",
       "systemctl start seatgate. Until it runs, do not flush or reload the firewall.",
       "seatgate-helper is not running. The table inet %s it left keeps the ports closed to "
       "every uid without a grant, but nobody guards it now: \"nft flush ruleset\" or a "
       "firewall reload would remove it and open the ports until the helper starts again.",
       SG_TABLE);
}

static void
check_table (Doctor *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgctlTableInfo) table = sgctl_table_info_read (&error);

  if (table == NULL)
    {
      add (d, SEVERITY_WARNING, "table-unreadable", "Run seatgatectl doctor as root.",
           "The nftables table could not be checked: %s.", error->message);
      return;
    }
  SgctlLayout layout = sgctl_table_info_layout (table);
  if (layout == SGCTL_LAYOUT_MISSING)
    {
      add (d, SEVERITY_PROBLEM, "table-missing",
           "systemctl restart seatgate: the helper builds the table before it takes its bus "
           "name. If it goes missing again, something replaces the whole ruleset (\"nft flush "
           "ruleset\", a firewall manager) while the helper is stopped, or the helper keeps a "
           "plain table (Linux < 5.12, or TableMode=plain); while it runs on Linux >= 5.12, its "
           "own table survives that.",
           "The nftables table inet %s is missing: every local user can reach the VM console "
           "ports.",
           SG_TABLE);
      return;
    }

  check_gated_ports (d, sgctl_table_info_enforcing (table),
                     sgctl_table_info_enforcing (table) == table ? SG_TABLE : SG_TABLE_OWNED);
  if (layout == SGCTL_LAYOUT_OWNED_ONLY)
    add (d, SEVERITY_WARNING, "backstop-missing",
         "If this stays, restart seatgate (its table watch should have put it back at once; "
         "\"journalctl -u seatgate -b\" says why not).",
         "The backstop table inet %s is missing. The helper's table inet %s keeps the ports "
         "closed while the helper runs, but if it stops now, the ports are open.",
         SG_TABLE, SG_TABLE_OWNED);
  if (layout == SGCTL_LAYOUT_BACKSTOP)
    {
      check_gated_ports (d, table, SG_TABLE);
      if (!sgctl_table_info_tables_agree (table))
        add (d, SEVERITY_WARNING, "tables-disagree",
             "systemctl restart seatgate (the helper rebuilds both tables).",
             "The helper's table inet %s and its backstop inet %s hold different ports, grants "
             "or cuts: a connection needs both, so someone may be refused who should not be.",
             SG_TABLE_OWNED, SG_TABLE);
    }

  if (!d->helper_running)
    {
      check_unguarded_table (d, table);
      return;
    }
  if (layout == SGCTL_LAYOUT_ORPHAN)
    add (d, SEVERITY_WARNING, "table-not-owned",
         "Restart seatgate: its start takes the table over.",
         "The helper runs, but no process owns the persistent table inet %s: the helper that "
         "runs did not make it.",
         SG_TABLE);
  else if (layout == SGCTL_LAYOUT_PLAIN && sgctl_kernel_has_table_owner () == SGCTL_FEATURE_PRESENT
           && d->config->table_mode != SG_TABLE_MODE_PLAIN)
    add (d, SEVERITY_WARNING, "table-not-owned",
         "Restart seatgate; with TableMode=auto the helper owns its table on Linux >= 5.12.",
         "The table inet %s is not owned by the helper: any root process can change or remove "
         "it, and the ports are open until the helper puts it back.",
         SG_TABLE);
}

static void
check_kernel (Doctor *d)
{
  g_autofree char *release = NULL;
  guint major = 0, minor = 0;

  sgctl_kernel_version (&major, &minor, &release);
  /* 5.12-6.8 needs no warning: the owned table and its backstop give what
   * the persistent table gives (see above). */
  if (sgctl_kernel_has_table_owner () == SGCTL_FEATURE_MISSING)
    add (d, SEVERITY_WARNING, "kernel-no-table-owner",
         "Use Linux >= 5.12 (Debian 12's 6.1 will do) for a table of the helper's own.",
         "Linux %s cannot give the helper a table of its own (owner flag: Linux >= 5.12): the "
         "helper keeps a plain table, which any root process can change or remove (\"nft flush "
         "ruleset\", a firewall reload); the helper puts it back, but the ports are open for "
         "the milliseconds in between.",
         release ? release : "?");
  if (sgctl_kernel_has_sock_destroy () == SGCTL_FEATURE_MISSING)
    add (d, SEVERITY_WARNING, "kernel-no-sock-destroy",
         "Use a kernel built with CONFIG_INET_DIAG_DESTROY=y (Debian's is).",
         "This kernel cannot close other processes' TCP connections (sock_diag SOCK_DESTROY): "
         "on a revoke the helper blocks the user's packets instead, and the VM notices late.");
}

/* ---- listeners ---- */

static char *
listener_owner (const SgctlListener *l, gboolean *is_qemu)
{
  g_autofree char *comm = NULL;
  int pid = 0;

  *is_qemu = FALSE;
  if (!sgctl_socket_process (l->inode, &pid, &comm))
    return g_strdup ("a process");
  *is_qemu = g_str_has_prefix (comm, "qemu") || g_str_equal (comm, "kvm");
  return g_strdup_printf ("%s (pid %d)", comm, pid);
}

static void
check_listeners (Doctor *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) listeners = sgctl_tcp_listeners (&error);
  g_autoptr (GHashTable) reported = g_hash_table_new (g_direct_hash, g_direct_equal);

  if (listeners == NULL)
    {
      add (d, SEVERITY_WARNING, "listeners-unreadable", "Mount /proc.",
           "TCP listeners could not be read: %s", error->message);
      return;
    }
  for (guint i = 0; i < listeners->len; i++)
    {
      const SgctlListener *l = listeners->pdata[i];
      gboolean gated = sg_ports_contains (sg_array_ports (d->ports), d->ports->len, l->port);
      gboolean is_qemu = FALSE;
      g_autofree char *owner = listener_owner (l, &is_qemu);
      g_autofree char *where = g_strdup_printf (l->ipv6 ? "[%s]:%u" : "%s:%u", l->address, l->port);

      if (gated && !l->loopback)
        add (d, SEVERITY_PROBLEM, "listener-not-loopback",
             "Make the VM listen on 127.0.0.1 only: QEMU -spice "
             "port=PORT,addr=127.0.0.1,…; libvirt <graphics type='spice' …><listen "
             "type='address' address='127.0.0.1'/></graphics>.",
             "%s listens on %s, %s: the VM console is offered to other machines "
             "(seatgate drops what arrives from outside, but a firewall change would open it).",
             owner, where, l->wildcard ? "every address" : "an address other hosts can reach");
      else if (!gated
               && (is_qemu || (l->port >= CONSOLE_PORT_FIRST && l->port <= CONSOLE_PORT_LAST))
               && !g_hash_table_contains (reported, GUINT_TO_POINTER (l->port)))
        {
          g_autofree char *fix = g_strdup_printf (
              "Add %u to the Ports= of the seat whose console user should have it in %s, then "
              "systemctl restart seatgate; or move the VM to a gated port.",
              l->port, d->config_path);
          g_hash_table_add (reported, GUINT_TO_POINTER (l->port));
          add (d, SEVERITY_PROBLEM, "listener-not-gated", fix,
               "%s listens on %s, a VM console port that no seat gates: every local user can "
               "connect to it.",
               owner, where);
        }
    }
}

/* ---- VM bindings ---- */

/* A binding seen from outside only (qmp-probe.h): a doctor that connected
 * would wait behind the helper's connection, or take the VM from it. The
 * helper says nothing more about its connection over D-Bus. */
static void
check_vm_socket_file (Doctor *d, const SgSeatConfig *seat, const SgctlQmpProbe *probe)
{
  g_autofree char *where = sg_config_origin_to_string (&seat->qmp_socket_origin);
  g_autofree char *fix = NULL;

  switch (probe->file)
    {
    case SGCTL_QMP_FILE_MISSING:
      fix = g_strdup_printf (
          "Start the VM with -qmp unix:%s,server=on,wait=off (docs/vm-binding.md), or set "
          "QMPSocket= (%s) to the path it was started with; the helper connects as soon as the "
          "socket appears.",
          probe->path, where);
      add (d, SEVERITY_PROBLEM, "vm-socket-missing", fix,
           "%s's VM socket %s does not exist (%s): the VM is not running, or QEMU was started "
           "with another -qmp path. Every grant of %s is refused until it is there.",
           seat->name, probe->path, probe->file_error, seat->name);
      break;
    case SGCTL_QMP_FILE_NOT_SOCKET:
      fix = g_strdup_printf ("Set QMPSocket= (%s) to the path of the VM's -qmp unix: socket, and "
                             "remove what is there if it is left over.",
                             where);
      add (d, SEVERITY_PROBLEM, "vm-socket-not-socket", fix,
           "%s's QMPSocket=%s is %s, not a socket: the helper cannot reach the VM, and every "
           "grant of %s is refused.",
           seat->name, probe->path, probe->file_error, seat->name);
      break;
    case SGCTL_QMP_FILE_UNREADABLE:
      add (d, SEVERITY_WARNING, "vm-socket-unreadable", "Run seatgatectl doctor as root.",
           "%s's VM socket %s could not be checked: %s.", seat->name, probe->path,
           probe->file_error);
      break;
    case SGCTL_QMP_FILE_SOCKET:
    default:
      break;
    }
}

static void
check_vm_socket_peers (Doctor *d, const SgSeatConfig *seat, const SgctlQmpProbe *probe)
{
  const SgctlUnixPath *s = &probe->sockets;

  if (!probe->sockets_read)
    {
      add (d, SEVERITY_WARNING, "vm-socket-unknown", "Mount /proc.",
           "Whether QEMU listens on %s's VM socket %s could not be told: %s", seat->name,
           probe->path, probe->sockets_error);
      return;
    }
  if (s->listening == 0)
    {
      add (d, SEVERITY_PROBLEM, "vm-socket-not-listening",
           "Start the VM again (QEMU replaces the file). If it runs, start it in the helper's "
           "network namespace: /proc/net/unix, which doctor reads, shows this one only.",
           "Nothing listens on %s's VM socket %s: the file is left over from a QEMU that ended "
           "without removing it (e.g. killed), or QEMU runs in another network namespace. "
           "Every grant of %s is refused.",
           seat->name, probe->path, seat->name);
      return;
    }
  if (d->helper_running && s->connected == 0)
    add (d, SEVERITY_WARNING, "vm-helper-not-connected",
         "\"journalctl -u seatgate -b\" says why; systemctl restart seatgate.",
         "QEMU listens on %s's VM socket %s, but no client is connected to it: the helper, "
         "which keeps a connection open while it can, has not reached the VM (the next grant "
         "of %s makes it try again).",
         seat->name, probe->path, seat->name);
  if (!d->helper_running && s->connected > 0)
    add (d, SEVERITY_PROBLEM, "vm-socket-taken",
         "Give that program a -qmp socket of its own (QEMU takes several) and keep this one for "
         "seatgate (docs/vm-binding.md).",
         "Another program is connected to %s's VM socket %s while seatgate-helper is not "
         "running: QEMU serves one QMP client at a time, so the helper, once started, would "
         "wait unanswered and refuse every grant of %s.",
         seat->name, probe->path, seat->name);
  if (s->waiting > 0)
    add (d, SEVERITY_PROBLEM, "vm-socket-backlog",
         "Give every other program a -qmp socket of its own and keep this one for seatgate "
         "(docs/vm-binding.md).",
         "%u connection%s wait%s unanswered in the backlog of %s's VM socket %s: QEMU serves "
         "one QMP client at a time and more than one program uses this socket; if the helper "
         "is the one waiting, every grant of %s is refused.",
         s->waiting, s->waiting == 1 ? "" : "s", s->waiting == 1 ? "s" : "", seat->name,
         probe->path, seat->name);
}

static void
check_vm_socket_reach (Doctor *d, const SgSeatConfig *seat, const SgctlQmpProbe *probe)
{
  g_autofree char *owner = sgctl_user_name (probe->owner);
  g_autofree char *fix = g_strdup_printf (
      "Put the socket in a 0700 folder of the VM's user (install -d -m 0700 -o %s "
      "/run/seatgate-vm) and start QEMU with -qmp "
      "unix:/run/seatgate-vm/%s.qmp,server=on,wait=off, then set QMPSocket= to it; see "
      "docs/vm-binding.md.",
      owner, seat->name);

  if (probe->reachable_by != NULL && g_str_equal (probe->reachable_by, "every local user"))
    add (d, SEVERITY_PROBLEM, "vm-socket-reachable", fix,
         "Every local user can connect to %s's VM socket %s (mode %04o, owner %s, and every "
         "folder above it can be entered): any local user can control the VM and set its "
         "SPICE password.",
         seat->name, probe->path, probe->mode, owner);
  else if (probe->reachable_by != NULL)
    add (d, SEVERITY_PROBLEM, "vm-socket-reachable", fix,
         "Besides root and its owner %s, %s can connect to %s's VM socket %s (mode %04o): they "
         "can control the VM and set its SPICE password.",
         owner, probe->reachable_by, seat->name, probe->path, probe->mode);
  if (probe->replaceable_by != NULL)
    add (d, SEVERITY_PROBLEM, "vm-socket-replaceable", fix,
         "%s can replace %s's VM socket %s (they can write to %s, or own it): a socket of "
         "theirs in its place would get the helper's commands instead of the VM, so the VM "
         "would never be locked and the helper could not tell.",
         g_str_equal (probe->replaceable_by, "every local user") ? "Every local user"
                                                                 : probe->replaceable_by,
         seat->name, probe->path, probe->replaceable_in);
  if (probe->reach_unknown != NULL)
    add (d, SEVERITY_WARNING, "vm-socket-access-unknown",
         "Check by hand that only root and the VM's user can enter the socket's folder, or "
         "remove the ACL (setfacl -b).",
         "Who can connect to %s's VM socket %s could not be told: %s.", seat->name, probe->path,
         probe->reach_unknown);
}

static void
check_vm_bindings (Doctor *d)
{
  for (guint i = 0; i < d->config->seats->len; i++)
    {
      const SgSeatConfig *seat = d->config->seats->pdata[i];
      if (seat->qmp_socket == NULL)
        continue;
      g_autoptr (SgctlQmpProbe) probe = sgctl_qmp_probe (seat->qmp_socket, TRUE);
      check_vm_socket_file (d, seat, probe);
      if (probe->file != SGCTL_QMP_FILE_SOCKET)
        continue;
      check_vm_socket_peers (d, seat, probe);
      check_vm_socket_reach (d, seat, probe);
    }
}

/* ---- VM bindings through libvirt ---- */

/* A read-only connection (libvirt-probe.h): doctor never changes the
 * domain and never sees its password. */
static void
check_libvirt_reach (Doctor *d, const SgSeatConfig *seat, const SgctlLibvirtProbe *probe)
{
  g_autofree char *domain_from = sg_config_origin_to_string (&seat->libvirt_domain_origin);
  g_autofree char *uri_from = sg_config_origin_to_string (&seat->libvirt_uri_origin);
  g_autofree char *fix = NULL;

  switch (probe->state)
    {
    case SGCTL_LIBVIRT_NOT_BUILT:
      add (d, SEVERITY_PROBLEM, "libvirt-not-built",
           "Install a seatgate built with libvirt (libvirt-dev), or bind the VM by QMPSocket= "
           "(docs/vm-binding.md).",
           "%s is bound to the libvirt domain %s, but this seatgatectl was built without "
           "libvirt: the binding cannot be checked.",
           seat->name, probe->domain);
      break;
    case SGCTL_LIBVIRT_UNREACHABLE:
      fix = g_strdup_printf (
          "Start libvirt's daemon (systemctl start libvirtd, or virtqemud where the modular "
          "daemons are installed), or correct LibvirtURI= (%s); \"virsh -c '%s' list\" must "
          "work as root.",
          uri_from, probe->uri);
      add (d, SEVERITY_PROBLEM, "libvirt-unreachable", fix,
           "libvirt at %s, where %s's domain %s is, cannot be reached: %s. Every grant of %s "
           "is refused.",
           probe->uri, seat->name, probe->domain, probe->error, seat->name);
      break;
    case SGCTL_LIBVIRT_UNANSWERED:
      fix = g_strdup_printf ("\"systemctl status libvirtd\" (or virtqemud): a daemon that is "
                             "stopped or stuck answers nobody; \"virsh -c '%s' list\" must "
                             "answer.",
                             probe->uri);
      add (d, SEVERITY_PROBLEM, "libvirt-unanswered", fix,
           "libvirt at %s, where %s's domain %s is, accepts connections but %s: every grant "
           "of %s is refused after 3 seconds.",
           probe->uri, seat->name, probe->domain, probe->error, seat->name);
      break;
    case SGCTL_LIBVIRT_NO_DOMAIN:
      fix = g_strdup_printf ("\"virsh -c '%s' list --all\" lists the domains: correct "
                             "LibvirtDomain= (%s), or define the domain.",
                             probe->uri, domain_from);
      add (d, SEVERITY_PROBLEM, "libvirt-domain-missing", fix,
           "libvirt at %s has no domain %s (%s's LibvirtDomain=): every grant of %s is "
           "refused.",
           probe->uri, probe->domain, seat->name, seat->name);
      break;
    case SGCTL_LIBVIRT_FAILED:
      add (d, SEVERITY_PROBLEM, "libvirt-failed", "Run seatgatectl doctor as root.",
           "libvirt at %s could not tell about %s's domain %s: %s.", probe->uri, seat->name,
           probe->domain, probe->error);
      break;
    case SGCTL_LIBVIRT_NOT_RUNNING:
      fix = g_strdup_printf ("virsh -c '%s' start %s (the helper locks it as it starts).",
                             probe->uri, probe->domain);
      add (d, SEVERITY_WARNING, "libvirt-domain-not-running", fix,
           "%s's domain %s is not running (%s): nobody can use its console, and every grant "
           "of %s is refused until it runs.",
           seat->name, probe->domain, probe->domain_state, seat->name);
      break;
    case SGCTL_LIBVIRT_RUNNING:
    default:
      break;
    }
}

/* The domain's <graphics type='spice'> as docs/vm-binding.md asks for it:
 * a passwd (expired), a fixed port the seat gates, loopback only. Read from
 * the live XML while it runs, else from its definition. */
static void
check_libvirt_graphics (Doctor *d, const SgSeatConfig *seat, const SgctlLibvirtProbe *probe)
{
  g_autofree char *edit = g_strdup_printf ("virsh -c '%s' edit %s", probe->uri, probe->domain);
  g_autofree char *fix = NULL;

  if (!probe->xml_read)
    {
      add (d, SEVERITY_WARNING, "libvirt-xml-unreadable", "Run seatgatectl doctor as root.",
           "The XML of %s's domain %s could not be read: %s.", seat->name, probe->domain,
           probe->error);
      return;
    }
  if (probe->n_spice != 1)
    {
      fix = g_strdup_printf (
          "%s: keep one <graphics type='spice' port='%u' autoport='no' listen='127.0.0.1' "
          "passwd='RANDOM' passwdValidTo='1970-01-01T00:00:00'/> (docs/vm-binding.md), then "
          "restart the domain.",
          edit, g_array_index (seat->ports, guint16, 0));
      add (d, SEVERITY_PROBLEM, probe->n_spice == 0 ? "libvirt-no-spice" : "libvirt-spice-several",
           fix,
           "%s's domain %s has %u <graphics type='spice'> elements; seatgate guards one: "
           "every grant of %s is refused.",
           seat->name, probe->domain, probe->n_spice, seat->name);
      return;
    }
  if (!probe->password)
    {
      fix = g_strdup_printf (
          "%s: add passwd='RANDOM' passwdValidTo='1970-01-01T00:00:00' to its <graphics "
          "type='spice'> (RANDOM from head -c 24 /dev/urandom | base64; nobody needs to know "
          "it), then restart the domain (virsh shutdown, virsh start): libvirt decides at the "
          "start.",
          edit);
      add (d, SEVERITY_PROBLEM, "libvirt-no-password", fix,
           "%s's domain %s shows no SPICE password: its <graphics type='spice'> has neither "
           "passwdValidTo= nor connected=, which libvirt writes only when a passwd is set. "
           "Without a passwd libvirt starts QEMU with disable-ticketing, QEMU then refuses "
           "every ticket, and every grant of %s is refused; a passwd without passwdValidTo "
           "opens the VM to whoever knows it until the first grant.",
           seat->name, probe->domain, seat->name);
    }
  g_autofree char *ports = sg_ports_to_string (sg_array_ports (seat->ports), seat->ports->len);
  if (probe->autoport)
    {
      fix = g_strdup_printf ("%s: set autoport='no' and port= to one of %s's ports (%s), then "
                             "restart the domain.",
                             edit, seat->name, ports);
      g_autofree char *now
          = probe->port > 0 ? g_strdup_printf (" (now %d)", probe->port) : g_strdup ("");
      add (d, SEVERITY_PROBLEM, "libvirt-autoport", fix,
           "%s's domain %s has autoport='yes': libvirt picks its SPICE port at each start%s, "
           "which %s's Ports= (%s) need not gate.",
           seat->name, probe->domain, now, seat->name, ports);
    }
  else
    {
      const gint candidates[] = { probe->port, probe->tls_port };
      const char *names[] = { "port", "tlsPort" };
      for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
        {
          if ((i == 0 && candidates[i] < 0)
              || (candidates[i] >= 0
                  && !sg_ports_contains (sg_array_ports (seat->ports), seat->ports->len,
                                         (guint16) candidates[i])))
            {
              g_autofree char *where = sg_config_origin_to_string (&seat->ports_origin);
              g_clear_pointer (&fix, g_free);
              fix = g_strdup_printf ("%s: set %s= to one of %s's ports (%s), or add it to "
                                     "Ports= (%s) and systemctl restart seatgate.",
                                     edit, names[i], seat->name, ports, where);
              add (d, SEVERITY_PROBLEM, "libvirt-port-not-gated", fix,
                   "%s's domain %s serves SPICE on %s %d, which %s's Ports= (%s) do not "
                   "gate: every local user can connect to it.",
                   seat->name, probe->domain, names[i], candidates[i], seat->name, ports);
            }
        }
    }
  for (guint i = 0; i < probe->listen->len; i++)
    {
      const char *address = probe->listen->pdata[i];
      if (sgctl_libvirt_address_is_loopback (address))
        continue;
      g_clear_pointer (&fix, g_free);
      fix = g_strdup_printf ("%s: set listen='127.0.0.1' and <listen type='address' "
                             "address='127.0.0.1'/> in its <graphics type='spice'>, then "
                             "restart the domain.",
                             edit);
      add (d, SEVERITY_PROBLEM, "libvirt-listen-not-loopback", fix,
           "%s's domain %s listens for SPICE on %s, not on loopback: the VM console is "
           "offered to other machines (seatgate drops what arrives from outside, but a "
           "firewall change would open it).",
           seat->name, probe->domain, address);
    }
}

static void
check_libvirt_bindings (Doctor *d)
{
  for (guint i = 0; i < d->config->seats->len; i++)
    {
      const SgSeatConfig *seat = d->config->seats->pdata[i];
      if (seat->libvirt_domain == NULL)
        continue;
      g_autoptr (SgctlLibvirtProbe) probe
          = sgctl_libvirt_probe (sg_seat_config_libvirt_uri (seat), seat->libvirt_domain);
      check_libvirt_reach (d, seat, probe);
      if (probe->state == SGCTL_LIBVIRT_RUNNING || probe->state == SGCTL_LIBVIRT_NOT_RUNNING)
        check_libvirt_graphics (d, seat, probe);
    }
}

/* ---- logind ---- */

static void
check_seats (Doctor *d)
{
  if (d->bus == NULL)
    return;
  for (guint i = 0; i < d->seats->len; i++)
    {
      const char *seat = d->seats->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (SgLogindSession) session = NULL;

      if (!sgctl_logind_active_session (d->bus, seat, &session, &error))
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
            {
              g_autofree char *fix = g_strdup_printf (
                  "\"loginctl list-seats\" lists the seats; correct the [Seat …] group in %s.",
                  d->config_path);
              add (d, SEVERITY_PROBLEM, "seat-unknown", fix,
                   "logind knows no seat %s: nobody can be granted its ports.", seat);
            }
          else
            {
              add (d, SEVERITY_PROBLEM, "logind-unreachable",
                   "systemctl status systemd-logind; seatgate needs logind to know who sits at "
                   "the console.",
                   "%s", error->message);
              return;
            }
        }
      else if (session == NULL)
        {
          g_autofree char *fix = g_strdup_printf (
              "Log in at %s's console (\"loginctl seat-status %s\" shows it).", seat, seat);
          add (d, SEVERITY_WARNING, "seat-no-active-session", fix,
               "%s has no active session (nobody logged in, or the login screen shows): "
               "nobody can be granted its ports now.",
               seat);
        }
      else
        {
          /* The helper's own rule, so doctor never promises what Grant()
           * refuses. */
          g_autofree char *flaw
              = sg_logind_session_flaw (session->seat, seat, session->remote,
                                        session->session_class, session->active, session->state);
          if (flaw != NULL)
            add (d, SEVERITY_WARNING, "seat-session-not-grantable",
                 "Log in at the console as a person (class user, local).",
                 "%s's active session %s cannot be granted: %s. seatgate grants only the active, "
                 "local session of class user.",
                 seat, session->id, flaw);
        }
    }
}

/* ---- polkit ---- */

static void
check_polkit (Doctor *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  gboolean have_grant = FALSE, have_manage = FALSE;

  if (d->bus == NULL)
    return;
  reply = g_dbus_connection_call_sync (
      d->bus, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "EnumerateActions", g_variant_new ("(s)", ""),
      G_VARIANT_TYPE ("(a(ssssssuuua{ss}))"), G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      /* The first line is enough (a Python service appends its traceback). */
      g_autofree char *first_line = g_strndup (error->message, strcspn (error->message, "\n"));
      add (d, SEVERITY_PROBLEM, "polkit-unreachable",
           "systemctl status polkit; seatgate asks polkit before every grant.",
           "polkit could not be asked which actions it knows: %s", first_line);
      return;
    }

  g_autoptr (GVariant) actions = g_variant_get_child_value (reply, 0);
  GVariantIter iter;
  const char *id;
  guint32 any, inactive, active;
  g_variant_iter_init (&iter, actions);
  while (g_variant_iter_next (&iter, "(&s&s&s&s&s&suuu@a{ss})", &id, NULL, NULL, NULL, NULL, NULL,
                              &any, &inactive, &active, NULL))
    {
      if (g_str_equal (id, SGCTL_ACTION_GRANT))
        {
          have_grant = TRUE;
          if (any == IMPLICIT_AUTHORIZED)
            add (d, SEVERITY_PROBLEM, "polkit-grant-allow-any",
                 "Restore allow_any=no in io.github.seatgate.policy (reinstall seatgate) and "
                 "widen access with a rules file in /etc/polkit-1/rules.d instead (see "
                 "seatgatectl(1), POLKIT).",
                 "polkit's %s says allow_any=yes: polkit no longer checks who asks.", id);
          else if (inactive == IMPLICIT_AUTHORIZED)
            add (d, SEVERITY_WARNING, "polkit-grant-allow-inactive",
                 "Restore allow_inactive=no in io.github.seatgate.policy (reinstall seatgate).",
                 "polkit's %s says allow_inactive=yes.", id);
        }
      else if (g_str_equal (id, SGCTL_ACTION_MANAGE))
        {
          have_manage = TRUE;
          if (any == IMPLICIT_AUTHORIZED)
            add (d, SEVERITY_PROBLEM, "polkit-manage-allow-any",
                 "Restore allow_any=auth_admin_keep in io.github.seatgate.policy (reinstall "
                 "seatgate).",
                 "polkit's %s says allow_any=yes: anyone may revoke anyone's grant.", id);
        }
    }
  if (!have_grant || !have_manage)
    add (d, SEVERITY_PROBLEM, "polkit-action-missing",
         "Install io.github.seatgate.policy into /usr/share/polkit-1/actions (meson install "
         "does); polkit reads it at once.",
         "polkit does not know %s: it refuses %s.",
         !have_grant ? SGCTL_ACTION_GRANT : SGCTL_ACTION_MANAGE,
         !have_grant ? "every grant" : "every revoke");
}

/* ---- output ---- */

static int
count (GPtrArray *findings, Severity severity)
{
  int n = 0;
  for (guint i = 0; i < findings->len; i++)
    n += ((Finding *) findings->pdata[i])->severity == severity;
  return n;
}

static void
print_json (Doctor *d)
{
  g_autoptr (SgctlJson) json = sgctl_json_new ();
  int problems = count (d->findings, SEVERITY_PROBLEM);

  sgctl_json_begin_object (json);
  sgctl_json_member_bool (json, "ok", problems == 0);
  sgctl_json_member_int (json, "problems", problems);
  sgctl_json_member_int (json, "warnings", count (d->findings, SEVERITY_WARNING));
  sgctl_json_key (json, "findings");
  sgctl_json_begin_array (json);
  for (guint i = 0; i < d->findings->len; i++)
    {
      const Finding *f = d->findings->pdata[i];
      sgctl_json_begin_object (json);
      sgctl_json_member_string (json, "id", f->id);
      sgctl_json_member_string (json, "severity",
                                f->severity == SEVERITY_PROBLEM ? "problem" : "warning");
      sgctl_json_member_string (json, "message", f->message);
      sgctl_json_member_string (json, "fix", f->fix);
      sgctl_json_end_object (json);
    }
  sgctl_json_end_array (json);
  sgctl_json_end_object (json);
  sgctl_json_print (json);
}

static void
print_human (Doctor *d)
{
  int problems = count (d->findings, SEVERITY_PROBLEM);
  int warnings = count (d->findings, SEVERITY_WARNING);

  if (d->findings->len == 0)
    {
      printf ("No problems found.\n");
      return;
    }
  for (guint i = 0; i < d->findings->len; i++)
    {
      const Finding *f = d->findings->pdata[i];
      printf ("%s [%s] %s\n  Fix: %s\n", f->severity == SEVERITY_PROBLEM ? "PROBLEM" : "WARNING",
              f->id, f->message, f->fix);
    }
  printf ("%d problem%s, %d warning%s.\n", problems, problems == 1 ? "" : "s", warnings,
          warnings == 1 ? "" : "s");
}

int
sgctl_cmd_doctor (int argc, char **argv)
{
  gboolean json = FALSE;
  g_autofree char *config_path = NULL;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the findings as JSON", NULL },
          { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
            "The helper's config file (default " SG_CONFIG_FILE ")", "FILE" },
          { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "doctor", NULL,
      "Checks the config, seatgate-helper, the nftables table, the kernel, the TCP\n"
      "listeners on VM console ports, each seat's VM binding (its QMP socket is\n"
      "there, QEMU listens on it, one client holds it and none waits, no other user\n"
      "can reach or replace it; read from the file system and /proc/net/unix, never\n"
      "connected to; for LibvirtDomain=, libvirt asked read-only: it answers, the\n"
      "domain runs, one <graphics type='spice'> with a passwd, a fixed gated port\n"
      "and loopback listen addresses), logind's seats and polkit's actions, and\n"
      "prints each problem with its fix. Run it as root: the table, the VM's socket\n"
      "and other users' processes can only be read by root. Exits 1 if it found a\n"
      "problem (warnings alone exit 0).",
      entries);
  Doctor d = { 0 };

  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  if (argc > 1)
    {
      g_printerr ("seatgatectl doctor: no arguments expected (see --help)\n");
      return SGCTL_EXIT_USAGE;
    }
  d.findings = g_ptr_array_new_with_free_func ((GDestroyNotify) finding_free);
  d.config_path = g_strdup (config_path != NULL ? config_path : SG_CONFIG_FILE);

  check_config (&d);
  check_helper (&d);
  check_table (&d);
  check_kernel (&d);
  check_listeners (&d);
  check_vm_bindings (&d);
  check_libvirt_bindings (&d);
  check_seats (&d);
  check_polkit (&d);

  if (json)
    print_json (&d);
  else
    print_human (&d);
  int status = count (d.findings, SEVERITY_PROBLEM) > 0 ? SGCTL_EXIT_FAILURE : SGCTL_EXIT_OK;

  g_ptr_array_unref (d.findings);
  g_clear_object (&d.bus);
  g_free (d.config_path);
  sg_config_free (d.config);
  g_array_unref (d.ports);
  g_ptr_array_unref (d.seats);
  return status;
}
