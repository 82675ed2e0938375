/* A small GKeyFile-syntax reader of our own: GKeyFile merges duplicate groups
 * silently and cannot tell which line a key came from, and a broken gate
 * config must be reported by file, line and key.
 *
 * Drop-ins (FILE.d/NAME.conf) follow systemd's conf_files_list_strv() and
 * config_parse_many() in shape: the main file first, then the drop-ins in
 * byte order of their names, each read on its own, later values replacing
 * earlier ones; only the merged result is checked as a whole, so a drop-in
 * may move a port from one seat to another. Each value keeps the file and
 * line it came from, for messages and `seatgatectl check-config`. */
#include "sg-config.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "sg-build-config.h"
#include "sg-error.h"
#include "sg-ports.h"
#include "sg-qkeycode.h"

typedef enum
{
  GROUP_NONE,
  GROUP_GATE,
  GROUP_SEAT,
  GROUP_AGENT,
} GroupKind;

typedef struct
{
  const char *name; /* the file, for messages and origins */
  gboolean agent_only;
  SgConfig *config;
  GHashTable *groups; /* group name -> GUINT_TO_POINTER (line) */
  GHashTable *keys;   /* keys seen in the current group */
  GroupKind kind;
  char *group;        /* current group's name */
  SgSeatConfig *seat; /* current seat, when kind == GROUP_SEAT */
} Parser;

static void
seat_config_free (SgSeatConfig *seat)
{
  g_free (seat->name);
  g_array_unref (seat->ports);
  g_free (seat->qmp_socket);
  g_strfreev (seat->lock_keys);
  g_free (seat->libvirt_domain);
  g_free (seat->libvirt_uri);
  g_free (seat);
}

const char *
sg_seat_config_libvirt_uri (const SgSeatConfig *seat)
{
  return seat->libvirt_uri != NULL ? seat->libvirt_uri : SG_LIBVIRT_URI_DEFAULT;
}

void
sg_config_free (SgConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_ptr_array_unref (config->seats);
  g_ptr_array_unref (config->files);
  g_array_unref (config->always_allow);
  g_free (config->viewer_command);
  g_free (config);
}

static SgConfig *
config_new_empty (void)
{
  SgConfig *config = g_new0 (SgConfig, 1);

  config->seats = g_ptr_array_new_with_free_func ((GDestroyNotify) seat_config_free);
  config->files = g_ptr_array_new_with_free_func (g_free);
  config->always_allow = g_array_new (FALSE, FALSE, sizeof (guint32));
  config->table_mode = SG_TABLE_MODE_AUTO;
  return config;
}

static SgSeatConfig *
seat_config_new (const char *name, const char *file, guint line)
{
  SgSeatConfig *seat = g_new0 (SgSeatConfig, 1);

  seat->name = g_strdup (name);
  seat->ports = g_array_new (FALSE, FALSE, sizeof (guint16));
  seat->line = line;
  seat->origin = (SgConfigOrigin){ file, line };
  return seat;
}

SgConfig *
sg_config_new_default (void)
{
  SgConfig *config = config_new_empty ();
  SgSeatConfig *seat = seat_config_new ("seat0", NULL, 0);
  guint16 port = 5930;

  g_array_append_val (seat->ports, port);
  g_ptr_array_add (config->seats, seat);
  return config;
}

static gboolean G_GNUC_PRINTF (4, 5)
    fail (Parser *p, guint line, GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG, "%s:%u: %s", p->name, line, what);
  return FALSE;
}

static SgConfigOrigin
origin_here (Parser *p, guint line)
{
  return (SgConfigOrigin){ p->name, line };
}

/* logind's rule for seat names (seat_name_is_valid). */
static gboolean
seat_name_is_valid (const char *name)
{
  if (!g_str_has_prefix (name, "seat") || strlen (name) > 255)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_')
      return FALSE;
  return TRUE;
}

