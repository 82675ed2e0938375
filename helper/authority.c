#include "authority.h"

#include "sg-error.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
#define CHECK_FLAG_ALLOW_USER_INTERACTION 0x1
/* Long enough for a person to type a password at a polkit agent's prompt,
 * short enough that a hung polkitd cannot pile up waiting callers. */
#define CHECK_TIMEOUT_INTERACTIVE_MS (5 * 60 * 1000)
#define CHECK_TIMEOUT_MS (25 * 1000)

/* Which polkit action each method of Gate1 needs, in one place, as bolt's
 * bouncer maps each of its methods to an action by name
 * (boltd/bolt-bouncer.c, handle_authorize_method) rather than each handler
 * naming its own. tests/unit/test-authority.c checks that every method of
 * the interface XML is here. */
static const struct
{
  const char *method;
  const char *action;
} method_actions[] = {
  { "Grant", SG_ACTION_GRANT },
  { "Revoke", SG_ACTION_MANAGE },
  /* The caller's own grant: given up, or its console opened. */
  { "Release", NULL },
  { "OpenConsole", NULL },
};

const char *
sg_authority_action_for_method (const char *method)
{
  for (gsize i = 0; i < G_N_ELEMENTS (method_actions); i++)
    if (g_str_equal (method_actions[i].method, method))
      return method_actions[i].action;
  return SG_ACTION_MANAGE;
}

static void
check_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  const char *action_id = g_task_get_task_data (task);
  gboolean authorized = FALSE, challenge = FALSE;

  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_task_return_new_error (task, SG_ERROR, SG_ERROR_FAILED, "could not ask polkit about %s: %s",
                               action_id, error->message);
      return;
    }
  g_variant_get (reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
  if (!authorized)
    {
      g_task_return_new_error (task, SG_ERROR, SG_ERROR_NOT_AUTHORIZED,
                               challenge ? "polkit wants authentication for %s, and none was given"
                                         : "polkit does not allow %s",
                               action_id);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
sg_authority_check (GDBusConnection *bus, const char *sender, const char *action_id,
                    const char *seat, gboolean allow_interaction, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  GVariantBuilder subject_details, details;

  g_task_set_task_data (task, g_strdup (action_id), g_free);
  g_variant_builder_init (&subject_details, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&subject_details, "{sv}", "name", g_variant_new_string (sender));
  g_variant_builder_init (&details, G_VARIANT_TYPE ("a{ss}"));
  if (seat != NULL)
    g_variant_builder_add (&details, "{ss}", "seat", seat);
  g_dbus_connection_call (
      bus, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "CheckAuthorization",
      g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name", &subject_details, action_id, &details,
                     allow_interaction ? CHECK_FLAG_ALLOW_USER_INTERACTION : 0, ""),
      G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
      allow_interaction ? CHECK_TIMEOUT_INTERACTIVE_MS : CHECK_TIMEOUT_MS, cancellable, check_done,
      task);
}

gboolean
sg_authority_check_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
