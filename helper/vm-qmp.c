/* A QMP client on a unix socket, as QEMU's docs/interop/qmp-spec.rst
 * describes the protocol: the server greets with {"QMP": {...}}, the client
 * leaves negotiation mode with qmp_capabilities, then sends commands and
 * reads one JSON object per line: a reply ({"return"} or {"error"}, with the
 * command's "id") or an event ({"event", "data", "timestamp"}).
 *
 * The reading is our own rather than GDataInputStream's read_line: that one
 * buffers a line without bound, and the VM on the other end belongs to
 * whoever runs it. A line longer than SG_VM_QMP_MAX_LINE, a line that is not
 * a JSON object, or a reply to a command we did not send ends the
 * connection: after that nothing the VM says can be matched up reliably.
 *
 * The struct is reference counted inside this file only: each read or write
 * in flight holds a reference, so that a callback that frees the connection
 * (the console does, on a timeout) never leaves an I/O callback on freed
 * memory. */
#include "vm-qmp.h"

#include <string.h>

#include "sg-error.h"

#define READ_CHUNK 65536

GQuark
sg_vm_qmp_error_quark (void)
{
  return g_quark_from_static_string ("sg-vm-qmp-error-quark");
}

struct _SgVmQmp
{
  guint refs;
  char *path;
  const SgVmQmpEvents *events;
  gpointer user_data;

  GSocketConnection *connection;
  GCancellable *cancellable; /* every read and write; cancelled at close */
  GByteArray *buffer;        /* what was read, not yet a whole line */
  guint8 *chunk;

  GTask *connect_task; /* until qmp_capabilities has been answered */
  gboolean greeted;
  gboolean closed;

  gint64 next_id;
  GHashTable *pending; /* gint64 id -> GTask */
  GQueue writes;       /* GBytes: lines still to send, the first in flight */
};

static SgVmQmp *
qmp_ref (SgVmQmp *qmp)
{
  qmp->refs++;
  return qmp;
}

/* Every line we send may hold a ticket: wiped before it is freed. */
static void
wipe_free (gpointer data)
{
  explicit_bzero (data, strlen (data));
  g_free (data);
}

static void
qmp_unref (SgVmQmp *qmp)
{
  if (--qmp->refs > 0)
    return;
  g_assert (qmp->closed);
  g_free (qmp->path);
  g_clear_object (&qmp->connection);
  g_clear_object (&qmp->cancellable);
  g_byte_array_unref (qmp->buffer);
  g_free (qmp->chunk);
  g_hash_table_unref (qmp->pending);
  g_queue_clear_full (&qmp->writes, (GDestroyNotify) g_bytes_unref);
  g_free (qmp);
}

SgVmQmp *
sg_vm_qmp_new (const char *path, const SgVmQmpEvents *events, gpointer user_data)
{
  SgVmQmp *qmp = g_new0 (SgVmQmp, 1);

  qmp->refs = 1;
  qmp->path = g_strdup (path);
  qmp->events = events;
  qmp->user_data = user_data;
  qmp->cancellable = g_cancellable_new ();
  qmp->buffer = g_byte_array_new ();
  qmp->chunk = g_malloc (READ_CHUNK);
  qmp->next_id = 1;
  qmp->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  g_queue_init (&qmp->writes);
  return qmp;
}

/* Ends the connection: whatever waits learns @error. The closed callback
 * runs only for a connection that was up and not closed by its owner. */