static gboolean
parse_group (Parser *p, const char *text, guint line, GError **error)
{
  gsize len = strlen (text);

  if (len < 2 || text[len - 1] != ']')
    return fail (p, line, error, "'%s' is not a group header: write it as [Name]", text);

  g_autofree char *name = g_strndup (text + 1, len - 2);
  gpointer first_line;
  if (g_hash_table_lookup_extended (p->groups, name, NULL, &first_line))
    return fail (p, line, error, "group [%s] appears again (first at line %u): merge the two", name,
                 GPOINTER_TO_UINT (first_line));

  g_hash_table_insert (p->groups, g_strdup (name), GUINT_TO_POINTER (line));
  g_hash_table_remove_all (p->keys);
  g_free (p->group);
  p->group = g_strdup (name);
  p->seat = NULL;

  if (g_str_equal (name, "Agent"))
    p->kind = GROUP_AGENT;
  else if (p->agent_only)
    return fail (p, line, error, "group [%s] does not belong here: this file holds only [Agent]",
                 name);
  else if (g_str_equal (name, "Gate"))
    p->kind = GROUP_GATE;
  else if (g_str_has_prefix (name, "Seat "))
    {
      const char *seat_name = name + strlen ("Seat ");
      if (!seat_name_is_valid (seat_name))
        return fail (p, line, error,
                     "[%s]: '%s' is not a logind seat name: seat names start with \"seat\" "
                     "and hold only letters, digits, '-' and '_' (e.g. [Seat seat0])",
                     name, seat_name);
      p->kind = GROUP_SEAT;
      p->seat = seat_config_new (seat_name, p->name, line);
      g_ptr_array_add (p->config->seats, p->seat);
    }
  else
    return fail (p, line, error,
                 "unknown group [%s]: seatgate knows [Gate], [Seat NAME] and [Agent]", name);
  return TRUE;
}

static gboolean
parse_uids (Parser *p, const char *value, guint line, GError **error)
{
  g_auto (GStrv) items = g_strsplit_set (value, ";,", -1);

  for (char **i = items; *i != NULL; i++)
    {
      g_autofree char *item = g_strstrip (g_strdup (*i));
      guint64 uid;

      if (*item == '\0')
        continue;
      if (strspn (item, "0123456789") != strlen (item) || strlen (item) > 10
          || (uid = g_ascii_strtoull (item, NULL, 10)) >= G_MAXUINT32)
        return fail (p, line, error,
                     "[Gate] AlwaysAllow: '%s' is not a uid: write numeric uids (see `id -u NAME`) "
                     "separated by ';'",
                     item);
      guint32 u = (guint32) uid;
      gboolean seen = FALSE;
      for (guint k = 0; k < p->config->always_allow->len; k++)
        seen |= g_array_index (p->config->always_allow, guint32, k) == u;
      if (!seen)
        g_array_append_val (p->config->always_allow, u);
    }
  return TRUE;
}

/* The socket path goes into a sockaddr_un and into messages and logs. */
#define SUN_PATH_MAX 107

static gboolean
parse_qmp_socket (Parser *p, const char *value, guint line, GError **error)
{
  p->seat->qmp_socket_origin = origin_here (p, line);
  g_clear_pointer (&p->seat->qmp_socket, g_free);
  /* Empty: no VM binding, so a drop-in can take one away. */
  if (*value == '\0')
    return TRUE;
  if (value[0] != '/')
    return fail (p, line, error,
                 "[%s] QMPSocket: '%s' is not an absolute path: write the full path of the VM's "
                 "QMP socket, e.g. QMPSocket=/run/seatgate-vm/%s.qmp",
                 p->group, value, p->seat->name);
  for (const char *c = value; *c != '\0'; c++)
    if ((guchar) *c < 0x20 || *c == 0x7f)
      return fail (p, line, error,
                   "[%s] QMPSocket: the path holds a control character: write a plain path",
                   p->group);
  if (strlen (value) > SUN_PATH_MAX)
    return fail (p, line, error,
                 "[%s] QMPSocket: the path is %zu bytes; a unix socket path is at most %d: "
                 "put the socket in a shorter folder, e.g. /run/seatgate-vm/",
                 p->group, strlen (value), SUN_PATH_MAX);
  p->seat->qmp_socket = g_strdup (value);
  return TRUE;
}

