/* Drives one SgVmConsole, the helper's own code (helper_dep), for the
 * vm-console tests: reads commands on stdin, one a line, and prints one
 * JSON object a line on stdout for each result and event.
 *
 *   vm-console-tool CONFIG SEAT
 *   ticket             -> {"op": "ticket", "ok": true, "ticket": T, "ms": N}
 *   lock | lock-keys   -> {"op": "lock", "ok": true, "ms": N} (lock-keys sends LockKeys=)
 *   lock-keys K+K      the seat's LockKeys= becomes K+K (QEMU key names), then lock-keys
 *   ticket-lock        both queued at once: their results in order
 *   lock-ticket        the same, the lock first
 *   free               frees the console with an op waiting, then quits
 *   quit
 *   failures           -> {"op": ..., "ok": false, "error": MESSAGE, "ms": N}
 *   events             -> {"event": "client", "kind": "connected", "address": A}
 *                         {"event": "reachable"}
 *
 * The ticket goes to stdout, a pipe to the test, only: the test checks
 * that it reaches no command line and no log. */
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sg-config.h"
#include "sg-qkeycode.h"
#include "vm-console.h"

/* The results' stream: stdout as the tool started. GLib writes debug
 * messages to stdout, so fd 1 goes to stderr with them. */
static FILE *results;

typedef struct
{
  GMainLoop *loop;
  SgSeatConfig *seat; /* the console reads its LockKeys= at each lock */
  SgVmConsole *console;
  GDataInputStream *input;
  guint waiting;
  gboolean quit_when_idle;
} Tool;

typedef struct
{
  Tool *tool;
  const char *op;
  gint64 started;
} Pending;

static void
emit (JsonBuilder *builder)
{
  json_builder_end_object (builder);
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = json_to_string (root, FALSE);
  fprintf (results, "%s\n", text);
  fflush (results);
}

static JsonBuilder *
result_builder (Pending *pending, gboolean ok)
{
  JsonBuilder *builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "op");
  json_builder_add_string_value (builder, pending->op);
  json_builder_set_member_name (builder, "ok");
  json_builder_add_boolean_value (builder, ok);
  json_builder_set_member_name (builder, "ms");
  json_builder_add_double_value (builder,
                                 (double) (g_get_monotonic_time () - pending->started) / 1000.0);
  return builder;
}

static void
add_error (JsonBuilder *builder, const GError *error)
{
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, error->message);
  json_builder_set_member_name (builder, "cancelled");
  json_builder_add_boolean_value (builder,
                                  g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
}

static void
done (Pending *pending)
{
  Tool *tool = pending->tool;
  g_free (pending);
  if (--tool->waiting == 0 && tool->quit_when_idle)
    g_main_loop_quit (tool->loop);
}

static void
on_ticket (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *pending = user_data;
  g_autoptr (GError) error = NULL;
  char *ticket = sg_vm_console_new_ticket_finish (pending->tool->console, result, &error);
  g_autoptr (JsonBuilder) builder = result_builder (pending, ticket != NULL);

  if (ticket != NULL)
    {
      json_builder_set_member_name (builder, "ticket");
      json_builder_add_string_value (builder, ticket);
    }
  else
    add_error (builder, error);
  emit (builder);
  sg_vm_console_ticket_free (ticket);
  done (pending);
}

static void
on_lock (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *pending = user_data;
  g_autoptr (GError) error = NULL;
  gboolean ok = sg_vm_console_lock_finish (pending->tool->console, result, &error);
  g_autoptr (JsonBuilder) builder = result_builder (pending, ok);

  if (!ok)
    add_error (builder, error);
  emit (builder);
  done (pending);
}

static Pending *
pending_new (Tool *tool, const char *op)
{
  Pending *pending = g_new0 (Pending, 1);
  pending->tool = tool;
  pending->op = op;
  pending->started = g_get_monotonic_time ();
  tool->waiting++;
  return pending;
}

static void
on_client (SgVmConsole *console, SgVmClientEvent event, const char *address, gpointer user_data)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, "client");
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, sg_vm_client_event_to_string (event));
  json_builder_set_member_name (builder, "address");
  json_builder_add_string_value (builder, address);
  emit (builder);
}

static void
on_reachable (SgVmConsole *console, gpointer user_data)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, "reachable");
  emit (builder);
}

static const SgVmConsoleEvents console_events = {
  .client = on_client,
  .reachable = on_reachable,
};