static void
qmp_close (SgVmQmp *qmp, const GError *error, gboolean notify)
{
  if (qmp->closed)
    return;
  qmp_ref (qmp);
  qmp->closed = TRUE;
  g_cancellable_cancel (qmp->cancellable);
  if (qmp->connection != NULL)
    g_io_stream_close (G_IO_STREAM (qmp->connection), NULL, NULL);

  /* Callbacks may free @qmp (only dropping a reference now): take what they
   * could reach first. */
  g_autoptr (GHashTable) pending = g_steal_pointer (&qmp->pending);
  qmp->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  g_autoptr (GTask) connect_task = g_steal_pointer (&qmp->connect_task);
  gboolean was_up = connect_task == NULL && qmp->connection != NULL;

  GHashTableIter iter;
  gpointer task;
  g_hash_table_iter_init (&iter, pending);
  while (g_hash_table_iter_next (&iter, NULL, &task))
    g_task_return_error (task, g_error_copy (error));
  if (connect_task != NULL)
    g_task_return_error (connect_task, g_error_copy (error));
  if (notify && was_up && qmp->events != NULL && qmp->events->closed != NULL)
    qmp->events->closed (qmp, error, qmp->user_data);
  qmp_unref (qmp);
}

static void G_GNUC_PRINTF (2, 3) qmp_fail (SgVmQmp *qmp, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);
  g_autoptr (GError) error
      = g_error_new (SG_ERROR, SG_ERROR_FAILED, "QMP socket %s: %s", qmp->path, what);
  qmp_close (qmp, error, TRUE);
}

void
sg_vm_qmp_free (SgVmQmp *qmp)
{
  if (qmp == NULL)
    return;
  g_autoptr (GError) error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                          "the QMP connection to %s was closed", qmp->path);
  qmp_close (qmp, error, FALSE);
  qmp_unref (qmp);
}

/* Text from the VM, fit for a log line: valid UTF-8, no control
 * characters, bounded. */
static char *
vm_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  GString *out = g_string_new (NULL);

  for (const char *c = valid; *c != '\0' && out->len < 300; c = g_utf8_next_char (c))
    {
      gunichar ch = g_utf8_get_char (c);
      if (g_unichar_iscntrl (ch))
        g_string_append_c (out, ' ');
      else
        g_string_append_unichar (out, ch);
    }
  if (*valid != '\0' && out->len >= 300)
    g_string_append (out, "…");
  return g_string_free (out, FALSE);
}

static void write_next (SgVmQmp *qmp);

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SgVmQmp *qmp = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (!qmp->closed)
        qmp_fail (qmp, "cannot send to the VM: %s", error->message);
    }
  else if (!qmp->closed)
    {
      g_bytes_unref (g_queue_pop_head (&qmp->writes));
      write_next (qmp);
    }
  qmp_unref (qmp);
}

/* One write in flight at a time: a GOutputStream takes no second. */
static void
write_next (SgVmQmp *qmp)
{
  GBytes *line = g_queue_peek_head (&qmp->writes);
  gsize len;

  if (line == NULL || qmp->closed)
    return;
  const void *data = g_bytes_get_data (line, &len);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (qmp->connection)),
                                   data, len, G_PRIORITY_DEFAULT, qmp->cancellable, on_written,
                                   qmp_ref (qmp));
}

static void
send_line (SgVmQmp *qmp, char *line)
{
  gboolean idle = g_queue_is_empty (&qmp->writes);

  g_queue_push_tail (&qmp->writes,
                     g_bytes_new_with_free_func (line, strlen (line), wipe_free, line));
  if (idle)
    write_next (qmp);
}

void
sg_vm_qmp_execute_async (SgVmQmp *qmp, const char *command, JsonObject *arguments,
                         const char *secret_member, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, callback, user_data);
  g_autoptr (JsonObject) args = arguments;

  g_task_set_source_tag (task, sg_vm_qmp_execute_async);
  if (qmp->closed || (qmp->connection == NULL))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "QMP socket %s: not connected", qmp->path);
      return;
    }

  gint64 id = qmp->next_id++;
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "execute");
  json_builder_add_string_value (builder, command);
  if (args != NULL)
    {
      json_builder_set_member_name (builder, "arguments");
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (node, args);
      json_builder_add_value (builder, g_steal_pointer (&node));
    }
  json_builder_set_member_name (builder, "id");
  json_builder_add_int_value (builder, id);
  json_builder_end_object (builder);

  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, root);
  char *text = json_generator_to_data (generator, NULL);
  char *line = g_strconcat (text, "\n", NULL);
  wipe_free (text);
  if (secret_member != NULL && args != NULL && json_object_has_member (args, secret_member))
    {
      /* json-glib keeps its own copy of the string inside the node. */
      char *secret = (char *) json_object_get_string_member (args, secret_member);
      if (secret != NULL)
        explicit_bzero (secret, strlen (secret));
    }

  g_hash_table_insert (qmp->pending, g_memdup2 (&id, sizeof id), g_steal_pointer (&task));
  send_line (qmp, line);
}