static gboolean
parse_lock_keys (Parser *p, const char *value, guint line, GError **error)
{
  p->seat->lock_keys_origin = origin_here (p, line);
  g_clear_pointer (&p->seat->lock_keys, g_strfreev);
  /* Empty: no key combination on revoke. */
  if (*value == '\0')
    return TRUE;

  g_auto (GStrv) keys = g_strsplit (value, "+", -1);
  guint n = g_strv_length (keys);
  if (n > SG_LOCK_KEYS_MAX)
    return fail (p, line, error,
                 "[%s] LockKeys: %u keys; a combination is at most %d keys pressed together: "
                 "write e.g. LockKeys=meta_l+l",
                 p->group, n, SG_LOCK_KEYS_MAX);
  for (guint i = 0; i < n; i++)
    {
      g_strstrip (keys[i]);
      if (*keys[i] == '\0')
        return fail (p, line, error,
                     "[%s] LockKeys: '%s' has an empty key name: join QEMU key names with a "
                     "single '+', e.g. LockKeys=meta_l+l",
                     p->group, value);
      if (!sg_qkeycode_is_valid (keys[i]))
        return fail (p, line, error,
                     "[%s] LockKeys: '%s' is not a QEMU key name: use QEMU's qcode names (see "
                     "seatgate.conf(5)), e.g. meta_l, ctrl, alt, l, delete",
                     p->group, keys[i]);
      for (guint j = 0; j < i; j++)
        if (g_str_equal (keys[j], keys[i]))
          return fail (p, line, error,
                       "[%s] LockKeys: '%s' is named twice: name each key of the combination "
                       "once",
                       p->group, keys[i]);
    }
  p->seat->lock_keys = g_steal_pointer (&keys);
  return TRUE;
}

/* libvirt's own limit for a domain name is its XML's; ours keeps messages
 * and log lines short. */
#define LIBVIRT_VALUE_MAX 256

/* LibvirtDomain= and LibvirtURI=: printable text; whether libvirt knows the
 * URI and the domain is checked when the helper connects. */
static gboolean
parse_libvirt (Parser *p, const char *key, const char *value, guint line, GError **error)
{
  gboolean is_domain = g_str_equal (key, "LibvirtDomain");
  char **field = is_domain ? &p->seat->libvirt_domain : &p->seat->libvirt_uri;
  SgConfigOrigin *origin
      = is_domain ? &p->seat->libvirt_domain_origin : &p->seat->libvirt_uri_origin;

#if !SG_HAVE_LIBVIRT
  return fail (p, line, error,
               "[%s] %s: this seatgate build has no libvirt support (it was built without "
               "libvirt-dev): install a build with libvirt, or give the VM a QMP socket of its "
               "own and set QMPSocket= to it instead (see docs/vm-binding.md)",
               p->group, key);
#endif
  *origin = origin_here (p, line);
  g_clear_pointer (field, g_free);
  /* Empty: no binding (LibvirtDomain) or the default URI, so a drop-in can
   * take either away. */
  if (*value == '\0')
    return TRUE;
  for (const char *c = value; *c != '\0'; c++)
    if ((guchar) *c < 0x20 || *c == 0x7f)
      return fail (p, line, error,
                   "[%s] %s: the value holds a control character: write the name as "
                   "`virsh list --all` (or `virsh uri`) shows it",
                   p->group, key);
  if (!g_utf8_validate (value, -1, NULL))
    return fail (p, line, error, "[%s] %s: the value is not UTF-8: write it as virsh shows it",
                 p->group, key);
  if (strlen (value) > LIBVIRT_VALUE_MAX)
    return fail (p, line, error, "[%s] %s: the value is %zu bytes; at most %d are accepted",
                 p->group, key, strlen (value), LIBVIRT_VALUE_MAX);
  if (!is_domain && strstr (value, ":/") == NULL)
    return fail (p, line, error,
                 "[%s] LibvirtURI: '%s' is not a libvirt URI: write e.g. "
                 "LibvirtURI=" SG_LIBVIRT_URI_DEFAULT,
                 p->group, value);
  *field = g_strdup (value);
  return TRUE;
}