static void read_command (Tool *tool);

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Tool *tool = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line
      = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);

  if (line == NULL || g_str_equal (line, "quit"))
    {
      tool->quit_when_idle = TRUE;
      if (tool->waiting == 0)
        g_main_loop_quit (tool->loop);
      return;
    }
  g_strstrip (line);
  if (g_str_equal (line, "ticket"))
    sg_vm_console_new_ticket_async (tool->console, NULL, on_ticket, pending_new (tool, "ticket"));
  else if (g_str_equal (line, "lock") || g_str_equal (line, "lock-keys"))
    sg_vm_console_lock_async (tool->console, g_str_equal (line, "lock-keys"), NULL, on_lock,
                              pending_new (tool, "lock"));
  else if (g_str_has_prefix (line, "lock-keys "))
    {
      g_auto (GStrv) keys = g_strsplit (line + strlen ("lock-keys "), "+", -1);
      gboolean valid = g_strv_length (keys) > 0;
      for (char **k = keys; *k != NULL; k++)
        valid = valid && sg_qkeycode_is_valid (*k);
      if (!valid)
        g_printerr ("vm-console-tool: '%s' are not QEMU key names\n", line);
      else
        {
          g_strfreev (tool->seat->lock_keys);
          tool->seat->lock_keys = g_steal_pointer (&keys);
          sg_vm_console_lock_async (tool->console, TRUE, NULL, on_lock, pending_new (tool, "lock"));
        }
    }
  else if (g_str_equal (line, "ticket-lock"))
    {
      sg_vm_console_new_ticket_async (tool->console, NULL, on_ticket, pending_new (tool, "ticket"));
      sg_vm_console_lock_async (tool->console, FALSE, NULL, on_lock, pending_new (tool, "lock"));
    }
  else if (g_str_equal (line, "lock-ticket"))
    {
      sg_vm_console_lock_async (tool->console, FALSE, NULL, on_lock, pending_new (tool, "lock"));
      sg_vm_console_new_ticket_async (tool->console, NULL, on_ticket, pending_new (tool, "ticket"));
    }
  else if (g_str_equal (line, "free"))
    {
      sg_vm_console_lock_async (tool->console, FALSE, NULL, on_lock, pending_new (tool, "lock"));
      sg_vm_console_new_ticket_async (tool->console, NULL, on_ticket, pending_new (tool, "ticket"));
      /* Their callbacks run during the free or right after it. */
      g_clear_pointer (&tool->console, sg_vm_console_free);
      tool->quit_when_idle = TRUE;
      return;
    }
  else
    g_printerr ("vm-console-tool: unknown command '%s'\n", line);
  read_command (tool);
}

static void
read_command (Tool *tool)
{
  g_data_input_stream_read_line_async (tool->input, G_PRIORITY_DEFAULT, NULL, on_line, tool);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  int results_fd = dup (1);
  if (results_fd < 0 || dup2 (2, 1) < 0 || (results = fdopen (results_fd, "w")) == NULL)
    return 2;
  if (argc != 3)
    {
      g_printerr ("usage: vm-console-tool CONFIG SEAT\n");
      return 2;
    }
  g_autoptr (SgConfig) config = sg_config_load_file (argv[1], &error);
  if (config == NULL)
    {
      g_printerr ("vm-console-tool: %s\n", error->message);
      return 2;
    }
  /* The tool's own config: lock-keys K+K changes it. */
  SgSeatConfig *seat = (SgSeatConfig *) sg_config_find_seat (config, argv[2]);
  if (seat == NULL)
    {
      g_printerr ("vm-console-tool: no [Seat %s] in %s\n", argv[2], argv[1]);
      return 2;
    }

  Tool tool = { .loop = g_main_loop_new (NULL, FALSE), .seat = seat };
  tool.console = sg_vm_console_new (seat, &console_events, &tool, &error);
  if (tool.console == NULL)
    {
      g_printerr ("vm-console-tool: %s\n", error != NULL ? error->message : "no VM binding");
      return 2;
    }
  g_autoptr (GInputStream) in = g_unix_input_stream_new (0, FALSE);
  tool.input = g_data_input_stream_new (in);
  read_command (&tool);
  g_main_loop_run (tool.loop);
  g_clear_pointer (&tool.console, sg_vm_console_free);
  g_object_unref (tool.input);
  g_main_loop_unref (tool.loop);
  return 0;
}