JsonNode *
sg_vm_qmp_execute_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_capabilities (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SgVmQmp *qmp = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) reply = sg_vm_qmp_execute_finish (result, &error);

  if (reply != NULL && !qmp->closed && qmp->connect_task != NULL)
    {
      g_autoptr (GTask) task = g_steal_pointer (&qmp->connect_task);
      g_task_return_boolean (task, TRUE);
    }
  else if (reply == NULL && !qmp->closed)
    qmp_fail (qmp, "the VM refused qmp_capabilities: %s", error->message);
  qmp_unref (qmp);
}

static void
handle_reply (SgVmQmp *qmp, JsonObject *object)
{
  JsonNode *id_node = json_object_get_member (object, "id");

  if (id_node == NULL || !JSON_NODE_HOLDS_VALUE (id_node)
      || json_node_get_value_type (id_node) != G_TYPE_INT64)
    {
      /* QEMU answers without our id only when it could not parse a command. */
      JsonObject *err = json_object_get_object_member (object, "error");
      g_autofree char *desc = vm_text (
          err != NULL ? json_object_get_string_member_with_default (err, "desc", "") : "");
      qmp_fail (qmp, "the VM sent a reply without a command id (%s)", desc);
      return;
    }

  gint64 id = json_node_get_int (id_node);
  gpointer key, value;
  if (!g_hash_table_steal_extended (qmp->pending, &id, &key, &value))
    {
      qmp_fail (qmp, "the VM answered command %" G_GINT64_FORMAT ", which seatgate never sent", id);
      return;
    }
  g_free (key);
  g_autoptr (GTask) task = value;

  if (json_object_has_member (object, "return"))
    {
      g_task_return_pointer (task, json_node_copy (json_object_get_member (object, "return")),
                             (GDestroyNotify) json_node_unref);
      return;
    }
  JsonObject *err = json_object_get_object_member (object, "error");
  g_autofree char *klass
      = vm_text (err != NULL ? json_object_get_string_member_with_default (err, "class", "") : "");
  g_autofree char *desc
      = vm_text (err != NULL ? json_object_get_string_member_with_default (err, "desc", "") : "");
  g_task_return_new_error (task, SG_VM_QMP_ERROR, 0, "%s (%s)", desc, klass);
}