static gboolean
parse_key (Parser *p, const char *key, const char *value, guint line, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (p->kind == GROUP_NONE)
    return fail (p, line, error,
                 "key '%s' stands before any group: put it under [Gate] or [Seat NAME]", key);
  if (g_hash_table_contains (p->keys, key))
    return fail (p, line, error, "[%s] %s is set twice: keep one", p->group, key);
  g_hash_table_add (p->keys, g_strdup (key));

  switch (p->kind)
    {
    case GROUP_GATE:
      if (g_str_equal (key, "AlwaysAllow"))
        {
          p->config->always_allow_origin = origin_here (p, line);
          return parse_uids (p, value, line, error);
        }
      if (g_str_equal (key, "TableMode"))
        {
          p->config->table_mode_origin = origin_here (p, line);
          if (g_str_equal (value, "auto"))
            p->config->table_mode = SG_TABLE_MODE_AUTO;
          else if (g_str_equal (value, "persistent"))
            p->config->table_mode = SG_TABLE_MODE_PERSISTENT;
          else if (g_str_equal (value, "backstop"))
            p->config->table_mode = SG_TABLE_MODE_BACKSTOP;
          else if (g_str_equal (value, "plain"))
            p->config->table_mode = SG_TABLE_MODE_PLAIN;
          else
            return fail (
                p, line, error,
                "[Gate] TableMode: '%s' is not a mode: write auto, persistent, backstop or plain",
                value);
          return TRUE;
        }
      return fail (p, line, error, "[Gate] has no key '%s': it knows AlwaysAllow and TableMode",
                   key);

    case GROUP_SEAT:
      if (g_str_equal (key, "Ports"))
        {
          p->seat->ports_origin = origin_here (p, line);
          if (!sg_ports_parse (value, p->seat->ports, &local_error))
            return fail (p, line, error, "[%s] Ports: %s", p->group, local_error->message);
          return TRUE;
        }
      if (g_str_equal (key, "QMPSocket"))
        return parse_qmp_socket (p, value, line, error);
      if (g_str_equal (key, "LockKeys"))
        return parse_lock_keys (p, value, line, error);
      if (g_str_equal (key, "LibvirtDomain") || g_str_equal (key, "LibvirtURI"))
        return parse_libvirt (p, key, value, line, error);
      return fail (p, line, error,
                   "[%s] has no key '%s': it knows Ports, QMPSocket, LibvirtDomain, LibvirtURI "
                   "and LockKeys",
                   p->group, key);

    case GROUP_AGENT:
      if (g_str_equal (key, "ViewerCommand"))
        {
          g_auto (GStrv) argv = NULL;
          if (!g_shell_parse_argv (value, NULL, &argv, &local_error))
            return fail (p, line, error,
                         "[Agent] ViewerCommand: '%s' is not a command line (%s): write e.g. "
                         "remote-viewer %%f",
                         value, local_error->message);
          g_free (p->config->viewer_command);
          p->config->viewer_command = g_strdup (value);
          p->config->viewer_command_origin = origin_here (p, line);
          return TRUE;
        }
      return fail (p, line, error, "[Agent] has no key '%s': it knows ViewerCommand", key);

    case GROUP_NONE:
    default:
      g_assert_not_reached ();
    }
}

static gboolean G_GNUC_PRINTF (4, 5) fail_at (const SgConfigOrigin *origin, const char *fallback,
                                              GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG, "%s:%u: %s",
               origin->file != NULL ? origin->file : fallback, MAX (origin->line, 1), what);
  return FALSE;
}

/* The whole, merged config: what no single file can decide. @name names
 * the main file for a problem that belongs to no line. */