/* One line from the VM. */
static void
handle_line (SgVmQmp *qmp, const char *line, gsize len)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;

  if (!json_parser_load_from_data (parser, line, (gssize) len, &error))
    {
      qmp_fail (qmp, "the VM sent a line that is not JSON (%s)", error->message);
      return;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      qmp_fail (qmp, "the VM sent JSON that is not an object");
      return;
    }
  JsonObject *object = json_node_get_object (root);

  if (!qmp->greeted)
    {
      /* QEMU 7.2 and 10.0 can send an event before the greeting to a client
         that connects while QEMU starts: monitor_qapi_event_emit (monitor.c)
         sends to every monitor not in capabilities mode, and a monitor is put
         in it only by monitor_qmp_event's CHR_EVENT_OPENED, which had not run
         yet (seen in CI: RESUME first). Such an event is nobody's: pass it. */
      if (json_object_has_member (object, "event") && !json_object_has_member (object, "QMP"))
        {
          g_debug ("QMP: passing over an event sent before the greeting");
          return;
        }
      if (!json_object_has_member (object, "QMP"))
        {
          qmp_fail (qmp, "no QMP greeting: is this the VM's -qmp socket (not its -monitor)?");
          return;
        }
      qmp->greeted = TRUE;
      sg_vm_qmp_execute_async (qmp, "qmp_capabilities", NULL, NULL, on_capabilities, qmp_ref (qmp));
      return;
    }
  if (json_object_has_member (object, "event"))
    {
      JsonNode *name = json_object_get_member (object, "event");
      JsonNode *data = json_object_get_member (object, "data");
      if (!JSON_NODE_HOLDS_VALUE (name) || json_node_get_value_type (name) != G_TYPE_STRING)
        {
          qmp_fail (qmp, "the VM sent an event without a name");
          return;
        }
      if (qmp->events != NULL && qmp->events->event != NULL)
        qmp->events->event (
            qmp, json_node_get_string (name),
            data != NULL && JSON_NODE_HOLDS_OBJECT (data) ? json_node_get_object (data) : NULL,
            qmp->user_data);
      return;
    }
  if (json_object_has_member (object, "return") || json_object_has_member (object, "error"))
    {
      handle_reply (qmp, object);
      return;
    }
  qmp_fail (qmp, "the VM sent an object that is neither a reply nor an event");
}

static void read_more (SgVmQmp *qmp);

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SgVmQmp *qmp = user_data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (qmp->closed)
    ;
  else if (n < 0)
    qmp_fail (qmp, "cannot read from the VM: %s", error->message);
  else if (n == 0)
    {
      g_autoptr (GError) eof = g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                            "QMP socket %s: the VM closed the connection (did "
                                            "it stop, or is another client connected?)",
                                            qmp->path);
      qmp_close (qmp, eof, TRUE);
    }
  else
    {
      g_byte_array_append (qmp->buffer, qmp->chunk, (guint) n);
      for (;;)
        {
          guint8 *start = qmp->buffer->data;
          guint8 *newline = memchr (start, '\n', qmp->buffer->len);
          if (newline == NULL || qmp->closed)
            break;
          gsize len = (gsize) (newline - start);
          if (len > SG_VM_QMP_MAX_LINE)
            break;
          /* Handled from a copy: a callback may close the connection. */
          g_autofree char *line = g_strndup ((const char *) start, len);
          g_byte_array_remove_range (qmp->buffer, 0, (guint) len + 1);
          if (strlen (line) != len)
            qmp_fail (qmp, "the VM sent a NUL byte: that is not QMP");
          else if (strspn (line, " \t\r") != len)
            handle_line (qmp, line, len);
        }
      if (!qmp->closed && qmp->buffer->len > SG_VM_QMP_MAX_LINE)
        qmp_fail (qmp, "the VM sent a line of more than %d bytes: refused", SG_VM_QMP_MAX_LINE);
      else if (!qmp->closed)
        read_more (qmp);
    }
  qmp_unref (qmp);
}

static void
read_more (SgVmQmp *qmp)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (qmp->connection)),
                             qmp->chunk, READ_CHUNK, G_PRIORITY_DEFAULT, qmp->cancellable, on_read,
                             qmp_ref (qmp));
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SgVmQmp *qmp = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) connection
      = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);

  if (qmp->closed)
    ;
  else if (connection == NULL)
    {
      g_autoptr (GError) wrapped = g_error_new (error->domain, error->code, "QMP socket %s: %s",
                                                qmp->path, error->message);
      qmp_close (qmp, wrapped, FALSE);
    }
  else
    {
      qmp->connection = g_steal_pointer (&connection);
      read_more (qmp);
    }
  qmp_unref (qmp);
}

void
sg_vm_qmp_connect_async (SgVmQmp *qmp, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (qmp->path);

  g_return_if_fail (qmp->connect_task == NULL && qmp->connection == NULL);
  qmp->connect_task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (qmp->connect_task, sg_vm_qmp_connect_async);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (address), qmp->cancellable,
                                 on_connected, qmp_ref (qmp));
}

gboolean
sg_vm_qmp_connect_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