static gboolean
check_seats (const SgConfig *config, const char *name, gboolean agent_only, GError **error)
{
  const SgConfigOrigin top = { name, 1 };

  if (agent_only)
    return TRUE;
  if (config->seats->len == 0)
    return fail_at (&top, name, error,
                    "no seat is configured: add a group such as [Seat seat0] with Ports=5930");

  for (guint i = 0; i < config->seats->len; i++)
    {
      SgSeatConfig *seat = g_ptr_array_index (config->seats, i);

      if (seat->ports->len == 0)
        return fail_at (&seat->origin, name, error, "[Seat %s] has no Ports: add e.g. Ports=5930",
                        seat->name);
      if (seat->qmp_socket != NULL && seat->libvirt_domain != NULL)
        {
          g_autofree char *where = sg_config_origin_to_string (&seat->qmp_socket_origin);
          return fail_at (&seat->libvirt_domain_origin, name, error,
                          "[Seat %s] LibvirtDomain: the seat's VM is bound by QMPSocket= too "
                          "(%s): a seat has one VM binding, keep one of the two",
                          seat->name, where);
        }
      if (seat->libvirt_uri != NULL && seat->libvirt_domain == NULL)
        return fail_at (&seat->libvirt_uri_origin, name, error,
                        "[Seat %s] LibvirtURI: it says where the seat's libvirt domain is, and "
                        "the seat has no LibvirtDomain=: add LibvirtDomain=NAME or remove "
                        "LibvirtURI=",
                        seat->name);
      if (seat->lock_keys != NULL && seat->qmp_socket == NULL && seat->libvirt_domain == NULL)
        return fail_at (&seat->lock_keys_origin, name, error,
                        "[Seat %s] LockKeys: the keys go to the seat's VM, and the seat has no "
                        "VM binding: set QMPSocket= to the VM's QMP socket or LibvirtDomain= to "
                        "its libvirt domain, or remove LockKeys=",
                        seat->name);
      for (guint j = 0; j < i; j++)
        {
          SgSeatConfig *other = g_ptr_array_index (config->seats, j);
          /* QEMU serves one QMP client per socket: two consoles on one
           * socket would shut each other out. */
          if (seat->qmp_socket != NULL && g_strcmp0 (seat->qmp_socket, other->qmp_socket) == 0)
            {
              g_autofree char *where = sg_config_origin_to_string (&other->qmp_socket_origin);
              return fail_at (&seat->qmp_socket_origin, name, error,
                              "[Seat %s] QMPSocket: %s is [Seat %s]'s VM socket too (%s): each "
                              "seat's VM needs a QMP socket of its own",
                              seat->name, seat->qmp_socket, other->name, where);
            }
          /* Two consoles setting one VM's password would void each other's
           * tickets. */
          if (seat->libvirt_domain != NULL
              && g_strcmp0 (seat->libvirt_domain, other->libvirt_domain) == 0
              && g_str_equal (sg_seat_config_libvirt_uri (seat),
                              sg_seat_config_libvirt_uri (other)))
            {
              g_autofree char *where = sg_config_origin_to_string (&other->libvirt_domain_origin);
              return fail_at (&seat->libvirt_domain_origin, name, error,
                              "[Seat %s] LibvirtDomain: %s at %s is [Seat %s]'s VM too (%s): "
                              "each seat needs a VM of its own",
                              seat->name, seat->libvirt_domain, sg_seat_config_libvirt_uri (seat),
                              other->name, where);
            }
          for (guint k = 0; k < seat->ports->len; k++)
            {
              guint16 port = g_array_index (seat->ports, guint16, k);
              if (!sg_ports_contains (sg_array_ports (other->ports), other->ports->len, port))
                continue;
              /* Within one file "line N" is enough; across files, say which. */
              g_autofree char *where
                  = g_strcmp0 (other->ports_origin.file, seat->ports_origin.file) == 0
                        ? g_strdup_printf ("line %u", other->ports_origin.line)
                        : sg_config_origin_to_string (&other->ports_origin);
              return fail_at (&seat->ports_origin, name, error,
                              "[Seat %s] Ports: port %u is gated by [Seat %s] (%s) too: a port "
                              "belongs to one seat",
                              seat->name, port, other->name, where);
            }
        }
    }
  return TRUE;
}

static gboolean
parse_line (Parser *p, char *text, guint line, GError **error)
{
  g_strstrip (text);
  if (*text == '\0' || *text == '#')
    return TRUE;
  if (*text == '[')
    return parse_group (p, text, line, error);

  char *eq = strchr (text, '=');
  if (eq == NULL)
    return fail (p, line, error, "'%s' is neither a [Group] nor a Key=value line", text);
  *eq = '\0';
  char *key = g_strstrip (text);
  char *value = g_strstrip (eq + 1);
  if (*key == '\0')
    return fail (p, line, error, "a line starts with '=': write Key=value");
  return parse_key (p, key, value, line, error);
}

/* One file's settings, unchecked as a whole: a layer to merge. @name must
 * outlive the result (origins point at it). */
static SgConfig *
parse_layer (const char *data, gsize len, const char *name, gboolean agent_only, GError **error)
{
  g_autoptr (SgConfig) config = config_new_empty ();
  g_autoptr (GHashTable) groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *group = NULL;
  Parser p = {
    .name = name,
    .agent_only = agent_only,
    .config = config,
    .groups = groups,
    .keys = keys,
  };
  gboolean ok = TRUE;

  if (len > SG_CONFIG_MAX_SIZE)
    return (fail (&p, 1, error,
                  "the file is %" G_GSIZE_FORMAT " bytes; a seatgate config is at most %d", len,
                  SG_CONFIG_MAX_SIZE),
            NULL);
  if (memchr (data, '\0', len) != NULL)
    return (fail (&p, 1, error, "the file holds a NUL byte: it is not a text config"), NULL);
  const char *bad = NULL;
  if (!g_utf8_validate_len (data, len, &bad))
    {
      guint line = 1;
      for (const char *c = data; c < bad; c++)
        line += *c == '\n';
      return (fail (&p, line, error, "the text is not UTF-8: save the file as UTF-8"), NULL);
    }

  /* Some editors start a UTF-8 file with a byte-order mark. */
  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      len -= 3;
    }
  g_autofree char *copy = g_strndup (data, len);
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  for (guint i = 0; ok && lines[i] != NULL; i++)
    ok = parse_line (&p, lines[i], i + 1, error);
  group = p.group;
  if (!ok)
    return NULL;
  return g_steal_pointer (&config);
}

SgConfig *
sg_config_load_data (const char *data, gsize len, const char *name, gboolean agent_only,
                     GError **error)
{
  g_autofree char *owned_name = g_strdup (name);
  g_autoptr (SgConfig) config = parse_layer (data, len, owned_name, agent_only, error);

  if (config == NULL || !check_seats (config, owned_name, agent_only, error))
    return NULL;
  g_ptr_array_add (config->files, g_steal_pointer (&owned_name));
  return g_steal_pointer (&config);
}

static SgSeatConfig *
find_seat_mutable (SgConfig *config, const char *name)
{
  return (SgSeatConfig *) sg_config_find_seat (config, name);
}

/* @layer's settings over @config's: a key set in @layer wins. */
static void
merge_layer (SgConfig *config, SgConfig *layer)
{
  if (layer->always_allow_origin.line != 0)
    {
      g_array_set_size (config->always_allow, 0);
      g_array_append_vals (config->always_allow, layer->always_allow->data,
                           layer->always_allow->len);
      config->always_allow_origin = layer->always_allow_origin;
    }
  if (layer->table_mode_origin.line != 0)
    {
      config->table_mode = layer->table_mode;
      config->table_mode_origin = layer->table_mode_origin;
    }
  if (layer->viewer_command_origin.line != 0)
    {
      g_free (config->viewer_command);
      config->viewer_command = g_strdup (layer->viewer_command);
      config->viewer_command_origin = layer->viewer_command_origin;
    }
  for (guint i = 0; i < layer->seats->len; i++)
    {
      SgSeatConfig *from = g_ptr_array_index (layer->seats, i);
      SgSeatConfig *seat = find_seat_mutable (config, from->name);

      if (seat == NULL)
        {
          seat = seat_config_new (from->name, from->origin.file, from->origin.line);
          g_ptr_array_add (config->seats, seat);
        }
      if (from->ports_origin.line != 0)
        {
          g_array_set_size (seat->ports, 0);
          g_array_append_vals (seat->ports, from->ports->data, from->ports->len);
          seat->ports_origin = from->ports_origin;
        }
      if (from->qmp_socket_origin.line != 0)
        {
          g_free (seat->qmp_socket);
          seat->qmp_socket = g_strdup (from->qmp_socket);
          seat->qmp_socket_origin = from->qmp_socket_origin;
        }
      if (from->lock_keys_origin.line != 0)
        {
          g_strfreev (seat->lock_keys);
          seat->lock_keys = g_strdupv (from->lock_keys);
          seat->lock_keys_origin = from->lock_keys_origin;
        }
      if (from->libvirt_domain_origin.line != 0)
        {
          g_free (seat->libvirt_domain);
          seat->libvirt_domain = g_strdup (from->libvirt_domain);
          seat->libvirt_domain_origin = from->libvirt_domain_origin;
        }
      if (from->libvirt_uri_origin.line != 0)
        {
          g_free (seat->libvirt_uri);
          seat->libvirt_uri = g_strdup (from->libvirt_uri);
          seat->libvirt_uri_origin = from->libvirt_uri_origin;
        }
    }
}

/* The text of one file, size checked before it is read, so a huge file
 * is refused without reading it. */
static gboolean
read_file (const char *path, char **data, gsize *len, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInfo) info = NULL;

  info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_STANDARD_TYPE,
                            G_FILE_QUERY_INFO_NONE, NULL, error);
  if (info == NULL)
    return FALSE;
  if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                   "%s: not a regular file: a seatgate config is a text file", path);
      return FALSE;
    }
  if (g_file_info_get_size (info) > SG_CONFIG_MAX_SIZE)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                   "%s:1: the file is %" G_GOFFSET_FORMAT " bytes; a seatgate config is at most %d",
                   path, g_file_info_get_size (info), SG_CONFIG_MAX_SIZE);
      return FALSE;
    }
  return g_file_get_contents (path, data, len, error);
}

char *
sg_config_dropin_dir (const char *path)
{
  return g_strconcat (path, SG_CONFIG_DROPIN_SUFFIX, NULL);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The drop-ins' paths in the order they apply. A missing folder has none;
 * any other trouble reading it is an error: a drop-in that cannot be read
 * might have been the one that gates a port. */
static GPtrArray *
list_dropins (const char *dir, GError **error)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) handle = g_dir_open (dir, 0, &local_error);
  const char *name;

  if (handle == NULL && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return g_steal_pointer (&paths);
  if (handle == NULL && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR))
    {
      g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                   "%s: not a folder: drop-ins go in a folder of that name (or remove it)", dir);
      return NULL;
    }
  if (handle == NULL)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                   "%s: cannot read the drop-in folder (%s): make it readable (mode 0755)", dir,
                   local_error->message);
      return NULL;
    }
  while ((name = g_dir_read_name (handle)) != NULL)
    {
      /* Hidden names are editors' and fleet tools' temporary files; a
       * package manager's leftovers (x.conf.dpkg-old) do not end in .conf. */
      if (name[0] == '.' || !g_str_has_suffix (name, ".conf"))
        continue;
      g_ptr_array_add (paths, g_strdup (name));
    }
  g_ptr_array_sort (paths, compare_names);
  for (guint i = 0; i < paths->len; i++)
    {
      char *joined = g_build_filename (dir, g_ptr_array_index (paths, i), NULL);
      g_free (g_ptr_array_index (paths, i));
      paths->pdata[i] = joined;
    }
  return g_steal_pointer (&paths);
}

/* Parses @path into a layer whose origins point at @config's copy of the
 * name, and merges it. */
static gboolean
apply_file (SgConfig *config, const char *path, const char *data, gsize len, GError **error)
{
  char *name = g_strdup (path);
  g_ptr_array_add (config->files, name);
  g_autoptr (SgConfig) layer = parse_layer (data, len, name, FALSE, error);

  if (layer == NULL)
    return FALSE;
  merge_layer (config, layer);
  return TRUE;
}

SgConfig *
sg_config_load_file (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) main_error = NULL;
  g_autofree char *dir = sg_config_dropin_dir (path);
  g_autoptr (GPtrArray) dropins = NULL;
  g_autoptr (SgConfig) config = NULL;

  if (!read_file (path, &data, &len, &main_error)
      && !g_error_matches (main_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&main_error));
      return NULL;
    }
  dropins = list_dropins (dir, error);
  if (dropins == NULL)
    return NULL;
  if (main_error != NULL && dropins->len == 0)
    {
      g_propagate_error (error, g_steal_pointer (&main_error));
      return NULL;
    }

  if (main_error != NULL)
    {
      /* The drop-ins still apply: ignoring them could leave a port they
       * gate open. The built-in default takes the main file's place. */
      config = sg_config_new_default ();
      config->main_missing = TRUE;
    }
  else
    {
      config = config_new_empty ();
      if (!apply_file (config, path, data, len, error))
        return NULL;
    }

  for (guint i = 0; i < dropins->len; i++)
    {
      const char *dropin = g_ptr_array_index (dropins, i);
      g_autofree char *text = NULL;
      gsize text_len = 0;

      g_autoptr (GError) read_error = NULL;

      /* Never G_IO_ERROR_NOT_FOUND: callers take that for "no config" and
       * fall back to the default, which would ignore the other drop-ins. A
       * dangling link or a file gone since the listing fails closed. */
      if (!read_file (dropin, &text, &text_len, &read_error))
        {
          if (read_error->domain == SG_ERROR)
            g_propagate_error (error, g_steal_pointer (&read_error));
          else
            g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                         "%s: cannot read this drop-in (%s): fix or remove it", dropin,
                         read_error->message);
          return NULL;
        }
      if (!apply_file (config, dropin, text, text_len, error))
        return NULL;
    }
  if (!check_seats (config, path, FALSE, error))
    return NULL;
  config->path = g_strdup (path);
  return g_steal_pointer (&config);
}

const SgSeatConfig *
sg_config_find_seat (const SgConfig *config, const char *name)
{
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      if (g_str_equal (seat->name, name))
        return seat;
    }
  return NULL;
}

const SgSeatConfig *
sg_config_seat_for_port (const SgConfig *config, guint16 port)
{
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      if (sg_ports_contains (sg_array_ports (seat->ports), seat->ports->len, port))
        return seat;
    }
  return NULL;
}

GArray *
sg_config_all_ports (const SgConfig *config)
{
  GArray *ports = g_array_new (FALSE, FALSE, sizeof (guint16));

  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      g_array_append_vals (ports, seat->ports->data, seat->ports->len);
    }
  sg_ports_sort (ports);
  return ports;
}

const char *
sg_table_mode_to_string (SgTableMode mode)
{
  switch (mode)
    {
    case SG_TABLE_MODE_AUTO:
      return "auto";
    case SG_TABLE_MODE_PERSISTENT:
      return "persistent";
    case SG_TABLE_MODE_BACKSTOP:
      return "backstop";
    case SG_TABLE_MODE_PLAIN:
      return "plain";
    default:
      return "unknown";
    }
}

char *
sg_config_origin_to_string (const SgConfigOrigin *origin)
{
  if (origin->file == NULL)
    return g_strdup ("built-in default");
  return g_strdup_printf ("%s:%u", origin->file, origin->line);
}
